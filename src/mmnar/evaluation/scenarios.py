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

Resamples and metrics are :mod:`mmnar.evaluation.paired`'s own (``resample_counts``, ``weighted_metrics``,
``combine_intervals``), so a cell under the observed scenario gets the interval of
``results/model_intervals.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from mmnar.data.tasks import binary_task_names
from mmnar.evaluation.paired import combine_intervals, resample_counts, run_seed, weighted_metrics
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


def bootstrap_ci(runs: Sequence[tuple[Sequence[int], np.ndarray, np.ndarray]], n_resamples: int = 1000,
                 seed: int = 0) -> list[dict]:
    """One row per metric (``COLUMNS[1:]``) from ``runs`` of ``(run_key, y, p)``: the mean over runs of the
    full-sample metric and the 95 % CI of the bootstrap replicates averaged over runs. Patients with an
    undefined label or a non-finite prediction are left out of their run."""
    scored = []
    for key, y, p in runs:
        y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
        keep = np.isfinite(y) & np.isfinite(p)
        y, p = y[keep], p[keep]
        if not 0 < y.sum() < len(y):                         # one class (or none): AUC undefined
            continue
        whole = weighted_metrics(y, p, np.ones((1, len(y)), dtype=np.int32))
        counts = resample_counts(y, n_resamples, np.random.default_rng(run_seed(seed, key, y)))
        scored.append(({m: float(v[0]) for m, v in whole.items()}, weighted_metrics(y, p, counts), len(y)))
    return [row for row in combine_intervals(scored) if row["metric"] in METRICS]


def held_out_patients(split: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The run's test patients with their labels, by ``subject_id``."""
    return (split.loc[split["split"] == "test", ["subject_id"]]
            .merge(labels[["subject_id", *binary_task_names(labels.columns)]], on="subject_id").sort_values("subject_id"))


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
        for task in binary_task_names(labels.columns):
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
