"""Paper tables: mean and sd over runs of every task × metric, as CSV and markdown.

Rows and their labels come from the model registry; the table states what the sd is over
(split seeds × initialisation seeds) and how many test patients each row was evaluated on, so a
single-modality reference (only the patients with its modality) is read as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from mmnar.data.tasks import TASK_NAMES
from mmnar.io import atomic_path
from mmnar.models.registry import get as get_spec

METRICS = ("auc", "auprc", "brier")

VARIANT_LABELS = {
    "raw": "",
    "rectified": " + rectifier",
    "paper_crossfit_test": " + rectifier cross-fitted on test (paper protocol, uses test labels)",
}
ABLATION_LABELS = {
    ("basic_concat", "raw"): "Concatenation baseline (zero imputation)",
    ("mmnar_fusion", "raw"): "+ MMNAR fusion",
    ("crl_mmnar", "raw"): "+ reconstruction (CRL-MMNAR, no rectifier)",
    ("crl_mmnar", "rectified"): "CRL-MMNAR (+ rectifier)",
}
"""Table 2 reads as the paper's ablation: each row adds one component to the one above."""
ORACLE = ("oracle", "ground_truth")


def row_label(model: str, variant: str) -> str:
    if (model, variant) == ORACLE:
        return "Oracle (true probabilities, synthetic only)"
    return get_spec(model).label + VARIANT_LABELS.get(variant, f" ({variant})")


def table1_rows(models: Sequence[str], rectified: Sequence[str], paper_variant: bool, oracle: bool) -> list[list[str]]:
    """Every configured model (raw), then the rectified variants, then the oracle."""
    rows = [[m, "raw"] for m in models]
    rows += [[m, "rectified"] for m in rectified if m in models]
    if paper_variant:
        rows += [[m, "paper_crossfit_test"] for m in rectified if m in models]
    return rows + ([list(ORACLE)] if oracle else [])


def table2_rows(models: Sequence[str]) -> list[list[str]]:
    return [[m, v] for m, v in ABLATION_LABELS if m in models]


def summarise(metrics: pd.DataFrame, rows: Sequence[Sequence[str]], labels: dict | None = None) -> pd.DataFrame:
    """One row per (model, variant) in ``rows`` order: ``<task>_<metric>_{mean,sd}``, the number of
    split and initialisation seeds the sd is over, and the mean number of test patients."""
    labels = dict(labels or {})
    for model, variant in rows:  # a model shown with and without the rectifier says which row is which
        if variant == "rectified" and (model, "raw") not in labels and [model, "raw"] in [list(r) for r in rows]:
            labels[(model, "raw")] = row_label(model, "raw") + " (no rectifier)"
    metrics = metrics[metrics["scenario"] == "observed"]
    stats = metrics.groupby(["model", "variant", "task", "metric"])["value"].agg(["mean", "std"])
    table = []
    for model, variant in rows:
        sub = metrics[(metrics["model"] == model) & (metrics["variant"] == variant)]
        if sub.empty:
            continue
        n_splits, n_inits = sub["split_seed"].nunique(), sub["init_seed"].nunique()
        row = {"model": model, "variant": variant, "label": labels.get((model, variant), row_label(model, variant)),
               "n_splits": n_splits, "n_inits": n_inits,
               "sd_over": f"{n_splits} split{'s' * (n_splits > 1)} × {n_inits} init{'s' * (n_inits > 1)}",
               "n_test_patients": float(sub.groupby(["split_seed", "init_seed"])["n_patients"].max().mean())}
        for task in TASK_NAMES:
            for metric in METRICS:
                key = (model, variant, task, metric)
                mean, sd = stats.loc[key, ["mean", "std"]] if key in stats.index else (float("nan"),) * 2
                row[f"{task}_{metric}_mean"], row[f"{task}_{metric}_sd"] = mean, sd
        table.append(row)
    return pd.DataFrame(table)


def to_markdown(table: pd.DataFrame) -> str:
    """``mean ± sd`` cells, tasks × metrics as columns, ready to paste into a paper draft."""
    header = ["Model", "Test patients", "sd over"] + [
        f"{task} {metric.upper() if metric != 'brier' else 'Brier'}" for task in TASK_NAMES for metric in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [row["label"], f"{row['n_test_patients']:.0f}", row["sd_over"]] + [
            f"{row[f'{t}_{m}_mean']:.3f} ± {row[f'{t}_{m}_sd']:.3f}" for t in TASK_NAMES for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(metric_paths: Sequence[Path], rows: Sequence[Sequence[str]], out_csv: Path, out_md: Path,
                labels: dict | None = None) -> pd.DataFrame:
    metrics = pd.concat([pd.read_csv(p) for p in metric_paths], ignore_index=True)
    table = summarise(metrics, rows, labels)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_md) as tmp:
        tmp.write_text(to_markdown(table))
    return table
