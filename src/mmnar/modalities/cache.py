"""Content-addressed embedding cache, so a changed cohort re-encodes only the inputs it has not seen.

Layout: ``<cache_dir>/<encoder slug>/<prep version>/shard-<time>-<random>.npz``, each shard holding
``keys`` (hex sha256 strings) and ``vectors`` (float32, one row per key). A key is
``sha256(encoder id ␀ prep version ␀ content hash)``: the folder names only make the cache browsable,
the key alone decides a hit.

Writes: the missing items of a call are computed and committed in chunks of at most ``shard_size``
keys, one new shard per chunk holding only new keys (old shards are never rewritten). A shard is
written under a unique name to a temporary file, fsynced, then renamed into place, so parallel jobs
sharing a cache cannot corrupt it (at worst two jobs both compute an item and it is stored twice) and
a job killed mid-stage loses at most the chunk it was computing: a rerun reuses every committed shard.
Chunks are fixed blocks of the call's distinct keys in sorted order, so a resumed run computes
exactly the blocks the interrupted run would have, with the same batch composition.

Reads: a shard that cannot be read (truncated, missing an array, inconsistent lengths) is reported
with a warning, renamed aside to ``<name>.corrupt`` for inspection, and its items count as missing,
so they are recomputed into a fresh shard. Vectors containing NaN (items ``compute`` could not
encode) are never stored.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmnar.io import atomic_path

log = logging.getLogger(__name__)

_SHARD_GLOB = "shard-*.npz"
_CORRUPT_SUFFIX = ".corrupt"
DEFAULT_SHARD_SIZE = 512
"""Items per committed shard unless the config says otherwise (`embeddings.shard_size`)."""

# What reading a damaged npz can raise: a truncated or overwritten zip (BadZipFile, also raised on a
# CRC mismatch), an I/O error, bytes that are not an npy array (ValueError), a missing array (KeyError).
_UNREADABLE = (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError, zlib.error)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def slugify(text: str, max_length: int = 80) -> str:
    """A readable folder name; collisions are harmless because the key, not the folder, decides a hit."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return slug[:max_length] or "encoder"


@dataclass(frozen=True)
class CacheStats:
    """Counts over distinct keys: duplicates of one input within a call count once."""

    hits: int
    misses: int


def _fsync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable, where the OS lets a directory be opened (not Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Rows:
    """One float32 row per distinct key, allocated once the vector width is known; NaN until filled."""

    def __init__(self, count: int):
        self.count = count
        self.table: np.ndarray | None = None
        self.filled = np.zeros(count, dtype=bool)

    def put(self, slots: Sequence[int], vectors: np.ndarray, source: object) -> None:
        if self.table is None:
            self.table = np.full((self.count, vectors.shape[1]), np.nan, dtype=np.float32)
        elif vectors.shape[1] != self.table.shape[1]:
            raise ValueError(
                f"{source} has {vectors.shape[1]}-d vectors but this cache holds {self.table.shape[1]}-d ones"
            )
        self.table[slots] = vectors
        self.filled[slots] = True


class EmbeddingCache:
    """Embeddings of one encoder under one preprocessing version, keyed by input content."""

    def __init__(self, cache_dir: str | os.PathLike, encoder_id: str, prep_version: str):
        self.encoder_id = encoder_id
        self.prep_version = prep_version
        self.directory = Path(cache_dir) / slugify(encoder_id) / slugify(prep_version)

    def key(self, content_hash: str) -> str:
        return sha256_bytes("\0".join((self.encoder_id, self.prep_version, content_hash)).encode())

    def _stored(self, keys: Collection[str]) -> Iterator[tuple[list[str], np.ndarray]]:
        """For each readable shard holding some of ``keys``: those keys and their vectors.

        Reads one shard at a time to bound memory; a damaged shard is set aside (see module docstring).
        """
        for shard in sorted(self.directory.glob(_SHARD_GLOB)):
            try:
                with np.load(shard, allow_pickle=False) as stored:
                    absent = {"keys", "vectors"} - set(stored.files)
                    if absent:
                        raise KeyError(f"no {' or '.join(sorted(absent))} array")
                    shard_keys = stored["keys"]
                    if shard_keys.ndim != 1:
                        raise ValueError(f"keys have shape {shard_keys.shape}, expected one dimension")
                    shard_keys = shard_keys.tolist()
                    wanted = [i for i, key in enumerate(shard_keys) if key in keys]
                    if not wanted:
                        continue
                    vectors = stored["vectors"]
                    if vectors.ndim != 2 or len(vectors) != len(shard_keys):
                        raise ValueError(f"{len(shard_keys)} keys but vectors of shape {vectors.shape}")
                    found = ([shard_keys[i] for i in wanted], vectors[wanted].astype(np.float32, copy=False))
            except FileNotFoundError:
                log.debug("embedding cache shard %s vanished while reading (set aside by another job?)", shard)
                continue
            except _UNREADABLE as error:
                self._set_aside(shard, error)
                continue
            yield found

    def _set_aside(self, shard: Path, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}"
        aside = shard.with_name(shard.name + _CORRUPT_SUFFIX)
        try:
            os.replace(shard, aside)
        except FileNotFoundError:
            moved = "already moved by another job"
        except OSError as rename_error:
            moved = f"could not rename it aside ({rename_error}); it will be read again next time"
        else:
            moved = f"renamed to {aside.name}"
        log.warning("unreadable embedding cache shard %s (%s): %s; its items will be recomputed", shard, reason, moved)

    def lookup(self, keys: set[str]) -> dict[str, np.ndarray]:
        """Vectors stored for any of ``keys``, reading one shard at a time to bound memory."""
        found: dict[str, np.ndarray] = {}
        for shard_keys, vectors in self._stored(keys):
            found.update(zip(shard_keys, vectors))
        return found

    def write_shard(self, keys: Sequence[str], vectors: np.ndarray) -> Path:
        """Commit ``keys`` and their vectors as one new shard: temporary file, fsync, rename, fsync folder."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or len(vectors) != len(keys):
            raise ValueError(f"{len(keys)} keys but vectors of shape {vectors.shape}")
        shard = self.directory / f"shard-{time.time_ns()}-{uuid.uuid4().hex[:12]}.npz"
        with atomic_path(shard) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, keys=np.asarray(keys, dtype="U64"), vectors=vectors)
                handle.flush()
                os.fsync(handle.fileno())
        _fsync_directory(self.directory)
        return shard

    def get_or_compute(
        self,
        content_hashes: Sequence[str],
        compute: Callable[[list[int]], np.ndarray],
        shard_size: int = DEFAULT_SHARD_SIZE,
    ) -> tuple[np.ndarray, CacheStats]:
        """Vectors for every item, in order, as float32 ``(len(content_hashes), d)``, and hit/miss counts.

        Only uncached items are computed, in chunks committed one shard each, so an interrupted call
        loses at most one chunk and a rerun resumes from the committed shards. The call's distinct keys,
        sorted, are cut into consecutive blocks of ``shard_size``; for each block with uncached keys,
        ``compute(indices)`` is called once with the positions (first occurrence of each uncached key of
        the block, ascending) and must return their vectors as a ``(len(indices), d)`` array. Blocks do
        not depend on what is cached, so a resumed call computes the same batches as an uninterrupted one.

        Failed items: ``compute`` marks an item it could not encode (e.g. an undecodable image) with a
        row of NaN. Rows containing NaN are never written to the cache (so a later call retries them)
        and are returned as they are, NaN, for the caller to drop; ``CacheStats`` counts them as misses.
        """
        if shard_size < 1:
            raise ValueError(f"shard_size must be positive, got {shard_size}")
        keys = [self.key(content_hash) for content_hash in content_hashes]
        first_position: dict[str, int] = {}
        for position, key in enumerate(keys):
            first_position.setdefault(key, position)
        distinct = list(first_position)  # first-occurrence order, so slot order is position order
        slot = {key: index for index, key in enumerate(distinct)}
        rows = _Rows(len(distinct))
        for shard_keys, vectors in self._stored(slot):
            new = [i for i, key in enumerate(shard_keys) if not rows.filled[slot[key]]]
            if new:
                rows.put([slot[shard_keys[i]] for i in new], vectors[new], f"stored shard in {self.directory}")
        hits = int(rows.filled.sum())
        stats = CacheStats(hits=hits, misses=len(distinct) - hits)
        log.info("embedding cache %s: %d hits, %d misses", self.directory, stats.hits, stats.misses)

        by_key = sorted(range(len(distinct)), key=distinct.__getitem__)
        blocks = [by_key[start : start + shard_size] for start in range(0, len(by_key), shard_size)]
        todo_blocks = [todo for todo in ([s for s in block if not rows.filled[s]] for block in blocks) if todo]
        failed_total = 0
        for number, todo in enumerate(todo_blocks, start=1):
            todo.sort()
            indices = [first_position[distinct[s]] for s in todo]
            computed = np.asarray(compute(indices), dtype=np.float32)
            if computed.ndim != 2 or len(computed) != len(indices):
                raise ValueError(f"compute returned shape {computed.shape} for {len(indices)} items")
            rows.put(todo, computed, "compute")
            nan = np.isnan(computed)
            failed = nan.any(axis=1)
            partial = int((failed & ~nan.all(axis=1)).sum())
            if partial:
                log.warning("embedding cache %s: %d vectors are partly NaN, not cached", self.directory, partial)
            keep = np.flatnonzero(~failed)
            if keep.size:
                self.write_shard([distinct[todo[i]] for i in keep], computed[keep])
            failed_total += int(failed.sum())
            log.info(
                "embedding cache %s: chunk %d/%d committed, %d vectors stored, %d failed",
                self.directory,
                number,
                len(todo_blocks),
                keep.size,
                int(failed.sum()),
            )
        if failed_total:
            log.warning(
                "embedding cache %s: %d items could not be computed; returned as NaN rows, not cached",
                self.directory,
                failed_total,
            )

        if not keys:
            return np.empty((0, 0), dtype=np.float32), stats
        assert rows.table is not None  # every distinct key was found or computed
        if len(distinct) == len(keys):
            return rows.table, stats
        return rows.table[[slot[key] for key in keys]], stats
