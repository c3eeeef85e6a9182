"""Structured EHR (S): the aggregated feature vector is the embedding, passed through unchanged.

NaN (unmeasured) stays NaN: imputing here would use statistics from all patients, test included;
the trainer imputes with train-split statistics instead.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.modalities.frame import embedding_columns, write_embedding_frame
from mmnar.io import atomic_path

log = logging.getLogger(__name__)


def structured_embedding(structured: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """``subject_id`` + ``emb_i`` (float32) in the input's row and column order, and the feature names."""
    features = [column for column in structured.columns if column != "subject_id"]
    non_numeric = [column for column in features if not pd.api.types.is_numeric_dtype(structured[column])]
    if non_numeric:
        raise TypeError(f"structured features must be numeric; not numeric: {non_numeric}")
    values = structured[features].to_numpy(dtype=np.float32, na_value=np.nan)
    frame = pd.DataFrame(values, columns=embedding_columns(len(features)), index=structured.index)
    frame.insert(0, "subject_id", structured["subject_id"].to_numpy())
    return frame.reset_index(drop=True), features


def run_embed_structured(structured_path: str | os.PathLike, out_path: str | os.PathLike) -> None:
    """Stage ``embed_structured``: writes the embedding parquet and ``<out>.features.json`` naming each ``emb_i``."""
    frame, features = structured_embedding(pd.read_parquet(structured_path))
    log.info("structured embedding: %d patients x %d features", len(frame), len(features))
    with atomic_path(Path(out_path).with_suffix(".features.json")) as tmp:
        tmp.write_text(json.dumps(features, indent=1) + "\n")
    write_embedding_frame(frame, out_path)
