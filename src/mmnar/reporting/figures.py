"""Figure 1: outcome rate by observation pattern, with small cells suppressed (PhysioNet DUA)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.tasks import binary_task_names
from mmnar.io import atomic_path


def wilson_interval(successes: np.ndarray, n: np.ndarray, z: float = 1.959964) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval: well-behaved for the small patterns where Wald fails."""
    n = np.asarray(n, dtype=float)
    p = np.divide(successes, n, out=np.full_like(n, np.nan), where=n > 0)
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return centre - half, centre + half


def small_cell(counts: pd.Series, min_cell_count: int) -> pd.Series:
    """Counts from 1 to ``min_cell_count - 1``: too few to publish (PhysioNet small-cell guidance)."""
    return (counts > 0) & (counts < min_cell_count)


def pattern_outcomes(labels: pd.DataFrame, min_cell_count: int = 1) -> pd.DataFrame:
    """Outcome rate per observation pattern and binary task, with counts and 95 % CI (Figure 1).

    A row whose patients, events or non-events number 1 to ``min_cell_count - 1`` is ``suppressed``:
    its counts, rate and interval are blank, since any of them would let a reader recover the count.
    """
    rows = []
    for (pattern_id, pattern), group in labels.groupby(["pattern_id", "pattern"]):
        for task in binary_task_names(labels.columns):
            defined = group[task].dropna()
            rows.append({"pattern_id": pattern_id, "pattern": pattern, "n_patients": len(group),
                         "task": task, "n_defined": len(defined), "n_events": int(defined.sum())})
    table = pd.DataFrame(rows)
    table["rate"] = table["n_events"] / table["n_defined"].where(table["n_defined"] > 0)
    table["ci_low"], table["ci_high"] = wilson_interval(table["n_events"].to_numpy(), table["n_defined"].to_numpy())
    table["suppressed"] = (small_cell(table["n_patients"], min_cell_count)
                           | small_cell(table["n_events"], min_cell_count)
                           | small_cell(table["n_defined"] - table["n_events"], min_cell_count))
    hidden = ["n_defined", "n_events", "rate", "ci_low", "ci_high"]
    table[hidden] = table[hidden].astype(float).mask(table["suppressed"])
    table["n_patients"] = table["n_patients"].astype("Int64").mask(small_cell(table["n_patients"], min_cell_count))
    return table


def plot_pattern_outcomes(table: pd.DataFrame, out_png: Path) -> None:
    """Grouped bars of outcome rate by pattern, error bars = Wilson 95 % CI, n under each pattern."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    patterns = table.drop_duplicates("pattern_id").sort_values("pattern_id")
    x = np.arange(len(patterns))
    tasks = list(dict.fromkeys(table["task"]))
    width = 0.8 / len(tasks)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(patterns) + 2), 4))
    for offset, task in enumerate(tasks):
        rows = table[table["task"] == task].set_index("pattern_id").reindex(patterns["pattern_id"])
        rate = rows["rate"].to_numpy()
        err = np.vstack([rate - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - rate])
        ax.bar(x + (offset - (len(tasks) - 1) / 2) * width, rate, width, yerr=err, capsize=2, label=task)
    counts = [f"n={n}" if pd.notna(n) else "n<min" for n in patterns["n_patients"]]
    ax.set_xticks(x, [f"{p}\n{n}" for p, n in zip(patterns["pattern"], counts)], fontsize=8)
    ax.set_ylabel("outcome rate (95 % CI; small cells suppressed)")
    ax.set_title("Outcome rate by observation pattern δ")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
    plt.close(fig)
