"""Patient-level, stratified, seeded train/validation/test splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split


def stratification_key(labels: pd.DataFrame) -> np.ndarray:
    """Mortality × 30-day readmission (undefined kept as its own level), coarsened when too rare."""
    readmit = labels["readmit_30d"].fillna(-1).astype(int).astype(str)
    key = labels["mortality_inhosp"].astype(int).astype(str) + "_" + readmit
    if key.value_counts().min() < 5:
        key = labels["mortality_inhosp"].astype(int).astype(str)
    if key.value_counts().min() < 5:
        key = pd.Series("all", index=labels.index)
    return key.to_numpy()


def make_split(labels: pd.DataFrame, seed: int, val_fraction: float, test_fraction: float) -> pd.DataFrame:
    """One row per patient: ``subject_id, split``. The cohort holds one row per patient, so a
    row-level split is a patient-level split; duplicates are rejected rather than leaked."""
    if labels["subject_id"].duplicated().any():
        raise ValueError("labels hold several rows for one patient; splits must be by patient")
    index = np.arange(len(labels))
    key = stratification_key(labels)
    rest, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=key)
    val_share = val_fraction / (1 - test_fraction)
    train, val = train_test_split(rest, test_size=val_share, random_state=seed + 1, stratify=key[rest])
    split = np.empty(len(labels), dtype=object)
    split[train], split[val], split[test] = "train", "val", "test"
    return pd.DataFrame({"subject_id": labels["subject_id"].to_numpy(), "split": split})
