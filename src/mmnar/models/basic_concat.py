"""Baseline: zero-imputed concatenation of all modality inputs -> MLP -> task heads.

The reference "concatenation MLP with zero imputation" of Table 2. Inputs arrive standardised
with train-split statistics, so a missing modality's zeros equal mean imputation. The model never
sees delta, which is the point of the baseline: missingness is only visible as zeros.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mmnar.models.base import InputSpec, ModelInputs, ModelOutput


class BasicConcat(nn.Module):
    def __init__(self, input_spec: InputSpec, hidden_dim: int, dropout: float):
        super().__init__()
        self.modalities = tuple(input_spec.vector_dims)
        self.encoder = nn.Sequential(
            nn.Linear(sum(input_spec.vector_dims.values()), hidden_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
        )
        self.heads = nn.Linear(hidden_dim, input_spec.n_outputs)  # one linear head per task on the shared h

    def represent(self, inputs: ModelInputs) -> torch.Tensor:
        return self.encoder(torch.cat([inputs.vectors[m] for m in self.modalities], dim=1))

    def forward(self, inputs: ModelInputs, with_aux: bool = True) -> ModelOutput:
        return ModelOutput(self.heads(self.represent(inputs)), {})


def build(input_spec: InputSpec, params: Mapping[str, Any]) -> BasicConcat:
    return BasicConcat(input_spec, hidden_dim=params["hidden_dim"], dropout=params["dropout"])
