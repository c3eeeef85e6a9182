"""Paired bootstrap comparison of two models on the same test patients.

Every model of a run (split seed × initialisation seed) predicts the same test patients, so a
difference between two models is read best on those patients, paired: each bootstrap replicate
resamples the test patients once and scores *both* models on that resample, so whatever makes a
patient easy or hard for both cancels out of the difference.

For one model (variant) against one reference, one task and one metric (AUC, AUPRC, Brier):

- per run, the patients are the test patients with a defined label and a finite prediction from
  both models (a single-modality reference predicts NaN outside its patients, so a comparison with
  it is on its patients only; ``n_patients`` says on how many);
- the point estimate is the mean over runs of the full-sample difference (model − reference);
- each of ``n_resamples`` replicates draws, per run and independently across runs, a resample of
  those patients within each outcome class (stratified, as pROC does: every replicate keeps the
  run's class counts, so AUC and AUPRC are always defined), scores both models on it, and averages
  the per-run differences over runs; the 95 % CI is the 2.5 and 97.5 percentiles of the replicates
  and the two-sided p-value is twice the share of replicates on the other side of 0 from the point
  estimate (capped at 1; 1 when the point estimate is 0). A run whose full sample has a single
  class (AUC, AUPRC undefined) is left out of that metric and ``n_runs`` says how many remain.

The CI is over test patients given the trained models; the spread over training randomness is
Table 1's sd. The resample of a run is seeded by the seed, the run and the patient set (their
labels) only, so it is reproducible and the same for every pair of models on the same patients.

Metrics on a resample are computed from resample counts (a patient drawn k times weighs k), on
predictions sorted once: AUC as the Mann–Whitney statistic with half credit for ties, AUPRC as
scikit-learn's average precision, Brier as the weighted mean squared error. They equal
scikit-learn's ``roc_auc_score``, ``average_precision_score`` and ``brier_score_loss`` on the
resampled arrays (tests/test_paired.py), at the cost of a few passes over a (replicates × patients)
array instead of a sort per replicate.

Two tests complement the bootstrap p-value (``mmnar.evaluation.significance``): ``p_permutation``,
a paired permutation test of the same statistic (each permutation swaps the two models' predictions
of every patient with probability 1/2; ``n_permutations``), for every metric; and ``p_delong``,
DeLong's test of the AUC difference, combined over runs as documented there.

References. Every model is compared with each configured reference (``reference_role``
``configured``) and, per task, with the *best single-modality reference* (``best_single_modality``;
both, comma-joined, when it is also a configured one): the single-modality model (registry spec with
``restrict_to``) with the highest validation AUC of that task, read from each run's
``history.csv`` at the epoch the trainer kept and averaged over runs (``reference_val_auc``). Test
labels play no part in that choice. Each single-modality model's validation AUC is on its own
validation patients (those with its modality), so the choice is between references as they would
be deployed, not on a common patient set.

Each model's own AUC, AUPRC and Brier get a bootstrap CI too (``compare_with_intervals``,
results/model_intervals.csv, Table 1): the same resamples of its own patients (a defined label and a
finite prediction), the mean over runs of its full-sample metric and the 2.5 and 97.5 percentiles of
the replicate means.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.tasks import DEFAULT_TASKS, binary_task_names
from mmnar.evaluation.significance import (DelongRun, Permutations, delong_combined, delong_run, permutation_p_value,
                                           permutation_rng, permutation_swaps)
from mmnar.io import atomic_path
from mmnar.metrics import task_metrics

log = logging.getLogger(__name__)

METRICS = ("auc", "auprc", "brier")
COLUMNS = ["model", "variant", "reference", "reference_role", "reference_val_auc", "task", "metric", "difference",
           "ci_low", "ci_high", "p_value", "p_permutation", "p_delong", "n_patients", "n_runs"]
STAT_COLUMNS = COLUMNS[COLUMNS.index("metric"):]
"""What ``paired_bootstrap`` returns: one row per metric."""
INTERVAL_COLUMNS = ["model", "variant", "task", "metric", "estimate", "ci_low", "ci_high", "n_patients", "n_runs"]
REFERENCE_VARIANT = "raw"
"""A reference is a model's plain predictions."""
CONFIGURED = "configured"
BEST_SINGLE_MODALITY = "best_single_modality"
"""``reference_role``: a ``reporting.references`` model, or the task's best single-modality model by
validation AUC (``best_single_modality``)."""


# --------------------------------------------------------------------------------------------------
# Metrics of many resamples at once


BLOCK = 64
"""Resamples scored at once: small enough for the working arrays to stay in cache."""


def resample_counts(y: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_resamples, n)`` int32 counts: how often each patient is drawn, resampling within each class."""
    n = len(y)
    counts = np.zeros(n_resamples * n, dtype=np.int64)
    rows = np.arange(n_resamples)[:, None] * n
    for value in np.unique(y):
        members = np.flatnonzero(y == value)
        drawn = members[rng.integers(0, len(members), size=(n_resamples, len(members)))]
        counts += np.bincount((rows + drawn).ravel(), minlength=n_resamples * n)
    return counts.reshape(n_resamples, n).astype(np.int32)


def weighted_metrics(y: np.ndarray, p: np.ndarray, counts: np.ndarray) -> dict[str, np.ndarray]:
    """AUC, AUPRC (average precision) and Brier of ``p`` for every row of ``counts`` (one resample each).

    ``y`` binary (0/1), ``p`` finite, ``counts`` ``(B, n)`` non-negative (a row of ones is the full
    sample; integer counts keep the AUC and AUPRC sums exact). AUC and AUPRC are NaN for a row
    without both classes, Brier for an empty row.
    """
    counts = np.atleast_2d(np.asarray(counts))
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    positive = y == 1
    p1, p0 = p[positive], p[~positive]
    order1, order0 = np.argsort(p1, kind="stable"), np.argsort(p0, kind="stable")
    p1, p0 = p1[order1], p0[order0]
    columns1, columns0 = np.flatnonzero(positive)[order1], np.flatnonzero(~positive)[order0]
    lt, le, tied_first = np.searchsorted(p0, p1, "left"), np.searchsorted(p0, p1, "right"), np.searchsorted(p1, p1, "left")
    blocks = [_block_metrics(p1, p0, counts[start:start + BLOCK], columns1, columns0, lt, le, tied_first)
              for start in range(0, len(counts), BLOCK)]
    return {metric: np.concatenate([block[metric] for block in blocks]) for metric in METRICS}


def _block_metrics(p1, p0, counts, columns1, columns0, lt, le, tied_first) -> dict[str, np.ndarray]:
    c1, c0 = counts[:, columns1], counts[:, columns0]                          # (b, n1), (b, n0), ascending p
    accumulate = np.int64 if np.issubdtype(counts.dtype, np.integer) else np.float64
    zeros = np.zeros((len(counts), 1), dtype=accumulate)
    below0 = np.concatenate([zeros, np.cumsum(c0, axis=1, dtype=accumulate)], axis=1)  # negatives below index k
    below1 = np.concatenate([zeros, np.cumsum(c1, axis=1, dtype=accumulate)], axis=1)
    n_pos, n_neg = below1[:, -1], below0[:, -1]
    negatives_lt, negatives_le = below0[:, lt], below0[:, le]                  # per positive: negatives below, or tied
    with np.errstate(invalid="ignore", divide="ignore"):
        # Mann-Whitney: a tied negative counts one half (twice the numerator keeps integers exact)
        auc = (c1 * (negatives_lt + negatives_le)).sum(axis=1) / (2.0 * n_pos * n_neg)
        # average precision: each positive's precision at its threshold (p >= p_i, ties included)
        true_pos = n_pos[:, None] - below1[:, tied_first]
        called = true_pos + (n_neg[:, None] - negatives_lt)
        precision = np.divide(true_pos, called, out=np.zeros(true_pos.shape), where=called > 0)
        auprc = (c1 * precision).sum(axis=1) / n_pos
        brier = (c1 @ (1.0 - p1) ** 2 + c0 @ p0 ** 2) / (n_pos + n_neg)
    undefined = (n_pos == 0) | (n_neg == 0)
    auc[undefined] = auprc[undefined] = np.nan
    return {"auc": np.asarray(auc, dtype=float), "auprc": np.asarray(auprc, dtype=float),
            "brier": np.asarray(brier, dtype=float)}


def rank_auc(y, p) -> float:
    """AUC of ``p`` for binary ``y`` from ranks (midranks for ties); equals sklearn's ``roc_auc_score``."""
    return float(weighted_metrics(y, p, np.ones((1, len(y))))["auc"][0])


# --------------------------------------------------------------------------------------------------
# One comparison


def run_seed(seed: int, run_key: Sequence[int], y: np.ndarray) -> np.random.SeedSequence:
    """The resample stream of one run's patient set: the seed, the run and the set's labels."""
    return np.random.SeedSequence([int(seed), *map(int, run_key), zlib.crc32(np.asarray(y, dtype=np.float64).tobytes()),
                                   len(y)])


class RunComparison:
    """One run's comparison of two models on their common patients: full-sample differences, bootstrap
    replicate differences, permutation differences (row 0: observed) and DeLong's placements."""

    __slots__ = ("full", "replicates", "permuted", "delong", "n_patients")

    def __init__(self, full: dict, replicates: dict, permuted: dict | None, delong: DelongRun | None, n_patients: int):
        self.full, self.replicates, self.permuted, self.delong, self.n_patients = (full, replicates, permuted, delong,
                                                                                   n_patients)

    @classmethod
    def empty(cls) -> RunComparison:
        return cls(dict.fromkeys(METRICS, np.nan), {}, None, None, 0)


def combine(runs: Sequence[RunComparison]) -> list[dict]:
    """One row per metric (``STAT_COLUMNS``) from each run's comparison."""
    rows = []
    for metric in METRICS:
        used = [run for run in runs if np.isfinite(run.full[metric])]
        if not used:
            rows.append({"metric": metric, "difference": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "p_value": np.nan, "p_permutation": np.nan, "p_delong": np.nan, "n_patients": np.nan,
                         "n_runs": 0})
            continue
        difference = float(np.mean([run.full[metric] for run in used]))
        draws = np.mean([run.replicates[metric] for run in used], axis=0)
        low, high = np.percentile(draws, [2.5, 97.5])
        if difference == 0:
            p_value = 1.0
        else:
            other_side = np.mean(draws <= 0) if difference > 0 else np.mean(draws >= 0)
            p_value = float(min(1.0, 2 * other_side))
        p_permutation = np.nan
        if all(run.permuted is not None for run in used):
            permuted = np.mean([run.permuted[metric] for run in used], axis=0)
            p_permutation = permutation_p_value(permuted[0], permuted[1:])
        p_delong = np.nan
        if metric == "auc" and all(run.delong is not None for run in used):
            p_delong = delong_combined([run.delong for run in used])["p"]
        rows.append({"metric": metric, "difference": difference, "ci_low": float(low), "ci_high": float(high),
                     "p_value": p_value, "p_permutation": p_permutation, "p_delong": p_delong,
                     "n_patients": float(np.mean([run.n_patients for run in used])), "n_runs": len(used)})
    return rows


def combine_intervals(runs: Sequence[tuple[dict, dict, int]]) -> list[dict]:
    """One row per metric (``INTERVAL_COLUMNS[3:]``) from each run's (full-sample metrics, replicate
    metrics, patients) of one model."""
    rows = []
    for metric in METRICS:
        used = [(full, draws, n) for full, draws, n in runs if np.isfinite(full[metric])]
        if not used:
            rows.append({"metric": metric, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "n_patients": np.nan, "n_runs": 0})
            continue
        low, high = np.percentile(np.mean([draws[metric] for _, draws, _ in used], axis=0), [2.5, 97.5])
        rows.append({"metric": metric, "estimate": float(np.mean([full[metric] for full, _, _ in used])),
                     "ci_low": float(low), "ci_high": float(high),
                     "n_patients": float(np.mean([n for _, _, n in used])), "n_runs": len(used)})
    return rows


def paired_bootstrap(runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], n_resamples: int = 1000,
                     seed: int = 0, run_keys: Sequence[Sequence[int]] | None = None, n_permutations: int = 1000,
                     patients: Sequence[np.ndarray] | None = None) -> pd.DataFrame:
    """Model − reference difference of AUC, AUPRC and Brier over ``runs`` of ``(y, p_model, p_reference)``.

    Each run's arrays cover the same patients; those with an undefined label or a NaN prediction from
    either model are left out. ``patients`` (each run's patient ids, aligned with its arrays) lets runs
    on the same patients share permutations and DeLong's test treat them as one patient set; without
    them every run is its own set of unknown overlap (permutations seeded by the run, DeLong's
    standard error the conservative bound). Returns ``STAT_COLUMNS``.
    """
    run_keys = run_keys if run_keys is not None else [(r,) for r in range(len(runs))]
    comparisons = []
    for r, (key, (y, p_model, p_reference)) in enumerate(zip(run_keys, runs)):
        y, p_model, p_reference = (np.asarray(a, dtype=float) for a in (y, p_model, p_reference))
        keep = np.isfinite(y) & np.isfinite(p_model) & np.isfinite(p_reference)
        ids = None if patients is None else np.asarray(patients[r])[keep]
        y, p_model, p_reference = y[keep], p_model[keep], p_reference[keep]
        if not len(y):                                       # nothing to compare in this run
            comparisons.append(RunComparison.empty())
            continue
        scores = _RunScores(y, key, n_resamples, seed, n_permutations, ids)
        everyone = np.ones(len(y), dtype=bool)
        comparisons.append(scores.compare(everyone, ("model", ""), p_model, ("reference", ""), p_reference))
    return pd.DataFrame(combine(comparisons), columns=STAT_COLUMNS)


# --------------------------------------------------------------------------------------------------
# Every configured model against every reference, from the workflow's files


class _RunScores:
    """Resamples, swaps and per-model metrics of one run × task, cached by patient set."""

    def __init__(self, y: np.ndarray, run_key: Sequence[int], n_resamples: int, seed: int, n_permutations: int = 0,
                 patients: np.ndarray | None = None):
        self.y, self.run_key, self.n_resamples, self.seed = y, run_key, n_resamples, seed
        self.n_permutations, self.patients = n_permutations, patients
        self._counts: dict[bytes, np.ndarray] = {}
        self._permutations: dict[bytes, Permutations] = {}
        self._scores: dict[tuple[bytes, tuple[str, str]], tuple[dict, dict]] = {}

    def scores(self, keep: np.ndarray, name: tuple[str, str], p: np.ndarray) -> tuple[dict, dict]:
        """(full-sample metrics, replicate metrics) of predictions ``p`` on the patients ``keep``."""
        mask = keep.tobytes()
        if (mask, name) not in self._scores:
            y = self.y[keep]
            if mask not in self._counts:
                rng = np.random.default_rng(run_seed(self.seed, self.run_key, y))
                self._counts[mask] = resample_counts(y, self.n_resamples, rng)
            self._scores[(mask, name)] = (task_metrics(y, p[keep]), weighted_metrics(y, p[keep], self._counts[mask]))
        return self._scores[(mask, name)]

    def permutations(self, keep: np.ndarray) -> Permutations:
        """The swaps of the patients ``keep``: seeded by their ids (the run when unknown), so every run
        and every pair of models on the same patients gets the same swaps."""
        mask = keep.tobytes()
        if mask not in self._permutations:
            y = self.y[keep]
            patients = self.patients[keep] if self.patients is not None else np.asarray(self.run_key, dtype=np.int64)
            rng = permutation_rng(self.seed, patients, y)
            swaps = np.zeros((1, len(y)), dtype=bool)        # row 0: the observed assignment
            if self.n_permutations:
                swaps = np.concatenate([swaps, permutation_swaps(self.n_permutations, len(y), rng)])
            self._permutations[mask] = Permutations(y, swaps)
        return self._permutations[mask]

    def compare(self, keep: np.ndarray, name: tuple[str, str], p: np.ndarray, reference: tuple[str, str],
                p_reference: np.ndarray) -> RunComparison:
        """``name`` − ``reference`` on the patients ``keep`` (a defined label and both predictions)."""
        model_full, model_draws = self.scores(keep, name, p)
        reference_full, reference_draws = self.scores(keep, reference, p_reference)
        full = {m: model_full[m] - reference_full[m] for m in METRICS}
        y = self.y[keep]
        both_classes = 0 < y.sum() < len(y)
        permuted = self.permutations(keep).differences(p[keep], p_reference[keep]) if self.n_permutations else None
        delong = None
        if both_classes:
            delong = delong_run(y, p[keep], p_reference[keep], None if self.patients is None else self.patients[keep])
        return RunComparison(full, {m: model_draws[m] - reference_draws[m] for m in METRICS}, permuted, delong,
                             int(keep.sum()))


def reference_slots(references: Sequence[str], best_single_modality: Mapping[str, tuple[str, float]] | None = None,
                    tasks: Sequence[str] = DEFAULT_TASKS) -> dict[str, list[tuple[str, str, float]]]:
    """Per task, the ``(reference, reference_role, reference_val_auc)`` every model is compared with:
    the configured references, then the task's best single-modality model (merged into a configured
    one of the same name)."""
    slots = {}
    for task in tasks:
        task_slots = [[reference, CONFIGURED, np.nan] for reference in references]
        if best_single_modality and task in best_single_modality:
            model, val_auc = best_single_modality[task]
            same = [slot for slot in task_slots if slot[0] == model]
            if same:
                same[0][1:] = [f"{CONFIGURED},{BEST_SINGLE_MODALITY}", float(val_auc)]
            else:
                task_slots.append([model, BEST_SINGLE_MODALITY, float(val_auc)])
        slots[task] = [tuple(slot) for slot in task_slots]
    return slots


def compare_with_intervals(predictions: Mapping[tuple[str, str], Sequence[pd.DataFrame]], labels: pd.DataFrame,
                           splits: Sequence[pd.DataFrame], run_keys: Sequence[Sequence[int]], references: Sequence[str],
                           n_resamples: int = 1000, seed: int = 0, n_permutations: int = 1000,
                           best_single_modality: Mapping[str, tuple[str, float]] | None = None,
                           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every (model, variant) of ``predictions`` against every reference's raw predictions, per task and
    metric (``COLUMNS``), and every (model, variant)'s own metrics with their bootstrap CI
    (``INTERVAL_COLUMNS``).

    ``predictions[(model, variant)]`` holds one frame (``subject_id, p_<task>``) per run, in the order
    of ``splits`` (each run's ``subject_id, split``) and ``run_keys`` (its split and init seeds). A
    model is not compared with itself. ``best_single_modality``: task → (model, validation AUC) of the
    extra reference of that task (``best_single_modality``). The run's binary tasks are compared (the
    bootstrap, permutation and DeLong statistics here are those of a binary outcome).
    """
    tasks = binary_task_names(labels.columns)
    slots = reference_slots(references, best_single_modality, tasks)
    pairs: dict[tuple, list[RunComparison]] = {}
    own: dict[tuple, list[tuple[dict, dict, int]]] = {}
    for r, (split, key) in enumerate(zip(splits, run_keys)):
        test = (split.loc[split["split"] == "test", ["subject_id"]]
                .merge(labels[["subject_id", *tasks]], on="subject_id").sort_values("subject_id"))
        ids = test["subject_id"].to_numpy()
        aligned = {name: frames[r].set_index("subject_id").reindex(ids) for name, frames in predictions.items()}
        for task in tasks:
            y = test[task].to_numpy(dtype=float)
            scores = _RunScores(y, key, n_resamples, seed, n_permutations, ids)
            p = {name: frame[f"p_{task}"].to_numpy(dtype=float) for name, frame in aligned.items()}
            for name in predictions:
                keep = np.isfinite(y) & np.isfinite(p[name])
                entry = own.setdefault((*name, task), [])
                if keep.any():
                    entry.append((*scores.scores(keep, name, p[name]), int(keep.sum())))
            for position, (reference, _, _) in enumerate(slots[task]):
                reference_name = (reference, REFERENCE_VARIANT)
                if reference_name not in p:
                    raise KeyError(f"reference {reference!r} has no predictions among the compared models")
                p_reference = p[reference_name]
                for name in predictions:
                    if name == reference_name:
                        continue
                    keep = np.isfinite(y) & np.isfinite(p[name]) & np.isfinite(p_reference)
                    entry = pairs.setdefault((*name, position, task), [])
                    if not keep.any():                       # e.g. no test patient has the modality
                        entry.append(RunComparison.empty())
                        continue
                    entry.append(scores.compare(keep, name, p[name], reference_name, p_reference))
    n_slots = max(len(task_slots) for task_slots in slots.values())
    table = [{"model": model, "variant": variant, "reference": slots[task][position][0],
              "reference_role": slots[task][position][1], "reference_val_auc": slots[task][position][2],
              "task": task, **row}
             for model, variant in predictions for position in range(n_slots) for task in tasks
             if (model, variant, position, task) in pairs
             for row in combine(pairs[(model, variant, position, task)])]
    intervals = [{"model": model, "variant": variant, "task": task, **row}
                 for model, variant in predictions for task in tasks
                 for row in combine_intervals(own.get((model, variant, task), []))]
    return pd.DataFrame(table, columns=COLUMNS), pd.DataFrame(intervals, columns=INTERVAL_COLUMNS)


def compare(predictions: Mapping[tuple[str, str], Sequence[pd.DataFrame]], labels: pd.DataFrame,
            splits: Sequence[pd.DataFrame], run_keys: Sequence[Sequence[int]], references: Sequence[str],
            n_resamples: int = 1000, seed: int = 0, n_permutations: int = 1000,
            best_single_modality: Mapping[str, tuple[str, float]] | None = None) -> pd.DataFrame:
    """The comparisons of ``compare_with_intervals`` (``COLUMNS``)."""
    return compare_with_intervals(predictions, labels, splits, run_keys, references, n_resamples, seed,
                                  n_permutations, best_single_modality)[0]


# --------------------------------------------------------------------------------------------------
# The best single-modality reference, chosen on validation AUC


def selected_validation_auc(history: pd.DataFrame, task: str) -> float:
    """Validation AUC of ``task`` of the model the trainer kept: at the last epoch marked ``is_best``
    (the last epoch when none is, as the trainer then keeps the last weights); an estimator's history
    (one row per task) gives its ``val_auc``. NaN when the history is empty or has no such value."""
    if history.empty:
        return float("nan")
    if "task" in history.columns and "val_auc" in history.columns:
        rows = history[history["task"] == task]
        return float(rows["val_auc"].iloc[-1]) if len(rows) else float("nan")
    column = f"val_auc_{task}"
    if column not in history.columns:
        return float("nan")
    best = history["is_best"].map(lambda value: str(value).strip().lower() == "true") if "is_best" in history.columns \
        else pd.Series(False, index=history.index)
    row = history[best].iloc[-1] if best.any() else history.iloc[-1]
    return float(row[column])


def best_single_modality(histories: Mapping[str, Sequence[pd.DataFrame]],
                         tasks: Sequence[str] = DEFAULT_TASKS) -> dict[str, tuple[str, float]]:
    """Per task, ``(model, validation AUC)`` of the model of ``histories`` (each single-modality model's
    ``history.csv`` per run) with the highest validation AUC (``selected_validation_auc``, mean over
    the runs where it is defined); ties go to the first model. A task no model has a value for is
    left out."""
    chosen = {}
    for task in tasks:
        scores = {}
        for model, frames in histories.items():
            values = [selected_validation_auc(frame, task) for frame in frames]
            values = [v for v in values if np.isfinite(v)]
            if values:
                scores[model] = float(np.mean(values))
        if scores:
            best = max(scores, key=lambda model: scores[model])     # first of the tied maxima
            chosen[task] = (best, scores[best])
            log.info("best single-modality reference for %s: %s (validation AUC %s)", task, best,
                     ", ".join(f"{m} {v:.4f}" for m, v in scores.items()))
    return chosen


def _read_history(path: str | Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:                         # an untrained model (no patient has the modality)
        return pd.DataFrame()


def compare_files(prediction_paths: Mapping[tuple[str, str], Sequence[str | Path]], labels_path: str | Path,
                  split_paths: Sequence[str | Path], run_keys: Sequence[Sequence[int]], references: Sequence[str],
                  out: str | Path, n_resamples: int = 1000, seed: int = 0, n_permutations: int = 1000,
                  history_paths: Mapping[str, Sequence[str | Path]] | None = None,
                  intervals_out: str | Path | None = None) -> pd.DataFrame:
    """``compare_with_intervals`` on the workflow's files; writes ``out`` (results/comparisons.csv) and
    ``intervals_out`` (results/model_intervals.csv). ``history_paths``: each single-modality model's
    ``history.csv`` per run, for the best single-modality reference."""
    predictions = {name: [pd.read_parquet(path) for path in paths] for name, paths in prediction_paths.items()}
    splits = [pd.read_parquet(path) for path in split_paths]
    histories = {model: [_read_history(path) for path in paths] for model, paths in (history_paths or {}).items()}
    labels = pd.read_parquet(labels_path)
    tasks = binary_task_names(labels.columns)
    best = best_single_modality(histories, tasks) if histories else None
    table, intervals = compare_with_intervals(predictions, labels, splits, run_keys, references,
                                              n_resamples, seed, n_permutations, best)
    log.info("%d comparisons (%d model variants × %d references + the best single-modality one × %d tasks × %d "
             "metrics), %d resamples, %d permutations, %d runs", len(table), len(predictions), len(references),
             len(tasks), len(METRICS), n_resamples, n_permutations, len(splits))
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    if intervals_out is not None:
        with atomic_path(intervals_out) as tmp:
            intervals.to_csv(tmp, index=False)
    return table
