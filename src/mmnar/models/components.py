"""Building blocks shared by the model modules."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from mmnar import MODALITIES


class ModelOutput(NamedTuple):
    """Task logits ``(B, n_tasks)`` and the model's unweighted auxiliary loss terms."""

    logits: torch.Tensor
    aux_terms: dict[str, torch.Tensor]


def two_layer_mlp(in_dim: int, hidden_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim))


class TaskHeads(nn.Module):
    """One small MLP head g_t per task on the shared representation."""

    def __init__(self, hidden_dim: int, n_tasks: int, dropout: float):
        super().__init__()
        self.heads = nn.ModuleList(two_layer_mlp(hidden_dim, hidden_dim, 1, dropout) for _ in range(n_tasks))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(h) for head in self.heads], dim=1)


_PATTERN_BITS = torch.tensor([2 ** (len(MODALITIES) - 1 - k) for k in range(len(MODALITIES))])


def pattern_index(delta: torch.Tensor) -> torch.Tensor:
    """Observation pattern as an integer in [0, 16): delta read as a binary number, S the high bit."""
    return (delta.long() * _PATTERN_BITS.to(delta.device)).sum(dim=1)


N_PATTERNS = 2 ** len(MODALITIES)
