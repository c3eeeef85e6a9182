"""Patient-level, stratified, seeded train/validation/test splits.

Two schemes (``split.scheme``):

- ``folds`` (default): the patients are dealt once into ``K = round(1 / test_fraction)`` stratified
  folds (seeded by ``fold_seed``); split seed ``s`` tests on fold ``s mod K``. The test sets of
  different split seeds are disjoint, so every extra split seed adds new test patients: the paired
  comparisons average over runs that are independent given the models, and their CIs narrow with the
  number of seeds (three seeds test 3/K of the cohort instead of the same 1/K three times over).
- ``random``: each split seed draws its own test set; test sets of different seeds overlap.

Validation is then drawn from the remaining patients with the split seed, stratified the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from mmnar.data.tasks import binary_task_names

SCHEMES = ("folds", "random")


STRATIFY_FIRST = ("mortality_inhosp", "readmit_30d")
"""Binary tasks stratified on, in this order, when the run has them; then its other binary tasks."""


def stratification_key(labels: pd.DataFrame) -> np.ndarray:
    """The run's first two binary tasks (``STRATIFY_FIRST`` first; undefined kept as its own level),
    coarsened to the first, then to none, when a level is too rare."""
    names = binary_task_names(labels.columns)
    names = [t for t in STRATIFY_FIRST if t in names] + [t for t in names if t not in STRATIFY_FIRST]
    levels = [labels[t].fillna(-1).astype(int).astype(str) for t in names[:2]]
    for k in range(len(levels), 0, -1):
        key = levels[0].str.cat(levels[1:k], sep="_") if k > 1 else levels[0]
        if key.value_counts().min() >= 5:
            return key.to_numpy()
    return np.full(len(labels), "all")


def n_folds(test_fraction: float) -> int:
    """Folds of the ``folds`` scheme: each holds about ``test_fraction`` of the patients."""
    return max(2, round(1 / test_fraction))


def fold_collisions(seeds: Sequence[int], test_fraction: float) -> list[tuple[int, int]]:
    """Pairs of split seeds that would test on the same fold under the ``folds`` scheme."""
    k = n_folds(test_fraction)
    first: dict[int, int] = {}
    collisions = []
    for seed in seeds:
        if seed % k in first:
            collisions.append((first[seed % k], seed))
        first.setdefault(seed % k, seed)
    return collisions


def make_split(labels: pd.DataFrame, seed: int, val_fraction: float, test_fraction: float,
               scheme: str = "random", fold_seed: int = 0) -> pd.DataFrame:
    """One row per patient: ``subject_id, split``. The cohort holds one row per patient, so a
    row-level split is a patient-level split; duplicates are rejected rather than leaked.

    scikit-learn is imported here only: the config check asks :func:`fold_collisions` while the
    workflow is parsed."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if labels["subject_id"].duplicated().any():
        raise ValueError("labels hold several rows for one patient; splits must be by patient")
    if scheme not in SCHEMES:
        raise ValueError(f"unknown split scheme {scheme!r}; known: {SCHEMES}")
    index = np.arange(len(labels))
    key = stratification_key(labels)
    if scheme == "folds":
        k = n_folds(test_fraction)
        folds = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=fold_seed).split(index, key))
        rest, test = folds[seed % k]
        test_share = len(test) / len(index)
    else:
        rest, test = train_test_split(index, test_size=test_fraction, random_state=seed, stratify=key)
        test_share = test_fraction
    val_share = val_fraction / (1 - test_share)
    train, val = train_test_split(rest, test_size=val_share, random_state=seed + 1, stratify=key[rest])
    split = np.empty(len(labels), dtype=object)
    split[train], split[val], split[test] = "train", "val", "test"
    return pd.DataFrame({"subject_id": labels["subject_id"].to_numpy(), "split": split})
