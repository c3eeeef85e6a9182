"""Single-modality references: a two-layer MLP on one modality's vector, for the patients who have it.

The registry makes one reference "m only" per registered modality (builder option ``modality``).
With ``restrict_to=m`` the trainer trains, selects and evaluates it only on the patients with m (its
predictions are NaN elsewhere), so it answers "what does m alone predict for the patients who
have it", the yardstick a fusion model's gain on that subgroup is measured against. The model
reads neither delta nor any other modality. For S it reads the aggregated vitals/labs vector; the
time-series references are separate models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from mmnar.models.base import InputSpec, ModelInputs, ModelOutput
from mmnar.models.components import two_layer_mlp


class SingleModality(nn.Module):
    def __init__(self, modality: str, input_dim: int, hidden_dim: int, dropout: float, n_outputs: int):
        super().__init__()
        self.modality = modality
        self.mlp = two_layer_mlp(input_dim, hidden_dim, n_outputs, dropout)

    def forward(self, inputs: ModelInputs, with_aux: bool = True) -> ModelOutput:
        return ModelOutput(self.mlp(inputs.vectors[self.modality]), {})


def build(input_spec: InputSpec, params: Mapping[str, Any], modality: str) -> SingleModality:
    return SingleModality(modality, input_spec.vector_dims[modality], params["hidden_dim"], params["dropout"],
                          input_spec.n_outputs)
