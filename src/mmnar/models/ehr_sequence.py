"""CareBench's EHR-only references: an LSTM and a Transformer over the hourly S time series.

Yin, Xu, Yao, Liu, Chen, Cheung, Cheung, Qin, "When Does Multimodal Learning Help in Healthcare? A
Benchmark on EHR and Chest X-Ray Fusion" (CareBench, preprint 2025, github.com/jakeykj/CareBench)
benchmarks two uni-modal EHR baselines, "the classic LSTM and the Transformer", on the hourly,
forward-filled, median-imputed, robust-scaled series with binary mask columns: the same input
this pipeline's S series is built as. Architecture as implemented:

- ``lstm``: :class:`~mmnar.models.series_encoders.RecurrentSeriesEncoder` (an LSTM over the steps,
  the last layer's final hidden state), then dropout and a linear head per task;
- ``transformer``: :class:`~mmnar.models.series_encoders.TransformerSeriesEncoder` (a linear step
  embedding plus positions, a Transformer encoder, the mean over steps), then dropout and a
  linear head per task.

Settings from CareBench's configs (``configs/train_configs/{lstm,transformer}_*.yaml``): 1 layer,
4 attention heads, dropout 0.2 on the pooled feature (``models/base/base_encoder.py``). Adapted:
width 64 instead of 256, to fit this workflow's CPU budget; the shared encoders are used as they
are, so "an LSTM over S" is the same network as in MedFuse, DrFuse and CRL-MMNAR: the LSTM is
unidirectional without CareBench's input and output projections, and the Transformer has fixed
sinusoidal positions, pre-norm layers and a 2x feed-forward (CareBench: learned positions,
post-norm, 4x). Each step also carries the time since each feature was last measured, besides
values and mask (CareBench feeds values and masks).

Only S is read. CareBench's EHR is present for every stay; here a patient without S gets whatever
the network computes from an all-unobserved series (values at the training median, mask 0, time
since last = time since the horizon start), which is the same for all such patients: a learned
constant prediction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from mmnar.models.base import InputSpec, ModelInputs, ModelOutput
from mmnar.models.series_encoders import RecurrentSeriesEncoder, TransformerSeriesEncoder
from mmnar.models.spec import STRUCTURED


class EHRSequenceModel(nn.Module):
    """A series encoder over S, then dropout and one linear head per task."""

    def __init__(self, encoder: nn.Module, hidden_dim: int, dropout: float, n_outputs: int):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.Linear(hidden_dim, n_outputs)

    def forward(self, inputs: ModelInputs, with_aux: bool = True) -> ModelOutput:
        return ModelOutput(self.heads(self.dropout(self.encoder(inputs.series[STRUCTURED]))), {})


def build_lstm(input_spec: InputSpec, params: Mapping[str, Any]) -> EHRSequenceModel:
    shape = input_spec.series[STRUCTURED]
    encoder = RecurrentSeriesEncoder(shape.n_features, params["hidden_dim"], params["n_layers"], params["dropout"], cell="lstm")
    return EHRSequenceModel(encoder, params["hidden_dim"], params["dropout"], input_spec.n_outputs)


def build_transformer(input_spec: InputSpec, params: Mapping[str, Any]) -> EHRSequenceModel:
    shape = input_spec.series[STRUCTURED]
    encoder = TransformerSeriesEncoder(shape.n_features, shape.n_steps, params["hidden_dim"], params["n_heads"],
                                       params["n_layers"], params["dropout"])
    return EHRSequenceModel(encoder, params["hidden_dim"], params["dropout"], input_spec.n_outputs)
