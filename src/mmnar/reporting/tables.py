"""Paper tables: mean and sd over runs of every task × metric, as CSV, markdown and LaTeX.

Rows and their labels come from the model registry; the table states what the sd is over
(split seeds × initialisation seeds) and how many test patients each row was evaluated on, so a
single-modality reference (only the patients with its modality) is read as such. With the
per-model bootstrap (``results/model_intervals.csv``) each AUC and AUPRC cell gets its 95 % CI over
test patients. With the paired comparisons (``results/comparisons.csv``, ``mmnar.evaluation.paired``)
each row also gets its AUC difference to the first reference model with the 95 % paired bootstrap
CI, and a ``*`` on every cell whose paired permutation test against that reference has p below the
significance level. With the leakage audit every cell of a task whose inputs see the outcome is
marked † as not a prediction result. The best mean of each column is bold, among the rows that are
predictions on every test patient (not the oracle and ceiling rows, not a single-modality reference
evaluated on its own patients, not a variant fitted on test labels), and never in a leaked column.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from mmnar.data.tasks import METRICS_OF_TYPE, TASKS
from mmnar.io import atomic_path
from mmnar.metrics import LOWER_IS_BETTER, METRIC_LABELS
from mmnar.models.registry import get as get_spec
from mmnar.reporting.latex import latex_table


def task_metric_pairs(tasks: Sequence[str]) -> list[tuple[str, str]]:
    """``(task, metric)`` of every column of the tables, registry order, each task's metrics by its type."""
    wanted = set(tasks)
    return [(name, metric) for name, task in TASKS.items() if name in wanted for metric in METRICS_OF_TYPE[task.type]]


def columns_of(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The ``(task, metric)`` pairs ``table`` holds (``<task>_<metric>_mean``)."""
    return [(t, m) for t, m in task_metric_pairs(list(TASKS)) if f"{t}_{m}_mean" in table.columns]


def tasks_of(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(t for t, _ in columns_of(table)))


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
    for task in TASKS:
        rows = flagged[flagged["task"] == task]
        checks = []
        for check in dict.fromkeys(rows["check"]):
            modalities = [m for m in rows.loc[rows["check"] == check, "modality"] if m != "all"]
            checks.append(check + (f" ({'/'.join(modalities)})" if modalities else ""))
        if checks:
            leaks[task] = checks
    return leaks


SIGNIFICANCE_LEVEL = 0.05
"""Default p below which a cell is marked ``*`` (``reporting.significance_level``)."""
NOT_BEST = {"paper_crossfit_test"}
"""Variants that never get the best mark: fitted on the test labels."""
CAPTIONS = {
    "table1": "Test-split performance per task: mean ± sd over runs (split seeds × initialisation seeds) "
              "[95 % bootstrap CI over test patients].",
    "table2": "Ablation of CRL-MMNAR: each row adds one component to the one above; mean ± sd over runs "
              "[95 % bootstrap CI over test patients].",
}
"""Captions of the LaTeX tables (the markdown has none)."""


def add_intervals(table: pd.DataFrame, intervals: pd.DataFrame) -> pd.DataFrame:
    """``<task>_<metric>_ci_low``/``_ci_high``: each row's 95 % bootstrap CI over test patients of its mean
    over runs (``results/model_intervals.csv``; empty for rows without predictions, the oracle)."""
    indexed = intervals.set_index(["model", "variant", "task", "metric"])
    table = table.copy()
    for task, metric in columns_of(table):
        for bound in ("ci_low", "ci_high"):
            table[f"{task}_{metric}_{bound}"] = [
                float(indexed.loc[(model, variant, task, metric), bound])
                if (model, variant, task, metric) in indexed.index else float("nan")
                for model, variant in zip(table["model"], table["variant"])]
    return table


def add_differences(table: pd.DataFrame, comparisons: pd.DataFrame, reference: str) -> pd.DataFrame:
    """``<task>_auc_diff`` and its ``_ci_low``/``_ci_high``: each row's paired AUC difference to the
    raw ``reference`` (empty for the reference itself and for rows without predictions, the oracle);
    ``<task>_<metric>_p_permutation`` for every metric and ``<task>_auc_p_delong``: the p-values of
    the paired permutation test and of DeLong's test against it (when ``comparisons`` has them)."""
    paired = comparisons[comparisons["reference"] == reference]
    if "reference_role" in paired.columns:                   # not the rows where it is the best single-modality one
        roles = paired["reference_role"].map(lambda role: ("configured" if pd.isna(role) else str(role)).split(","))
        paired = paired[roles.map(lambda role: "configured" in role)]
    paired = paired.set_index(["model", "variant", "task", "metric"])
    table = table.copy()
    table["auc_diff_reference"] = reference

    def column(task, metric, source):
        return [float(paired.loc[(model, variant, task, metric), source])
                if (model, variant, task, metric) in paired.index and source in paired.columns else float("nan")
                for model, variant in zip(table["model"], table["variant"])]

    for task in dict.fromkeys(t for t, m in columns_of(table) if m == "auc"):
        for name, source in (("auc_diff", "difference"), ("auc_diff_ci_low", "ci_low"), ("auc_diff_ci_high", "ci_high")):
            table[f"{task}_{name}"] = column(task, "auc", source)
        for metric in METRICS_OF_TYPE["binary"]:
            table[f"{task}_{metric}_p_permutation"] = column(task, metric, "p_permutation")
        table[f"{task}_auc_p_delong"] = column(task, "auc", "p_delong")
    return table


def best_eligible(table: pd.DataFrame) -> pd.Series:
    """Rows that can be best: predictions of a registered model on every test patient."""
    def eligible(model, variant):
        if model == "oracle" or variant in NOT_BEST:
            return False
        try:
            return get_spec(model).restrict_to is None
        except KeyError:
            return False
    return pd.Series([eligible(m, v) for m, v in zip(table["model"], table["variant"])], index=table.index, dtype=bool)


def add_best(table: pd.DataFrame) -> pd.DataFrame:
    """``<task>_<metric>_best``: the row's mean is the column's best (highest AUC and AUPRC, lowest Brier;
    ties all) among at least two ``best_eligible`` rows; false throughout a leaked task (``<task>_leaked``)."""
    table = table.copy()
    eligible = best_eligible(table) if len(table) else pd.Series(dtype=bool)
    for task, metric in columns_of(table):
        leaked = f"{task}_leaked" in table and table[f"{task}_leaked"].astype(bool).any()
        means = table[f"{task}_{metric}_mean"].where(eligible) if len(table) else pd.Series(dtype=float)
        best = means.min() if metric in LOWER_IS_BETTER else means.max()
        table[f"{task}_{metric}_best"] = means.notna() & (means == best) & (means.notna().sum() > 1) & (not leaked)
    return table


def summarise(metrics: pd.DataFrame, rows: Sequence[Sequence[str]], labels: dict | None = None,
              comparisons: pd.DataFrame | None = None, reference: str | None = None,
              audit: pd.DataFrame | None = None, intervals: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (model, variant) in ``rows`` order: ``<task>_<metric>_{mean,sd}``, the number of
    split and initialisation seeds the sd is over, the mean number of test patients and
    ``<task>_<metric>_best`` (``add_best``).

    With ``intervals``: ``<task>_<metric>_ci_{low,high}`` (``add_intervals``). With ``comparisons``
    and ``reference``: ``<task>_auc_diff{,_ci_low,_ci_high}`` and the p-values (``add_differences``).
    With the leakage ``audit``: ``<task>_leaked``, true for a task any audit check flags."""
    labels = dict(labels or {})
    for model, variant in rows:  # a model shown with and without the rectifier says which row is which
        if variant == "rectified" and (model, "raw") not in labels and [model, "raw"] in [list(r) for r in rows]:
            labels[(model, "raw")] = row_label(model, "raw") + " (no rectifier)"
    metrics = metrics[metrics["scenario"] == "observed"]
    pairs = task_metric_pairs(set(metrics["task"]))
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
        for task, metric in pairs:
            key = (model, variant, task, metric)
            mean, sd = stats.loc[key, ["mean", "std"]] if key in stats.index else (float("nan"),) * 2
            row[f"{task}_{metric}_mean"], row[f"{task}_{metric}_sd"] = mean, sd
        table.append(row)
    table = pd.DataFrame(table)
    if intervals is not None:
        table = add_intervals(table, intervals)
    if comparisons is not None and reference is not None:
        table = add_differences(table, comparisons, reference)
    if audit is not None:
        leaks = leaked_tasks(audit)
        for task in dict.fromkeys(t for t, _ in pairs):
            table[f"{task}_leaked"] = task in leaks
    return add_best(table)


def _number(value: float) -> str:
    return f"{value:.3f}".replace("-", "\u2212")


def table_cells(table: pd.DataFrame, leaks: Mapping[str, Sequence[str]] | None = None,
                significance_level: float = SIGNIFICANCE_LEVEL,
                ) -> tuple[list[str], list[list[str]], list[str]]:
    """Header, rows of cell texts and footnotes of ``table``, shared by the markdown and the LaTeX.

    An AUC cell reads ``0.758 ± 0.026 [0.731, 0.785] (Δ −0.012 [−0.030, 0.006])*``: mean ± sd over
    runs, the 95 % bootstrap CI over test patients (``<task>_<metric>_ci_*``; AUC and AUPRC), the
    paired difference to the reference and ``*`` when its permutation p is below
    ``significance_level`` (any metric). The best mean is ``**bold**``; the cells of a task marked
    ``<task>_leaked`` get a ``†`` and a footnote naming the checks in ``leaks``; an undefined mean is ``—``.
    """
    pairs = columns_of(table)
    header = ["Model", "Test patients", "sd over"] + [f"{task} {METRIC_LABELS[metric]}" for task, metric in pairs]
    leaked = [t for t in tasks_of(table) if f"{t}_leaked" in table and table[f"{t}_leaked"].astype(bool).any()]
    shown = {"differences": False, "intervals": False, "significant": False, "best": False, "undefined": False}

    def cell(row, task: str, metric: str) -> str:
        if pd.isna(row[f"{task}_{metric}_mean"]):
            shown["undefined"] = True
            return "—"
        mean = f"{row[f'{task}_{metric}_mean']:.3f}"
        if bool(row.get(f"{task}_{metric}_best", False)):
            shown["best"] = True
            mean = f"**{mean}**"
        sd = row[f"{task}_{metric}_sd"]
        text = mean if pd.isna(sd) else f"{mean} ± {sd:.3f}"  # one run has no sd: the CI still shows its spread
        low, high = row.get(f"{task}_{metric}_ci_low", float("nan")), row.get(f"{task}_{metric}_ci_high", float("nan"))
        if metric not in LOWER_IS_BETTER and pd.notna(low) and pd.notna(high):
            shown["intervals"] = True
            text += f" [{low:.3f}, {high:.3f}]"
        diff = row.get(f"{task}_{metric}_diff", float("nan"))
        if pd.notna(diff):
            shown["differences"] = True
            text += (f" (Δ {_number(diff)} [{_number(row[f'{task}_{metric}_diff_ci_low'])}, "
                     f"{_number(row[f'{task}_{metric}_diff_ci_high'])}])")
        p = row.get(f"{task}_{metric}_p_permutation", float("nan"))
        if pd.notna(p) and p < significance_level:
            shown["significant"] = True
            text += "*"
        return text + (" †" if task in leaked else "")

    rows = [[row["label"], f"{row['n_test_patients']:.0f}", row["sd_over"]] + [
        cell(row, t, m) for t, m in pairs] for _, row in table.iterrows()]
    notes = []
    if shown["intervals"]:
        notes.append("[low, high] after the sd: 95 % bootstrap CI over test patients of the mean over runs (each "
                     "run's test patients resampled within outcome class; results/model_intervals.csv).")
    reference_label = None
    if "auc_diff_reference" in table and len(table):
        reference = table["auc_diff_reference"].iloc[0]
        own = table.loc[(table["model"] == reference) & (table["variant"] == "raw"), "label"]
        reference_label = own.iloc[0] if len(own) else row_label(reference, "raw")
    if shown["differences"]:
        notes.append(f"Δ: paired difference in test AUC to {reference_label} on the same test patients (mean over "
                     "runs; 95 % paired bootstrap CI over test patients; results/comparisons.csv).")
    if shown["significant"]:
        notes.append(f"*: the paired permutation test against {reference_label} (two-sided, each patient's two "
                     f"predictions swapped at random; results/comparisons.csv, p_permutation) gives p < "
                     f"{significance_level:g} for this metric; not adjusted for multiple comparisons.")
    if shown["best"]:
        notes.append("Bold: best mean of the column (highest AUC and AUPRC, lowest Brier) among the models "
                     "evaluated on every test patient (not the oracle and ceiling rows, the single-modality "
                     "references or a variant fitted on test labels); none in a leaked task.")
    if shown["undefined"]:
        notes.append("—: undefined for this row (a synthetic ceiling has no truth for a task the generator does "
                     "not model as a probability, e.g. the phenotypes and the remaining stay; or no test patient).")
    for task in leaked:
        checks = ", ".join((leaks or {}).get(task, [])) or "flagged by results/leakage_audit.csv"
        notes.append(f"† leaked: {task}: {checks}; not a prediction result.")
    return header, rows, notes


def to_markdown(table: pd.DataFrame, leaks: Mapping[str, Sequence[str]] | None = None,
                significance_level: float = SIGNIFICANCE_LEVEL) -> str:
    """``table_cells`` as a markdown table, ready to paste into a paper draft, the footnotes below."""
    header, rows, notes = table_cells(table, leaks, significance_level)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines) + "\n" + ("\n" + "\n\n".join(notes) + "\n" if notes else "")


def to_latex(table: pd.DataFrame, leaks: Mapping[str, Sequence[str]] | None = None,
             significance_level: float = SIGNIFICANCE_LEVEL, caption: str = CAPTIONS["table1"],
             label: str = "tab:table1") -> str:
    """``table_cells`` as a booktabs LaTeX table (``mmnar.reporting.latex``): one column group per task."""
    header, rows, notes = table_cells(table, leaks, significance_level)
    header = header[:3] + [cell.split(" ", 1)[1] for cell in header[3:]]      # the task is the group above
    widths = Counter(task for task, _ in columns_of(table))                      # metrics per task, in order
    return latex_table(header, rows, caption=caption, label=label, notes=notes,
                       groups=[("", 3), *widths.items()],
                       align="lrl" + "c" * (len(header) - 3))


def write_table(metric_paths: Sequence[Path], rows: Sequence[Sequence[str]], out_csv: Path, out_md: Path,
                labels: dict | None = None, comparisons_path: Path | None = None, reference: str | None = None,
                audit_path: Path | None = None, intervals_path: Path | None = None, out_tex: Path | None = None,
                caption: str = CAPTIONS["table1"], label: str = "tab:table1",
                significance_level: float = SIGNIFICANCE_LEVEL) -> pd.DataFrame:
    metrics = pd.concat([pd.read_csv(p) for p in metric_paths], ignore_index=True)
    comparisons = pd.read_csv(comparisons_path) if comparisons_path else None
    audit = pd.read_csv(audit_path) if audit_path else None
    intervals = pd.read_csv(intervals_path) if intervals_path else None
    table = summarise(metrics, rows, labels, comparisons, reference, audit, intervals)
    leaks = leaked_tasks(audit) if audit is not None else None
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_md) as tmp:
        tmp.write_text(to_markdown(table, leaks, significance_level))
    if out_tex is not None:
        with atomic_path(out_tex) as tmp:
            tmp.write_text(to_latex(table, leaks, significance_level, caption, label))
    return table
