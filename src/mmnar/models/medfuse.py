"""MedFuse (Hayat, Geras, Shamout, "MedFuse: Multi-modal fusion with clinical time-series data and
chest X-ray images", MLHC 2022, PMLR 182): an LSTM that reads the modality representations as a
sequence, so a missing modality is simply a shorter sequence.

Architecture as implemented (facts from the official code, github.com/nyuad-cai/MedFuse,
``models/fusion.py`` ``forward_lstm_fused`` and ``models/ehr_models.py``):

- EHR encoder: a stacked LSTM over the hourly S series (2 layers in MedFuse's scripts,
  ``--layers 2``); the last layer's final hidden state, after dropout, is the S token;
- every other modality: its precomputed embedding through a two-layer MLP to the token size. This
  replaces MedFuse's fine-tuned ResNet-34 and its linear ``projection`` into the EHR feature size,
  because this pipeline feeds embeddings, not images (I) or note text (T, R);
- fusion: a single-layer LSTM reads the tokens in a fixed order, S first, then the others in
  registry order, skipping the missing ones (a packed variable-length sequence, as MedFuse packs
  EHR-only stays to length 1 rather than feeding a zero CXR token); its final hidden state goes
  to a linear classifier (MedFuse's ``lstm_fused_cls``, sigmoid left to the loss);
- a patient with no modality at all is a length-0 sequence: its fused state is the LSTM's initial
  state (zeros), so its logits are the classifier's bias, i.e. a learned constant. MedFuse never
  meets this case (the EHR is always present there).

Adapted: two modalities become every registered modality; the fusion LSTM's width equals the
token width (MedFuse uses the CXR feature width, 512). MedFuse also trains in two stages
(the EHR LSTM pre-trained on the task, the CXR encoder on the 14 radiology labels, then everything
fine-tuned through the fusion module); here it is trained jointly end to end, since the embeddings
are already pre-trained and one trainer serves every model. ``lambda_unimodal`` > 0 adds, as a
cheap stand-in for the pre-training stages, a linear task head on each modality's token trained
on the patients who have that modality (terms ``unimodal_<m>``; MedFuse's EHR model has such a
head, ``dense_layer``); the default 0 is plain joint training of the fused loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from mmnar.models.base import InputSpec, ModelInputs, ModelOutput
from mmnar.models.components import two_layer_mlp
from mmnar.models.series_encoders import RecurrentSeriesEncoder
from mmnar.models.spec import STRUCTURED


class MedFuse(nn.Module):
    def __init__(self, input_spec: InputSpec, hidden_dim: int, n_layers: int, dropout: float, lambda_unimodal: float):
        super().__init__()
        self.order = (STRUCTURED,) + tuple(m for m in input_spec.modalities if m != STRUCTURED)  # S first
        self.columns = [input_spec.modalities.index(m) for m in self.order]  # delta columns in fusion order
        self.encoders = nn.ModuleDict({
            m: RecurrentSeriesEncoder(input_spec.series[m].n_features, hidden_dim, n_layers, cell="lstm")
            if m in input_spec.series else two_layer_mlp(input_spec.vector_dims[m], hidden_dim, hidden_dim, dropout)
            for m in self.order
        })
        self.dropout = nn.Dropout(dropout)  # on the EHR features, as MedFuse's LSTM does
        self.fusion = nn.LSTM(hidden_dim, hidden_dim, batch_first=True)
        self.classifier = nn.Linear(hidden_dim, input_spec.n_outputs)
        self.unimodal_heads = (nn.ModuleDict({m: nn.Linear(hidden_dim, input_spec.n_outputs) for m in self.order})
                               if lambda_unimodal > 0 else None)

    def tokens(self, inputs: ModelInputs) -> torch.Tensor:
        """``(B, K, d)`` modality tokens in fusion order (S first)."""
        encoded = [self.dropout(self.encoders[m](inputs.series[m])) if m in inputs.series else self.encoders[m](inputs.vectors[m])
                   for m in self.order]
        return torch.stack(encoded, dim=1)

    def fuse(self, tokens: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """Final hidden state of the fusion LSTM over each patient's observed tokens, in the given order.

        The observed tokens are moved to the front (order kept) and packed, so a missing token
        never enters the recurrence; a patient with none keeps the initial state, zeros.
        """
        batch, n_tokens, _ = tokens.shape
        positions = torch.arange(n_tokens, device=tokens.device)
        order = torch.argsort((~observed).long() * n_tokens + positions, dim=1)
        front = tokens.gather(1, order.unsqueeze(-1).expand_as(tokens))
        lengths = observed.sum(dim=1)
        fused = tokens.new_zeros(batch, self.fusion.hidden_size)
        rows = lengths > 0
        if rows.any():
            packed = pack_padded_sequence(front[rows], lengths[rows].cpu(), batch_first=True, enforce_sorted=False)
            _, (hidden, _) = self.fusion(packed)
            fused = fused.index_put((rows.nonzero().squeeze(1),), hidden[-1])
        return fused

    def forward(self, inputs: ModelInputs, with_aux: bool = True) -> ModelOutput:
        observed = inputs.delta[:, self.columns] > 0.5
        tokens = self.tokens(inputs)
        logits = self.classifier(self.fuse(tokens, observed))
        extras: dict[str, torch.Tensor] = {}
        if with_aux and self.unimodal_heads is not None:
            extras["unimodal_logits"] = torch.stack([self.unimodal_heads[m](tokens[:, k]) for k, m in enumerate(self.order)])
            extras["observed"] = observed
        return ModelOutput(logits, {}, extras)

    def supervised_terms(self, output: ModelOutput, labels: torch.Tensor, prediction_loss) -> dict[str, torch.Tensor]:
        """``unimodal_<m>``: each modality's own head's task loss (summed over tasks) on the patients with m."""
        if "unimodal_logits" not in output.extras:
            return {}
        unimodal, observed = output.extras["unimodal_logits"], output.extras["observed"]
        undefined = torch.full_like(labels, math.nan)
        return {f"unimodal_{m}": prediction_loss(unimodal[k], torch.where(observed[:, k:k + 1], labels, undefined)).sum()
                for k, m in enumerate(self.order)}


def build(input_spec: InputSpec, params: Mapping[str, Any]) -> MedFuse:
    return MedFuse(input_spec, hidden_dim=params["hidden_dim"], n_layers=params["n_layers"],
                   dropout=params["dropout"], lambda_unimodal=params["lambda_unimodal"])
