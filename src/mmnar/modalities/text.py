"""Clinical note embeddings (T: discharge summaries, R: radiology reports) with a Hugging Face encoder.

A note is cut into consecutive windows the encoder can read whole, each window is mean-pooled over
its tokens (sentence-transformers style), the windows are averaged weighted by token count (so the
note vector is the mean over all its tokens), and the result is L2-normalised. A patient's vector is
the mean of their note vectors.

Why L2-normalise notes: sentence encoders such as all-MiniLM are trained for cosine similarity
(their sentence-transformers pipeline ends in a Normalize layer), so the direction carries the
meaning while the norm mostly tracks length and token-frequency artefacts. Normalising lets each
note count equally in the patient mean and puts T and R on one scale for the reconstruction and
contrastive losses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm
from transformers import AutoConfig, AutoModel, AutoTokenizer
from transformers.utils import cached_file

from mmnar.device import choose_device
from mmnar.modalities.cache import DEFAULT_SHARD_SIZE, EmbeddingCache, sha256_bytes, sha256_file
from mmnar.modalities.frame import empty_embedding_frame, mean_by_subject, write_embedding_frame
from mmnar.modalities.text_source import BUNDLED_ENCODER, resolve_encoder_source

log = logging.getLogger(__name__)

DEFAULT_CACHE_DIR = Path("data/cache/embeddings")

TEXT_PREP_VERSION = "text-v1"
"""Bump when windowing, pooling or normalisation changes, so cached vectors from before are not reused."""

_OFFLINE_VALUES = {"1", "ON", "YES", "TRUE"}


def _directory_digest(directory: Path) -> str:
    """Hash of the files that decide the outputs (weights, config, tokenizer), so a local encoder
    that is replaced in place gets a new cache identity; docs and hidden files are left out."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if not path.is_file() or path.suffix == ".md" or any(part.startswith(".") for part in relative.parts):
            continue
        digest.update(f"{relative.as_posix()}\0{sha256_file(path)}\0".encode())
    return digest.hexdigest()


def _special_token_frame(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one sequence (``[CLS]`` … ``[SEP]`` for BERT)."""
    plain = tokenizer("window", add_special_tokens=False)["input_ids"]
    wrapped = tokenizer("window", add_special_tokens=True)["input_ids"]
    for start in range(len(wrapped) - len(plain) + 1):
        if wrapped[start : start + len(plain)] == plain:
            return wrapped[:start], wrapped[start + len(plain) :]
    raise ValueError(f"cannot find where {type(tokenizer).__name__} places its special tokens")


class TextEncoder:
    """Tokenizer and configuration load at once; the model only when something must be encoded,
    so a rerun served wholly from the cache never loads weights."""

    def __init__(self, encoder: str = BUNDLED_ENCODER, max_tokens: int = 512, device: str = "auto"):
        self.source = resolve_encoder_source(encoder)
        self.local_files_only = (
            os.environ.get("HF_HUB_OFFLINE", "").upper() in _OFFLINE_VALUES or Path(self.source).exists()
        )
        self.config = AutoConfig.from_pretrained(self.source, local_files_only=self.local_files_only)
        self.tokenizer = AutoTokenizer.from_pretrained(self.source, local_files_only=self.local_files_only)
        self.device = choose_device(device)
        self.dim = int(self.config.hidden_size)
        self.prefix_ids, self.suffix_ids = _special_token_frame(self.tokenizer)
        self.window_length = self._window_length(max_tokens)
        self.encoder_id = self._identity(encoder)
        self.prep_version = f"{TEXT_PREP_VERSION}-window{self.window_length}"
        self._model = None

    def _window_length(self, max_tokens: int) -> int:
        """Longest window (special tokens included) within ``max_tokens``, the position table, the
        tokenizer limit and, for sentence-transformers models, the length they were trained at
        (all-MiniLM-L6-v2: 256 of its 512 positions)."""
        limits = [max_tokens, self.tokenizer.model_max_length]
        limits.append(getattr(self.config, "max_position_embeddings", None))
        st_config = cached_file(
            self.source,
            "sentence_bert_config.json",
            local_files_only=self.local_files_only,
            _raise_exceptions_for_missing_entries=False,
            _raise_exceptions_for_connection_errors=False,
        )
        if st_config:
            limits.append(json.loads(Path(st_config).read_text()).get("max_seq_length"))
        length = min(int(limit) for limit in limits if limit)
        if length <= len(self.prefix_ids) + len(self.suffix_ids):
            raise ValueError(f"window of {length} tokens leaves no room for text")
        return length

    def _identity(self, encoder: str) -> str:
        """Encoder part of the cache key: content hash for a local folder, commit for a hub model."""
        source = Path(self.source)
        if source.is_dir():
            return f"{Path(encoder).name}@sha256:{_directory_digest(source)[:16]}"
        return f"{self.source}@{getattr(self.config, '_commit_hash', None) or 'unknown-revision'}"

    @property
    def model(self) -> torch.nn.Module:
        if self._model is None:
            log.info("loading text encoder %s on %s", self.source, self.device)
            model = AutoModel.from_pretrained(
                self.source, local_files_only=self.local_files_only, dtype=torch.float32
            )
            self._model = model.to(self.device).eval()
        return self._model

    def split_into_windows(self, texts: Sequence[str]) -> list[list[list[int]]]:
        """Per text, consecutive non-overlapping token windows wrapped in special tokens; an empty
        text still gets one (special-tokens-only) window so every note has a vector."""
        content_length = self.window_length - len(self.prefix_ids) - len(self.suffix_ids)
        token_ids = self.tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
        return [
            [
                self.prefix_ids + ids[start : start + content_length] + self.suffix_ids
                for start in range(0, max(len(ids), 1), content_length)
            ]
            for ids in token_ids
        ]

    def encode_windows(self, windows: Sequence[list[int]], batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean-pooled vector and token count per window; batches group similar lengths to cut padding."""
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]), reverse=True)
        vectors = np.empty((len(windows), self.dim), dtype=np.float32)
        token_counts = np.array([len(window) for window in windows], dtype=np.float64)
        model = self.model
        with torch.inference_mode(), tqdm(total=len(windows), unit="window", desc="embed text", mininterval=5) as bar:
            for start in range(0, len(order), batch_size):
                batch_positions = order[start : start + batch_size]
                batch = self.tokenizer.pad(
                    [{"input_ids": windows[i]} for i in batch_positions], return_tensors="pt"
                ).to(self.device)
                hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1)
                vectors[batch_positions] = pooled.float().cpu().numpy()
                bar.update(len(batch_positions))
        return vectors, token_counts

    def embed_texts(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """L2-normalised note vectors: token-count-weighted mean of each note's window vectors."""
        windows_per_text = self.split_into_windows(texts)
        windows = [window for text_windows in windows_per_text for window in text_windows]
        vectors, token_counts = self.encode_windows(windows, batch_size)
        starts = np.cumsum([0] + [len(text_windows) for text_windows in windows_per_text[:-1]])
        weighted_sums = np.add.reduceat(vectors.astype(np.float64) * token_counts[:, None], starts, axis=0)
        notes = weighted_sums / np.add.reduceat(token_counts, starts)[:, None]
        notes /= np.maximum(np.linalg.norm(notes, axis=1, keepdims=True), 1e-12)
        return notes.astype(np.float32)


def embed_notes(
    notes: pd.DataFrame,
    encoder: str = BUNDLED_ENCODER,
    max_tokens: int = 512,
    batch_size: int = 32,
    cache_dir: str | os.PathLike = DEFAULT_CACHE_DIR,
    device: str = "auto",
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> pd.DataFrame:
    """One row per patient with at least one note: the mean of their note vectors (float32).

    Notes whose text is missing are not observations and are dropped; only notes whose
    (encoder, preprocessing, text) key is not in ``cache_dir`` are encoded.
    """
    text_encoder = TextEncoder(encoder, max_tokens, device)
    missing_text = notes["text"].isna()
    if missing_text.any():
        log.warning("dropping %d notes with no text", int(missing_text.sum()))
    notes = notes.loc[~missing_text]
    if notes.empty:
        return empty_embedding_frame(text_encoder.dim)
    texts = notes["text"].astype(str).tolist()
    cache = EmbeddingCache(cache_dir, text_encoder.encoder_id, text_encoder.prep_version)
    note_vectors, _ = cache.get_or_compute(
        [sha256_bytes(text.encode("utf-8")) for text in texts],
        lambda positions: text_encoder.embed_texts([texts[i] for i in positions], batch_size),
        shard_size=shard_size,
    )
    return mean_by_subject(notes["subject_id"].to_numpy(), note_vectors)


def run_embed_text(
    notes_path: str | os.PathLike,
    out_path: str | os.PathLike,
    encoder: str,
    max_tokens: int,
    batch_size: int,
    cache_dir: str | os.PathLike,
    device: str,
    shard_size: int = DEFAULT_SHARD_SIZE,
) -> None:
    """Stage ``embed_text``: notes parquet (``subject_id, note_id, charttime, text``) → embedding parquet."""
    notes = pd.read_parquet(notes_path, columns=["subject_id", "note_id", "charttime", "text"])
    frame = embed_notes(notes, encoder, max_tokens, batch_size, cache_dir, device, shard_size)
    log.info("embedded notes of %d patients (%d-d) from %s", len(frame), frame.shape[1] - 1, notes_path)
    write_embedding_frame(frame, out_path)
