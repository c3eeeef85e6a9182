"""Paper tables: mean and sd over seeds of every task × metric, as CSV and markdown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmnar import TASKS
from mmnar.io import atomic_path

METRICS = ("auc", "auprc", "brier")

ROW_LABELS = {
    ("basic_concat", "raw"): "Concatenation baseline (zero imputation)",
    ("mmnar_fusion", "raw"): "+ MMNAR fusion",
    ("crl_mmnar", "raw"): "+ reconstruction (CRL-MMNAR, no rectifier)",
    ("crl_mmnar", "rectified"): "CRL-MMNAR (+ rectifier)",
    ("crl_mmnar", "paper_crossfit_test"): "CRL-MMNAR (+ rectifier cross-fitted on test: paper protocol, uses test labels)",
    ("oracle", "ground_truth"): "Oracle (true probabilities, synthetic only)",
}
"""Readable row names; the ablation order of the paper's Table 2."""


def summarise(metrics: pd.DataFrame, rows: list[tuple[str, str]]) -> pd.DataFrame:
    """One row per (model, variant) in ``rows`` order: ``<task>_<metric>_{mean,sd}`` and ``n_seeds``."""
    present = [r for r in rows if ((metrics["model"] == r[0]) & (metrics["variant"] == r[1])).any()]
    grouped = metrics.groupby(["model", "variant", "task", "metric"])["value"]
    stats = grouped.agg(["mean", "std"]).reset_index()
    seeds = metrics.groupby(["model", "variant"])["seed"].nunique()
    table = []
    for model, variant in present:
        row = {"model": model, "variant": variant, "label": ROW_LABELS.get((model, variant), f"{model} ({variant})"),
               "n_seeds": int(seeds[(model, variant)])}
        sub = stats[(stats["model"] == model) & (stats["variant"] == variant)].set_index(["task", "metric"])
        for task in TASKS:
            for metric in METRICS:
                mean, sd = sub.loc[(task, metric), ["mean", "std"]] if (task, metric) in sub.index else (float("nan"),) * 2
                row[f"{task}_{metric}_mean"] = mean
                row[f"{task}_{metric}_sd"] = sd
        table.append(row)
    return pd.DataFrame(table)


def to_markdown(table: pd.DataFrame) -> str:
    """``mean ± sd`` cells, tasks × metrics as columns, ready to paste into a paper draft."""
    header = ["Model"] + [f"{task} {metric.upper() if metric != 'brier' else 'Brier'}"
                          for task in TASKS for metric in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [row["label"]] + [f"{row[f'{t}_{m}_mean']:.3f} ± {row[f'{t}_{m}_sd']:.3f}"
                                  for t in TASKS for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_table(metric_paths: list[Path], rows: list[tuple[str, str]], out_csv: Path, out_md: Path) -> pd.DataFrame:
    metrics = pd.concat([pd.read_csv(p) for p in metric_paths], ignore_index=True)
    table = summarise(metrics, rows)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_md) as tmp:
        tmp.write_text(to_markdown(table))
    return table
