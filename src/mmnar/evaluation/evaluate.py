"""Test-split metrics of every run and prediction variant of a model, and the synthetic oracle.

Evaluation reads prediction files only. A single-modality reference predicts NaN for patients
without its modality; they are left out and ``n_patients`` says how many were evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.tasks import TASK_NAMES
from mmnar.metrics import task_metrics
from mmnar.io import atomic_path

METRIC_COLUMNS = ["model", "scenario", "variant", "split_seed", "init_seed", "task", "metric", "value", "n_patients"]


def test_metrics(predictions: pd.DataFrame, labels: pd.DataFrame, split: pd.DataFrame, **keys) -> pd.DataFrame:
    """AUC, AUPRC and Brier per task on the test patients with a defined label and a prediction."""
    frame = split[split["split"] == "test"].merge(labels, on="subject_id").merge(
        predictions.drop(columns=["split"], errors="ignore"), on="subject_id")
    rows = []
    for task in TASK_NAMES:
        y, p = frame[task].to_numpy(dtype=float), frame[f"p_{task}"].to_numpy(dtype=float)
        keep = np.isfinite(y) & np.isfinite(p)
        for metric, value in task_metrics(y[keep], p[keep]).items():
            rows.append({**keys, "task": task, "metric": metric, "value": value, "n_patients": int(keep.sum())})
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
    """One set of ground-truth probabilities as if they were a model's predictions."""
    return ground_truth[["subject_id", *[f"{prefix}{t}" for t in TASK_NAMES]]].rename(
        columns={f"{prefix}{t}": f"p_{t}" for t in TASK_NAMES})


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
