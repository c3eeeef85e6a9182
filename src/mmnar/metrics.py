"""Discrimination and calibration metrics that ignore undefined (NaN) labels."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score


def _defined(y, p) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    keep = np.isfinite(y)
    return y[keep], p[keep]


def task_metrics(y, p) -> dict[str, float]:
    """AUC, AUPRC (average precision) and Brier score over patients with a defined label.

    AUC and AUPRC are NaN when only one class is present; Brier is NaN when no label is defined.
    """
    y, p = _defined(y, p)
    if len(y) == 0:
        return {"auc": np.nan, "auprc": np.nan, "brier": np.nan}
    both_classes = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both_classes else np.nan,
        "auprc": float(average_precision_score(y, p)) if both_classes else np.nan,
        "brier": float(brier_score_loss(y, p)),
    }


def expected_calibration_error(y, p, n_bins: int = 10) -> float:
    """Bin-count-weighted mean |observed rate - mean prediction| over equal-width bins on [0, 1]."""
    y, p = _defined(y, p)
    if len(y) == 0:
        return np.nan
    bins = np.clip(np.floor(p * n_bins).astype(int), 0, n_bins - 1)  # p == 1 goes to the last bin
    counts = np.bincount(bins, minlength=n_bins)
    gaps = np.abs(np.bincount(bins, weights=y, minlength=n_bins) - np.bincount(bins, weights=p, minlength=n_bins))
    return float(gaps.sum() / counts.sum())
