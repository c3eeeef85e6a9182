"""Pattern-wise bias rectifier (docs/method.md, "Rectifier"; after training) and the ``rectify`` stage.

For one task, each observation pattern delta gets an additive correction tau_delta = mean(y - p)
over labelled patients of that pattern, applied only when ``|tau| > kappa`` and clipped to [0, 1].
kappa is chosen from a grid by cross-fitting: the pattern's patients are split into folds, every
patient is corrected with the tau estimated on the *other* folds, and the kappa with the lowest
Brier score of those out-of-fold corrections wins (ties go to the smallest kappa; tied values
correct exactly the same patterns on the fit data).

Protocols of :func:`run_rectify`:

- ``validation`` (default, headline): fit on validation predictions, apply to every row. No test
  label is read.
- ``paper_crossfit_test``: the paper's text, cross-fitting and choosing kappa inside the test set
  itself (:func:`crossfit_on_evaluation_set`). It uses test labels, so report it separately.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmnar.data.tasks import TASK_NAMES
from mmnar.io import atomic_path

PROTOCOLS = ("validation", "paper_crossfit_test")
DEFAULT_KAPPA_GRID = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05)


def _plain(value: Any) -> Any:
    """numpy scalar -> Python scalar, so pattern ids work as dict and JSON keys."""
    return value.item() if isinstance(value, np.generic) else value


def _apply_offsets(p: np.ndarray, pattern: np.ndarray, offsets: Mapping[Any, float], kappa: float) -> np.ndarray:
    rectified = np.asarray(p, dtype=float).copy()
    for value, tau in offsets.items():
        if abs(tau) > kappa:
            rows = pattern == value
            rectified[rows] = rectified[rows] + tau
    return np.clip(rectified, 0.0, 1.0)


class PatternRectifier:
    """Per-pattern additive recalibration of one task's predicted probabilities.

    ``min_count``: patterns with fewer labelled fit patients are never corrected (too noisy), as
    are patterns unseen at fit time. After ``fit``: ``kappa_`` (chosen threshold), ``offsets_``
    (tau per eligible pattern, from all its fit patients), ``counts_`` (labelled fit patients per
    pattern), ``brier_by_kappa_`` (cross-fitted Brier score per grid value) and
    ``crossfit_predictions_`` (out-of-fold rectified predictions of the fit patients at ``kappa_``,
    NaN for unlabelled ones).
    """

    def __init__(
        self,
        kappa_grid: Sequence[float] = DEFAULT_KAPPA_GRID,
        n_folds: int = 2,
        min_count: int = 10,
        seed: int = 0,
    ):
        if n_folds < 2:
            raise ValueError("cross-fitting needs n_folds >= 2")
        self.kappa_grid = tuple(float(k) for k in kappa_grid)
        self.n_folds = n_folds
        self.min_count = min_count
        self.seed = seed

    def fit(self, y, p, pattern) -> PatternRectifier:
        y, p, pattern = np.asarray(y, dtype=float), np.asarray(p, dtype=float), np.asarray(pattern)
        labelled = np.isfinite(y)
        y_fit, p_fit, pattern_fit = y[labelled], p[labelled], pattern[labelled]
        residual = y_fit - p_fit
        rng = np.random.default_rng(self.seed)
        values, counts = np.unique(pattern_fit, return_counts=True)
        self.counts_ = {_plain(v): int(c) for v, c in zip(values, counts)}
        min_count = max(self.min_count, self.n_folds)  # every fold needs a patient

        self.offsets_: dict[Any, float] = {}
        out_of_fold_tau = np.zeros(len(y_fit))
        correctable = np.zeros(len(y_fit), dtype=bool)
        for value, count in zip(values, counts):
            if count < min_count:
                continue
            rows = np.flatnonzero(pattern_fit == value)
            self.offsets_[_plain(value)] = float(residual[rows].mean())
            fold = np.empty(len(rows), dtype=int)
            fold[rng.permutation(len(rows))] = np.arange(len(rows)) % self.n_folds
            for k in range(self.n_folds):
                out_of_fold_tau[rows[fold == k]] = residual[rows[fold != k]].mean()
            correctable[rows] = True

        self.brier_by_kappa_ = {}
        for kappa in self.kappa_grid:
            rectified = np.clip(p_fit + np.where(correctable & (np.abs(out_of_fold_tau) > kappa), out_of_fold_tau, 0.0), 0, 1)
            self.brier_by_kappa_[kappa] = float(np.mean((rectified - y_fit) ** 2)) if len(y_fit) else np.nan
        finite = {k: b for k, b in self.brier_by_kappa_.items() if np.isfinite(b)}
        self.kappa_ = min(finite, key=lambda k: (finite[k], k)) if finite else max(self.kappa_grid)

        chosen = correctable & (np.abs(out_of_fold_tau) > self.kappa_)
        self.crossfit_predictions_ = np.full(len(y), np.nan)
        self.crossfit_predictions_[labelled] = np.clip(p_fit + np.where(chosen, out_of_fold_tau, 0.0), 0, 1)
        return self

    def transform(self, p, pattern) -> np.ndarray:
        """Rectified probabilities for new patients with the full-fit tau per pattern and ``kappa_``."""
        return _apply_offsets(p, np.asarray(pattern), self.offsets_, self.kappa_)

    def summary(self) -> dict[str, Any]:
        """JSON-ready record of what was fitted."""
        return {
            "kappa": self.kappa_,
            "brier_by_kappa": {str(k): b for k, b in self.brier_by_kappa_.items()},
            "patterns": {
                str(value): {
                    "n": count,
                    "tau": self.offsets_.get(value),
                    "applied": value in self.offsets_ and abs(self.offsets_[value]) > self.kappa_,
                }
                for value, count in self.counts_.items()
            },
        }


def crossfit_on_evaluation_set(
    y, p, pattern, kappa_grid: Sequence[float] = DEFAULT_KAPPA_GRID, n_folds: int = 2, min_count: int = 10, seed: int = 0
) -> tuple[np.ndarray, PatternRectifier]:
    """The paper's variant: cross-fit tau and choose kappa inside the evaluation set itself.

    Labelled patients get their out-of-fold rectified prediction; unlabelled ones the full-fit
    correction. It uses the evaluation labels, so its metrics are optimistic and must be reported
    apart from the headline (validation-fitted) rectifier.
    """
    rectifier = PatternRectifier(kappa_grid, n_folds, min_count, seed).fit(y, p, pattern)
    rectified = rectifier.transform(p, pattern)
    labelled = np.isfinite(np.asarray(y, dtype=float))
    rectified[labelled] = rectifier.crossfit_predictions_[labelled]
    return rectified, rectifier


def run_rectify(
    predictions_path: Path,
    labels_path: Path,
    out_path: Path,
    out_json: Path,
    params: Mapping[str, Any] | None = None,
    protocol: str = "validation",
) -> pd.DataFrame:
    """The ``rectify`` stage: rectified predictions parquet (same columns) and a JSON record.

    ``params``: ``kappa_grid``, ``n_folds``, ``min_count``, ``seed`` (defaults of
    :class:`PatternRectifier`). ``labels_path`` needs ``subject_id``, the task columns and
    ``pattern_id``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    settings = {"kappa_grid": list(DEFAULT_KAPPA_GRID), "n_folds": 2, "min_count": 10, "seed": 0, **(params or {})}
    predictions = pd.read_parquet(predictions_path)
    labels = pd.read_parquet(labels_path, columns=["subject_id", *TASK_NAMES, "pattern_id"])
    merged = predictions[["subject_id", "split"]].merge(labels, on="subject_id", how="left", validate="one_to_one")
    if merged["pattern_id"].isna().any():
        raise ValueError(f"{int(merged['pattern_id'].isna().sum())} predicted patients have no row in {labels_path}")
    pattern = merged["pattern_id"].to_numpy()
    fit_split = (merged["split"] == ("val" if protocol == "validation" else "test")).to_numpy()

    rectified = predictions.copy()
    record: dict[str, Any] = {"protocol": protocol, "params": settings, "fit_split": "val" if protocol == "validation" else "test", "tasks": {}}
    for task in TASK_NAMES:
        column = f"p_{task}"
        p, y = predictions[column].to_numpy(dtype=float), merged[task].to_numpy(dtype=float)
        fit_rows = fit_split & np.isfinite(p)  # a single-modality reference predicts only where it applies
        if protocol == "validation":
            rectifier = PatternRectifier(**settings).fit(y[fit_rows], p[fit_rows], pattern[fit_rows])
            rectified[column] = rectifier.transform(p, pattern)
        else:
            values = p.copy()
            values[fit_rows], rectifier = crossfit_on_evaluation_set(y[fit_rows], p[fit_rows], pattern[fit_rows], **settings)
            rectified[column] = values
        record["tasks"][task] = rectifier.summary()

    with atomic_path(out_path) as tmp:
        rectified.to_parquet(tmp, index=False)
    with atomic_path(out_json) as tmp:
        tmp.write_text(json.dumps(record, indent=2, default=float))
    return rectified
