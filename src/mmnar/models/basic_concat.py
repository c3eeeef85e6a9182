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

from mmnar import MODALITIES, TASKS
from mmnar.models.components import ModelOutput


class BasicConcat(nn.Module):
    def __init__(self, input_dims: Mapping[str, int], hidden_dim: int, dropout: float, n_tasks: int = len(TASKS)):
        super().__init__()
        total_dim = sum(input_dims[m] for m in MODALITIES)
        self.encoder = nn.Sequential(
            nn.Linear(total_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(hidden_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout),
        )
        self.heads = nn.Linear(hidden_dim, n_tasks)  # one linear head per task on the shared h

    def represent(self, inputs: Mapping[str, torch.Tensor], delta: torch.Tensor) -> torch.Tensor:
        return self.encoder(torch.cat([inputs[m] for m in MODALITIES], dim=1))

    def forward(self, inputs: Mapping[str, torch.Tensor], delta: torch.Tensor, with_aux: bool = True) -> ModelOutput:
        return ModelOutput(self.heads(self.represent(inputs, delta)), {})


def build(input_dims: Mapping[str, int], params: Mapping[str, Any]) -> BasicConcat:
    return BasicConcat(input_dims, hidden_dim=params["hidden_dim"], dropout=params["dropout"])
