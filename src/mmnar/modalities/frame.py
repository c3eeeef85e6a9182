"""The embedding table every ``embed_*`` stage writes: ``subject_id`` + ``emb_0 … emb_{d-1}`` float32."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from mmnar.io import atomic_path


def embedding_columns(dim: int) -> list[str]:
    return [f"emb_{i}" for i in range(dim)]


def empty_embedding_frame(dim: int) -> pd.DataFrame:
    """Zero rows but the full schema, so downstream stages read a cohort with no observations uniformly."""
    columns = {"subject_id": pd.Series(dtype="int64")}
    columns.update({column: pd.Series(dtype="float32") for column in embedding_columns(dim)})
    return pd.DataFrame(columns)


def mean_by_subject(subject_ids: np.ndarray, vectors: np.ndarray) -> pd.DataFrame:
    """One row per subject (sorted): the mean of that subject's item vectors, computed in float64."""
    columns = embedding_columns(vectors.shape[1])
    per_item = pd.DataFrame(vectors.astype(np.float64), columns=columns)
    per_item.insert(0, "subject_id", np.asarray(subject_ids))
    pooled = per_item.groupby("subject_id", sort=True).mean().reset_index()
    return pooled.astype({column: np.float32 for column in columns})


def write_embedding_frame(frame: pd.DataFrame, out_path: str | os.PathLike) -> None:
    with atomic_path(out_path) as tmp:
        frame.to_parquet(tmp, index=False)
