"""Calibration of every model's test predictions: equal-mass ECE, logistic recalibration, reliability curves.

For each model, variant (raw, and rectified for rectified models), task and run (split seed ×
initialisation seed), on the run's test patients with a defined label and a finite prediction:

- ``ece``: expected calibration error over ``n_bins`` equal-mass bins (``mmnar.metrics.equal_mass_bins``:
  patients sorted by prediction, n / n_bins per bin, tied predictions in one bin): the patient-weighted
  mean |observed rate − mean prediction| of the bins;
- ``intercept``, ``slope``: the unpenalised logistic recalibration logit P(y = 1) = a + b·logit(p)
  (Cox 1958), fitted by maximum likelihood (Newton–Raphson); b < 1 means predictions too extreme
  (overfit), b > 1 too moderate; a is read with b, at logit(p) = 0. Predictions are clipped to
  [1e-6, 1 − 1e-6] before the logit. NaN when the fit does not exist (one class, constant
  predictions, perfect separation);
- ``calibration_in_the_large``: a with b fixed at 1 (logit(p) as an offset): 0 when the mean
  prediction matches the outcome rate on the logit scale;
- reliability points, one per equal-mass bin: ``n_patients``, ``mean_predicted``, ``observed_rate``.

A bin whose patients, events or non-events number 1 to ``min_cell_count − 1`` is ``suppressed``
(PhysioNet small-cell guidance, as Figure 1): its count, mean prediction and rate are blank. A run
row's ``n_patients`` is blank the same way when it is a small cell; its ECE and recalibration are
kept (they are not counts).

The ``mean`` rows average the run rows over runs: a metric over the runs where it is defined
(``n_runs`` says how many), a reliability point bin by bin (the k-th equal-mass bin of every run),
over the runs where the bin holds patients, suppressed when it is suppressed in any run. The spread
over runs is in the run rows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from mmnar.data.tasks import binary_task_names
from mmnar.io import atomic_path
from mmnar.metrics import equal_mass_bins, expected_calibration_error

log = logging.getLogger(__name__)

VARIANTS = ("raw", "rectified")
"""Variants reported: the paper-protocol variant is fitted on the test labels, so its calibration means nothing."""
SUMMARY = "summary"
RELIABILITY = "reliability"
MEAN_RUN = "mean"
COLUMNS = ["model", "variant", "task", "run", "kind", "bin", "n_runs", "n_patients", "ece", "intercept", "slope",
           "calibration_in_the_large", "mean_predicted", "observed_rate", "suppressed"]
EPS = 1e-6


def small_cell(counts, min_cell_count: int) -> np.ndarray:
    """Counts from 1 to ``min_cell_count - 1`` (zero is publishable)."""
    counts = np.asarray(counts)
    return (counts > 0) & (counts < min_cell_count)


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


def _newton(x: np.ndarray, y: np.ndarray, offset: np.ndarray, beta: np.ndarray,
            max_iter: int = 100, tol: float = 1e-10) -> np.ndarray | None:
    """Maximum-likelihood logistic coefficients of the columns ``x`` (with ``offset``), or None."""

    def log_likelihood(b):
        eta = offset + x @ b
        return float(np.sum(y * eta - np.logaddexp(0, eta)))

    current = log_likelihood(beta)
    for _ in range(max_iter):
        mu = expit(offset + x @ beta)
        hessian = x.T @ (x * (mu * (1 - mu))[:, None])
        try:
            step = np.linalg.solve(hessian, x.T @ (y - mu))
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(step)):
            return None
        scale = 1.0
        while scale > 1e-8:                                   # step halving: the likelihood never decreases
            candidate = beta + scale * step
            value = log_likelihood(candidate)
            if value >= current - 1e-12:
                break
            scale /= 2
        beta, current = candidate, value
        if np.max(np.abs(scale * step)) < tol:
            return beta if np.all(np.abs(beta) < 1e3) else None   # diverging: separation
    return None


def logistic_calibration(y, p) -> dict[str, float]:
    """``intercept``, ``slope`` of logit P(y=1) = a + b·logit(p) and ``calibration_in_the_large`` (b = 1).

    Patients with an undefined label or a non-finite prediction are left out; NaN where no fit exists.
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    keep = np.isfinite(y) & np.isfinite(p)
    y, x = y[keep], logit(p[keep])
    result = dict.fromkeys(("intercept", "slope", "calibration_in_the_large"), np.nan)
    if len(y) < 2 or len(np.unique(y)) < 2:
        return result
    joint = _newton(np.column_stack([np.ones_like(x), x]), y, np.zeros_like(x), np.array([0.0, 1.0]))
    if joint is not None:
        result["intercept"], result["slope"] = float(joint[0]), float(joint[1])
    large = _newton(np.ones((len(x), 1)), y, x, np.array([0.0]))
    if large is not None:
        result["calibration_in_the_large"] = float(large[0])
    return result


def reliability_points(y, p, n_bins: int, min_cell_count: int = 1) -> pd.DataFrame:
    """One row per equal-mass bin: ``bin, n_patients, mean_predicted, observed_rate, suppressed``.

    A bin with 1 to ``min_cell_count - 1`` patients, events or non-events is suppressed (values blank);
    an empty bin (ties) has ``n_patients`` 0 and no values.
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    keep = np.isfinite(y) & np.isfinite(p)
    y, p = y[keep], p[keep]
    bins = equal_mass_bins(p, n_bins)
    counts = np.bincount(bins, minlength=n_bins)
    events = np.bincount(bins, weights=y, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_predicted = np.bincount(bins, weights=p, minlength=n_bins) / counts
        observed = events / counts
    suppressed = (small_cell(counts, min_cell_count) | small_cell(np.rint(events), min_cell_count)
                  | small_cell(np.rint(counts - events), min_cell_count))
    table = pd.DataFrame({"bin": np.arange(n_bins), "n_patients": counts.astype(float),
                          "mean_predicted": mean_predicted, "observed_rate": observed, "suppressed": suppressed})
    table.loc[suppressed, ["n_patients", "mean_predicted", "observed_rate"]] = np.nan
    return table


def run_calibration(y, p, n_bins: int, min_cell_count: int = 1) -> tuple[dict, pd.DataFrame]:
    """(summary row, reliability points) of one run's test predictions."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    keep = np.isfinite(y) & np.isfinite(p)
    n = int(keep.sum())
    summary = {"n_patients": np.nan if small_cell(n, min_cell_count) else float(n),
               "ece": expected_calibration_error(y[keep], p[keep], n_bins, strategy="quantile") if n else np.nan,
               **logistic_calibration(y[keep], p[keep]), "suppressed": bool(small_cell(n, min_cell_count))}
    return summary, reliability_points(y[keep], p[keep], n_bins, min_cell_count)


def _mean_rows(summaries: Sequence[dict], points: Sequence[pd.DataFrame]) -> tuple[dict, pd.DataFrame]:
    """The ``mean`` summary and reliability points of one model × variant × task over its runs."""
    frame = pd.DataFrame(summaries)
    metrics = ["ece", "intercept", "slope", "calibration_in_the_large"]
    summary = {m: float(frame[m].mean()) if frame[m].notna().any() else np.nan for m in metrics}
    summary["n_runs"] = int(frame["ece"].notna().sum())
    summary["n_patients"] = float(frame["n_patients"].mean()) if frame["n_patients"].notna().all() else np.nan
    summary["suppressed"] = bool(frame["suppressed"].any())
    stacked = pd.concat(points, keys=range(len(points)), names=["run_index"]).reset_index(level=0)
    stacked["n_patients"] = stacked["n_patients"].replace(0, np.nan)  # an empty bin (ties) adds no patients
    by_bin = stacked.groupby("bin", sort=True)
    mean = by_bin[["n_patients", "mean_predicted", "observed_rate"]].mean()
    mean["n_patients"] = mean["n_patients"].fillna(0.0)
    mean["suppressed"] = by_bin["suppressed"].any()
    mean["n_runs"] = by_bin["observed_rate"].count()
    mean.loc[mean["suppressed"], ["n_patients", "mean_predicted", "observed_rate"]] = np.nan
    mean.loc[mean["suppressed"], "n_runs"] = 0
    return summary, mean.reset_index()


def calibration(predictions: Mapping[tuple[str, str], Sequence[pd.DataFrame]], labels: pd.DataFrame,
                splits: Sequence[pd.DataFrame], run_keys: Sequence[Sequence[int]], n_bins: int = 10,
                min_cell_count: int = 1) -> pd.DataFrame:
    """The calibration table (``COLUMNS``) of every (model, variant) of ``predictions``.

    ``predictions[(model, variant)]`` holds one frame (``subject_id, p_<task>``) per run, in the order
    of ``splits`` (each run's ``subject_id, split``) and ``run_keys`` (its split and init seeds).
    """
    rows = []
    for (model, variant), frames in predictions.items():
        for task in binary_task_names(labels.columns):
            summaries, points = [], []
            for frame, split, (split_seed, init_seed) in zip(frames, splits, run_keys):
                test = (split.loc[split["split"] == "test", ["subject_id"]]
                        .merge(labels[["subject_id", task]], on="subject_id")
                        .merge(frame[["subject_id", f"p_{task}"]], on="subject_id", how="left"))
                summary, bins = run_calibration(test[task], test[f"p_{task}"], n_bins, min_cell_count)
                summaries.append(summary)
                points.append(bins)
                keys = {"model": model, "variant": variant, "task": task, "run": f"split{split_seed}_init{init_seed}"}
                rows.append({**keys, "kind": SUMMARY, "n_runs": 1, **summary})
                rows.extend({**keys, "kind": RELIABILITY, "n_runs": 1, **point} for point in bins.to_dict("records"))
            summary, bins = _mean_rows(summaries, points)
            keys = {"model": model, "variant": variant, "task": task, "run": MEAN_RUN}
            rows.append({**keys, "kind": SUMMARY, **summary})
            rows.extend({**keys, "kind": RELIABILITY, **point} for point in bins.to_dict("records"))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["bin"] = table["bin"].astype("Int64")
    table["n_runs"] = table["n_runs"].astype("Int64")
    return table


def calibration_files(prediction_paths: Mapping[tuple[str, str], Sequence[str | Path]], labels_path: str | Path,
                      split_paths: Sequence[str | Path], run_keys: Sequence[Sequence[int]], out: str | Path,
                      n_bins: int = 10, min_cell_count: int = 1) -> pd.DataFrame:
    """``calibration`` on the workflow's files; writes ``out`` (results/calibration.csv)."""
    predictions = {name: [pd.read_parquet(path) for path in paths] for name, paths in prediction_paths.items()}
    labels = pd.read_parquet(labels_path)
    table = calibration(predictions, labels, [pd.read_parquet(path) for path in split_paths],
                        run_keys, n_bins, min_cell_count)
    log.info("calibration of %d model variants × %d binary tasks × %d runs, %d equal-mass bins",
             len(predictions), len(binary_task_names(labels.columns)), len(split_paths), n_bins)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return table
