"""The model-input arrays ``build_delta`` writes, read back for training and prediction.

``data/model_input/`` holds ``delta.npy`` ``(N, M)`` (columns in modality-registry order),
``labels.parquet`` (cohort order), ``<m>.npy`` ``(N, d)`` per vector form and ``<m>_series.npy``
``(N, T, F)`` per sequence form, NaN where nothing was measured. Only the arrays a model reads
are loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.modalities.registry import SEQUENCE
from mmnar.modalities.registry import names as modality_names


@dataclass
class RawInputs:
    """Unprocessed model inputs of every cohort patient (a model's preprocessing is fitted on them)."""

    modalities: tuple[str, ...]
    delta: np.ndarray
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    series: dict[str, np.ndarray] = field(default_factory=dict)


def array_name(modality: str, form: str) -> str:
    return f"{modality}_series.npy" if form == SEQUENCE else f"{modality}.npy"


def load_raw_inputs(model_input_dir: Path, reads: Mapping[str, str]) -> tuple[RawInputs, pd.DataFrame]:
    """The arrays of ``reads`` (``{modality: form}``), δ and the labels, checked against each other."""
    model_input_dir = Path(model_input_dir)
    labels = pd.read_parquet(model_input_dir / "labels.parquet")
    delta = np.load(model_input_dir / "delta.npy")
    modalities = modality_names()
    if delta.shape != (len(labels), len(modalities)):
        raise ValueError(f"delta.npy has shape {delta.shape}, expected {(len(labels), len(modalities))} "
                         f"(modalities {modalities}): rerun build_delta")
    raw = RawInputs(modalities, delta.astype(np.uint8))
    for m, form in reads.items():
        array = np.load(model_input_dir / array_name(m, form))
        if array.shape[0] != len(labels):
            raise ValueError(f"{array_name(m, form)} has {array.shape[0]} rows but labels.parquet has {len(labels)}")
        (raw.series if form == SEQUENCE else raw.vectors)[m] = array
    return raw, labels
