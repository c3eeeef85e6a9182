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
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.tasks import TASK_NAMES
from mmnar.io import atomic_path
from mmnar.metrics import task_metrics

log = logging.getLogger(__name__)

METRICS = ("auc", "auprc", "brier")
COLUMNS = ["model", "variant", "reference", "task", "metric", "difference", "ci_low", "ci_high", "p_value",
           "n_patients", "n_runs"]
REFERENCE_VARIANT = "raw"
"""A reference is a model's plain predictions."""


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


def combine(full: Sequence[dict], replicates: Sequence[dict], n_patients: Sequence[int]) -> list[dict]:
    """One row per metric from each run's full-sample differences and replicate differences."""
    rows = []
    for metric in METRICS:
        used = [r for r, values in enumerate(full) if np.isfinite(values[metric])]
        if not used:
            rows.append({"metric": metric, "difference": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "p_value": np.nan, "n_patients": np.nan, "n_runs": 0})
            continue
        difference = float(np.mean([full[r][metric] for r in used]))
        draws = np.mean([replicates[r][metric] for r in used], axis=0)
        low, high = np.percentile(draws, [2.5, 97.5])
        if difference == 0:
            p_value = 1.0
        else:
            other_side = np.mean(draws <= 0) if difference > 0 else np.mean(draws >= 0)
            p_value = float(min(1.0, 2 * other_side))
        rows.append({"metric": metric, "difference": difference, "ci_low": float(low), "ci_high": float(high),
                     "p_value": p_value, "n_patients": float(np.mean([n_patients[r] for r in used])),
                     "n_runs": len(used)})
    return rows


def paired_bootstrap(runs: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]], n_resamples: int = 1000,
                     seed: int = 0, run_keys: Sequence[Sequence[int]] | None = None) -> pd.DataFrame:
    """Model − reference difference of AUC, AUPRC and Brier over ``runs`` of ``(y, p_model, p_reference)``.

    Each run's arrays cover the same patients; those with an undefined label or a NaN prediction from
    either model are left out. Returns ``metric, difference, ci_low, ci_high, p_value, n_patients, n_runs``.
    """
    run_keys = run_keys if run_keys is not None else [(r,) for r in range(len(runs))]
    full, replicates, sizes = [], [], []
    for key, (y, p_model, p_reference) in zip(run_keys, runs):
        y, p_model, p_reference = (np.asarray(a, dtype=float) for a in (y, p_model, p_reference))
        keep = np.isfinite(y) & np.isfinite(p_model) & np.isfinite(p_reference)
        y, p_model, p_reference = y[keep], p_model[keep], p_reference[keep]
        if not len(y):                                       # nothing to compare in this run
            full.append(dict.fromkeys(METRICS, np.nan))
            replicates.append({})
            sizes.append(0)
            continue
        counts = resample_counts(y, n_resamples, np.random.default_rng(run_seed(seed, key, y)))
        model, reference = weighted_metrics(y, p_model, counts), weighted_metrics(y, p_reference, counts)
        model_full, reference_full = task_metrics(y, p_model), task_metrics(y, p_reference)
        full.append({m: model_full[m] - reference_full[m] for m in METRICS})
        replicates.append({m: model[m] - reference[m] for m in METRICS})
        sizes.append(len(y))
    return pd.DataFrame(combine(full, replicates, sizes), columns=COLUMNS[4:])


# --------------------------------------------------------------------------------------------------
# Every configured model against every reference, from the workflow's files


class _RunScores:
    """Resamples and per-model replicate metrics of one run × task, cached by patient set."""

    def __init__(self, y: np.ndarray, run_key: Sequence[int], n_resamples: int, seed: int):
        self.y, self.run_key, self.n_resamples, self.seed = y, run_key, n_resamples, seed
        self._counts: dict[bytes, np.ndarray] = {}
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


def compare(predictions: Mapping[tuple[str, str], Sequence[pd.DataFrame]], labels: pd.DataFrame,
            splits: Sequence[pd.DataFrame], run_keys: Sequence[Sequence[int]], references: Sequence[str],
            n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every (model, variant) of ``predictions`` against every reference's raw predictions, per task and metric.

    ``predictions[(model, variant)]`` holds one frame (``subject_id, p_<task>``) per run, in the order
    of ``splits`` (each run's ``subject_id, split``) and ``run_keys`` (its split and init seeds). A
    model is not compared with itself. Returns the columns of ``COLUMNS``.
    """
    rows = {}
    for r, (split, key) in enumerate(zip(splits, run_keys)):
        test = (split.loc[split["split"] == "test", ["subject_id"]]
                .merge(labels[["subject_id", *TASK_NAMES]], on="subject_id").sort_values("subject_id"))
        ids = test["subject_id"].to_numpy()
        aligned = {name: frames[r].set_index("subject_id").reindex(ids) for name, frames in predictions.items()}
        for task in TASK_NAMES:
            y = test[task].to_numpy(dtype=float)
            scores = _RunScores(y, key, n_resamples, seed)
            p = {name: frame[f"p_{task}"].to_numpy(dtype=float) for name, frame in aligned.items()}
            for reference in references:
                p_reference = p[(reference, REFERENCE_VARIANT)]
                for name in predictions:
                    if name == (reference, REFERENCE_VARIANT):
                        continue
                    keep = np.isfinite(y) & np.isfinite(p[name]) & np.isfinite(p_reference)
                    entry = rows.setdefault((*name, reference, task), ([], [], []))
                    if not keep.any():                       # e.g. no test patient has the modality
                        entry[0].append(dict.fromkeys(METRICS, np.nan))
                        entry[1].append({})
                        entry[2].append(0)
                        continue
                    model_full, model_draws = scores.scores(keep, name, p[name])
                    reference_full, reference_draws = scores.scores(keep, (reference, REFERENCE_VARIANT), p_reference)
                    entry[0].append({m: model_full[m] - reference_full[m] for m in METRICS})
                    entry[1].append({m: model_draws[m] - reference_draws[m] for m in METRICS})
                    entry[2].append(int(keep.sum()))
    table = [{"model": model, "variant": variant, "reference": reference, "task": task, **row}
             for model, variant in predictions for reference in references for task in TASK_NAMES
             if (model, variant, reference, task) in rows
             for row in combine(*rows[(model, variant, reference, task)])]
    return pd.DataFrame(table, columns=COLUMNS)


def compare_files(prediction_paths: Mapping[tuple[str, str], Sequence[str | Path]], labels_path: str | Path,
                  split_paths: Sequence[str | Path], run_keys: Sequence[Sequence[int]], references: Sequence[str],
                  out: str | Path, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """``compare`` on the workflow's files; writes ``out`` (results/comparisons.csv)."""
    predictions = {name: [pd.read_parquet(path) for path in paths] for name, paths in prediction_paths.items()}
    splits = [pd.read_parquet(path) for path in split_paths]
    table = compare(predictions, pd.read_parquet(labels_path), splits, run_keys, references, n_resamples, seed)
    log.info("%d comparisons (%d model variants × %d references × %d tasks × %d metrics), %d resamples, %d runs",
             len(table), len(predictions), len(references), len(TASK_NAMES), len(METRICS), n_resamples, len(splits))
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return table
