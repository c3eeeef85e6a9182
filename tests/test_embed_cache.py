"""Content-addressed embedding cache: only unseen (encoder, prep, content) keys are computed."""

import numpy as np
import pytest

from mmnar.embed.cache import CacheStats, EmbeddingCache, sha256_bytes


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
    with caplog.at_level("INFO", logger="mmnar.embed.cache"):
        cache.get_or_compute(hashes(*items), CountingEncoder(items))
    assert "1 hits, 0 misses" in caplog.text
