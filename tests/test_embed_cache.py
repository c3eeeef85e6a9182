"""Content-addressed embedding cache: only unseen (encoder, prep, content) keys are computed."""

import numpy as np
import pytest

from mmnar.modalities.cache import CacheStats, EmbeddingCache, sha256_bytes


def hashes(*texts):
    return [sha256_bytes(text.encode()) for text in texts]


class CountingEncoder:
    """Deterministic fake encoder recording which positions it was asked to compute."""

    def __init__(self, items):
        self.items = items
        self.calls = []

    def __call__(self, positions):
        self.calls.append(list(positions))
        return np.array([[len(self.items[i]), ord(self.items[i][0]), 0.5] for i in positions], dtype=np.float32)


def test_second_call_computes_only_new_item_and_reuses_old_vectors(tmp_path):
    first_items = ["alpha", "beta", "gamma"]
    cache = EmbeddingCache(tmp_path, "enc/a", "v1")
    first, stats = cache.get_or_compute(hashes(*first_items), CountingEncoder(first_items))
    assert stats == CacheStats(hits=0, misses=3)

    second_items = first_items + ["delta"]
    encoder = CountingEncoder(second_items)
    second, stats = EmbeddingCache(tmp_path, "enc/a", "v1").get_or_compute(hashes(*second_items), encoder)
    assert stats == CacheStats(hits=3, misses=1)
    assert encoder.calls == [[3]]
    np.testing.assert_array_equal(second[:3], first)
    assert second.dtype == np.float32 and second.shape == (4, 3)


def test_each_call_writes_a_new_shard_with_only_new_keys(tmp_path):
    cache = EmbeddingCache(tmp_path, "enc/a", "v1")
    cache.get_or_compute(hashes("a", "b"), CountingEncoder(["a", "b"]))
    cache.get_or_compute(hashes("a", "b", "c"), CountingEncoder(["a", "b", "c"]))
    cache.get_or_compute(hashes("a", "b", "c"), CountingEncoder(["a", "b", "c"]))
    shards = sorted(cache.directory.glob("shard-*.npz"))
    assert [len(np.load(shard)["keys"]) for shard in shards] == [2, 1]
    assert sorted(p.name for p in cache.directory.iterdir()) == sorted(p.name for p in shards)  # no temp files


@pytest.mark.parametrize("encoder_id, prep_version", [("enc/b", "v1"), ("enc/a", "v2")])
def test_changed_encoder_or_prep_version_misses(tmp_path, encoder_id, prep_version):
    items = ["alpha", "beta"]
    EmbeddingCache(tmp_path, "enc/a", "v1").get_or_compute(hashes(*items), CountingEncoder(items))
    _, stats = EmbeddingCache(tmp_path, encoder_id, prep_version).get_or_compute(hashes(*items), CountingEncoder(items))
    assert stats == CacheStats(hits=0, misses=2)


@pytest.mark.parametrize("first, second", [(("enc/a", "v1"), ("enc a", "v1")), (("enc", "v/1"), ("enc", "v 1"))])
def test_key_does_not_depend_on_folder_layout(tmp_path, first, second):
    """Ids whose slugs coincide share a folder but never each other's vectors."""
    items = ["alpha"]
    EmbeddingCache(tmp_path, *first).get_or_compute(hashes(*items), CountingEncoder(items))
    other = EmbeddingCache(tmp_path, *second)
    assert other.directory == EmbeddingCache(tmp_path, *first).directory
    _, stats = other.get_or_compute(hashes(*items), CountingEncoder(items))
    assert stats.misses == 1


def test_duplicate_inputs_are_computed_once(tmp_path):
    items = ["same", "other", "same"]
    encoder = CountingEncoder(items)
    vectors, stats = EmbeddingCache(tmp_path, "enc", "v1").get_or_compute(hashes(*items), encoder)
    assert encoder.calls == [[0, 1]]
    assert stats == CacheStats(hits=0, misses=2)
    np.testing.assert_array_equal(vectors[0], vectors[2])


def test_hits_are_logged(tmp_path, caplog):
    items = ["alpha"]
    cache = EmbeddingCache(tmp_path, "enc", "v1")
    cache.get_or_compute(hashes(*items), CountingEncoder(items))
    with caplog.at_level("INFO", logger="mmnar.modalities.cache"):
        cache.get_or_compute(hashes(*items), CountingEncoder(items))
    assert "1 hits, 0 misses" in caplog.text


# --- chunked, crash-resumable commits and damaged shards -------------------------------------------

ITEMS = [f"note {i} " + "x" * i for i in range(10)]


def shards_of(cache):
    return sorted(cache.directory.glob("shard-*.npz"))


def key_blocks(cache, items, shard_size):
    """The positions of each block of the items' keys in sorted order: the chunks the cache must use."""
    order = sorted(range(len(items)), key=lambda i: cache.key(sha256_bytes(items[i].encode())))
    return [sorted(order[start : start + shard_size]) for start in range(0, len(order), shard_size)]


class BatchSensitiveEncoder(CountingEncoder):
    """Like a real batched encoder, each vector also depends (slightly) on what else is in its batch."""

    def __call__(self, positions):
        vectors = super().__call__(positions)
        vectors[:, 2] += np.float32(sum(len(self.items[i]) for i in positions) / 1000)
        return vectors


class CrashingEncoder(CountingEncoder):
    def __init__(self, items, crash_on_call, base=CountingEncoder):
        super().__init__(items)
        self.inner = base(items)
        self.crash_on_call = crash_on_call

    def __call__(self, positions):
        self.calls.append(list(positions))
        if len(self.calls) == self.crash_on_call:
            raise RuntimeError("killed mid-stage")
        return self.inner(positions)


class FailingEncoder(CountingEncoder):
    """Returns an all-NaN row for the items it cannot read."""

    def __init__(self, items, unreadable):
        super().__init__(items)
        self.unreadable = set(unreadable)

    def __call__(self, positions):
        vectors = super().__call__(positions)
        vectors[[i for i, position in enumerate(positions) if self.items[position] in self.unreadable]] = np.nan
        return vectors


def test_missing_items_are_committed_in_fixed_chunks_of_shard_size(tmp_path):
    cache = EmbeddingCache(tmp_path, "enc", "v1")
    encoder = CountingEncoder(ITEMS)
    vectors, stats = cache.get_or_compute(hashes(*ITEMS), encoder, shard_size=3)
    assert stats == CacheStats(hits=0, misses=10)
    assert len(encoder.calls) == 4 and all(len(call) <= 3 for call in encoder.calls)
    assert encoder.calls == key_blocks(cache, ITEMS, 3)  # blocks of sorted keys, positions ascending
    assert sorted(len(np.load(shard)["keys"]) for shard in shards_of(cache)) == [1, 3, 3, 3]
    np.testing.assert_array_equal(vectors, CountingEncoder(ITEMS)(range(10)))
    again = CountingEncoder(ITEMS)
    _, stats = cache.get_or_compute(hashes(*ITEMS), again, shard_size=3)
    assert stats == CacheStats(hits=10, misses=0) and again.calls == []


def test_chunks_count_distinct_keys_and_duplicates_share_a_vector(tmp_path):
    items = ["a", "b", "a", "c", "b", "d"]
    encoder = CountingEncoder(items)
    vectors, stats = EmbeddingCache(tmp_path, "enc", "v1").get_or_compute(hashes(*items), encoder, shard_size=2)
    assert stats == CacheStats(hits=0, misses=4)
    assert sorted(sum(encoder.calls, [])) == [0, 1, 3, 5] and len(encoder.calls) == 2
    np.testing.assert_array_equal(vectors, CountingEncoder(items)(range(6)))


def test_chunks_are_fixed_blocks_of_sorted_keys_whatever_is_already_cached(tmp_path):
    cache = EmbeddingCache(tmp_path, "enc", "v1")
    blocks = key_blocks(cache, ITEMS, 3)
    cached = [blocks[0][1], blocks[1][0], blocks[1][2], blocks[3][0]]  # scattered through the key order
    cache.get_or_compute(hashes(*[ITEMS[i] for i in cached]), CountingEncoder([ITEMS[i] for i in cached]))
    encoder = CountingEncoder(ITEMS)
    _, stats = cache.get_or_compute(hashes(*ITEMS), encoder, shard_size=3)
    assert stats == CacheStats(hits=4, misses=6)
    assert encoder.calls == [[i for i in block if i not in cached] for block in blocks[:3]]


@pytest.mark.parametrize("base", [CountingEncoder, BatchSensitiveEncoder])
def test_crash_mid_call_keeps_committed_chunks_and_resume_matches_uninterrupted_run(tmp_path, base):
    uninterrupted, _ = EmbeddingCache(tmp_path / "clean", "enc", "v1").get_or_compute(
        hashes(*ITEMS), base(ITEMS), shard_size=3
    )
    cache = EmbeddingCache(tmp_path / "crashed", "enc", "v1")
    crashing = CrashingEncoder(ITEMS, crash_on_call=3, base=base)
    with pytest.raises(RuntimeError, match="killed mid-stage"):
        cache.get_or_compute(hashes(*ITEMS), crashing, shard_size=3)
    assert len(shards_of(cache)) == 2
    assert sorted(p.name for p in cache.directory.iterdir()) == [p.name for p in shards_of(cache)]  # no temp files

    resumed = base(ITEMS)
    vectors, stats = cache.get_or_compute(hashes(*ITEMS), resumed, shard_size=3)
    assert stats == CacheStats(hits=6, misses=4)
    blocks = key_blocks(cache, ITEMS, 3)
    assert crashing.calls == blocks[:3] and resumed.calls == blocks[2:]
    np.testing.assert_array_equal(vectors, uninterrupted)


def test_nan_rows_are_returned_but_never_cached(tmp_path, caplog):
    items = ["good", "broken", "fine"]
    cache = EmbeddingCache(tmp_path, "enc", "v1")
    with caplog.at_level("WARNING", logger="mmnar.modalities.cache"):
        vectors, stats = cache.get_or_compute(hashes(*items), FailingEncoder(items, {"broken"}))
    assert stats == CacheStats(hits=0, misses=3)
    assert np.isnan(vectors[1]).all() and np.isfinite(vectors[[0, 2]]).all()
    assert "1 items could not be computed" in caplog.text
    (shard,) = shards_of(cache)
    assert sorted(np.load(shard)["keys"].tolist()) == sorted(cache.key(h) for h in hashes("good", "fine"))

    retry = CountingEncoder(items)
    vectors, stats = cache.get_or_compute(hashes(*items), retry)
    assert stats == CacheStats(hits=2, misses=1) and retry.calls == [[1]]
    np.testing.assert_array_equal(vectors, CountingEncoder(items)(range(3)))


def test_a_chunk_of_only_failures_writes_no_shard(tmp_path):
    items = ["broken"]
    cache = EmbeddingCache(tmp_path, "enc", "v1")
    vectors, _ = cache.get_or_compute(hashes(*items), FailingEncoder(items, items))
    assert vectors.shape == (1, 3) and np.isnan(vectors).all()
    assert shards_of(cache) == []


def _truncate(shard):
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])


def _drop_vectors(shard):
    keys = np.load(shard)["keys"]
    with open(shard, "wb") as handle:
        np.savez(handle, keys=keys)


def _mismatch_lengths(shard):
    with np.load(shard) as stored:
        keys, vectors = stored["keys"], stored["vectors"]
    with open(shard, "wb") as handle:
        np.savez(handle, keys=keys, vectors=vectors[:-1])


def _garbage(shard):
    shard.write_bytes(b"not an npz at all")


@pytest.mark.parametrize("damage", [_truncate, _drop_vectors, _mismatch_lengths, _garbage])
def test_damaged_shard_is_set_aside_with_a_warning_and_its_items_recomputed(tmp_path, caplog, damage):
    items = ["alpha", "beta", "gamma", "delta"]
    cache = EmbeddingCache(tmp_path, "enc", "v1")
    first, _ = cache.get_or_compute(hashes(*items), CountingEncoder(items), shard_size=2)
    shards = shards_of(cache)
    assert len(shards) == 2
    damaged, intact = shards
    damage(damaged)
    intact_keys = set(np.load(intact)["keys"].tolist())
    damaged_positions = [i for i, h in enumerate(hashes(*items)) if cache.key(h) not in intact_keys]

    encoder = CountingEncoder(items)
    with caplog.at_level("WARNING", logger="mmnar.modalities.cache"):
        vectors, stats = cache.get_or_compute(hashes(*items), encoder, shard_size=2)
    warnings = [record for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1 and str(damaged) in warnings[0].getMessage()
    assert not damaged.exists() and damaged.with_name(damaged.name + ".corrupt").exists()
    assert stats == CacheStats(hits=2, misses=2)
    assert encoder.calls == [damaged_positions]
    np.testing.assert_array_equal(vectors, first)
    fresh = [shard for shard in shards_of(cache) if shard != intact]
    assert len(fresh) == 1 and set(np.load(fresh[0])["keys"].tolist()) == {
        cache.key(hashes(items[i])[0]) for i in damaged_positions
    }

    caplog.clear()
    again = CountingEncoder(items)
    with caplog.at_level("WARNING", logger="mmnar.modalities.cache"):
        _, stats = cache.get_or_compute(hashes(*items), again, shard_size=2)
    assert stats == CacheStats(hits=4, misses=0) and again.calls == [] and caplog.records == []


def test_shard_is_fsynced_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    import os
    import stat

    cache = EmbeddingCache(tmp_path, "enc", "v1")
    real_fsync = os.fsync
    synced = []

    def recording_fsync(fd):
        synced.append((stat.S_ISREG(os.fstat(fd).st_mode), len(shards_of(cache))))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    cache.get_or_compute(hashes("a", "b", "c"), CountingEncoder(["a", "b", "c"]), shard_size=2)
    file_syncs = [committed for is_file, committed in synced if is_file]
    assert file_syncs == [0, 1]  # each shard's file is synced while it is still the temporary file
    assert len(shards_of(cache)) == 2


def test_shard_size_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="shard_size"):
        EmbeddingCache(tmp_path, "enc", "v1").get_or_compute(hashes("a"), CountingEncoder(["a"]), shard_size=0)
