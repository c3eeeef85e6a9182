"""Discrimination and calibration metrics that ignore undefined (NaN) labels.

scikit-learn is imported inside the functions that compute with it: the task registry imports the
metric names from here, and the workflow reads that registry while it is parsed.
"""

from __future__ import annotations

import numpy as np

BINARY_METRICS = ("auc", "auprc", "brier")
MULTILABEL_METRICS = ("macro_auc", "macro_auprc")
MULTICLASS_METRICS = ("accuracy", "macro_f1", "kappa", "macro_auc")
METRIC_LABELS = {"auc": "AUC", "auprc": "AUPRC", "brier": "Brier", "macro_auc": "macro AUROC",
                 "macro_auprc": "macro AUPRC", "accuracy": "accuracy", "macro_f1": "macro F1", "kappa": "κ"}
LOWER_IS_BETTER = {"brier"}


def _defined(y, p) -> tuple[np.ndarray, np.ndarray]:
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    keep = np.isfinite(y)
    return y[keep], p[keep]


def task_metrics(y, p) -> dict[str, float]:
    """AUC, AUPRC (average precision) and Brier score over patients with a defined label.

    AUC and AUPRC are NaN when only one class is present; Brier is NaN when no label is defined.
    """
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

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


def multilabel_metrics(y, p) -> dict[str, float]:
    """Macro AUROC and AUPRC over the labels of ``y`` ``(n, L)`` (NaN: undefined) that have both classes
    among their defined patients, as the phenotyping benchmark reports them."""
    per_label = [task_metrics(y[:, k], p[:, k]) for k in range(np.shape(y)[1])]
    aucs = [m["auc"] for m in per_label if np.isfinite(m["auc"])]
    auprcs = [m["auprc"] for m in per_label if np.isfinite(m["auprc"])]
    return {"macro_auc": float(np.mean(aucs)) if aucs else np.nan,
            "macro_auprc": float(np.mean(auprcs)) if auprcs else np.nan}


def multiclass_metrics(y, p) -> dict[str, float]:
    """Accuracy, macro F1, quadratic-weighted Cohen's κ (the classes are ordered) of the most probable
    class, and the one-vs-rest macro AUROC of ``p`` ``(n, K)``, over patients with a defined class ``y``."""
    from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, roc_auc_score

    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    keep = np.isfinite(y) & np.isfinite(p).all(axis=1)
    y, p = y[keep].astype(int), p[keep]
    if len(y) == 0:
        return dict.fromkeys(MULTICLASS_METRICS, np.nan)
    classes = np.arange(p.shape[1])
    called = p.argmax(axis=1)
    present = np.unique(y)
    aucs = [roc_auc_score(y == k, p[:, k]) for k in present if 0 < (y == k).sum() < len(y)]
    return {"accuracy": float(accuracy_score(y, called)),
            "macro_f1": float(f1_score(y, called, labels=classes, average="macro", zero_division=0)),
            "kappa": float(cohen_kappa_score(y, called, labels=classes, weights="quadratic")) if len(present) > 1 else np.nan,
            "macro_auc": float(np.mean(aucs)) if aucs else np.nan}
