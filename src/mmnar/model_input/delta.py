"""Observation patterns δ and the model-input arrays (docs/method.md: δ is a treatment, not noise)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.tasks import COHORT_SQL, run_tasks
from mmnar.io import atomic_path
from mmnar.model_input.inputs import array_name
from mmnar.modalities.registry import SEQUENCE, VECTOR, modalities, pattern_ids, pattern_name
from mmnar.modalities.series import align_series, load_series


def read_embedding(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Subject ids and the float32 matrix of an ``embed_*`` output."""
    frame = pd.read_parquet(path)
    columns = [c for c in frame.columns if c.startswith("emb_")]
    return frame["subject_id"].to_numpy(), frame[columns].to_numpy(dtype=np.float32)


def align(subject_ids: np.ndarray, embedded_ids: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``matrix`` in cohort order, zeros for patients without the modality, and δ."""
    row_of = pd.Series(np.arange(len(embedded_ids)), index=embedded_ids)
    rows = row_of.reindex(subject_ids).to_numpy()
    observed = ~np.isnan(rows)
    aligned = np.zeros((len(subject_ids), matrix.shape[1]), dtype=np.float32)
    aligned[observed] = matrix[rows[observed].astype(int)]
    return aligned, observed.astype(np.uint8)


def build_model_input(cohort_path: Path, embedding_paths: Mapping[str, Mapping[str, Path]], out_dir: Path,
                      tasks: Sequence[str], label_paths: Sequence[Path] = ()) -> pd.DataFrame:
    """Write one array per registered modality and form, ``delta.npy`` and ``labels.parquet``, in cohort order.

    ``embedding_paths``: ``{modality: {form: path}}``. A modality's δ is the presence of its vector
    row; its series (if any) is all NaN for a patient without it. ``labels.parquet`` holds the label
    columns of the run's ``tasks`` (from the cohort, or from ``label_paths``: files of a label stage,
    ``subject_id`` plus label columns, in cohort order) and nothing else, so later stages read the run's
    tasks from it.
    """
    cohort = pd.read_parquet(cohort_path)
    subject_ids = cohort["subject_id"].to_numpy()
    out_dir = Path(out_dir)
    registered = modalities()
    delta = np.zeros((len(cohort), len(registered)), dtype=np.uint8)
    for column, modality in enumerate(registered):
        paths = embedding_paths[modality.name]
        aligned, delta[:, column] = align(subject_ids, *read_embedding(paths[VECTOR]))
        with atomic_path(out_dir / array_name(modality.name, VECTOR)) as tmp:
            np.save(tmp, aligned)
        if SEQUENCE in paths:
            series = align_series(load_series(paths[SEQUENCE]), subject_ids)
            series[delta[:, column] == 0] = np.nan
            with atomic_path(out_dir / array_name(modality.name, SEQUENCE)) as tmp:
                np.save(tmp, series)
    with atomic_path(out_dir / "delta.npy") as tmp:
        np.save(tmp, delta)
    labels = cohort[["subject_id"]].copy()
    extra = [pd.read_parquet(path) for path in label_paths]
    for frame in extra:
        if not np.array_equal(frame["subject_id"].to_numpy(), subject_ids):
            raise ValueError("a label file is not in cohort order")
    for task in run_tasks(tasks):
        source = cohort if task.labelled_by == COHORT_SQL else next(f for f in extra if task.label_columns[0] in f)
        for column in task.label_columns:
            labels[column] = source[column].to_numpy(dtype=np.float64)
    labels["pattern_id"] = pattern_ids(delta)
    names = [m.name for m in registered]
    labels["pattern"] = [pattern_name(bits, names) for bits in delta]
    with atomic_path(out_dir / "labels.parquet") as tmp:
        labels.to_parquet(tmp, index=False)
    return labels
