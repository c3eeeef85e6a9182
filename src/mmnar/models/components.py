"""Building blocks shared by the model modules."""

from __future__ import annotations

import torch
from torch import nn


def two_layer_mlp(in_dim: int, hidden_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden_dim, out_dim))


class PerModalityMLP(nn.Module):
    """Independent two-layer MLPs, one per modality, run as batched matmuls (one call, not four)."""

    def __init__(self, n_modalities: int, in_dim: int, hidden_dim: int, out_dim: int, dropout: float):
        super().__init__()
        self.weight_in = nn.Parameter(_uniform_like_linear((n_modalities, in_dim, hidden_dim), in_dim))
        self.bias_in = nn.Parameter(_uniform_like_linear((n_modalities, 1, hidden_dim), in_dim))
        self.weight_out = nn.Parameter(_uniform_like_linear((n_modalities, hidden_dim, out_dim), hidden_dim))
        self.bias_out = nn.Parameter(_uniform_like_linear((n_modalities, 1, out_dim), hidden_dim))
        self.activation = nn.GELU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(n_modalities, B, in_dim)`` -> ``(n_modalities, B, out_dim)``."""
        hidden = self.dropout(self.activation(torch.baddbmm(self.bias_in, x, self.weight_in)))
        return torch.baddbmm(self.bias_out, hidden, self.weight_out)


def _uniform_like_linear(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
    """``nn.Linear``'s default initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = fan_in**-0.5
    return torch.empty(shape).uniform_(-bound, bound)


def pattern_index(delta: torch.Tensor) -> torch.Tensor:
    """Observation pattern as an integer in ``[0, 2**M)``: bit k is modality k of the registry
    (S the lowest bit), the one encoding used by ``labels.parquet``, Figure 1 and the rectifier."""
    bits = 2 ** torch.arange(delta.shape[1], device=delta.device)
    return (delta.long() * bits).sum(dim=1)
