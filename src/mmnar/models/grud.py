"""GRU-D (Che, Purushotham, Cho, Sontag, Liu, "Recurrent Neural Networks for Multivariate Time Series
with Missing Values", Scientific Reports 8:6085, 2018): a GRU whose input falls back from the last
observation towards the empirical mean, and whose memory fades, as the time since a measurement grows.

The cell, per step t, with mask m, time since last measurement δ and values x (all per feature):

- input decay ``γ_x = exp(-max(0, w_γx ⊙ δ + b_γx))`` (diagonal ``W_γx``: each feature decays on its own);
- ``x̂ = m ⊙ x + (1 - m) ⊙ (γ_x ⊙ x_last + (1 - γ_x) ⊙ x̄)`` with ``x̄`` the training-split empirical
  mean (``SeriesShape.mean``, scaled units, a buffer). The pipeline's values are already forward
  filled, so where m = 0 they hold ``x_last``; before a feature's first measurement they hold the
  training median (0 after scaling), which is therefore ``x_last`` there (the paper leaves this
  case open);
- hidden decay ``γ_h = exp(-max(0, W_γh δ + b_γh))`` (full ``W_γh``), ``ĥ = γ_h ⊙ h_{t-1}``;
- ``z = σ(W_z x̂ + U_z ĥ + V_z m + b_z)``, ``r = σ(W_r x̂ + U_r ĥ + V_r m + b_r)``,
  ``h̃ = tanh(W x̂ + U (r ⊙ ĥ) + V m + b)``, ``h_t = (1 - z) ⊙ ĥ + z ⊙ h̃`` (the paper's equations;
  Che et al.'s Keras code interpolates with the undecayed ``h_{t-1}`` instead).

The final hidden state, after dropout, goes to one linear head per task (Che et al.'s code: dropout
0.3 before the output layer; its input and recurrent dropout are left out).

Adapted: δ is the pipeline's ``delta_t`` (hours since the feature was last measured, since the
horizon start if never) divided by the horizon length, as the shared series encoders scale it, so
the decay rates are per horizon rather than per hour (a reparametrisation of ``W_γ``). Where a
feature is measured in the bin, the paper's δ is the gap since its previous measurement while the
pipeline's ``delta_t`` counts from the latest one; ``x̂`` is x there either way, so only ``γ_h`` of
that step can differ. The decay weights start non-negative and their biases at 0, so ``max(0, ·)``
is active wherever δ > 0 and the rates get gradient from the first step (a negative start would pin
γ at 1 with zero gradient; Che et al.'s code starts them at exactly 0). The x-, m- and bias terms of all gates, and ``γ_x``,
``γ_h``, ``x̂`` for all steps, are computed before the recurrence, which only has the ``U`` products.

Only S is read (this is an EHR-only reference); a patient without S gets whatever the cell computes
from an all-unobserved series (values at the median, decaying towards the mean as time passes,
mask 0), which is the same for all such patients: a learned constant prediction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from mmnar.models.base import InputSpec, ModelInputs, ModelOutput, SeriesBatch, SeriesShape
from mmnar.models.spec import STRUCTURED


class GRUD(nn.Module):
    def __init__(self, shape: SeriesShape, hidden_dim: int, dropout: float, n_outputs: int):
        super().__init__()
        n_features = shape.n_features
        self.horizon = max(shape.n_steps, 1)
        self.register_buffer("x_mean", torch.as_tensor(shape.mean, dtype=torch.float32).reshape(n_features))
        self.input_decay_weight = nn.Parameter(torch.rand(n_features))  # diagonal of W_γx
        self.input_decay_bias = nn.Parameter(torch.zeros(n_features))
        self.hidden_decay = nn.Linear(n_features, hidden_dim)  # W_γh, b_γh
        nn.init.uniform_(self.hidden_decay.weight, 0.0, 1.0 / n_features)
        nn.init.zeros_(self.hidden_decay.bias)
        self.input_gates = nn.Linear(2 * n_features, 3 * hidden_dim)  # [W; V] [x̂; m] + b for z, r, h̃
        self.recurrent_gates = nn.Linear(hidden_dim, 2 * hidden_dim, bias=False)  # U_z, U_r
        self.recurrent_candidate = nn.Linear(hidden_dim, hidden_dim, bias=False)  # U
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.Linear(hidden_dim, n_outputs)

    def scaled_delta(self, series: SeriesBatch) -> torch.Tensor:
        return series.delta_t / self.horizon

    def decayed_input(self, series: SeriesBatch) -> torch.Tensor:
        """``x̂`` ``(B, T, F)``: x where measured, else between ``x_last`` and the mean ``x̄`` by ``γ_x``."""
        gamma_x = torch.exp(-torch.relu(self.input_decay_weight * self.scaled_delta(series) + self.input_decay_bias))
        fallback = gamma_x * series.values + (1 - gamma_x) * self.x_mean
        return series.mask * series.values + (1 - series.mask) * fallback

    def hidden_decay_factor(self, series: SeriesBatch) -> torch.Tensor:
        """``γ_h`` ``(B, T, hidden)``."""
        return torch.exp(-torch.relu(self.hidden_decay(self.scaled_delta(series))))

    def encode(self, series: SeriesBatch) -> torch.Tensor:
        """Final hidden state ``(B, hidden)`` after running the cell over all steps."""
        gamma_h = self.hidden_decay_factor(series)
        input_terms = self.input_gates(torch.cat([self.decayed_input(series), series.mask], dim=-1))
        input_zr, input_candidate = input_terms.split([2 * gamma_h.shape[-1], gamma_h.shape[-1]], dim=-1)
        u_zr, u_candidate = self.recurrent_gates.weight.t(), self.recurrent_candidate.weight.t()
        h = gamma_h.new_zeros(gamma_h.shape[0], gamma_h.shape[-1])
        # Fused ops (addmm, lerp) make the Python loop about 3x faster than the spelled-out equations.
        for x_zr, x_candidate, decay in zip(input_zr.unbind(1), input_candidate.unbind(1), gamma_h.unbind(1)):
            h_decayed = decay * h
            z, r = torch.sigmoid(torch.addmm(x_zr, h_decayed, u_zr)).chunk(2, dim=-1)
            candidate = torch.tanh(torch.addmm(x_candidate, r * h_decayed, u_candidate))
            h = torch.lerp(h_decayed, candidate, z)  # (1 - z) ⊙ ĥ + z ⊙ h̃
        return h

    def forward(self, inputs: ModelInputs, with_aux: bool = True) -> ModelOutput:
        return ModelOutput(self.heads(self.dropout(self.encode(inputs.series[STRUCTURED]))), {})


def build(input_spec: InputSpec, params: Mapping[str, Any]) -> GRUD:
    return GRUD(input_spec.series[STRUCTURED], params["hidden_dim"], params["dropout"], input_spec.n_outputs)
