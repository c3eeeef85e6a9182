"""Content-addressed embedding cache, so a changed cohort re-encodes only the inputs it has not seen.

Layout: ``<cache_dir>/<encoder slug>/<prep version>/shard-<time>-<random>.npz``, each shard holding
``keys`` (hex sha256 strings) and ``vectors`` (float32, one row per key). A key is
``sha256(encoder id ␀ prep version ␀ content hash)``: the folder names only make the cache browsable,
the key alone decides a hit. Every call that computes something writes one new shard with only the
new keys (never rewriting old ones), under a unique name and atomically, so parallel jobs sharing a
cache cannot corrupt it; at worst two jobs both compute an item and it is stored twice.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mmnar.io import atomic_path

log = logging.getLogger(__name__)

_SHARD_GLOB = "shard-*.npz"


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


class EmbeddingCache:
    """Embeddings of one encoder under one preprocessing version, keyed by input content."""

    def __init__(self, cache_dir: str | os.PathLike, encoder_id: str, prep_version: str):
        self.encoder_id = encoder_id
        self.prep_version = prep_version
        self.directory = Path(cache_dir) / slugify(encoder_id) / slugify(prep_version)

    def key(self, content_hash: str) -> str:
        return sha256_bytes("\0".join((self.encoder_id, self.prep_version, content_hash)).encode())

    def lookup(self, keys: set[str]) -> dict[str, np.ndarray]:
        """Vectors stored for any of ``keys``, reading one shard at a time to bound memory."""
        found: dict[str, np.ndarray] = {}
        for shard in sorted(self.directory.glob(_SHARD_GLOB)):
            with np.load(shard, allow_pickle=False) as stored:
                shard_keys = stored["keys"]
                wanted = np.flatnonzero([k in keys for k in shard_keys.tolist()])
                if wanted.size:
                    vectors = stored["vectors"]
                    found.update(zip(shard_keys[wanted].tolist(), vectors[wanted]))
        return found

    def write_shard(self, keys: Sequence[str], vectors: np.ndarray) -> Path:
        shard = self.directory / f"shard-{time.time_ns()}-{uuid.uuid4().hex[:12]}.npz"
        with atomic_path(shard) as tmp:
            np.savez(tmp, keys=np.asarray(keys, dtype="U64"), vectors=np.asarray(vectors, dtype=np.float32))
        return shard

    def get_or_compute(
        self,
        content_hashes: Sequence[str],
        compute: Callable[[list[int]], np.ndarray],
    ) -> tuple[np.ndarray, CacheStats]:
        """Vectors for every item, in order; ``compute(indices)`` is called once, for uncached items only.

        ``compute`` receives the positions (first occurrence of each missing key) and returns their
        vectors as a ``(len(indices), d)`` array.
        """
        keys = [self.key(content_hash) for content_hash in content_hashes]
        first_position: dict[str, int] = {}
        for position, key in enumerate(keys):
            first_position.setdefault(key, position)
        stored = self.lookup(set(first_position))
        missing = [key for key in first_position if key not in stored]
        stats = CacheStats(hits=len(stored), misses=len(missing))
        log.info("embedding cache %s: %d hits, %d misses", self.directory, stats.hits, stats.misses)
        if missing:
            computed = np.asarray(compute([first_position[key] for key in missing]), dtype=np.float32)
            self.write_shard(missing, computed)
            stored.update(zip(missing, computed))
        if not keys:
            return np.empty((0, 0), dtype=np.float32), stats
        return np.stack([stored[key] for key in keys]).astype(np.float32, copy=False), stats
