"""Encoders of a time-series modality (values, mask, time since last) into one vector per patient.

Shared by the EHR sequence references (LSTM, Transformer), MedFuse's and DrFuse's EHR encoders and
CRL-MMNAR's recurrent option, so "an LSTM over S" means the same network everywhere. Each step's
input is ``[values, mask, delta_t / horizon]``: the encoder sees which values were measured and how
stale the carried-forward ones are (CareBench's EHR input; docs/method.md, structured modality).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from mmnar.models.base import SeriesBatch


def step_features(series: SeriesBatch) -> torch.Tensor:
    """``(B, T, 3F)``: values, mask and time since last scaled to [0, 1] by the horizon length."""
    horizon = max(series.values.shape[1], 1)
    return torch.cat([series.values, series.mask, (series.delta_t / horizon).clamp(max=1.0)], dim=-1)


class RecurrentSeriesEncoder(nn.Module):
    """An LSTM or GRU over the hourly steps; the last layer's final hidden state is the encoding."""

    def __init__(self, n_features: int, hidden_dim: int, n_layers: int = 1, dropout: float = 0.0, cell: str = "lstm"):
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn(3 * n_features, hidden_dim, num_layers=n_layers, batch_first=True,
                       dropout=dropout if n_layers > 1 else 0.0)

    def forward(self, series: SeriesBatch) -> torch.Tensor:
        _, state = self.rnn(step_features(series))
        hidden = state[0] if isinstance(state, tuple) else state
        return hidden[-1]


class TransformerSeriesEncoder(nn.Module):
    """A Transformer encoder over the steps with sinusoidal positions; mean over steps is the encoding."""

    def __init__(self, n_features: int, n_steps: int, hidden_dim: int, n_heads: int, n_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        self.input = nn.Linear(3 * n_features, hidden_dim)
        self.register_buffer("positions", sinusoidal_positions(n_steps, hidden_dim), persistent=False)
        layer = nn.TransformerEncoderLayer(hidden_dim, n_heads, dim_feedforward=2 * hidden_dim, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)

    def tokens(self, series: SeriesBatch) -> torch.Tensor:
        """``(B, T, d)`` contextualised step tokens."""
        x = self.input(step_features(series)) + self.positions[: series.values.shape[1]]
        return self.encoder(x)

    def forward(self, series: SeriesBatch) -> torch.Tensor:
        return self.tokens(series).mean(dim=1)


def sinusoidal_positions(n_steps: int, dim: int) -> torch.Tensor:
    """Vaswani et al.'s fixed position encoding, ``(n_steps, dim)``."""
    position = torch.arange(n_steps, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(n_steps, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)[:, : dim // 2]
    return table
