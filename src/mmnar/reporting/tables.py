"""Paper tables: mean and sd over runs of every task × metric, as CSV and markdown.

Rows and their labels come from the model registry; the table states what the sd is over
(split seeds × initialisation seeds) and how many test patients each row was evaluated on, so a
single-modality reference (only the patients with its modality) is read as such. With the paired
comparisons (``results/comparisons.csv``, ``mmnar.evaluation.paired``) each row also gets its AUC
difference to the first reference model with the 95 % paired bootstrap CI, and with the leakage
audit every cell of a task whose inputs see the outcome is marked as not a prediction result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
ORACLE_LABELS = {
    "ground_truth": "Oracle (true probabilities, synthetic only)",
    "recorded": "Ceiling: recorded state + δ (hidden component integrated out, synthetic only)",
    "recorded_no_delta": "Ceiling: recorded state without δ (synthetic only)",
}
"""The synthetic generator's reference rows (``mmnar.evaluation.evaluate.ORACLE_VARIANTS``)."""


def row_label(model: str, variant: str) -> str:
    if model == "oracle":
        return ORACLE_LABELS[variant]
    return get_spec(model).label + VARIANT_LABELS.get(variant, f" ({variant})")


def table1_rows(models: Sequence[str], rectified: Sequence[str], paper_variant: bool, oracle: bool) -> list[list[str]]:
    """Every configured model (raw), then the rectified variants, then the oracle and the ceilings."""
    rows = [[m, "raw"] for m in models]
    rows += [[m, "rectified"] for m in rectified if m in models]
    if paper_variant:
        rows += [[m, "paper_crossfit_test"] for m in rectified if m in models]
    return rows + ([["oracle", variant] for variant in ORACLE_LABELS] if oracle else [])


def table2_rows(models: Sequence[str]) -> list[list[str]]:
    return [[m, v] for m, v in ABLATION_LABELS if m in models]


def leaked_tasks(audit: pd.DataFrame) -> dict[str, list[str]]:
    """Task → the leakage-audit checks that flag it (``leaks`` true), e.g. ``notes mention death (T/R)``;
    only tasks with at least one."""
    flagged = audit[audit["leaks"].map(lambda value: str(value).strip().lower() == "true")]
    leaks = {}
    for task in TASK_NAMES:
        rows = flagged[flagged["task"] == task]
        checks = []
        for check in dict.fromkeys(rows["check"]):
            modalities = [m for m in rows.loc[rows["check"] == check, "modality"] if m != "all"]
            checks.append(check + (f" ({'/'.join(modalities)})" if modalities else ""))
        if checks:
            leaks[task] = checks
    return leaks


def add_differences(table: pd.DataFrame, comparisons: pd.DataFrame, reference: str) -> pd.DataFrame:
    """``<task>_auc_diff`` and its ``_ci_low``/``_ci_high``: each row's paired AUC difference to the
    raw ``reference`` (empty for the reference itself and for rows without predictions, the oracle)."""
    auc = comparisons[(comparisons["reference"] == reference) & (comparisons["metric"] == "auc")]
    auc = auc.set_index(["model", "variant", "task"])
    table = table.copy()
    table["auc_diff_reference"] = reference
    for task in TASK_NAMES:
        for column, source in (("auc_diff", "difference"), ("auc_diff_ci_low", "ci_low"),
                               ("auc_diff_ci_high", "ci_high")):
            table[f"{task}_{column}"] = [
                float(auc.loc[(model, variant, task), source]) if (model, variant, task) in auc.index else float("nan")
                for model, variant in zip(table["model"], table["variant"])]
    return table


def summarise(metrics: pd.DataFrame, rows: Sequence[Sequence[str]], labels: dict | None = None,
              comparisons: pd.DataFrame | None = None, reference: str | None = None,
              audit: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (model, variant) in ``rows`` order: ``<task>_<metric>_{mean,sd}``, the number of
    split and initialisation seeds the sd is over, and the mean number of test patients.

    With ``comparisons`` and ``reference``: ``<task>_auc_diff{,_ci_low,_ci_high}`` (``add_differences``).
    With the leakage ``audit``: ``<task>_leaked``, true for a task any audit check flags."""
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
    table = pd.DataFrame(table)
    if comparisons is not None and reference is not None:
        table = add_differences(table, comparisons, reference)
    if audit is not None:
        leaks = leaked_tasks(audit)
        for task in TASK_NAMES:
            table[f"{task}_leaked"] = task in leaks
    return table


def _number(value: float) -> str:
    return f"{value:.3f}".replace("-", "\u2212")


def to_markdown(table: pd.DataFrame, leaks: Mapping[str, Sequence[str]] | None = None) -> str:
    """``mean ± sd`` cells, tasks × metrics as columns, ready to paste into a paper draft.

    An AUC cell with a paired difference reads ``0.758 ± 0.026 (Δ −0.012 [−0.030, 0.006])``; the
    cells of a task marked ``<task>_leaked`` get a ``†`` and a footnote naming the checks in ``leaks``.
    """
    header = ["Model", "Test patients", "sd over"] + [
        f"{task} {metric.upper() if metric != 'brier' else 'Brier'}" for task in TASK_NAMES for metric in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    leaked = [t for t in TASK_NAMES if f"{t}_leaked" in table and table[f"{t}_leaked"].astype(bool).any()]
    differences = False

    def cell(row, task: str, metric: str) -> str:
        nonlocal differences
        text = f"{row[f'{task}_{metric}_mean']:.3f} ± {row[f'{task}_{metric}_sd']:.3f}"
        diff = row.get(f"{task}_{metric}_diff", float("nan"))
        if pd.notna(diff):
            differences = True
            text += (f" (Δ {_number(diff)} [{_number(row[f'{task}_{metric}_diff_ci_low'])}, "
                     f"{_number(row[f'{task}_{metric}_diff_ci_high'])}])")
        return text + (" †" if task in leaked else "")

    for _, row in table.iterrows():
        cells = [row["label"], f"{row['n_test_patients']:.0f}", row["sd_over"]] + [
            cell(row, t, m) for t in TASK_NAMES for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    notes = []
    if differences:
        reference = table["auc_diff_reference"].iloc[0]
        own = table.loc[(table["model"] == reference) & (table["variant"] == "raw"), "label"]
        to = own.iloc[0] if len(own) else row_label(reference, "raw")
        notes.append(f"Δ: paired difference in test AUC to {to} on the same test patients (mean over runs; "
                     "95 % paired bootstrap CI over test patients; results/comparisons.csv).")
    for task in leaked:
        checks = ", ".join((leaks or {}).get(task, [])) or "flagged by results/leakage_audit.csv"
        notes.append(f"† leaked: {task}: {checks}; not a prediction result.")
    return "\n".join(lines) + "\n" + ("\n" + "\n\n".join(notes) + "\n" if notes else "")


def write_table(metric_paths: Sequence[Path], rows: Sequence[Sequence[str]], out_csv: Path, out_md: Path,
                labels: dict | None = None, comparisons_path: Path | None = None, reference: str | None = None,
                audit_path: Path | None = None) -> pd.DataFrame:
    metrics = pd.concat([pd.read_csv(p) for p in metric_paths], ignore_index=True)
    comparisons = pd.read_csv(comparisons_path) if comparisons_path else None
    audit = pd.read_csv(audit_path) if audit_path else None
    table = summarise(metrics, rows, labels, comparisons, reference, audit)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_md) as tmp:
        tmp.write_text(to_markdown(table, leaked_tasks(audit) if audit is not None else None))
    return table
