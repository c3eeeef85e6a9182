"""Single-modality references: a two-layer MLP on one modality's vector, for the patients who have it.

``spec_for(m)`` gives the reference "m only"; the registry makes one per registered modality. With
``restrict_to=m`` the trainer trains, selects and evaluates it only on the patients with m (its
predictions are NaN elsewhere), so it answers "what does m alone predict for the patients who
have it", the yardstick a fusion model's gain on that subgroup is measured against. The model
reads neither delta nor any other modality. For S it reads the aggregated vitals/labs vector; the
time-series references are separate models.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from mmnar.models.base import DROPOUT, HIDDEN_DIM, VECTOR, InputSpec, ModelInputs, ModelOutput, ModelSpec
from mmnar.models.components import two_layer_mlp


class SingleModality(nn.Module):
    def __init__(self, modality: str, input_dim: int, hidden_dim: int, dropout: float, n_outputs: int):
        super().__init__()
        self.modality = modality
        self.mlp = two_layer_mlp(input_dim, hidden_dim, n_outputs, dropout)

    def forward(self, inputs: ModelInputs, with_aux: bool = True) -> ModelOutput:
        return ModelOutput(self.mlp(inputs.vectors[self.modality]), {})


def spec_for(modality: str) -> ModelSpec:
    """The ``<m>_only`` reference for ``modality``."""

    def reads(modalities: Sequence[str], params: Mapping[str, Any]) -> dict[str, str]:
        return {modality: VECTOR}

    def build(input_spec: InputSpec, params: Mapping[str, Any]) -> SingleModality:
        return SingleModality(modality, input_spec.vector_dims[modality], params["hidden_dim"], params["dropout"],
                              input_spec.n_outputs)

    return ModelSpec(
        name=f"{modality.lower()}_only",
        label=f"{modality} only (patients with {modality})",
        citation=f"Single-modality reference: MLP on {modality} alone, restricted to the patients with {modality}.",
        reads=reads,
        build=build,
        params={"hidden_dim": dataclasses.replace(HIDDEN_DIM, doc="hidden width of the MLP"), "dropout": DROPOUT},
        restrict_to=modality,
    )
