"""Test-split metrics per model, seed and variant, and the oracle from synthetic ground truth."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmnar import TASKS
from mmnar.io import atomic_path
from mmnar.metrics import task_metrics

METRIC_COLUMNS = ["model", "variant", "seed", "task", "metric", "value"]


def test_metrics(predictions: pd.DataFrame, labels: pd.DataFrame, split: pd.DataFrame,
                 model: str, variant: str, seed: int) -> pd.DataFrame:
    """AUC, AUPRC and Brier per task on the test patients; undefined labels are skipped."""
    frame = split[split["split"] == "test"].merge(labels, on="subject_id").merge(
        predictions.drop(columns=["split"], errors="ignore"), on="subject_id")
    rows = []
    for task in TASKS:
        for metric, value in task_metrics(frame[task].to_numpy(), frame[f"p_{task}"].to_numpy()).items():
            rows.append({"model": model, "variant": variant, "seed": seed, "task": task,
                         "metric": metric, "value": value})
    return pd.DataFrame(rows, columns=METRIC_COLUMNS)


def evaluate_run(prediction_paths: dict[str, Path], labels_path: Path, split_path: Path,
                 model: str, seed: int, out: Path) -> None:
    """Metrics of every prediction variant (``raw``, ``rectified``, …) of one trained model."""
    labels = pd.read_parquet(labels_path)
    split = pd.read_parquet(split_path)
    tables = [test_metrics(pd.read_parquet(path), labels, split, model, variant, seed)
              for variant, path in prediction_paths.items()]
    with atomic_path(out) as tmp:
        pd.concat(tables).to_csv(tmp, index=False)


def oracle_predictions(ground_truth: pd.DataFrame) -> pd.DataFrame:
    """The true outcome probabilities as if they were a model's predictions."""
    return ground_truth[["subject_id", *[f"p_{t}" for t in TASKS]]]


def evaluate_oracle(ground_truth_path: Path, labels_path: Path, split_path: Path, seed: int, out: Path) -> None:
    """Best achievable metrics on the same test patients: the ceiling every model is read against."""
    predictions = oracle_predictions(pd.read_parquet(ground_truth_path))
    table = test_metrics(predictions, pd.read_parquet(labels_path), pd.read_parquet(split_path),
                         "oracle", "ground_truth", seed)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
