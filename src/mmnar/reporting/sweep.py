"""``results/mechanism_sweep.csv`` and ``.png``: when does modelling δ pay, read off the generator settings.

Per setting (``mmnar.sweep``), model and task: the test AUC (mean over runs), its gap to the two
ceilings of the synthetic generator (the true probabilities, which know the hidden component, and
the best probabilities given the recorded state and δ), the most δ can add at all (the recorded
ceiling with δ minus without), and the paired difference to the reference model (default: the
concatenation baseline) with its 95 % bootstrap CI, from the setting's ``results/comparisons.csv``;
``leaked`` carries the setting's Table 1 mark of a task the leakage audit flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from mmnar.data.tasks import TASKS  # noqa: E402
from mmnar.io import atomic_path  # noqa: E402

CEILINGS = {"ground_truth": "oracle_auc", "recorded": "recorded_ceiling_auc", "recorded_no_delta": "recorded_no_delta_auc"}
COLUMNS = ["setting", "mechanism", "hidden_strength", "direct_effect", "model", "variant", "label", "task", "leaked", "auc",
           "auc_sd", "n_runs", "oracle_auc", "recorded_ceiling_auc", "recorded_no_delta_auc", "gap_to_oracle",
           "gap_to_recorded_ceiling", "delta_ceiling_gain", "reference", "auc_diff", "auc_diff_ci_low",
           "auc_diff_ci_high", "auc_diff_p_value"]


def setting_rows(name: str, values: Mapping, table1: pd.DataFrame, comparisons: pd.DataFrame,
                 reference: str) -> pd.DataFrame:
    """One setting's rows: every model × variant × task of its Table 1, with ceilings and paired differences."""
    oracle = table1[table1["model"] == "oracle"].set_index("variant")
    paired = comparisons[(comparisons["reference"] == reference) & (comparisons["metric"] == "auc")]
    paired = paired.set_index(["model", "variant", "task"])
    rows = []
    tasks = [t for t in TASKS if f"{t}_auc_mean" in table1.columns]      # the binary tasks of the setting's run
    for row in table1[table1["model"] != "oracle"].itertuples(index=False):
        for task in tasks:
            auc = getattr(row, f"{task}_auc_mean")
            ceilings = {column: float(oracle.loc[variant, f"{task}_auc_mean"]) if variant in oracle.index else float("nan")
                        for variant, column in CEILINGS.items()}
            key = (row.model, row.variant, task)
            diff = paired.loc[key] if key in paired.index else None
            rows.append({
                "setting": name, **values, "model": row.model, "variant": row.variant, "label": row.label,
                "task": task, "leaked": bool(getattr(row, f"{task}_leaked", False)), "auc": auc,
                "auc_sd": getattr(row, f"{task}_auc_sd"), "n_runs": row.n_splits * row.n_inits,
                **ceilings,
                "gap_to_oracle": auc - ceilings["oracle_auc"],
                "gap_to_recorded_ceiling": auc - ceilings["recorded_ceiling_auc"],
                "delta_ceiling_gain": ceilings["recorded_ceiling_auc"] - ceilings["recorded_no_delta_auc"],
                "reference": reference,
                "auc_diff": float("nan") if diff is None else diff["difference"],
                "auc_diff_ci_low": float("nan") if diff is None else diff["ci_low"],
                "auc_diff_ci_high": float("nan") if diff is None else diff["ci_high"],
                "auc_diff_p_value": float("nan") if diff is None else diff["p_value"],
            })
    return pd.DataFrame(rows, columns=COLUMNS)


def sweep_table(settings: Mapping[str, Mapping], table1_paths: Mapping[str, Path],
                comparison_paths: Mapping[str, Path], reference: str) -> pd.DataFrame:
    return pd.concat([setting_rows(name, values, pd.read_csv(table1_paths[name]), pd.read_csv(comparison_paths[name]),
                                   reference) for name, values in settings.items()], ignore_index=True)


def sweep_figure(table: pd.DataFrame, reference: str, out: Path) -> None:
    """Per task: each model's paired AUC difference to the reference (95 % CI) by setting, and the
    most δ can add (the recorded ceiling with δ minus without)."""
    settings = list(dict.fromkeys(table["setting"]))
    compared = table[(table["model"] != reference) | (table["variant"] != "raw")]
    compared = compared[compared["auc_diff"].notna()]
    series = list(dict.fromkeys(zip(compared["model"], compared["variant"], compared["label"])))
    tasks = [t for t in TASKS if t in set(table["task"])]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5.2 * len(tasks), 4.2), sharey=True, squeeze=False)
    width = 0.8 / max(len(series), 1)
    for ax, task in zip(axes[0], tasks):
        of_task = table[table["task"] == task]
        gain = of_task.drop_duplicates("setting").set_index("setting")["delta_ceiling_gain"].reindex(settings)
        ax.bar(range(len(settings)), gain.to_numpy(), width=0.9, color="0.9", label="ceiling gain from δ")
        for k, (model, variant, label) in enumerate(series):
            rows = compared[(compared["task"] == task) & (compared["model"] == model) & (compared["variant"] == variant)]
            rows = rows.set_index("setting").reindex(settings)
            x = [i - 0.4 + width * (k + 0.5) for i in range(len(settings))]
            ax.errorbar(x, rows["auc_diff"], yerr=[rows["auc_diff"] - rows["auc_diff_ci_low"],
                                                    rows["auc_diff_ci_high"] - rows["auc_diff"]],
                        fmt="o", ms=4, capsize=2, label=label)
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(range(len(settings)), settings, rotation=30, ha="right", fontsize=8)
        leaked = " († leaked: not a prediction result)" if of_task["leaked"].any() else ""
        ax.set_title(TASKS[task].label + leaked, fontsize=10)
    axes[0][0].set_ylabel(f"test AUC difference to {reference} (paired, 95 % CI)")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)


def summary_markdown(table: pd.DataFrame) -> str:
    """Every row's AUC, gap to the recorded ceiling and difference to the reference (95 % CI), as markdown."""
    rows = table.copy()
    rows["Δ AUC [95 % CI]"] = [f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" if pd.notna(d) else ""
                               for d, lo, hi in zip(rows["auc_diff"], rows["auc_diff_ci_low"], rows["auc_diff_ci_high"])]
    return rows[["setting", "label", "task", "auc", "gap_to_recorded_ceiling", "delta_ceiling_gain",
                 "Δ AUC [95 % CI]"]].to_markdown(index=False, floatfmt=".3f") + "\n"


def write_sweep(settings: Mapping[str, Mapping], table1_paths: Mapping[str, Path], comparison_paths: Mapping[str, Path],
                reference: str, out_csv: Path, out_md: Path, out_png: Path) -> pd.DataFrame:
    table = sweep_table(settings, table1_paths, comparison_paths, reference)
    with atomic_path(out_csv) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(out_md) as tmp:
        tmp.write_text(summary_markdown(table))
    sweep_figure(table, reference, out_png)
    return table
