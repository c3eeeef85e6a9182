"""Test metrics with bootstrap CIs of models trained or evaluated under a modality scenario.

Table 3 (performance by modality configuration) and the missing-ratio robustness sweep read a set of
*cells* (a model under a scenario and protocol, one prediction file per run) and report, per cell and
task, the test AUC and AUPRC: the mean over runs of each run's full-sample value, and a 95 % CI over
test patients.

The CI is the class-stratified bootstrap of :mod:`mmnar.evaluation.paired`, for one model: per run,
the test patients with a defined label and a finite prediction are resampled ``n_resamples`` times
within each outcome class (every replicate keeps the run's class counts, so AUC and AUPRC are always
defined), the metric of each replicate is averaged over runs, and the CI is the 2.5 and 97.5
percentiles of those averages. A run's resamples are seeded by the seed (``reporting.bootstrap_seed``),
the run (split and initialisation seed) and its patient set (their labels), so every model on the same
test patients is scored on the same resamples. A run whose patients hold a single class is left out
and ``n_runs`` says how many remain.

The cells themselves (:func:`table3_cells`, :func:`robustness_cells`), which scenario each cell's
models are trained under and which prediction file each cell and run reads (:func:`cell_files`) are
listed here too, so the workflow's rules only name the paths.

Metrics on a resample come from ranks of the resampled predictions (midranks for ties): AUC as the
Mann–Whitney statistic, AUPRC as scikit-learn's average precision (each positive's precision at its own
threshold, ties included), equal to ``roc_auc_score`` and ``average_precision_score`` on the resampled
arrays (tests/test_scenarios.py).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from mmnar.data.tasks import TASK_NAMES
from mmnar.model_input.scenarios import OBSERVED, configuration_scenario, ratio_scenario

METRICS = ("auc", "auprc")
COLUMNS = ["task", "metric", "estimate", "ci_low", "ci_high", "n_patients", "n_runs"]
"""What :func:`bootstrap_ci` rows hold after the cell's own keys."""
TRAINED_AND_EVALUATED = "trained_and_evaluated"
EVALUATED_ONLY = "evaluated_only"
PROTOCOLS = (TRAINED_AND_EVALUATED, EVALUATED_ONLY)
"""Table 3's protocols: trained and tested under the scenario (the paper's), or the ordinary model
(trained on every modality) tested under it."""


def table3_cells(models: Sequence[str], configurations: Sequence[str], modalities: Sequence[str]) -> list[dict]:
    """Table 3's cells in row order: every model × configuration × protocol, with its scenario."""
    return [{"model": model, "configuration": configuration,
             "scenario": configuration_scenario(configuration, modalities), "protocol": protocol}
            for model in models for configuration in configurations for protocol in PROTOCOLS]


def robustness_cells(models: Sequence[str], modality: str, ratios: Sequence[float]) -> list[dict]:
    """The missing-ratio sweep's cells: every model × ratio, trained and tested under ``drop_<m>_<ratio>``
    (ratio 0: the ordinary model)."""
    return [{"model": model, "modality": modality, "ratio": float(ratio), "scenario": ratio_scenario(modality, ratio),
             "protocol": TRAINED_AND_EVALUATED} for model in models for ratio in ratios]


def sweep_runs(split_seeds: Sequence[int] | None, main_split_seeds: Sequence[int], init_seeds: Sequence[int]
               ) -> dict[str, list[int]]:
    """The (split seed, initialisation seed) runs of a sweep, zipped as ``{"split": [...], "init": [...]}``:
    its split seeds (None: the first of the main run's) × every initialisation seed."""
    seeds = list(split_seeds or main_split_seeds[:1])
    return {"split": [s for s in seeds for _ in init_seeds], "init": [i for _ in seeds for i in init_seeds]}


def trained_scenarios(cells: Sequence[Mapping]) -> list[str]:
    """The scenarios the cells' models are trained under, in order: not ``observed`` (the ordinary models)
    and not an ``evaluated_only`` cell's (the ordinary model, tested under it)."""
    return list(dict.fromkeys(c["scenario"] for c in cells
                              if c["scenario"] != OBSERVED and c["protocol"] != EVALUATED_ONLY))


def run_files(pattern: str, scenarios: Sequence[str], runs: Mapping[str, Sequence[int]]) -> list[str]:
    """``pattern`` (``{scenario}``, ``{split}``, ``{init}``) for every scenario × run; ``{model}`` stays a wildcard."""
    return [pattern.format(scenario=scenario, split=split, init=init, model="{model}")
            for scenario in scenarios for split, init in zip(runs["split"], runs["init"])]


def cell_files(cells: Sequence[Mapping], runs: Mapping[str, Sequence[int]], ordinary: str, trained: str) -> list[str]:
    """The prediction file of every cell and run, cells after each other: ``ordinary`` (a pattern with
    ``{model}``, ``{scenario}``, ``{split}``, ``{init}``) for the ordinary model, under ``observed`` or, in an
    ``evaluated_only`` cell, under the cell's scenario; else ``trained``, the model trained under it."""
    return [(ordinary if cell["scenario"] == OBSERVED or cell["protocol"] == EVALUATED_ONLY else trained).format(
                model=cell["model"], scenario=cell["scenario"], split=split, init=init)
            for cell in cells for split, init in zip(runs["split"], runs["init"])]


def stratified_indices(y: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """``(n_resamples, n)`` indices into ``y``: each row draws, with replacement, as many patients of
    each class as ``y`` holds (positives first, then negatives)."""
    y = np.asarray(y)
    blocks = [members[rng.integers(0, len(members), size=(n_resamples, len(members)))]
              for members in (np.flatnonzero(y == 1), np.flatnonzero(y != 1))]
    return np.concatenate(blocks, axis=1)


def resampled_metrics(y: np.ndarray, p: np.ndarray, index: np.ndarray) -> dict[str, np.ndarray]:
    """AUC and AUPRC of ``p`` on each row of ``index`` (a resample of the patients; ``np.arange(n)[None]``
    is the full sample). NaN for a row without both classes."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    index = np.atleast_2d(index)
    yb, pb = y[index] == 1, p[index]
    n = index.shape[1]
    n_pos = yb.sum(axis=1)
    n_neg = n - n_pos
    with np.errstate(invalid="ignore", divide="ignore"):
        ranks = rankdata(pb, method="average", axis=1)
        auc = ((ranks * yb).sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        # average precision: each positive's precision among the patients scored at least as high
        at_least = n - (rankdata(pb, method="min", axis=1) - 1)
        negatives_low = np.where(yb, pb, -np.inf)              # negatives rank below every positive
        positives_at_least = n_pos[:, None] - (rankdata(negatives_low, method="min", axis=1) - 1 - n_neg[:, None])
        auprc = (np.where(yb, positives_at_least / at_least, 0.0)).sum(axis=1) / n_pos
    undefined = (n_pos == 0) | (n_neg == 0)
    auc[undefined] = auprc[undefined] = np.nan
    return {"auc": np.asarray(auc, dtype=float), "auprc": np.asarray(auprc, dtype=float)}


def run_rng(seed: int, run_key: Sequence[int], y: np.ndarray) -> np.random.Generator:
    """The resample stream of one run's patient set: the seed, the run and the set's labels."""
    y = np.asarray(y, dtype=np.float64)
    entropy = [int(seed), *map(int, run_key), zlib.crc32(y.tobytes()), len(y)]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def bootstrap_ci(runs: Sequence[tuple[Sequence[int], np.ndarray, np.ndarray]], n_resamples: int = 1000,
                 seed: int = 0) -> list[dict]:
    """One row per metric (``COLUMNS[1:]``) from ``runs`` of ``(run_key, y, p)``: the mean over runs of the
    full-sample metric and the 95 % CI of the bootstrap replicates averaged over runs. Patients with an
    undefined label or a non-finite prediction are left out of their run."""
    full, draws, sizes = {m: [] for m in METRICS}, {m: [] for m in METRICS}, []
    for key, y, p in runs:
        y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
        keep = np.isfinite(y) & np.isfinite(p)
        y, p = y[keep], p[keep]
        if not 0 < y.sum() < len(y):                         # one class (or none): AUC undefined
            continue
        whole = resampled_metrics(y, p, np.arange(len(y))[None])
        replicates = resampled_metrics(y, p, stratified_indices(y, n_resamples, run_rng(seed, key, y)))
        for metric in METRICS:
            full[metric].append(whole[metric][0])
            draws[metric].append(replicates[metric])
        sizes.append(len(y))
    rows = []
    for metric in METRICS:
        if not full[metric]:
            rows.append({"metric": metric, "estimate": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "n_patients": np.nan, "n_runs": 0})
            continue
        low, high = np.percentile(np.mean(draws[metric], axis=0), [2.5, 97.5])
        rows.append({"metric": metric, "estimate": float(np.mean(full[metric])), "ci_low": float(low),
                     "ci_high": float(high), "n_patients": float(np.mean(sizes)), "n_runs": len(full[metric])})
    return rows


def held_out_patients(split: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The run's test patients with their labels, by ``subject_id``."""
    return (split.loc[split["split"] == "test", ["subject_id"]]
            .merge(labels[["subject_id", *TASK_NAMES]], on="subject_id").sort_values("subject_id"))


def cell_metrics(cells: Sequence[Mapping], labels: pd.DataFrame, splits: Sequence[pd.DataFrame],
                 run_keys: Sequence[Sequence[int]], n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every cell's AUC and AUPRC per task with the bootstrap CI: the cell's own keys, then ``COLUMNS``.

    Each cell is a mapping with ``predictions`` (one file or frame ``subject_id, p_<task>`` per run, in
    the order of ``splits`` and ``run_keys``) and any other keys, copied to its rows (model,
    configuration, protocol, …). Cells sharing prediction files share their computation."""
    tests = [held_out_patients(split, labels) for split in splits]
    frames: dict[str, pd.DataFrame] = {}
    done: dict[tuple, list[dict]] = {}
    rows = []
    for cell in cells:
        sources = list(cell["predictions"])
        if len(sources) != len(tests):
            raise ValueError(f"cell {dict((k, v) for k, v in cell.items() if k != 'predictions')} has "
                             f"{len(sources)} prediction files for {len(tests)} runs")
        keys = {k: v for k, v in cell.items() if k != "predictions"}
        for task in TASK_NAMES:
            memo = (tuple(str(s) if not isinstance(s, pd.DataFrame) else id(s) for s in sources), task)
            if memo not in done:
                runs = []
                for source, test, key in zip(sources, tests, run_keys):
                    if isinstance(source, pd.DataFrame):
                        frame = source
                    else:
                        if str(source) not in frames:
                            frames[str(source)] = pd.read_parquet(source).set_index("subject_id")
                        frame = frames[str(source)]
                    frame = frame.set_index("subject_id") if "subject_id" in frame.columns else frame
                    p = frame[f"p_{task}"].reindex(test["subject_id"].to_numpy()).to_numpy(dtype=float)
                    runs.append((key, test[task].to_numpy(dtype=float), p))
                done[memo] = bootstrap_ci(runs, n_resamples, seed)
            rows.extend({**keys, "task": task, **row} for row in done[memo])
    return pd.DataFrame(rows, columns=[*(k for k in cells[0] if k != "predictions"), *COLUMNS] if cells else COLUMNS)
