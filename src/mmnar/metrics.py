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


def equal_mass_bins(p, n_bins: int) -> np.ndarray:
    """Equal-mass bin (0 … ``n_bins - 1``) of each prediction, by rank, ties together.

    With the predictions sorted, the one at 0-based position i of n goes to bin ⌊n_bins · i / n⌋, so
    every bin holds n / n_bins patients (±1); tied predictions all take the rank of the first of them
    (the number of strictly smaller predictions), so they share a bin and a bin may stay empty.
    """
    p = np.asarray(p, dtype=float)
    below = np.searchsorted(np.sort(p), p, side="left")       # strictly smaller predictions
    return (n_bins * below) // max(len(p), 1)


def expected_calibration_error(y, p, n_bins: int = 10, strategy: str = "uniform") -> float:
    """Bin-count-weighted mean |observed rate - mean prediction| over ``n_bins`` bins.

    ``strategy`` "uniform": equal-width bins on [0, 1] (p == 1 goes to the last bin); "quantile":
    equal-mass bins (``equal_mass_bins``), the adaptive ECE that does not leave most patients of a
    rare outcome in the first bin.
    """
    y, p = _defined(y, p)
    if len(y) == 0:
        return np.nan
    if strategy == "uniform":
        bins = np.clip(np.floor(p * n_bins).astype(int), 0, n_bins - 1)
    elif strategy == "quantile":
        bins = equal_mass_bins(p, n_bins)
    else:
        raise ValueError(f"strategy must be 'uniform' or 'quantile', not {strategy!r}")
    counts = np.bincount(bins, minlength=n_bins)
    gaps = np.abs(np.bincount(bins, weights=y, minlength=n_bins) - np.bincount(bins, weights=p, minlength=n_bins))
    return float(gaps.sum() / counts.sum())
