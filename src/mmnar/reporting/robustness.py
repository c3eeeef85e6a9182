"""Robustness to missing modalities: Table 3 (performance by modality configuration) and the
missing-ratio sweep (CareBench's RQ3 figure), as CSV, markdown, LaTeX and a figure.

Table 3 (``results/table3.csv``): for each model and modality configuration (``all``, ``S``, ``T+R``, …)
two protocols, labelled in the ``protocol`` column:

- ``trained_and_evaluated``: the model trained, selected and tested with only the configuration's
  modalities (every other modality removed for every patient: the ``keep_<m>+…`` scenario), the
  paper's Table 3. Configuration ``all`` is the ordinary model;
- ``evaluated_only``: the ordinary model (trained on every modality) tested with the other modalities
  removed, which shows how much the model relies on them. For ``all`` both protocols are the same
  predictions.

The missing-ratio sweep (``results/robustness_missing_ratio.csv``): one modality (by default the
chest X-ray I) removed for a share of the patients who have it, the same patients in training,
validation and test (``drop_<m>_<ratio>``), every model retrained per ratio (ratio 0: the ordinary
models); the figure draws the test AUC against the ratio per task, a line per model with its 95 % CI
band.

Every number is the mean over runs of the test metric, with the class-stratified bootstrap CI over
test patients averaged over runs (:mod:`mmnar.evaluation.scenarios`). A task the leakage audit flags
(``results/leakage_audit.csv``, as in Table 1) is marked ``leaked`` (``†``): its numbers are not
prediction results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mmnar.data.tasks import TASKS  # noqa: E402
from mmnar.evaluation.scenarios import EVALUATED_ONLY, METRICS, TRAINED_AND_EVALUATED, cell_metrics  # noqa: E402
from mmnar.io import atomic_path  # noqa: E402
from mmnar.models.registry import get as get_spec  # noqa: E402
from mmnar.reporting.latex import latex_table  # noqa: E402
from mmnar.reporting.tables import leaked_tasks  # noqa: E402

PROTOCOLS = {
    TRAINED_AND_EVALUATED: "Trained and tested with only these modalities (the paper's Table 3)",
    EVALUATED_ONLY: "Trained on all modalities, tested with the others removed (reliance on them)",
}
METRIC_LABELS = {"auc": "AUC", "auprc": "AUPRC"}
VALUE_COLUMNS = [f"{m}{suffix}" for m in METRICS for suffix in ("", "_ci_low", "_ci_high")]
TABLE3_COLUMNS = ["model", "label", "configuration", "scenario", "protocol", "task", "leaked", *VALUE_COLUMNS,
                  "n_test_patients", "n_runs"]
ROBUSTNESS_COLUMNS = ["model", "label", "modality", "ratio", "scenario", "task", "leaked", *VALUE_COLUMNS,
                      "n_test_patients", "n_runs"]


def chunk(paths: Sequence, n_runs: int) -> list[list]:
    """A flat list of prediction files, one per run per cell in cell order, cut into the cells' lists."""
    if n_runs == 0 or len(paths) % n_runs:
        raise ValueError(f"{len(paths)} prediction files are not a whole number of cells of {n_runs} runs")
    return [list(paths[start:start + n_runs]) for start in range(0, len(paths), n_runs)]


def widen(metrics: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """One row per cell and task from :func:`~mmnar.evaluation.scenarios.cell_metrics`' rows per metric:
    ``<metric>``, ``<metric>_ci_low``, ``<metric>_ci_high``, the test patients and runs (of the AUC)."""
    rows = []
    for key, group in metrics.groupby([*keys, "task"], sort=False):
        row = dict(zip([*keys, "task"], key))
        by_metric = group.set_index("metric")
        for metric in METRICS:
            values = ([np.nan] * 3 if metric not in by_metric.index
                      else by_metric.loc[metric, ["estimate", "ci_low", "ci_high"]])
            row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"] = values
        first = by_metric.loc[METRICS[0]] if METRICS[0] in by_metric.index else by_metric.iloc[0]
        row["n_test_patients"], row["n_runs"] = first["n_patients"], int(first["n_runs"])
        rows.append(row)
    return pd.DataFrame(rows)


def mark_leaks(table: pd.DataFrame, audit: pd.DataFrame | None) -> pd.DataFrame:
    leaks = leaked_tasks(audit) if audit is not None else {}
    table = table.copy()
    table["leaked"] = table["task"].isin(list(leaks))
    return table


def _label(model: str) -> str:
    return get_spec(model).label


def _cell(row: Mapping, metric: str, leaked: bool) -> str:
    value = row[metric]
    if not np.isfinite(value):
        return "–"
    return f"{value:.3f} [{row[f'{metric}_ci_low']:.3f}, {row[f'{metric}_ci_high']:.3f}]" + (" †" if leaked else "")


def _count(values: pd.Series) -> str:
    """The most test patients of a row's tasks, or a dash when none was evaluated."""
    value = values.max()
    return f"{value:.0f}" if np.isfinite(value) else "–"


def _notes(table: pd.DataFrame, leaks: Mapping[str, Sequence[str]], n_resamples: int) -> list[str]:
    runs = sorted(set(table["n_runs"].astype(int)) - {0})
    notes = [f"Mean over runs ({'/'.join(map(str, runs)) or 0} per cell) of the test metric; 95 % CI: class-stratified "
             f"bootstrap over test patients ({n_resamples} resamples), averaged over runs."]
    for task in dict.fromkeys(table.loc[table["leaked"].astype(bool), "task"]):
        notes.append(f"† leaked: {task}: {', '.join(leaks.get(task, [])) or 'flagged by results/leakage_audit.csv'}; "
                     "not a prediction result.")
    return notes


def _cell_table(cells: Sequence[Mapping], keys: Sequence[str], predictions: Sequence, labels: pd.DataFrame,
                splits: Sequence[pd.DataFrame], run_keys: Sequence[Sequence[int]], audit: pd.DataFrame | None,
                n_resamples: int, seed: int) -> pd.DataFrame:
    """Each cell's metrics with CIs, one row per cell and task (columns ``keys`` first), leaks marked.
    ``predictions``: each cell's files, one per run, cells after each other."""
    per_cell = chunk(predictions, len(run_keys))
    keyed = [{**{k: cell[k] for k in keys}, "predictions": files} for cell, files in zip(cells, per_cell, strict=True)]
    table = mark_leaks(widen(cell_metrics(keyed, labels, splits, run_keys, n_resamples, seed), list(keys)), audit)
    table["label"] = table["model"].map(_label)
    return table


# --------------------------------------------------------------------------------------------------
# Table 3


def table3(cells: Sequence[Mapping], predictions: Sequence, labels: pd.DataFrame, splits: Sequence[pd.DataFrame],
           run_keys: Sequence[Sequence[int]], audit: pd.DataFrame | None, n_resamples: int = 1000,
           seed: int = 0) -> pd.DataFrame:
    """``TABLE3_COLUMNS``, a row per cell (``model, configuration, scenario, protocol``) and task, in
    cell order. ``predictions``: each cell's files, one per run, cells after each other."""
    table = _cell_table(cells, ("model", "configuration", "scenario", "protocol"), predictions, labels, splits,
                        run_keys, audit, n_resamples, seed)
    return table[TABLE3_COLUMNS]


def table3_markdown(table: pd.DataFrame, leaks: Mapping[str, Sequence[str]], n_resamples: int) -> str:
    """A section per protocol: a row per model × configuration, AUC and AUPRC [95 % CI] per task."""
    tasks = list(dict.fromkeys(table["task"]))
    header = ["Model", "Modalities", "Test patients"] + [f"{t} {METRIC_LABELS[m]}" for t in tasks for m in METRICS]
    parts = []
    for protocol, title in PROTOCOLS.items():
        rows = table[table["protocol"] == protocol]
        if rows.empty:
            continue
        lines = [f"### {title} (`{protocol}`)", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for (model, configuration), group in rows.groupby(["model", "configuration"], sort=False):
            by_task = group.set_index("task")
            cells = [by_task["label"].iloc[0], configuration, _count(by_task['n_test_patients'])]
            cells += [_cell(by_task.loc[t], m, bool(by_task.loc[t, "leaked"])) for t in tasks for m in METRICS]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n\n" + "\n\n".join(_notes(table, leaks, n_resamples)) + "\n"


def table3_latex(table: pd.DataFrame, leaks: Mapping[str, Sequence[str]], n_resamples: int) -> str:
    """One booktabs table per protocol (:func:`mmnar.reporting.latex.latex_table`), the cells of the markdown."""
    tasks = list(dict.fromkeys(table["task"]))
    header = ["Model", "Modalities"] + [METRIC_LABELS[m] for _ in tasks for m in METRICS]
    groups = [("", 2)] + [(TASKS[t].label if t in TASKS else t, len(METRICS)) for t in tasks]
    parts = []
    for protocol, title in PROTOCOLS.items():
        rows = []
        for (_, configuration), group in table[table["protocol"] == protocol].groupby(["model", "configuration"],
                                                                                     sort=False):
            by_task = group.set_index("task")
            rows.append([by_task["label"].iloc[0], configuration]
                        + [_cell(by_task.loc[t], m, bool(by_task.loc[t, "leaked"])) for t in tasks for m in METRICS])
        if rows:
            parts.append(latex_table(header, rows, caption=f"Performance by modality configuration. {title}.",
                                     label=f"tab:table3-{protocol.replace('_', '-')}",
                                     notes=_notes(table, leaks, n_resamples), groups=groups))
    return "\n".join(parts)


def write_table3(cells: Sequence[Mapping], predictions: Sequence[str | Path], split_paths: Sequence[str | Path],
                 run_keys: Sequence[Sequence[int]], labels_path: str | Path, audit_path: str | Path | None,
                 out_csv: str | Path, out_md: str | Path, out_tex: str | Path, n_resamples: int = 1000,
                 seed: int = 0) -> pd.DataFrame:
    audit = pd.read_csv(audit_path) if audit_path else None
    table = table3(cells, predictions, pd.read_parquet(labels_path), [pd.read_parquet(p) for p in split_paths],
                   run_keys, audit, n_resamples, seed)
    leaks = leaked_tasks(audit) if audit is not None else {}
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_md) as tmp:
        tmp.write_text(table3_markdown(table, leaks, n_resamples))
    with atomic_path(out_tex) as tmp:
        tmp.write_text(table3_latex(table, leaks, n_resamples))
    return table


# --------------------------------------------------------------------------------------------------
# Missing-ratio robustness


def robustness_table(cells: Sequence[Mapping], predictions: Sequence, labels: pd.DataFrame,
                     splits: Sequence[pd.DataFrame], run_keys: Sequence[Sequence[int]], audit: pd.DataFrame | None,
                     n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """``ROBUSTNESS_COLUMNS``, a row per cell (``model, modality, ratio, scenario``) and task."""
    table = _cell_table(cells, ("model", "modality", "ratio", "scenario"), predictions, labels, splits, run_keys,
                        audit, n_resamples, seed)
    table["ratio"] = table["ratio"].astype(float)
    return table[ROBUSTNESS_COLUMNS]


def robustness_figure(table: pd.DataFrame, out: str | Path) -> None:
    """Per task: test AUC against the missing ratio, a line per model with its 95 % CI band."""
    tasks = list(dict.fromkeys(table["task"]))
    modality = table["modality"].iloc[0] if len(table) else "?"
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.6 * len(tasks), 3.8), sharey=False, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        of_task = table[table["task"] == task]
        for model, rows in of_task.groupby("model", sort=False):
            rows = rows.sort_values("ratio")
            line, = ax.plot(rows["ratio"], rows["auc"], marker="o", ms=4, label=rows["label"].iloc[0])
            ax.fill_between(rows["ratio"], rows["auc_ci_low"], rows["auc_ci_high"], color=line.get_color(), alpha=0.15,
                            lw=0)
        leaked = " († leaked)" if of_task["leaked"].any() else ""
        ax.set_title(TASKS[task].label + leaked if task in TASKS else task, fontsize=10)
        ax.set_xlabel(f"share of patients with {modality} who lose it")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test AUC (mean over runs, 95 % bootstrap CI)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)


def robustness_markdown(table: pd.DataFrame, leaks: Mapping[str, Sequence[str]], n_resamples: int) -> str:
    """A row per model × ratio, AUC and AUPRC [95 % CI] per task."""
    tasks = list(dict.fromkeys(table["task"]))
    modality = table["modality"].iloc[0] if len(table) else "?"
    header = ["Model", f"{modality} missing ratio", "Test patients"] + [
        f"{t} {METRIC_LABELS[m]}" for t in tasks for m in METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (_, ratio), group in table.groupby(["model", "ratio"], sort=False):
        by_task = group.set_index("task")
        cells = [by_task["label"].iloc[0], f"{ratio:g}", _count(by_task['n_test_patients'])]
        cells += [_cell(by_task.loc[t], m, bool(by_task.loc[t, "leaked"])) for t in tasks for m in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"{modality} removed at random for that share of the patients who have it, in training, validation "
             "and test alike (the same patients for every model); every model retrained per ratio (0: the "
             "ordinary models); models not designed for a missing modality see zeros."]
    return "\n".join(lines) + "\n\n" + "\n\n".join(notes + _notes(table, leaks, n_resamples)) + "\n"


def write_robustness(cells: Sequence[Mapping], predictions: Sequence[str | Path], split_paths: Sequence[str | Path],
                     run_keys: Sequence[Sequence[int]], labels_path: str | Path, audit_path: str | Path | None,
                     out_csv: str | Path, out_md: str | Path, out_png: str | Path, n_resamples: int = 1000,
                     seed: int = 0) -> pd.DataFrame:
    audit = pd.read_csv(audit_path) if audit_path else None
    splits = [pd.read_parquet(p) for p in split_paths]
    labels = pd.read_parquet(labels_path)
    table = robustness_table(cells, predictions, labels, splits, run_keys, audit, n_resamples, seed)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_md) as tmp:
        tmp.write_text(robustness_markdown(table, leaked_tasks(audit) if audit is not None else {}, n_resamples))
    robustness_figure(table, out_png)
    return table
