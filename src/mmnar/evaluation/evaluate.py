"""Test-split metrics of every run and prediction variant of a model, and the synthetic oracle.

Evaluation reads prediction files only. A single-modality reference predicts NaN for patients
without its modality; they are left out and ``n_patients`` says how many were evaluated.

Each task is scored by its type (:func:`mmnar.metrics.metrics_of`): AUC, AUPRC and Brier for a binary
task; macro AUROC and AUPRC for a multi-label task, plus each label's AUC and AUPRC as task
``<task>.<label>``; accuracy, macro F1, quadratic κ and one-vs-rest macro AUROC for a multi-class task.
The run's tasks are those of ``labels.parquet`` that the prediction file predicts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.tasks import MULTILABEL, TASKS, metrics_of, tasks_in
from mmnar.metrics import task_metrics
from mmnar.io import atomic_path

METRIC_COLUMNS = ["model", "scenario", "variant", "split_seed", "init_seed", "task", "metric", "value", "n_patients"]


def test_metrics(predictions: pd.DataFrame, labels: pd.DataFrame, split: pd.DataFrame, **keys) -> pd.DataFrame:
    """Each task's metrics on the test patients with a defined label and a prediction."""
    frame = split[split["split"] == "test"].merge(labels, on="subject_id").merge(
        predictions.drop(columns=["split"], errors="ignore"), on="subject_id")
    rows = []
    for task in tasks_in(labels.columns):
        if not set(task.prediction_columns) <= set(frame.columns):
            continue                                     # e.g. the oracle of a task the generator has no truth for
        y = frame[list(task.label_columns)].to_numpy(dtype=float)
        p = frame[list(task.prediction_columns)].to_numpy(dtype=float)
        keep = np.isfinite(p).all(axis=1) & np.isfinite(y).any(axis=1)
        scored = {task.name: metrics_of(task, y[keep], p[keep])}
        if task.type == MULTILABEL:
            scored |= {column: {m: v for m, v in task_metrics(y[keep, k], p[keep, k]).items() if m != "brier"}
                       for k, column in enumerate(task.label_columns)}
        for name, metrics in scored.items():
            rows.extend({**keys, "task": name, "metric": metric, "value": value, "n_patients": int(keep.sum())}
                        for metric, value in metrics.items())
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def evaluate_model(runs: Sequence[Mapping], labels_path: Path, out: Path) -> pd.DataFrame:
    """Metrics of every run of one model. Each run: ``model, scenario, split_seed, init_seed``,
    ``split`` (its split file) and ``variants`` (``{variant: predictions file}``)."""
    labels = pd.read_parquet(labels_path)
    tables = []
    for run in runs:
        split = pd.read_parquet(run["split"])
        keys = {k: run[k] for k in ("model", "scenario", "split_seed", "init_seed")}
        for variant, path in run["variants"].items():
            tables.append(test_metrics(pd.read_parquet(path), labels, split, **keys, variant=variant))
    table = pd.concat(tables, ignore_index=True)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    return table


ORACLE_VARIANTS = {"ground_truth": "p_", "recorded": "p_recorded_", "recorded_no_delta": "p_recorded_no_delta_"}
"""Ceilings in ``ground_truth.parquet``: the true probabilities (they know the hidden component), and
the best given the latent severity, the recorded covariates and δ, or without δ."""


def oracle_predictions(ground_truth: pd.DataFrame, prefix: str = "p_") -> pd.DataFrame:
    """One set of ground-truth probabilities as if they were a model's predictions (the generator's
    binary tasks; it writes none for the others)."""
    names = [name for name in TASKS if f"{prefix}{name}" in ground_truth.columns]
    return ground_truth[["subject_id", *[f"{prefix}{n}" for n in names]]].rename(
        columns={f"{prefix}{n}": f"p_{n}" for n in names})


def evaluate_oracle(ground_truth_path: Path, labels_path: Path, split_paths: Mapping[int, Path], out: Path) -> None:
    """Best achievable metrics on each split's test patients: the ceilings every model is read against."""
    ground_truth = pd.read_parquet(ground_truth_path)
    labels = pd.read_parquet(labels_path)
    table = pd.concat([test_metrics(oracle_predictions(ground_truth, prefix), labels, pd.read_parquet(path),
                                    model="oracle", scenario="observed", variant=variant, split_seed=seed, init_seed=-1)
                       for variant, prefix in ORACLE_VARIANTS.items() for seed, path in split_paths.items()],
                      ignore_index=True)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
