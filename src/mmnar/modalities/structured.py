"""Structured EHR (S): the selected feature groups, encoded and concatenated, are the embedding.

NaN (unmeasured) stays NaN: imputing here would use statistics from all patients, test included;
the trainer imputes with train-split statistics instead. Categorical columns are one-hot encoded
over each group's fixed vocabulary (``mmnar.data.feature_groups``), which depends on no patient.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.extract import DEMOGRAPHIC_FEATURES
from mmnar.data.feature_groups import BLANK_VALUES, MISSING_LEVEL, OTHER_LEVEL, Categorical, FeatureGroup
from mmnar.data.feature_groups import get as get_group
from mmnar.modalities.frame import embedding_columns, write_embedding_frame
from mmnar.io import atomic_path

log = logging.getLogger(__name__)

BASE_GROUPS = ("demographics", "vitals_labs")
"""The groups ``extract_structured`` writes together into ``structured.parquet``."""


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


def one_hot(values: pd.Series, categorical: Categorical) -> dict[str, np.ndarray]:
    """``<column>=<level>`` indicators over the fixed levels, ``other`` and ``missing``; exactly one is 1."""
    text = values.astype("string").str.strip().str.upper()
    blank = text.isna() | text.isin(BLANK_VALUES)
    level = text.where(~blank, MISSING_LEVEL).where(blank | text.isin(categorical.levels), OTHER_LEVEL)
    return {f"{categorical.column}={name}": (level == name).to_numpy(dtype=float)
            for name in (*categorical.levels, OTHER_LEVEL, MISSING_LEVEL)}


def encode_group(frame: pd.DataFrame, group: FeatureGroup) -> pd.DataFrame:
    """A group's raw extraction (``subject_id`` + columns) as numeric features, in column order.

    Categorical columns become one-hot blocks; a ``nullable`` numeric column gets a ``_missing``
    flag next to it. A column the group does not declare as categorical must be numeric.
    """
    categorical = {c.column: c for c in group.categorical}
    absent = sorted((set(categorical) | set(group.nullable)) - set(frame.columns))
    if absent:
        raise ValueError(f"feature group {group.name}: the extraction lacks declared columns {absent}")
    columns: dict[str, np.ndarray] = {}
    for column in frame.columns.drop("subject_id"):
        if column in categorical:
            columns |= one_hot(frame[column], categorical[column])
            continue
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise TypeError(f"feature group {group.name}: column {column} is not numeric and not declared categorical")
        values = frame[column].to_numpy(dtype=float, na_value=np.nan)
        columns[column] = values
        if column in group.nullable:
            columns[f"{column}_missing"] = np.isnan(values).astype(float)
    encoded = pd.DataFrame(columns, index=frame.index)
    encoded.insert(0, "subject_id", frame["subject_id"].to_numpy())
    return encoded


def assemble(structured: pd.DataFrame, group_frames: Mapping[str, pd.DataFrame],
             groups: Sequence[str] = BASE_GROUPS) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """S in ``structured``'s row order: the selected groups' numeric columns, and group → feature names."""
    demographic = [c for c in structured.columns if c in DEMOGRAPHIC_FEATURES]
    measured = [c for c in structured.columns if c != "subject_id" and c not in DEMOGRAPHIC_FEATURES]
    parts = {"demographics": structured[["subject_id", *demographic]],
             "vitals_labs": structured[["subject_id", *measured]]}
    result = structured[["subject_id"]].reset_index(drop=True)
    names: dict[str, list[str]] = {}
    for name in groups:
        if name in parts:
            part = parts[name]
        elif name in group_frames:
            part = encode_group(group_frames[name], get_group(name))
        else:
            raise ValueError(f"feature group {name} was selected but its extraction was not given")
        names[name] = [c for c in part.columns if c != "subject_id"]
        clash = set(names[name]) & set(result.columns)
        if clash:
            raise ValueError(f"feature group {name} repeats feature names {sorted(clash)}")
        result = result.merge(part, on="subject_id", how="left", validate="one_to_one")
    return result, names


def run_embed_structured(structured_path: str | os.PathLike, out_path: str | os.PathLike,
                         group_paths: Mapping[str, str | os.PathLike] | None = None,
                         groups: Sequence[str] = BASE_GROUPS) -> None:
    """Stage ``embed_structured``: writes the embedding parquet, ``<out>.features.json`` naming each
    ``emb_i`` and ``<out>.feature_groups.json`` mapping each selected group to its feature names."""
    group_frames = {name: pd.read_parquet(path) for name, path in (group_paths or {}).items()}
    features_frame, by_group = assemble(pd.read_parquet(structured_path), group_frames, groups)
    frame, features = structured_embedding(features_frame)
    log.info("structured embedding: %d patients x %d features from groups %s", len(frame), len(features),
             {g: len(n) for g, n in by_group.items()})
    out_path = Path(out_path)
    with atomic_path(out_path.with_suffix(".features.json")) as tmp:
        tmp.write_text(json.dumps(features, indent=1) + "\n")
    with atomic_path(out_path.with_suffix(".feature_groups.json")) as tmp:
        tmp.write_text(json.dumps(by_group, indent=1) + "\n")
    write_embedding_frame(frame, out_path)
