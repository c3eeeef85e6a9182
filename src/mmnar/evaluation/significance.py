"""Significance of a paired difference between two models: a permutation test and DeLong's test.

Both read the same test patients of each run as ``mmnar.evaluation.paired`` does (a defined label and
a finite prediction from both models) and the same statistic, the model − reference difference of a
metric averaged over runs.

**Paired permutation test** (every metric). Under the null hypothesis that the two models are
exchangeable, which of a patient's two predictions is the model's and which the reference's is a coin
flip. Each of ``n`` permutations swaps the two predictions of every patient with probability 1/2
(independently across patients, the same swap in every run on the same patients, e.g. the
initialisation seeds of one split), recomputes each run's difference and averages it over runs. The
two-sided p-value is ``(1 + #{|permuted| >= |observed|}) / (1 + n)`` (Phipson & Smyth 2010: never 0,
exact for Monte Carlo permutations). The differences of many permutations are computed at once
without a sort per permutation: the AUC and Brier differences are linear in the swaps
(``permuted_differences``), AUPRC (scikit-learn's average precision, ties together) follows from
per-threshold counts of positives and negatives. ``tests/test_paired.py`` checks them against
scikit-learn on every assignment of a small case.

**DeLong's test** (AUC only). DeLong, DeLong & Clarke-Pearson (1988) via the midrank algorithm of
Sun & Xu (2014): each positive's placement ``V10`` (share of negatives it outranks, ties half) and
each negative's ``V01`` (share of positives that outrank it); the AUC is their mean and the variance
of the difference of two AUCs on the same patients is ``var(V10_a − V10_b)/m + var(V01_a − V01_b)/n``
(``m`` positives, ``n`` negatives, sample variances).

It is hand-written rather than imported: of the PyPI packages that provide it (checked when this was written),
``MLstatkit`` (one maintainer, releases until 2025-09) returns only z and p, silently switches to a
bootstrap when the variance degenerates and changed the sign of z in a patch release;
``rocauc-comparison`` and ``pauc`` are one-file packages without a test suite. None exposes the
structural components (the placements), which the combination over runs below needs. The function is
short and tested against a hand-computed case, the O(m·n) definition and scikit-learn's AUC.

Combination over runs (the estimate is the mean of the per-run differences):

- runs on the *same* patients (the initialisation seeds of one split) are one linear contrast of
  AUCs on those patients: their placements are averaged per patient and DeLong's variance of that
  average is exact;
- runs on *disjoint* patient sets (``split.scheme: folds``: the split seeds test on disjoint folds)
  are independent given the trained models, so the variance of their mean is
  ``Σ_g (k_g/K)² var_g`` (group g with k_g of the K runs);
- when the patient sets of different groups overlap (``split.scheme: random``) or are unknown, the
  standard error is bounded by ``Σ_g (k_g/K) se_g`` (the sd of a weighted sum is at most the
  weighted sum of sds, whatever the correlation): the p-value is then conservative.

``z`` = mean difference / standard error, two-sided normal p-value. A zero standard error gives p 1
for a zero difference (e.g. identical predictions) and 0 otherwise. Like the bootstrap CI, both tests
are over test patients given the trained models, not over training randomness.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PERMUTATION_BLOCK = 64
"""Permutations scored at once: keeps the (block × thresholds) count arrays small."""


# --------------------------------------------------------------------------------------------------
# Paired permutation test


def permutation_rng(seed: int, patients: np.ndarray, y: np.ndarray) -> np.random.Generator:
    """The swap stream of one patient set: the seed, the patients and their labels only, so runs on the
    same patients (and every pair of models on them) get the same swaps."""
    patients = np.ascontiguousarray(patients)
    return np.random.default_rng(np.random.SeedSequence(
        [int(seed), zlib.crc32(patients.tobytes()), zlib.crc32(np.asarray(y, dtype=np.float64).tobytes()), len(y),
         0x5EED]))


def permutation_swaps(n_permutations: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_permutations, n)`` booleans: True where a patient's two predictions are swapped (p = 1/2)."""
    return rng.random((n_permutations, n)) < 0.5


class Permutations:
    """The swaps of one patient set (``y``: binary labels with both classes), split by class once so
    that every pair of models on these patients reuses them (``differences``)."""

    def __init__(self, y: np.ndarray, swaps: np.ndarray):
        self.y = np.asarray(y, dtype=float)
        self.positive = self.y == 1
        self.m, self.n = int(self.positive.sum()), int((~self.positive).sum())
        swaps = np.atleast_2d(np.asarray(swaps, dtype=bool))
        self.blocks = [(block.astype(np.float64), block[:, self.positive], block[:, ~self.positive])
                       for block in (swaps[start:start + PERMUTATION_BLOCK]
                                     for start in range(0, len(swaps), PERMUTATION_BLOCK))]

    def differences(self, p_model: np.ndarray, p_reference: np.ndarray) -> dict[str, np.ndarray]:
        """Model − reference AUC, AUPRC and Brier after each swap row (``permuted_differences``)."""
        y, positive, m, n = self.y, self.positive, self.m, self.n
        a, b = np.asarray(p_model, dtype=float), np.asarray(p_reference, dtype=float)
        if m == 0 or n == 0:                                  # one class: no AUC, no AUPRC
            share = ((a - y) ** 2 - (b - y) ** 2) / len(y)
            brier = np.concatenate([share.sum() - 2.0 * (as_float @ share) for as_float, _, _ in self.blocks])
            return {"auc": np.full(len(brier), np.nan), "auprc": np.full(len(brier), np.nan), "brier": brier}
        a_pos, b_pos, a_neg, b_neg = a[positive], b[positive], a[~positive], b[~positive]
        weights = np.zeros((len(y), 2))
        weights[positive, 0] = (_below(a_pos, a_neg) - _below(b_pos, b_neg) + _below(a_pos, b_neg)
                                - _below(b_pos, a_neg)) / (2.0 * m * n)
        weights[~positive, 0] = (_above(a_neg, a_pos) - _above(b_neg, b_pos) - _above(b_neg, a_pos)
                                 + _above(a_neg, b_pos)) / (2.0 * m * n)
        weights[:, 1] = ((a - y) ** 2 - (b - y) ** 2) / len(y)
        totals = weights.sum(axis=0)
        candidates = np.unique(np.concatenate([a_pos, b_pos]))     # the thresholds average precision visits
        rank_a, rank_b = ((np.searchsorted(candidates, v) + 1).astype(np.int32) for v in (a_pos, b_pos))
        bucket_a, bucket_b = (np.searchsorted(candidates, v, "right").astype(np.int32)   # candidates <= value
                              for v in (a_neg, b_neg))
        n_buckets = len(candidates) + 1
        both_pos = np.bincount(rank_a, minlength=n_buckets) + np.bincount(rank_b, minlength=n_buckets)
        both_neg = np.bincount(bucket_a, minlength=n_buckets) + np.bincount(bucket_b, minlength=n_buckets)
        out = {"auc": [], "auprc": [], "brier": []}
        for as_float, swapped_pos, swapped_neg in self.blocks:
            linear = totals - 2.0 * (as_float @ weights)              # σ = 1 − 2·swap
            out["auc"].append(linear[:, 0])
            out["brier"].append(linear[:, 1])
            out["auprc"].append(_average_precision_difference(
                np.where(swapped_pos, rank_b, rank_a), np.where(swapped_neg, bucket_b, bucket_a), both_pos, both_neg))
        return {metric: np.concatenate(parts) for metric, parts in out.items()}


def permuted_differences(y: np.ndarray, p_model: np.ndarray, p_reference: np.ndarray,
                         swaps: np.ndarray) -> dict[str, np.ndarray]:
    """Model − reference AUC, AUPRC and Brier after each row of ``swaps`` (True: the patient's two
    predictions trade places). A row of False is the observed difference.

    ``y`` binary with both classes, predictions finite. Equal to scikit-learn's ``roc_auc_score``,
    ``average_precision_score`` and ``brier_score_loss`` differences on the permuted arrays.

    AUC and Brier differences are linear in the swap signs σ (+1 kept, −1 swapped): for Brier each
    patient adds ``σ_i ((a_i − y_i)² − (b_i − y_i)²) / N``; for AUC, summing the Mann–Whitney kernel
    over (positive i, negative j) pairs in the four sign cases gives
    ``Δ(σ) = (Σ_i σ_i u_i + Σ_j σ_j v_j) / (2 m n)`` with ``u_i = N(a_i; a⁻) − N(b_i; b⁻) + N(a_i; b⁻) −
    N(b_i; a⁻)`` and ``v_j = M(a_j; a⁺) − M(b_j; b⁺) − M(b_j; a⁺) + M(a_j; b⁺)`` (N: negatives below, M:
    positives above, ties one half). AUPRC is not: it is counted per permutation on the distinct
    values of the positives' predictions (``_average_precision_difference``).
    """
    return Permutations(y, swaps).differences(p_model, p_reference)


def _below(values: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Per value: how many of ``others`` are smaller, ties counting one half."""
    others = np.sort(others)
    return (np.searchsorted(others, values, "left") + np.searchsorted(others, values, "right")) / 2.0


def _above(values: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Per value: how many of ``others`` are larger, ties counting one half."""
    return len(others) - _below(values, others)


def _average_precision_difference(positive_ranks: np.ndarray, negative_buckets: np.ndarray, both_pos: np.ndarray,
                                  both_neg: np.ndarray) -> np.ndarray:
    """Average precision of the model minus that of the reference, per row.

    ``positive_ranks`` (1 … K) index the model's positive predictions among the K candidate thresholds,
    ``negative_buckets`` (0 … K) count the candidates at or below each of its negative predictions. A
    positive at threshold k is preceded by every positive of rank >= k and every negative of bucket
    >= k (ties included, as scikit-learn's average precision). The reference holds each patient's
    other prediction, so its per-threshold counts are ``both_pos``/``both_neg`` (the counts of both
    models together) minus the model's.
    """
    rows, n_buckets = len(positive_ranks), len(both_pos)
    offsets = np.arange(0, rows * n_buckets, n_buckets, dtype=np.int32)[:, None]

    def histogram(indices):
        return np.bincount((offsets + indices).ravel(), minlength=rows * n_buckets).reshape(rows, n_buckets)

    def at_or_above(counts):
        return np.cumsum(counts[..., ::-1], axis=-1)[..., ::-1]

    pos, neg = histogram(positive_ranks), histogram(negative_buckets)
    pos_at_or_above, neg_at_or_above = at_or_above(pos), at_or_above(neg)
    both_pos_at_or_above, both_neg_at_or_above = at_or_above(both_pos), at_or_above(both_neg)
    called = pos_at_or_above + neg_at_or_above
    model = (pos * pos_at_or_above / np.maximum(called, 1)).sum(axis=1)       # no positive there: adds 0
    pos_reference, pos_reference_at_or_above = both_pos - pos, both_pos_at_or_above - pos_at_or_above
    called_reference = pos_reference_at_or_above + both_neg_at_or_above - neg_at_or_above
    reference = (pos_reference * pos_reference_at_or_above / np.maximum(called_reference, 1)).sum(axis=1)
    return (model - reference) / positive_ranks.shape[1]


def permutation_p_value(observed: float, permuted: np.ndarray) -> float:
    """Two-sided ``(1 + #{|permuted| >= |observed|}) / (1 + n)``; a relative 1e-9 absorbs rounding, so a
    permutation that reproduces the observed value counts."""
    permuted = np.asarray(permuted, dtype=float)
    threshold = abs(observed) - 1e-9 * max(abs(observed), 1e-12)
    return float((1 + np.count_nonzero(np.abs(permuted) >= threshold)) / (1 + len(permuted)))


# --------------------------------------------------------------------------------------------------
# DeLong's test for AUC


def delong_placements(y: np.ndarray, p: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC of ``p`` and its structural components by midranks (Sun & Xu 2014).

    Returns ``(auc, v10, v01)``: ``v10`` per positive (in order of appearance) is the share of
    negatives it outranks, ties counting one half; ``v01`` per negative the share of positives that
    outrank it. ``auc = mean(v10) = mean(v01)``. ``y`` binary with both classes, ``p`` finite.
    """
    from scipy.stats import rankdata  # here, not at the top: the workflow imports this module while it is parsed

    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    positive = y == 1
    m, n = int(positive.sum()), int((~positive).sum())
    overall = rankdata(p)                                   # midranks: ties share the mean rank
    v10 = (overall[positive] - rankdata(p[positive])) / n
    v01 = 1.0 - (overall[~positive] - rankdata(p[~positive])) / m
    return float(v10.mean()), v10, v01


@dataclass
class DelongRun:
    """One run's AUC difference and the per-patient differences of its placements."""

    difference: float
    v10: np.ndarray
    v01: np.ndarray
    patients: np.ndarray | None = None
    """The run's patients (ids, in order); None when unknown."""


def delong_run(y: np.ndarray, p_model: np.ndarray, p_reference: np.ndarray,
               patients: np.ndarray | None = None) -> DelongRun:
    auc_model, v10_model, v01_model = delong_placements(y, p_model)
    auc_reference, v10_reference, v01_reference = delong_placements(y, p_reference)
    return DelongRun(auc_model - auc_reference, v10_model - v10_reference, v01_model - v01_reference, patients)


def delong_variance(v10: np.ndarray, v01: np.ndarray) -> float:
    """DeLong's variance of a contrast of AUCs on one patient set from its placement differences."""
    m, n = len(v10), len(v01)
    if m < 2 or n < 2:
        return float("nan")
    return float(np.var(v10, ddof=1) / m + np.var(v01, ddof=1) / n)


def delong_combined(runs: Sequence[DelongRun]) -> dict[str, float]:
    """``difference`` (mean over runs), ``se``, ``z`` and two-sided ``p`` of DeLong's test over ``runs``
    (module docstring: exact within a patient set, independent across disjoint sets, bounded otherwise)."""
    if not runs:
        return {"difference": np.nan, "se": np.nan, "z": np.nan, "p": np.nan}
    groups: dict[object, list[DelongRun]] = {}
    for k, run in enumerate(runs):
        key = ("ids", run.patients.tobytes()) if run.patients is not None else ("run", k)
        groups.setdefault(key, []).append(run)
    weights, variances, sets = [], [], []
    for members in groups.values():
        v10 = np.mean([run.v10 for run in members], axis=0)
        v01 = np.mean([run.v01 for run in members], axis=0)
        weights.append(len(members) / len(runs))
        variances.append(delong_variance(v10, v01))
        sets.append(None if members[0].patients is None else members[0].patients)
    weights, variances = np.array(weights), np.array(variances)
    difference = float(np.mean([run.difference for run in runs]))
    disjoint = all(s is not None for s in sets) and (
        len(sets) == 1 or len(np.unique(np.concatenate(sets))) == sum(len(s) for s in sets))
    if disjoint:
        se = float(np.sqrt(np.sum(weights ** 2 * variances)))
    else:
        se = float(np.sum(weights * np.sqrt(variances)))
    if not np.isfinite(se):
        return {"difference": difference, "se": np.nan, "z": np.nan, "p": np.nan}
    if se == 0:
        return {"difference": difference, "se": 0.0, "z": np.nan if difference == 0 else np.copysign(np.inf, difference),
                "p": 1.0 if difference == 0 else 0.0}
    from scipy.special import ndtr  # here, not at the top: the workflow imports this module while it is parsed

    z = difference / se
    return {"difference": difference, "se": se, "z": float(z), "p": float(2 * ndtr(-abs(z)))}
