"""Subgroup performance and its max − min gaps across race, sex and age groups (CareBench's protocol).

CareBench (Section 5.5) stratifies test performance by a sensitive attribute and reports, per metric,
the gap between the best and the worst subgroup (max − min) of AUPRC, TPR, FPR and ECE. Here, for
every model, variant (raw, and rectified for rectified models), task and attribute:

- **Groups.** race as CareBench groups MIMIC's race strings: WHITE (``WHITE``, ``WHITE - …``), BLACK/
  AFRICAN AMERICAN (``BLACK/…``), HISPANIC/LATINO (``HISPANIC…``), ASIAN (``ASIAN…``) and OTHER
  (everything else, including UNKNOWN, UNABLE TO OBTAIN, PATIENT DECLINED TO ANSWER, missing); sex
  from ``gender`` (F, M; anything else Unknown); age in the half-open groups [0, e₁), [e₁, e₂), …,
  [e_k, ∞) of ``age_edges`` (CareBench's 20, 40, 60, 80 by default).
- **Threshold.** TPR and FPR need a decision threshold. It is chosen per run on that run's
  *validation* patients only (split ``val``, defined label, finite prediction): the validation
  prediction t maximising Youden's J = TPR − FPR of the rule p ≥ t (the highest such t on ties).
  Test labels never touch it. A run whose validation patients have one class has no threshold (its
  TPR and FPR are left out). CareBench uses 0.5, which means little for a rare outcome.
- **Subgroup metrics** on the run's test patients with a defined label and a finite prediction:
  ``n_patients``, ``n_positives``, AUPRC (average precision), TPR and FPR at the threshold, and ECE
  over equal-mass bins (``mmnar.metrics.equal_mass_bins``), ``calibration_bins`` of them but at
  most one per ``min_cell_count`` patients of the subgroup, so no bin rests on a small cell and the
  ECE of a small subgroup is not inflated by bins of two or three patients.
- **Small cells.** A subgroup whose patients, positives or negatives number fewer than
  ``min_cell_count`` (zero included: its TPR, FPR or AUPRC would not exist) is ``suppressed``: counts
  and metrics blank, and it is left out of the gap (PhysioNet small-cell guidance).
- **Gap** per metric: max − min over the run's unsuppressed subgroups (at least two, else none).
- **Bootstrap** (95 % CI): each of ``n_resamples`` replicates resamples every run's test patients
  within subgroup × outcome class (so every replicate keeps each subgroup's size and class counts,
  and every metric stays defined), with the threshold fixed; subgroup metrics and gaps are
  recomputed on the replicate. The CI is over test patients given the trained models and the
  chosen threshold. Resamples are seeded by the seed, the run, the task, the attribute and the
  patient set, so every model with the same patients gets the same resamples.
- **Over runs** (split seed × init seed), as ``mmnar.evaluation.paired`` does: a value is the mean
  over the runs where it exists (subgroup unsuppressed, gap defined; ``n_runs`` says how many) of
  the full-sample value, and its CI the 2.5 and 97.5 percentiles of the replicates averaged over
  those runs. Counts are means over the same runs.

Rows per model × variant × task: one ``all`` row (every test patient; ``threshold`` is the mean
validation threshold over runs), then per attribute one row per subgroup and one ``gap`` row
(``n_groups``: the mean number of subgroups it spans; flagged ``suppressed`` when no run has two
publishable subgroups).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.tasks import binary_task_names
from mmnar.evaluation.paired import resample_counts, run_seed, weighted_metrics
from mmnar.io import atomic_path

log = logging.getLogger(__name__)

ATTRIBUTES = ("race", "sex", "age")
RACE_GROUPS = ("WHITE", "BLACK/AFRICAN AMERICAN", "HISPANIC/LATINO", "ASIAN", "OTHER")
SEX_GROUPS = ("F", "M", "Unknown")
AGE_EDGES = (20, 40, 60, 80)
"""CareBench's age groups: 0–20, 20–40, 40–60, 60–80, 80+."""
UNKNOWN = "Unknown"
METRICS = ("auprc", "tpr", "fpr", "ece")
VARIANTS = ("raw", "rectified")
"""The paper-protocol variant is fitted on the test labels: its subgroup metrics would mean nothing."""
ALL = "all"
GAP = "gap"
COLUMNS = ["model", "variant", "task", "attribute", "group", "n_runs", "n_groups", "n_patients", "n_positives",
           "suppressed", "threshold", *[f"{m}{s}" for m in METRICS for s in ("", "_ci_low", "_ci_high")]]
ECE_BLOCK = 128
"""Replicates whose ECE is computed at once."""


# --------------------------------------------------------------------------------------------------
# Groups


def race_group(race: pd.Series) -> pd.Series:
    """CareBench's five race groups from MIMIC-IV's ``race`` strings."""
    text = race.fillna("").astype(str).str.strip().str.upper()
    groups = pd.Series("OTHER", index=race.index, dtype=object)
    for prefix, group in (("WHITE", "WHITE"), ("BLACK", "BLACK/AFRICAN AMERICAN"), ("HISPANIC", "HISPANIC/LATINO"),
                          ("ASIAN", "ASIAN")):
        groups[text.str.startswith(prefix)] = group
    return groups


def sex_group(gender: pd.Series) -> pd.Series:
    text = gender.fillna("").astype(str).str.strip().str.upper()
    return text.map({"F": "F", "M": "M"}).fillna(UNKNOWN).astype(object)


def age_labels(edges: Sequence[float]) -> list[str]:
    """``<e1``, ``e1-e2``, …, ``ek+``: the half-open groups [0, e1), [e1, e2), …, [ek, ∞)."""
    if not len(edges) or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"age edges must be increasing, not {list(edges)}")
    edges = [f"{e:g}" for e in edges]
    return [f"<{edges[0]}", *[f"{lo}-{hi}" for lo, hi in zip(edges, edges[1:])], f"{edges[-1]}+"]


def age_group(age: pd.Series, edges: Sequence[float] = AGE_EDGES) -> pd.Series:
    labels = np.array(age_labels(edges), dtype=object)
    values = pd.to_numeric(age, errors="coerce").to_numpy(dtype=float)
    groups = labels[np.digitize(np.nan_to_num(values, nan=0.0), edges, right=False)]
    return pd.Series(np.where(np.isfinite(values), groups, UNKNOWN), index=age.index, dtype=object)


def group_order(attribute: str, age_edges: Sequence[float] = AGE_EDGES) -> list[str]:
    """Every group an attribute may have, in the order rows are written."""
    return {"race": list(RACE_GROUPS), "sex": list(SEX_GROUPS), "age": [*age_labels(age_edges), UNKNOWN]}[attribute]


def demographic_groups(cohort: pd.DataFrame, attributes: Sequence[str] = ATTRIBUTES,
                       age_edges: Sequence[float] = AGE_EDGES) -> pd.DataFrame:
    """``subject_id`` and one group column per attribute, from ``cohort.parquet``'s ``race, gender, age``."""
    make = {"race": lambda: race_group(cohort["race"]), "sex": lambda: sex_group(cohort["gender"]),
            "age": lambda: age_group(cohort["age"], age_edges)}
    return pd.DataFrame({"subject_id": cohort["subject_id"].to_numpy(),
                         **{attribute: make[attribute]().to_numpy() for attribute in attributes}})


# --------------------------------------------------------------------------------------------------
# Threshold and metrics


def youden_threshold(y, p) -> float:
    """The prediction t maximising Youden's J = TPR − FPR of the rule p ≥ t (highest t on ties).

    Candidates are the given predictions; patients with an undefined label or a non-finite prediction
    are left out. NaN when one class is missing.
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    keep = np.isfinite(y) & np.isfinite(p)
    y, p = y[keep], p[keep]
    n_pos, n_neg = int((y == 1).sum()), int((y == 0).sum())
    if n_pos == 0 or n_neg == 0:
        return np.nan
    order = np.argsort(-p, kind="stable")
    p, y = p[order], y[order]
    last = np.r_[p[1:] != p[:-1], True]                      # the last patient of each distinct value
    true_pos, false_pos = np.cumsum(y == 1)[last], np.cumsum(y == 0)[last]
    youden = true_pos * n_neg - false_pos * n_pos           # J · n_pos · n_neg, in integers: ties are exact
    return float(p[last][int(np.argmax(youden))])            # first maximum: the highest threshold


def ece_bin_count(n_patients: int, calibration_bins: int, min_cell_count: int) -> int:
    """Equal-mass bins of a subgroup's ECE: ``calibration_bins``, at most one per ``min_cell_count`` patients."""
    return int(max(1, min(calibration_bins, n_patients // max(min_cell_count, 1))))


def weighted_equal_mass_ece(y, p, counts, n_bins: int) -> np.ndarray:
    """Equal-mass ECE (``expected_calibration_error(..., strategy="quantile")``) of every row of ``counts``.

    A row gives how often each patient is drawn; the result equals the ECE of the resampled arrays
    (ranks count drawn copies; ties share the rank of the first of them).
    """
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    counts = np.atleast_2d(np.asarray(counts))
    order = np.argsort(p, kind="stable")
    p, y, counts = p[order], y[order], counts[:, order]
    first = np.searchsorted(p, p, side="left")               # first patient of each tie
    out = np.empty(len(counts))
    for start in range(0, len(counts), ECE_BLOCK):
        block = counts[start:start + ECE_BLOCK].astype(np.int64)
        rows = len(block)
        below = np.concatenate([np.zeros((rows, 1), dtype=np.int64), np.cumsum(block, axis=1)], axis=1)[:, first]
        n = block.sum(axis=1)
        # a patient drawn 0 times may rank after every drawn copy (bin n_bins); it weighs 0 anyway
        bins = np.minimum((n_bins * below) // np.maximum(n, 1)[:, None], n_bins - 1)
        flat = (bins + n_bins * np.arange(rows)[:, None]).ravel()
        sums = np.bincount(flat, weights=(block * (y - p)).ravel(), minlength=rows * n_bins).reshape(rows, n_bins)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start:start + rows] = np.abs(sums).sum(axis=1) / n
    return out


def group_metrics(y, p, threshold: float, counts, ece_bins: int) -> dict[str, np.ndarray]:
    """AUPRC, TPR, FPR (p ≥ ``threshold``) and equal-mass ECE for every row of ``counts`` (a row of ones: the sample)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    counts = np.atleast_2d(np.asarray(counts))
    positive = y == 1
    called = p >= threshold if np.isfinite(threshold) else np.zeros(len(p), dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = counts[:, positive & called].sum(axis=1) / counts[:, positive].sum(axis=1)
        fpr = counts[:, ~positive & called].sum(axis=1) / counts[:, ~positive].sum(axis=1)
    if not np.isfinite(threshold):
        tpr, fpr = np.full(len(counts), np.nan), np.full(len(counts), np.nan)
    return {"auprc": weighted_metrics(y, p, counts)["auprc"], "tpr": np.asarray(tpr, dtype=float),
            "fpr": np.asarray(fpr, dtype=float), "ece": weighted_equal_mass_ece(y, p, counts, ece_bins)}


def too_small(n_patients: int, n_positives: int, min_cell_count: int) -> bool:
    """Patients, positives or negatives under ``min_cell_count`` (zero included)."""
    return min(n_patients, n_positives, n_patients - n_positives) < min_cell_count


def subgroup_metrics(y, p, groups, threshold: float, calibration_bins: int = 10,
                     min_cell_count: int = 1) -> pd.DataFrame:
    """Full-sample ``group, n_patients, n_positives, suppressed`` and metrics of each group present.

    ``y`` binary, ``p`` finite; a suppressed group's counts and metrics are NaN.
    """
    rows = []
    y, p, groups = np.asarray(y, dtype=float), np.asarray(p, dtype=float), np.asarray(groups, dtype=object)
    for group in pd.unique(groups):
        member = groups == group
        rows.append({"group": group, **_group_row(y[member], p[member], threshold, calibration_bins, min_cell_count)})
    return pd.DataFrame(rows, columns=["group", "n_patients", "n_positives", "suppressed", *METRICS])


def _group_row(y, p, threshold, calibration_bins, min_cell_count) -> dict:
    n, n_pos = len(y), int((y == 1).sum())
    if too_small(n, n_pos, min_cell_count):
        return {"n_patients": np.nan, "n_positives": np.nan, "suppressed": True, **dict.fromkeys(METRICS, np.nan)}
    values = group_metrics(y, p, threshold, np.ones((1, n), dtype=np.int32),
                           ece_bin_count(n, calibration_bins, min_cell_count))
    return {"n_patients": float(n), "n_positives": float(n_pos), "suppressed": False,
            **{m: float(values[m][0]) for m in METRICS}}


def max_min_gap(table: pd.DataFrame) -> dict[str, float]:
    """Per metric: max − min over the unsuppressed groups of ``subgroup_metrics``' table (NaN with fewer than two)."""
    shown = table[~table["suppressed"].astype(bool)]
    return {m: float(shown[m].max() - shown[m].min()) if shown[m].notna().sum() >= 2 else np.nan for m in METRICS}


# --------------------------------------------------------------------------------------------------
# One run × task × attribute, with its bootstrap


def attribute_bootstrap(y, p, groups, threshold: float, calibration_bins: int, min_cell_count: int,
                        n_resamples: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict, dict]:
    """(subgroup table, replicate metrics per unsuppressed group, replicate gaps) of one run's test patients.

    Replicates resample within group × outcome class; every array has ``n_resamples`` values.
    """
    y, p, groups = np.asarray(y, dtype=float), np.asarray(p, dtype=float), np.asarray(groups, dtype=object)
    table = subgroup_metrics(y, p, groups, threshold, calibration_bins, min_cell_count)
    draws = {}
    for group in table.loc[~table["suppressed"].astype(bool), "group"]:
        member = groups == group
        counts = resample_counts(y[member], n_resamples, rng)
        draws[group] = group_metrics(y[member], p[member], threshold, counts,
                                     ece_bin_count(int(member.sum()), calibration_bins, min_cell_count))
    gaps = {}
    for m in METRICS:
        stacked = np.array([draws[g][m] for g in draws]) if draws else np.empty((0, n_resamples))
        defined = np.isfinite(stacked).all(axis=1)
        gaps[m] = (stacked[defined].max(axis=0) - stacked[defined].min(axis=0) if defined.sum() >= 2
                   else np.full(n_resamples, np.nan))
    return table, draws, gaps


def _summarise(full: Sequence[float], draws: Sequence[np.ndarray | None]) -> tuple[float, float, float]:
    """Mean over runs of the finite full-sample values, and the 95 % percentile interval of the
    replicates averaged over the same runs."""
    used = [r for r, value in enumerate(full) if np.isfinite(value)]
    if not used:
        return np.nan, np.nan, np.nan
    value = float(np.mean([full[r] for r in used]))
    replicates = [draws[r] for r in used if draws[r] is not None]
    if len(replicates) < len(used):
        return value, np.nan, np.nan
    low, high = np.percentile(np.mean(replicates, axis=0), [2.5, 97.5])
    return value, float(low), float(high)


def _metric_columns(full: Mapping[str, Sequence[float]], draws: Mapping[str, Sequence]) -> dict:
    row = {}
    for m in METRICS:
        row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"] = _summarise(full[m], draws[m])
    return row


# --------------------------------------------------------------------------------------------------
# Every model, from the workflow's frames and files


def fairness(predictions: Mapping[tuple[str, str], Sequence[pd.DataFrame]], labels: pd.DataFrame,
             splits: Sequence[pd.DataFrame], run_keys: Sequence[Sequence[int]], demographics: pd.DataFrame,
             attributes: Sequence[str] = ATTRIBUTES, age_edges: Sequence[float] = AGE_EDGES,
             calibration_bins: int = 10, min_cell_count: int = 1, n_resamples: int = 1000,
             seed: int = 0) -> pd.DataFrame:
    """The fairness table (``COLUMNS``) of every (model, variant) of ``predictions``.

    ``predictions[(model, variant)]`` holds one frame (``subject_id, p_<task>``) per run, in the order
    of ``splits`` (each run's ``subject_id, split``) and ``run_keys`` (its split and init seeds);
    ``demographics`` is ``demographic_groups``' frame.
    """
    rows = []
    for (model, variant), frames in predictions.items():
        for t, task in enumerate(binary_task_names(labels.columns)):
            keys = {"model": model, "variant": variant, "task": task}
            runs = []
            for frame, split, key in zip(frames, splits, run_keys):
                merged = (split[["subject_id", "split"]].merge(labels[["subject_id", task]], on="subject_id")
                          .merge(frame[["subject_id", f"p_{task}"]], on="subject_id", how="left")
                          .merge(demographics, on="subject_id", how="left").sort_values("subject_id"))
                defined = merged[task].notna() & np.isfinite(merged[f"p_{task}"].astype(float))
                val = merged[defined & (merged["split"] == "val")]
                test = merged[defined & (merged["split"] == "test")]
                threshold = youden_threshold(val[task], val[f"p_{task}"])
                runs.append((key, test, threshold))
            rows.append(_all_row(keys, runs, task, calibration_bins, min_cell_count))
            for a, attribute in enumerate(attributes):
                rows.extend(_attribute_rows(keys, runs, task, t, a, attribute, group_order(attribute, age_edges),
                                            calibration_bins, min_cell_count, n_resamples, seed))
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["n_runs"] = table["n_runs"].astype("Int64")
    return table


def _all_row(keys, runs, task, calibration_bins, min_cell_count) -> dict:
    """Every test patient of each run (no bootstrap): the reference the subgroups are read against."""
    per_run = [_group_row(test[task].to_numpy(float), test[f"p_{task}"].to_numpy(float), threshold, calibration_bins,
                          min_cell_count) for _, test, threshold in runs]
    shown = [row for row in per_run if not row["suppressed"]]
    thresholds = [threshold for _, _, threshold in runs if np.isfinite(threshold)]
    row = {**keys, "attribute": ALL, "group": ALL, "n_runs": len(shown), "n_groups": np.nan,
           "suppressed": not shown, "threshold": float(np.mean(thresholds)) if thresholds else np.nan}
    row["n_patients"] = float(np.mean([r["n_patients"] for r in shown])) if shown else np.nan
    row["n_positives"] = float(np.mean([r["n_positives"] for r in shown])) if shown else np.nan
    row.update(_metric_columns({m: [r[m] for r in shown] for m in METRICS},
                               {m: [None] * len(shown) for m in METRICS}))
    return row


def _attribute_rows(keys, runs, task, task_index, attribute_index, attribute, order, calibration_bins,
                    min_cell_count, n_resamples, seed) -> list[dict]:
    tables, group_draws, gap_draws, gap_full, n_groups = [], [], [], [], []
    for (split_seed, init_seed), test, threshold in runs:
        y, p = test[task].to_numpy(float), test[f"p_{task}"].to_numpy(float)
        groups = test[attribute].fillna(UNKNOWN).to_numpy(dtype=object)
        rng = np.random.default_rng(run_seed(seed, (split_seed, init_seed, task_index, attribute_index,
                                                    zlib.crc32(groups.astype(str).tobytes())), y))
        table, draws, gaps = attribute_bootstrap(y, p, groups, threshold, calibration_bins, min_cell_count,
                                                 n_resamples, rng)
        tables.append(table.set_index("group"))
        group_draws.append(draws)
        gap_draws.append(gaps)
        gap_full.append(max_min_gap(table))
        n_groups.append(int((~table["suppressed"].astype(bool)).sum()))
    rows = []
    present = [g for g in order if any(g in table.index for table in tables)]
    present += sorted({g for table in tables for g in table.index} - set(present))
    for group in present:
        shown = [r for r, table in enumerate(tables) if group in table.index and not table.loc[group, "suppressed"]]
        row = {**keys, "attribute": attribute, "group": group, "n_runs": len(shown), "n_groups": np.nan,
               "suppressed": not shown, "threshold": np.nan}
        row["n_patients"] = float(np.mean([tables[r].loc[group, "n_patients"] for r in shown])) if shown else np.nan
        row["n_positives"] = float(np.mean([tables[r].loc[group, "n_positives"] for r in shown])) if shown else np.nan
        row.update(_metric_columns({m: [tables[r].loc[group, m] for r in shown] for m in METRICS},
                                   {m: [group_draws[r][group][m] for r in shown] for m in METRICS}))
        rows.append(row)
    defined = [r for r, gap in enumerate(gap_full) if np.isfinite(gap["auprc"])]
    row = {**keys, "attribute": attribute, "group": GAP, "n_runs": len(defined),
           "n_groups": float(np.mean([n_groups[r] for r in defined])) if defined else np.nan,
           "n_patients": np.nan, "n_positives": np.nan, "suppressed": not defined, "threshold": np.nan}
    row.update(_metric_columns({m: [gap_full[r][m] for r in defined] for m in METRICS},
                               {m: [gap_draws[r][m] for r in defined] for m in METRICS}))
    rows.append(row)
    return rows


def fairness_files(prediction_paths: Mapping[tuple[str, str], Sequence[str | Path]], labels_path: str | Path,
                   split_paths: Sequence[str | Path], run_keys: Sequence[Sequence[int]], cohort_path: str | Path,
                   out: str | Path, attributes: Sequence[str] = ATTRIBUTES, age_edges: Sequence[float] = AGE_EDGES,
                   calibration_bins: int = 10, min_cell_count: int = 1, n_resamples: int = 1000,
                   seed: int = 0) -> pd.DataFrame:
    """``fairness`` on the workflow's files; writes ``out`` (results/fairness.csv)."""
    predictions = {name: [pd.read_parquet(path) for path in paths] for name, paths in prediction_paths.items()}
    cohort = pd.read_parquet(cohort_path, columns=["subject_id", "age", "gender", "race"])
    labels = pd.read_parquet(labels_path)
    table = fairness(predictions, labels, [pd.read_parquet(path) for path in split_paths],
                     run_keys, demographic_groups(cohort, attributes, age_edges), attributes, age_edges,
                     calibration_bins, min_cell_count, n_resamples, seed)
    log.info("fairness of %d model variants × %d tasks × %d attributes over %d runs, %d resamples",
             len(predictions), len(binary_task_names(labels.columns)), len(attributes), len(split_paths), n_resamples)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return table
