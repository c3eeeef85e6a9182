"""Toy model inputs shared by the model and trainer tests."""

from __future__ import annotations

import numpy as np
import torch

from mmnar.data.tasks import DEFAULT_RUN, n_outputs
from mmnar.models.base import InputSpec, ModelInputs, SeriesBatch, SeriesShape
from mmnar.models.spec import SEQUENCE

MODALITIES = ("S", "I", "T", "R")
DIMS = {"S": 7, "I": 5, "T": 6, "R": 4}
STEPS, FEATURES = 6, 3
DELTA = [[1, 1, 1, 1], [1, 0, 1, 1], [1, 0, 0, 0], [1, 1, 0, 1], [1, 0, 1, 0], [1, 1, 1, 0]]


def input_spec(reads: dict[str, str], modalities=MODALITIES, dims=DIMS) -> InputSpec:
    vector_dims = {m: dims[m] for m, form in reads.items() if form != SEQUENCE}
    series = {m: SeriesShape(STEPS, FEATURES, np.zeros(FEATURES, dtype=np.float32)) for m, form in reads.items() if form == SEQUENCE}
    return InputSpec(tuple(modalities), vector_dims, series, n_outputs(DEFAULT_RUN))


def batch(reads: dict[str, str], n: int = 6, seed: int = 0, delta=DELTA, dims=DIMS) -> ModelInputs:
    """Random standardised inputs: zero vectors and an empty series wherever δ = 0."""
    generator = torch.Generator().manual_seed(seed)
    delta = torch.tensor(delta, dtype=torch.float32)[:n]
    modalities = list(MODALITIES) + [m for m in dims if m not in MODALITIES]
    vectors, series = {}, {}
    for m, form in reads.items():
        missing = delta[:, modalities.index(m)] == 0
        if form == SEQUENCE:
            mask = (torch.rand(n, STEPS, FEATURES, generator=generator) < 0.5).float()
            mask[missing] = 0
            values = torch.randn(n, STEPS, FEATURES, generator=generator)
            values[missing] = 0
            series[m] = SeriesBatch(values, mask, torch.rand(n, STEPS, FEATURES, generator=generator) * 3)
        else:
            x = torch.randn(n, dims[m], generator=generator)
            x[missing] = 0
            vectors[m] = x
    return ModelInputs(delta, vectors, series)
