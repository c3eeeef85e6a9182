"""Observation patterns δ and the model-input arrays (docs/method.md: δ is a treatment, not noise)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mmnar import MODALITIES, TASKS
from mmnar.io import atomic_path


def read_embedding(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Subject ids and the float32 matrix of an ``embed_*`` output."""
    frame = pd.read_parquet(path)
    columns = [c for c in frame.columns if c.startswith("emb_")]
    return frame["subject_id"].to_numpy(), frame[columns].to_numpy(dtype=np.float32)


def pattern_name(bits: np.ndarray) -> str:
    """Human-readable pattern, e.g. ``S+T+R``."""
    return "+".join(m for m, bit in zip(MODALITIES, bits) if bit)


def align(subject_ids: np.ndarray, embedded_ids: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``matrix`` in cohort order, zeros for patients without the modality, and δ."""
    row_of = pd.Series(np.arange(len(embedded_ids)), index=embedded_ids)
    rows = row_of.reindex(subject_ids).to_numpy()
    observed = ~np.isnan(rows)
    aligned = np.zeros((len(subject_ids), matrix.shape[1]), dtype=np.float32)
    aligned[observed] = matrix[rows[observed].astype(int)]
    return aligned, observed.astype(np.uint8)


def build_model_input(cohort_path: Path, embedding_paths: dict[str, Path], out_dir: Path) -> pd.DataFrame:
    """Write ``{S,I,T,R}.npy``, ``delta.npy`` and ``labels.parquet`` in cohort order."""
    cohort = pd.read_parquet(cohort_path)
    subject_ids = cohort["subject_id"].to_numpy()
    out_dir = Path(out_dir)
    delta = np.zeros((len(cohort), len(MODALITIES)), dtype=np.uint8)
    for column, modality in enumerate(MODALITIES):
        aligned, observed = align(subject_ids, *read_embedding(embedding_paths[modality]))
        delta[:, column] = observed
        with atomic_path(out_dir / f"{modality}.npy") as tmp:
            np.save(tmp, aligned)
    with atomic_path(out_dir / "delta.npy") as tmp:
        np.save(tmp, delta)
    labels = cohort[["subject_id", *TASKS]].copy()
    labels["pattern_id"] = (delta * (1 << np.arange(len(MODALITIES)))).sum(axis=1).astype(int)
    labels["pattern"] = [pattern_name(bits) for bits in delta]
    with atomic_path(out_dir / "labels.parquet") as tmp:
        labels.to_parquet(tmp, index=False)
    return labels


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
    """Outcome rate per observation pattern and task, with counts and 95 % CI (Figure 1).

    A row whose patients, events or non-events number 1 to ``min_cell_count - 1`` is ``suppressed``:
    its counts, rate and interval are blank, since any of them would let a reader recover the count.
    """
    rows = []
    for (pattern_id, pattern), group in labels.groupby(["pattern_id", "pattern"]):
        for task in TASKS:
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
    width = 0.8 / len(TASKS)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(patterns) + 2), 4))
    for offset, task in enumerate(TASKS):
        rows = table[table["task"] == task].set_index("pattern_id").reindex(patterns["pattern_id"])
        rate = rows["rate"].to_numpy()
        err = np.vstack([rate - rows["ci_low"].to_numpy(), rows["ci_high"].to_numpy() - rate])
        ax.bar(x + (offset - 1) * width, rate, width, yerr=err, capsize=2, label=task)
    counts = [f"n={n}" if pd.notna(n) else "n<min" for n in patterns["n_patients"]]
    ax.set_xticks(x, [f"{p}\n{n}" for p, n in zip(patterns["pattern"], counts)], fontsize=8)
    ax.set_ylabel("outcome rate (95 % CI; small cells suppressed)")
    ax.set_title("Outcome rate by observation pattern δ")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, dpi=150, format="png")
    plt.close(fig)
