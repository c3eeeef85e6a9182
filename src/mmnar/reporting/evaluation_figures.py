"""Figures of results/calibration.csv (reliability curves) and results/fairness.csv (subgroup gaps).

Both read only the aggregate tables (``mmnar.evaluation.calibration``, ``mmnar.evaluation.fairness``),
in which small cells are already blank: a suppressed bin or subgroup is simply not drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.tasks import TASKS
from mmnar.io import atomic_path

GAP_METRICS = {"auprc": "AUPRC", "tpr": "TPR", "fpr": "FPR", "ece": "ECE"}
ATTRIBUTE_LABELS = {"race": "race", "sex": "sex", "age": "age group"}


def variant_label(model: str, variant: str) -> str:
    """The model's Table 1 label (its registry label, + rectifier), or its name if it is not registered."""
    from mmnar.reporting.tables import row_label

    try:
        return row_label(model, variant)
    except (KeyError, ValueError):
        return model if variant == "raw" else f"{model} ({variant})"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_png: Path) -> None:
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=150, format="png", bbox_inches="tight")


def _task_label(task: str) -> str:
    return TASKS[task].label if task in TASKS else task


def plot_reliability(table: pd.DataFrame, out_png: str | Path) -> None:
    """Reliability curves, one panel per task, one line per model and variant (mean over runs).

    Each point is an equal-mass bin: mean prediction (x) against observed rate (y); suppressed bins
    are left out. Rectified variants are dashed, in their model's colour; the diagonal is perfect
    calibration. The legend gives each line's mean ECE per task.
    """
    plt = _pyplot()
    mean = table[table["run"] == "mean"]
    curves = mean[mean["kind"] == "reliability"]
    summary = mean[mean["kind"] == "summary"].set_index(["model", "variant", "task"])
    names = list(dict.fromkeys(zip(mean["model"], mean["variant"])))
    models = list(dict.fromkeys(model for model, _ in names))
    cmap = plt.get_cmap("tab20" if len(models) > 10 else "tab10")
    colour = {model: cmap(k % cmap.N) for k, model in enumerate(models)}
    tasks = [t for t in TASKS if t in set(mean["task"])] or sorted(set(mean["task"]))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 4.6), squeeze=False)
    handles = {}
    for ax, task in zip(axes[0], tasks):
        ax.plot([0, 1], [0, 1], color="0.6", linestyle=":", linewidth=1, zorder=0)
        drawn = 0
        for model, variant in names:
            rows = curves[(curves["model"] == model) & (curves["variant"] == variant) & (curves["task"] == task)]
            rows = rows[rows["mean_predicted"].notna() & rows["observed_rate"].notna()].sort_values("mean_predicted")
            if rows.empty:
                continue
            drawn += 1
            (line,) = ax.plot(rows["mean_predicted"], rows["observed_rate"], marker="o", markersize=3, linewidth=1.2,
                              color=colour[model], linestyle="-" if variant == "raw" else "--", alpha=0.9)
            handles.setdefault((model, variant), line)
        if not drawn:
            ax.text(0.5, 0.5, "every bin suppressed\n(small cells)", ha="center", va="center", fontsize=9,
                    transform=ax.transAxes, color="0.4")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_aspect("equal")
        ax.set_title(_task_label(task), fontsize=10)
        ax.set_xlabel("mean predicted probability (bin)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("observed outcome rate (bin)")
    labels = []
    for model, variant in names:
        eces = [summary["ece"].get((model, variant, task), np.nan) for task in tasks]
        labels.append(f"{variant_label(model, variant)} (ECE {' / '.join('–' if np.isnan(e) else f'{e:.3f}' for e in eces)})")
    legend_handles = [handles.get(name) or plt.Line2D([], [], color=colour[name[0]],
                                                      linestyle="-" if name[1] == "raw" else "--") for name in names]
    fig.legend(legend_handles, labels, loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=7, frameon=False,
               title=f"ECE per task ({' / '.join(tasks)})", title_fontsize=7)
    fig.suptitle("Reliability (equal-mass bins, mean over runs; small cells suppressed)", fontsize=11)
    fig.tight_layout()
    _save(fig, Path(out_png))
    plt.close(fig)


def plot_fairness_gaps(table: pd.DataFrame, out_png: str | Path) -> None:
    """Max − min subgroup gap of AUPRC, TPR, FPR and ECE with 95 % bootstrap CIs.

    One row of panels per attribute, one column per metric; each panel has a row per model and
    variant and one marker per task. A missing marker: fewer than two publishable subgroups.
    """
    plt = _pyplot()
    gaps = table[table["group"] == "gap"]
    attributes = list(dict.fromkeys(gaps["attribute"]))
    names = list(dict.fromkeys(zip(table["model"], table["variant"])))
    tasks = [t for t in TASKS if t in set(table["task"])] or sorted(set(table["task"]))
    markers, offsets = "osD^v", np.linspace(-0.25, 0.25, max(len(tasks), 1)) if len(tasks) > 1 else np.zeros(1)
    cmap = plt.get_cmap("tab10")
    height = 0.9 + 0.28 * len(names)
    fig, axes = plt.subplots(max(len(attributes), 1), len(GAP_METRICS), sharey=True, squeeze=False,
                             figsize=(3.4 * len(GAP_METRICS) + 2.5, height * max(len(attributes), 1)))
    y = np.arange(len(names))
    for r, attribute in enumerate(attributes):
        rows = gaps[gaps["attribute"] == attribute].set_index(["model", "variant", "task"])
        for c, (metric, metric_label) in enumerate(GAP_METRICS.items()):
            ax = axes[r][c]
            drawn = 0
            for k, task in enumerate(tasks):
                values = np.array([rows[metric].get((m, v, task), np.nan) for m, v in names], dtype=float)
                low = np.array([rows[f"{metric}_ci_low"].get((m, v, task), np.nan) for m, v in names], dtype=float)
                high = np.array([rows[f"{metric}_ci_high"].get((m, v, task), np.nan) for m, v in names], dtype=float)
                shown = np.isfinite(values)
                drawn += int(shown.sum())
                # the interval as a segment: a percentile interval need not contain the estimate
                ranged = shown & np.isfinite(low) & np.isfinite(high)
                ax.hlines(y[ranged] + offsets[k], low[ranged], high[ranged], color=cmap(k), linewidth=0.9)
                ax.plot(values[shown], y[shown] + offsets[k], linestyle="none", marker=markers[k % len(markers)],
                        markersize=4, color=cmap(k), label=_task_label(task) if (r, c) == (0, 0) else None)
            if not drawn:
                ax.text(0.5, 0.5, "no gap: fewer than two\npublishable subgroups", ha="center", va="center",
                        fontsize=8, color="0.4", transform=ax.transAxes)
            ax.axvline(0, color="0.6", linewidth=0.8)
            ax.grid(axis="x", alpha=0.3)
            ax.set_xlim(left=0)
            if r == 0:
                ax.set_title(f"{metric_label} gap (max − min)", fontsize=10)
            if c == 0:
                ax.set_ylabel(ATTRIBUTE_LABELS.get(attribute, attribute), fontsize=10)
    for ax in axes[:, 0]:
        ax.set_yticks(y, [variant_label(m, v) for m, v in names], fontsize=7)
        ax.set_ylim(len(names) - 0.5, -0.5)
    if not attributes:
        axes[0][0].text(0.5, 0.5, "no attributes", ha="center", va="center", transform=axes[0][0].transAxes)
    top = 1 - 0.9 / fig.get_figheight()                      # room for the title and the task legend
    fig.suptitle("Subgroup gaps (threshold: Youden's J on validation; 95 % bootstrap CI over test patients; "
                 "small subgroups left out)", fontsize=11, y=1 - 0.15 / fig.get_figheight())
    fig.legend(loc="upper center", bbox_to_anchor=(0.5, 1 - 0.45 / fig.get_figheight()), ncol=max(len(tasks), 1),
               fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, top))
    _save(fig, Path(out_png))
    plt.close(fig)
