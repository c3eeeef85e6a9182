"""Pattern-wise bias rectifier (docs/method.md, "Rectifier"; after training) and the ``rectify`` stage.

For one task, each observation pattern delta gets an additive correction tau_delta, added to the
predicted probability of every patient with that pattern and clipped to [0, 1]. Two estimators
(``estimator``, config ``rectifier.estimator``):

- ``shrunk`` (default): empirical-Bayes shrinkage of the raw per-pattern bias toward 0. With
  ``tau_hat = mean(y - p)`` over the pattern's ``n`` labelled fit patients and its squared standard
  error ``s2 = max(var(y - p), mean(p (1 - p))) / n`` (the second term: the residual variance of a
  calibrated model, a floor that a pattern without events cannot undercut; :func:`pattern_moments`), the patterns' true biases are taken as draws from N(0, A) and
  ``tau = tau_hat * A / (A + s2)`` (the posterior mean), where the between-pattern variance
  ``A = max(0, sum_d n_d (tau_hat_d**2 - s2_d) / sum_d n_d)`` is estimated by the method of moments
  (``E[tau_hat**2] = A + s2``), and set to 0 unless the patterns' biases, taken together, are
  distinguishable from noise: Cochran's test of "every tau is 0", ``Q = sum_d tau_hat_d**2 / s2_d``
  against chi-squared with one degree of freedom per pattern, at ``MISCALIBRATION_ALPHA``. Without
  that gate a chance excess of A over 0 (one pattern two standard errors off among eight) still
  moved predictions by about 0.02 and cost 0.013 test AUC in a sweep setting with nothing to
  correct. No kappa: shrinkage is the smooth form of the threshold, and choosing kappa from a grid
  on the same validation labels is one more noisy selection (a cross-fitted kappa on top of
  shrinkage was tried: at most 0.0002 AUC with nothing to correct, and it kept less of a real bias).

  Held-out check (``heldout_check``, default on): the gate asks whether the patterns are
  miscalibrated, not whether correcting them helps new patients (a model miscalibrated as a whole
  has a non-zero mean residual in every pattern whose risk differs from the rest), and in a sweep
  setting with no direct effect of the pattern the correction still cost test AUC (-0.0075,
  in-hospital mortality). So a task is corrected only if the correction wins on
  validation patients it was not fitted on: the fit patients are split into ``n_folds`` folds
  within each pattern (not by label, which would equalise the folds' outcome rates and hide the
  very noise being tested), each fold gets the shrunk tau of the other folds, over
  ``HELDOUT_SPLITS`` seeded splits, and the correction is applied when the mean held-out log-loss
  is lower than without it AND the mean held-out AUC is not lower. Log-loss is the proper score of
  the probabilities the correction exists to fix; AUC is required too because a per-pattern shift
  also re-ranks patients across patterns (and ties those it clips at 0), which can cost AUC while
  improving calibration. The fold fits skip the Q gate (on half the patients it seldom fires, and
  with it the check kept a third less of a real bias); the gate on the full fit still decides
  whether anything is proposed. In benchmarks/rectifier_no_harm.py (200 draws) the check moved the mean
  test AUC change with nothing to correct from -0.0021 to 0.0000 (overconfident model, MNAR
  patterns, 2,000 validation patients) and from -0.0002 to 0.0000 (true probabilities, 300), and
  kept 87 % of the AUC gain of a real +0.08 bias at 2,000 (+0.0042 vs +0.0048). A task is
  corrected with all its patterns' tau or not at all;
  ``summary()`` records ``applied`` and, under ``heldout``, the held-out log-loss, Brier and AUC
  with and without the correction.
- ``paper``: the paper's estimator, ``tau = tau_hat``, applied only when ``|tau| > kappa``. kappa is
  chosen from a grid by cross-fitting: the pattern's patients are split into folds, every patient
  is corrected with the tau estimated on the *other* folds, and the kappa with the lowest Brier
  score of those out-of-fold corrections wins (ties go to the smallest kappa; tied values correct
  exactly the same patterns on the fit data). Fed true probabilities (nothing to correct), it
  still corrects a few patterns by their noise and lowers AUC and worsens Brier on average
  (benchmarks/rectifier_no_harm.py), which is why it is no longer the default.

Both estimators leave patterns with fewer than ``min_count`` labelled fit patients (and patterns
unseen at fit time) unchanged, and both produce out-of-fold predictions of the fit patients
(``crossfit_predictions_``): fold k is corrected with the estimator (Q gate included, held-out
check not) fitted on the other folds.

Protocols of :func:`run_rectify`:

- ``validation`` (default, headline): fit on validation predictions, apply to every row. No test
  label is read.
- ``paper_crossfit_test``: the paper's text, cross-fitting (and choosing kappa) inside the test
  set itself (:func:`crossfit_on_evaluation_set`), without the held-out check (unchanged from the
  paper's protocol). It uses test labels, so report it separately.
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

from mmnar.data.tasks import binary_task_names, tasks_in
from mmnar.io import atomic_path

PROTOCOLS = ("validation", "paper_crossfit_test")
MISCALIBRATION_ALPHA = 0.05
"""Level of the test that some pattern is miscalibrated, below which ``shrunk`` corrects nothing."""
ESTIMATORS = ("shrunk", "paper")
HELDOUT_SPLITS = 5
"""Random fold splits of the fit patients whose held-out scores the check of ``shrunk`` averages."""
LOG_LOSS_EPS = 1e-3
"""The held-out log-loss clips probabilities to [eps, 1 - eps]: the additive correction, itself clipped to
[0, 1], can put a patient at exactly 0 or 1, and one such patient with the other label (log(1/0)) would
otherwise decide the check alone; with 1e-3 it costs log(1000), about 7 nats."""
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


def pattern_moments(residual: np.ndarray, pattern: np.ndarray, null_variance: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pattern (sorted ids): labelled count n, raw bias tau_hat = mean(y - p), and its squared standard error s2.

    tau_hat is what the paper adds; s2 is its sampling variance, the noise a correction estimated
    on n patients carries into every patient it is applied to: the larger of the residuals' unbiased
    variance (ddof 1) and ``null_variance`` (per patient p(1 - p), the variance of y - p were the
    model calibrated), over n. The floor matters for rare outcomes: a pattern of 30 patients without
    an event has residuals -p of almost no spread, so its empirical s2 is near 0 and its tau_hat
    looked certain to Cochran's test, although 30 patients at p = 0.07 see no event one time in
    nine. With 264 validation patients and 20 events (a sweep fold, ICU admission, MCAR) that pushed
    the zero-event patterns down and cost 0.074 test AUC. A pattern with one patient has no
    variance estimate: its s2 is infinite (it is never trusted).
    """
    values, inverse, n = np.unique(pattern, return_inverse=True, return_counts=True)
    tau_hat = np.array([residual[inverse == i].mean() for i in range(len(values))])
    empirical = np.array([residual[inverse == i].var(ddof=1) if c > 1 else np.inf for i, c in enumerate(n)])
    variance = np.maximum(empirical, np.array([null_variance[inverse == i].mean() for i in range(len(values))]))
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


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    """Mean negative log-likelihood of labels y under probabilities p (clipped to [LOG_LOSS_EPS, 1 - LOG_LOSS_EPS])."""
    q = np.clip(p, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    return float(-np.mean(y * np.log(q) + (1.0 - y) * np.log1p(-q))) if len(y) else np.nan


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count half); NaN without both classes."""
    positive = y == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return np.nan
    ranks = stats.rankdata(p)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def heldout_check(y: np.ndarray, p: np.ndarray, out_of_fold_taus: Sequence[np.ndarray], proposed: bool = True) -> dict[str, Any]:
    """Does the correction generalise? Held-out log-loss and AUC with and without it, averaged over fold splits.

    ``out_of_fold_taus``: per fold split, each fit patient's tau from the estimator fitted on the
    other folds. ``applied`` is true when a correction is ``proposed`` (the full fit's tau is not all
    0), the mean held-out log-loss with it is lower than without, and the mean held-out AUC is not
    lower (an undefined AUC, a single class, does not block).
    """
    corrected = [np.clip(p + tau, 0.0, 1.0) for tau in out_of_fold_taus]
    record = {
        "splits": len(corrected),
        "log_loss_uncorrected": log_loss(y, p),
        "log_loss_corrected": float(np.mean([log_loss(y, q) for q in corrected])) if corrected else np.nan,
        "brier_uncorrected": float(np.mean((p - y) ** 2)) if len(y) else np.nan,
        "brier_corrected": float(np.mean([np.mean((q - y) ** 2) for q in corrected])) if corrected else np.nan,
        "auc_uncorrected": auc(y, p),
        "auc_corrected": float(np.mean([auc(y, q) for q in corrected])) if corrected else np.nan,
    }
    better = record["log_loss_corrected"] < record["log_loss_uncorrected"]
    auc_kept = not record["auc_corrected"] < record["auc_uncorrected"]  # NaN (one class) does not block
    record["applied"] = bool(proposed and better and auc_kept)
    return record


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


def estimate_offsets(residual: np.ndarray, pattern: np.ndarray, null_variance: np.ndarray, estimator: str = "shrunk",
                     gate: bool = True) -> PatternEstimate:
    """Per-pattern corrections from residuals y - p of labelled patients (all of them eligible patterns).

    ``null_variance``: p(1 - p) per patient, the floor of the residual variance (:func:`pattern_moments`).

    ``gate``: for ``shrunk``, whether Cochran's test must reject before anything is corrected (the
    held-out check's fold fits turn it off; module docstring).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    values, n, tau_hat, s2 = pattern_moments(residual, pattern, null_variance)
    if estimator == "paper":
        return PatternEstimate(values, n, tau_hat, s2, tau_hat.copy(), None)
    miscalibrated = not gate or miscalibration_p_value(tau_hat, s2) < MISCALIBRATION_ALPHA
    between_variance = between_pattern_variance(tau_hat, s2, n) if miscalibrated else 0.0
    return PatternEstimate(values, n, tau_hat, s2, shrink(tau_hat, s2, between_variance), between_variance)


class PatternRectifier:
    """Per-pattern additive recalibration of one task's predicted probabilities.

    ``estimator``: ``shrunk`` (default) or ``paper`` (module docstring). ``min_count``: patterns
    with fewer labelled fit patients are never corrected (too noisy), as are patterns unseen at fit
    time; at least ``n_folds`` patients are needed whatever it says. ``kappa_grid`` is used by the
    ``paper`` estimator only, ``heldout_check`` by ``shrunk`` only (module docstring; off, ``shrunk``
    is the estimator as it was before the check). After ``fit``: ``estimate_`` (:class:`PatternEstimate`
    of the eligible patterns on all their fit patients), ``offsets_`` (tau applied per eligible
    pattern: 0 everywhere when the held-out check refused), ``heldout_`` (the check's record, None
    when it did not run), ``kappa_`` (chosen threshold; 0.0 for ``shrunk``), ``counts_`` (labelled
    fit patients per pattern), ``brier_by_kappa_`` (cross-fitted Brier score per grid value; empty
    for ``shrunk``) and ``crossfit_predictions_`` (out-of-fold rectified predictions of the fit
    patients, NaN for unlabelled ones).
    """

    def __init__(
        self,
        kappa_grid: Sequence[float] = DEFAULT_KAPPA_GRID,
        n_folds: int = 2,
        min_count: int = 10,
        seed: int = 0,
        estimator: str = "shrunk",
        heldout_check: bool = True,
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
        self.heldout_check = heldout_check

    def fit(self, y, p, pattern) -> PatternRectifier:
        y, p, pattern = np.asarray(y, dtype=float), np.asarray(p, dtype=float), np.asarray(pattern)
        labelled = np.isfinite(y)
        y_fit, p_fit, pattern_fit = y[labelled], p[labelled], pattern[labelled]
        residual = y_fit - p_fit
        rng = np.random.default_rng(self.seed)
        values, counts = np.unique(pattern_fit, return_counts=True)
        self.counts_ = {_plain(v): int(c) for v, c in zip(values, counts)}
        min_count = max(self.min_count, self.n_folds)  # every fold needs a patient

        null_variance = p_fit * (1.0 - p_fit)
        fold = self._draw_folds(rng, pattern_fit, values, counts, min_count)
        correctable = fold >= 0
        self.estimate_ = estimate_offsets(residual[correctable], pattern_fit[correctable], null_variance[correctable],
                                          self.estimator)
        out_of_fold_tau = self._out_of_fold_tau(residual, pattern_fit, null_variance, fold)

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

        tau = self.estimate_.tau
        self.heldout_: dict[str, Any] | None = None
        if self.estimator == "shrunk" and self.heldout_check:  # module docstring: the fold fits skip the Q gate
            folds = [fold] + [self._draw_folds(rng, pattern_fit, values, counts, min_count) for _ in range(HELDOUT_SPLITS - 1)]
            taus = [self._out_of_fold_tau(residual, pattern_fit, null_variance, f, gate=False) for f in folds]
            self.heldout_ = heldout_check(y_fit, p_fit, taus, proposed=bool(np.any(tau != 0.0)))
            if not self.heldout_["applied"]:
                tau = np.zeros_like(tau)
        self.offsets_: dict[Any, float] = {_plain(v): float(t) for v, t in zip(self.estimate_.values, tau)}
        return self

    def _draw_folds(self, rng: np.random.Generator, pattern: np.ndarray, values: np.ndarray, counts: np.ndarray,
                    min_count: int) -> np.ndarray:
        """Fold of each fit patient, drawn within each pattern (balanced sizes); -1 for a pattern too rare to correct."""
        fold = np.full(len(pattern), -1)
        for value, count in zip(values, counts):
            if count >= min_count:
                rows = np.flatnonzero(pattern == value)
                fold[rows[rng.permutation(len(rows))]] = np.arange(len(rows)) % self.n_folds
        return fold

    def _out_of_fold_tau(self, residual: np.ndarray, pattern: np.ndarray, null_variance: np.ndarray, fold: np.ndarray,
                         gate: bool = True) -> np.ndarray:
        """tau of each fit patient from the estimator fitted on the other folds, all patterns together (0 where fold is -1)."""
        tau, correctable = np.zeros(len(residual)), fold >= 0
        for k in range(self.n_folds):
            other, this = correctable & (fold != k), fold == k
            tau[this] = estimate_offsets(residual[other], pattern[other], null_variance[other], self.estimator,
                                         gate).lookup(pattern[this])
        return tau

    def transform(self, p, pattern) -> np.ndarray:
        """Rectified probabilities for new patients with the full-fit tau per pattern and ``kappa_``."""
        return _apply_offsets(p, np.asarray(pattern), self.offsets_, self.kappa_)

    def summary(self) -> dict[str, Any]:
        """JSON-ready record of what was fitted: per pattern n, raw tau_hat, s2, the estimator's tau and
        whether it is applied; for ``shrunk`` the held-out check (``heldout``, null when not run) and
        whether any correction is applied to the task (``applied``)."""
        e = self.estimate_
        fitted = {
            _plain(v): {"tau_raw": float(t_hat), "s2": float(s2), "tau": float(tau)}
            for v, t_hat, s2, tau in zip(e.values, e.tau_hat, e.s2, e.tau)
        }
        empty = {"tau_raw": None, "s2": None, "tau": None}
        patterns = {
            str(value): {
                "n": count,
                **fitted.get(value, empty),
                "applied": value in self.offsets_ and abs(self.offsets_[value]) > self.kappa_ and self.offsets_[value] != 0.0,
            }
            for value, count in self.counts_.items()
        }
        return {
            "estimator": self.estimator,
            "applied": any(fitted_pattern["applied"] for fitted_pattern in patterns.values()),
            "kappa": self.kappa_ if self.estimator == "paper" else None,
            "brier_by_kappa": {str(k): b for k, b in self.brier_by_kappa_.items()},
            "between_pattern_variance": self.estimate_.between_variance,
            "heldout": self.heldout_,
            "patterns": patterns,
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
    rectifier = PatternRectifier(kappa_grid, n_folds, min_count, seed, estimator, heldout_check=False).fit(y, p, pattern)
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
    ``pattern_id``. The rectifier is a per-pattern shift of a binary task's logit: the run's other
    tasks (multi-label, multi-class) keep their predictions unchanged, and the record says so.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
    settings = {"kappa_grid": list(DEFAULT_KAPPA_GRID), "n_folds": 2, "min_count": 10, "seed": 0, "estimator": "shrunk",
                **(params or {})}
    predictions = pd.read_parquet(predictions_path)
    labels = pd.read_parquet(labels_path)
    tasks = binary_task_names(labels.columns)
    merged = predictions[["subject_id", "split"]].merge(labels, on="subject_id", how="left", validate="one_to_one")
    if merged["pattern_id"].isna().any():
        raise ValueError(f"{int(merged['pattern_id'].isna().sum())} predicted patients have no row in {labels_path}")
    pattern = merged["pattern_id"].to_numpy()
    fit_split = (merged["split"] == ("val" if protocol == "validation" else "test")).to_numpy()

    rectified = predictions.copy()
    record: dict[str, Any] = {"protocol": protocol, "estimator": settings["estimator"], "params": settings,
                              "fit_split": "val" if protocol == "validation" else "test", "tasks": {},
                              "unrectified_tasks": [t.name for t in tasks_in(labels.columns) if t.name not in tasks]}
    for task in tasks:
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
