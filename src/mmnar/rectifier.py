"""Pattern-wise bias rectifier (docs/method.md, "Rectifier"; after training) and the ``rectify`` stage.

For one task, each observation pattern delta gets an additive correction tau_delta, added to the
predicted probability of every patient with that pattern and clipped to [0, 1]. Two estimators
(``estimator``, config ``rectifier.estimator``):

- ``shrunk`` (default): empirical-Bayes shrinkage of the raw per-pattern bias toward 0. With
  ``tau_hat = mean(y - p)`` over the pattern's ``n`` labelled fit patients and its squared standard
  error ``s2 = var(y - p) / n``, the patterns' true biases are taken as draws from N(0, A) and
  ``tau = tau_hat * A / (A + s2)`` (the posterior mean), where the between-pattern variance
  ``A = max(0, sum_d n_d (tau_hat_d**2 - s2_d) / sum_d n_d)`` is estimated by the method of moments
  (``E[tau_hat**2] = A + s2``), and set to 0 unless the patterns' biases, taken together, are
  distinguishable from noise: Cochran's test of "every tau is 0", ``Q = sum_d tau_hat_d**2 / s2_d``
  against chi-squared with one degree of freedom per pattern, at ``MISCALIBRATION_ALPHA``. Without
  that gate a chance excess of A over 0 (one pattern two standard errors off among eight) still
  moved predictions by about 0.02 and cost 0.013 test AUC in a sweep setting with nothing to
  correct. When every pattern is calibrated nothing moves; a pattern whose bias stands out from
  its noise keeps most of it. No kappa: shrinkage is the
  smooth form of the threshold (it silences corrections that are small against their noise), and
  choosing kappa from a grid on the same validation labels is one more noisy selection. A
  cross-fitted kappa on top of shrinkage was tried on the simulation of
  benchmarks/rectifier_no_harm.py: it moved the mean AUC change by at most 0.0002 with nothing to
  correct and kept less of a real bias, so it is not done and ``kappa_grid`` is unused here.
- ``paper``: the paper's estimator, ``tau = tau_hat``, applied only when ``|tau| > kappa``. kappa is
  chosen from a grid by cross-fitting: the pattern's patients are split into folds, every patient
  is corrected with the tau estimated on the *other* folds, and the kappa with the lowest Brier
  score of those out-of-fold corrections wins (ties go to the smallest kappa; tied values correct
  exactly the same patterns on the fit data). Fed true probabilities (nothing to correct), it
  still corrects a few patterns by their noise and lowers AUC and worsens Brier on average
  (benchmarks/rectifier_no_harm.py), which is why it is no longer the default.

Both estimators leave patterns with fewer than ``min_count`` labelled fit patients (and patterns
unseen at fit time) unchanged, and both produce out-of-fold predictions of the fit patients
(``crossfit_predictions_``): fold k is corrected with the estimator fitted on the other folds.

Protocols of :func:`run_rectify`:

- ``validation`` (default, headline): fit on validation predictions, apply to every row. No test
  label is read.
- ``paper_crossfit_test``: the paper's text, cross-fitting (and choosing kappa) inside the test
  set itself (:func:`crossfit_on_evaluation_set`). It uses test labels, so report it separately.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from mmnar.data.tasks import TASK_NAMES
from mmnar.io import atomic_path

PROTOCOLS = ("validation", "paper_crossfit_test")
MISCALIBRATION_ALPHA = 0.05
"""Level of the test that some pattern is miscalibrated, below which ``shrunk`` corrects nothing."""
ESTIMATORS = ("shrunk", "paper")
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


def pattern_moments(residual: np.ndarray, pattern: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pattern (sorted ids): labelled count n, raw bias tau_hat = mean(y - p), and s2 = var(y - p) / n.

    tau_hat is what the paper adds; s2 is its sampling variance, the noise a correction estimated
    on n patients carries into every patient it is applied to. The variance is the unbiased one
    (ddof 1), so ``E[s2]`` is the true squared standard error that the method of moments subtracts.
    A pattern with one patient has no variance estimate: its s2 is infinite (it is never trusted).
    """
    values, inverse, n = np.unique(pattern, return_inverse=True, return_counts=True)
    tau_hat = np.array([residual[inverse == i].mean() for i in range(len(values))])
    variance = np.array([residual[inverse == i].var(ddof=1) if c > 1 else np.inf for i, c in enumerate(n)])
    return values, n, tau_hat, variance / n


def between_pattern_variance(tau_hat: np.ndarray, s2: np.ndarray, weights: np.ndarray) -> float:
    """Method-of-moments estimate of A, the variance of the true per-pattern biases around 0.

    If tau_d ~ N(0, A) and tau_hat_d | tau_d ~ N(tau_d, s2_d), then E[tau_hat_d**2] = A + s2_d, so
    each pattern gives an unbiased guess tau_hat_d**2 - s2_d of A; their weighted mean is cut at 0
    (a variance). Weights are the pattern sizes n_d, roughly each guess's precision: a small
    pattern's tau_hat**2 is mostly its own noise and should not decide how much the others shrink.
    Patterns without a finite s2 give no guess.
    """
    guess = tau_hat**2 - s2
    usable = np.isfinite(guess)
    if not usable.any():
        return 0.0
    return float(max(0.0, np.average(guess[usable], weights=np.asarray(weights, dtype=float)[usable])))


def miscalibration_p_value(tau_hat: np.ndarray, s2: np.ndarray) -> float:
    """p-value of "every pattern's true bias is 0": Cochran's Q = sum tau_hat**2 / s2 ~ chi2(K).

    Each tau_hat_d / sqrt(s2_d) is about standard normal when pattern d is calibrated (a mean of
    residuals over its patients), so their squares sum to chi-squared with K degrees of freedom.
    A pattern with s2 = 0 (every residual equal) is certain: its term is infinite unless its bias is
    0. Patterns without a finite s2 (a single patient) take no part; with none left the answer is 1.
    """
    tau_hat, s2 = np.asarray(tau_hat, dtype=float), np.asarray(s2, dtype=float)
    usable = np.isfinite(s2)
    if not usable.any():
        return 1.0
    tau_hat, s2 = tau_hat[usable], s2[usable]
    terms = np.divide(tau_hat**2, s2, out=np.where(tau_hat != 0, np.inf, 0.0), where=s2 > 0)
    return float(stats.chi2.sf(terms.sum(), df=len(terms)))


def shrink(tau_hat: np.ndarray, s2: np.ndarray, between_variance: float) -> np.ndarray:
    """Posterior mean of each tau_d under the N(0, A) prior: tau_hat_d * A / (A + s2_d).

    A pattern's raw bias is kept in the proportion that is signal (A) rather than noise (s2_d): a
    large, precisely estimated bias survives nearly whole, one within its noise nearly vanishes,
    and with A = 0 (the patterns disagree no more than noise explains) every correction is 0.
    """
    tau_hat, s2 = np.asarray(tau_hat, dtype=float), np.asarray(s2, dtype=float)
    if between_variance <= 0.0:
        return np.zeros_like(tau_hat)
    return tau_hat * between_variance / (between_variance + s2)


@dataclass(frozen=True)
class PatternEstimate:
    """One estimator's fit on labelled residuals: per pattern (sorted ids) n, tau_hat, s2 and the tau to add."""

    values: np.ndarray
    n: np.ndarray
    tau_hat: np.ndarray
    s2: np.ndarray
    tau: np.ndarray
    between_variance: float | None  # A (shrunk); None for the paper estimator, which has no prior

    def lookup(self, pattern: np.ndarray) -> np.ndarray:
        """tau of each row's pattern (every pattern must be among ``values``)."""
        return self.tau[np.searchsorted(self.values, pattern)] if len(pattern) else np.zeros(0)


def estimate_offsets(residual: np.ndarray, pattern: np.ndarray, estimator: str = "shrunk") -> PatternEstimate:
    """Per-pattern corrections from residuals y - p of labelled patients (all of them eligible patterns)."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    values, n, tau_hat, s2 = pattern_moments(residual, pattern)
    if estimator == "paper":
        return PatternEstimate(values, n, tau_hat, s2, tau_hat.copy(), None)
    miscalibrated = miscalibration_p_value(tau_hat, s2) < MISCALIBRATION_ALPHA
    between_variance = between_pattern_variance(tau_hat, s2, n) if miscalibrated else 0.0
    return PatternEstimate(values, n, tau_hat, s2, shrink(tau_hat, s2, between_variance), between_variance)


class PatternRectifier:
    """Per-pattern additive recalibration of one task's predicted probabilities.

    ``estimator``: ``shrunk`` (default) or ``paper`` (module docstring). ``min_count``: patterns
    with fewer labelled fit patients are never corrected (too noisy), as are patterns unseen at fit
    time; at least ``n_folds`` patients are needed whatever it says. ``kappa_grid`` is used by the
    ``paper`` estimator only. After ``fit``: ``estimate_`` (:class:`PatternEstimate` of the eligible
    patterns on all their fit patients), ``offsets_`` (tau per eligible pattern), ``kappa_`` (chosen
    threshold; 0.0 for ``shrunk``), ``counts_`` (labelled fit patients per pattern),
    ``brier_by_kappa_`` (cross-fitted Brier score per grid value; empty for ``shrunk``) and
    ``crossfit_predictions_`` (out-of-fold rectified predictions of the fit patients, NaN for
    unlabelled ones).
    """

    def __init__(
        self,
        kappa_grid: Sequence[float] = DEFAULT_KAPPA_GRID,
        n_folds: int = 2,
        min_count: int = 10,
        seed: int = 0,
        estimator: str = "shrunk",
    ):
        if n_folds < 2:
            raise ValueError("cross-fitting needs n_folds >= 2")
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        self.kappa_grid = tuple(float(k) for k in kappa_grid)
        self.n_folds = n_folds
        self.min_count = min_count
        self.seed = seed
        self.estimator = estimator

    def fit(self, y, p, pattern) -> PatternRectifier:
        y, p, pattern = np.asarray(y, dtype=float), np.asarray(p, dtype=float), np.asarray(pattern)
        labelled = np.isfinite(y)
        y_fit, p_fit, pattern_fit = y[labelled], p[labelled], pattern[labelled]
        residual = y_fit - p_fit
        rng = np.random.default_rng(self.seed)
        values, counts = np.unique(pattern_fit, return_counts=True)
        self.counts_ = {_plain(v): int(c) for v, c in zip(values, counts)}
        min_count = max(self.min_count, self.n_folds)  # every fold needs a patient

        fold = np.full(len(y_fit), -1)  # -1: pattern too rare to correct
        for value, count in zip(values, counts):
            if count >= min_count:
                rows = np.flatnonzero(pattern_fit == value)
                fold[rows[rng.permutation(len(rows))]] = np.arange(len(rows)) % self.n_folds
        correctable = fold >= 0

        self.estimate_ = estimate_offsets(residual[correctable], pattern_fit[correctable], self.estimator)
        self.offsets_: dict[Any, float] = {_plain(v): float(t) for v, t in zip(self.estimate_.values, self.estimate_.tau)}
        out_of_fold_tau = np.zeros(len(y_fit))
        for k in range(self.n_folds):  # fold k gets the estimator fitted on the other folds, all patterns together
            other, this = correctable & (fold != k), fold == k
            estimate = estimate_offsets(residual[other], pattern_fit[other], self.estimator)
            out_of_fold_tau[this] = estimate.lookup(pattern_fit[this])

        if self.estimator == "paper":
            self.brier_by_kappa_ = {}
            for kappa in self.kappa_grid:
                rectified = np.clip(p_fit + np.where(correctable & (np.abs(out_of_fold_tau) > kappa), out_of_fold_tau, 0.0), 0, 1)
                self.brier_by_kappa_[kappa] = float(np.mean((rectified - y_fit) ** 2)) if len(y_fit) else np.nan
            finite = {k: b for k, b in self.brier_by_kappa_.items() if np.isfinite(b)}
            self.kappa_ = min(finite, key=lambda k: (finite[k], k)) if finite else max(self.kappa_grid)
        else:  # shrinkage replaces the threshold (module docstring)
            self.brier_by_kappa_, self.kappa_ = {}, 0.0

        chosen = correctable & (np.abs(out_of_fold_tau) > self.kappa_)
        self.crossfit_predictions_ = np.full(len(y), np.nan)
        self.crossfit_predictions_[labelled] = np.clip(p_fit + np.where(chosen, out_of_fold_tau, 0.0), 0, 1)
        return self

    def transform(self, p, pattern) -> np.ndarray:
        """Rectified probabilities for new patients with the full-fit tau per pattern and ``kappa_``."""
        return _apply_offsets(p, np.asarray(pattern), self.offsets_, self.kappa_)

    def summary(self) -> dict[str, Any]:
        """JSON-ready record of what was fitted: per pattern n, raw tau_hat, s2 and the tau applied."""
        e = self.estimate_
        fitted = {
            _plain(v): {"tau_raw": float(t_hat), "s2": float(s2), "tau": float(tau)}
            for v, t_hat, s2, tau in zip(e.values, e.tau_hat, e.s2, e.tau)
        }
        empty = {"tau_raw": None, "s2": None, "tau": None}
        return {
            "estimator": self.estimator,
            "kappa": self.kappa_ if self.estimator == "paper" else None,
            "brier_by_kappa": {str(k): b for k, b in self.brier_by_kappa_.items()},
            "between_pattern_variance": self.estimate_.between_variance,
            "patterns": {
                str(value): {
                    "n": count,
                    **fitted.get(value, empty),
                    "applied": value in self.offsets_ and abs(self.offsets_[value]) > self.kappa_ and self.offsets_[value] != 0.0,
                }
                for value, count in self.counts_.items()
            },
        }


def crossfit_on_evaluation_set(
    y, p, pattern, kappa_grid: Sequence[float] = DEFAULT_KAPPA_GRID, n_folds: int = 2, min_count: int = 10, seed: int = 0,
    estimator: str = "shrunk",
) -> tuple[np.ndarray, PatternRectifier]:
    """The paper's variant: cross-fit tau (and choose kappa) inside the evaluation set itself.

    Labelled patients get their out-of-fold rectified prediction; unlabelled ones the full-fit
    correction. It uses the evaluation labels, so its metrics are optimistic and must be reported
    apart from the headline (validation-fitted) rectifier.
    """
    rectifier = PatternRectifier(kappa_grid, n_folds, min_count, seed, estimator).fit(y, p, pattern)
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

    ``params``: ``estimator``, ``kappa_grid``, ``n_folds``, ``min_count``, ``seed`` (defaults of
    :class:`PatternRectifier`). ``labels_path`` needs ``subject_id``, the task columns and
    ``pattern_id``.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    settings = {"kappa_grid": list(DEFAULT_KAPPA_GRID), "n_folds": 2, "min_count": 10, "seed": 0, "estimator": "shrunk",
                **(params or {})}
    predictions = pd.read_parquet(predictions_path)
    labels = pd.read_parquet(labels_path, columns=["subject_id", *TASK_NAMES, "pattern_id"])
    merged = predictions[["subject_id", "split"]].merge(labels, on="subject_id", how="left", validate="one_to_one")
    if merged["pattern_id"].isna().any():
        raise ValueError(f"{int(merged['pattern_id'].isna().sum())} predicted patients have no row in {labels_path}")
    pattern = merged["pattern_id"].to_numpy()
    fit_split = (merged["split"] == ("val" if protocol == "validation" else "test")).to_numpy()

    rectified = predictions.copy()
    record: dict[str, Any] = {"protocol": protocol, "estimator": settings["estimator"], "params": settings,
                              "fit_split": "val" if protocol == "validation" else "test", "tasks": {}}
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
