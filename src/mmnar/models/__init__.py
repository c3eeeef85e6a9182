"""Model registry: every model shares the trainer, embeddings, splits and evaluation.

A model is an ``nn.Module`` whose ``forward(inputs, delta, with_aux=True)`` takes a dict of
standardised modality tensors ``{m: (B, d_m)}`` and the float/bool delta ``(B, 4)`` and returns
:class:`ModelOutput` (task logits and unweighted auxiliary loss terms, see
:func:`mmnar.losses.total_loss`); ``represent`` returns the shared representation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from mmnar.models import basic_concat, crl_mmnar, mmnar_fusion
from mmnar.models.components import ModelOutput
from mmnar.models.hyperparams import DEFAULT_PARAMS, resolve_params

MODEL_BUILDERS: dict[str, Callable[[Mapping[str, int], Mapping[str, Any]], nn.Module]] = {
    "crl_mmnar": crl_mmnar.build,
    "mmnar_fusion": mmnar_fusion.build,
    "basic_concat": basic_concat.build,
}


def build_model(name: str, input_dims: Mapping[str, int], params: Mapping[str, Any] | None = None) -> nn.Module:
    """Instantiate registered model ``name``; ``params`` are overrides of :data:`DEFAULT_PARAMS`."""
    if name not in MODEL_BUILDERS:
        raise KeyError(f"unknown model {name!r}; registered: {sorted(MODEL_BUILDERS)}")
    return MODEL_BUILDERS[name](input_dims, resolve_params(params))


__all__ = ["DEFAULT_PARAMS", "MODEL_BUILDERS", "ModelOutput", "build_model", "resolve_params"]
