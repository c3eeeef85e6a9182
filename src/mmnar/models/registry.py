"""Model registry: one :class:`ModelSpec` per model, gathered from the model modules.

Names, display labels, citations, the inputs each model reads and its hyperparameters live in the
spec only; the config schema's ``models`` enum, the table rows and the README's model table are
checked against this registry by tests. Single-modality references are derived from the modality
registry, so a new modality gets one too. The scikit-learn references (``kind`` estimator) follow the
concatenation baseline.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from mmnar.modalities.registry import names as modality_names
from mmnar.models import (basic_concat, crl_mmnar, drfuse, ehr_sequence, grud, late_fusion, medfuse, mmnar_fusion,
                          single_modality, sklearn_references)
from mmnar.models.base import TORCH, InputSpec, ModelSpec

_LEADING_SPECS = (crl_mmnar.SPEC, mmnar_fusion.SPEC, basic_concat.SPEC)
_MODULE_SPECS = (crl_mmnar.SPEC_WITH_OFFSETS, drfuse.SPEC, medfuse.SPEC, *grud.SPECS, *ehr_sequence.SPECS, late_fusion.SPEC)


def specs() -> dict[str, ModelSpec]:
    """Every registered model by name: the CRL-MMNAR ablation chain, the scikit-learn references, the
    other deep models, single-modality references last (in modality order)."""
    all_specs = [*_LEADING_SPECS, *sklearn_references.specs(modality_names()), *_MODULE_SPECS,
                 *(single_modality.spec_for(m) for m in modality_names())]
    names = [spec.name for spec in all_specs]
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate model names in the registry: {names}")
    return {spec.name: spec for spec in all_specs}


def get(name: str) -> ModelSpec:
    registered = specs()
    if name not in registered:
        raise KeyError(f"unknown model {name!r}; registered: {sorted(registered)}")
    return registered[name]


def build_model(name: str, input_spec: InputSpec, params: Mapping[str, Any] | None = None) -> nn.Module:
    spec = get(name)
    if spec.kind != TORCH:
        raise TypeError(f"{name} is a {spec.kind} model with no network to build; mmnar.training.estimators fits it")
    return spec.build(input_spec, spec.resolve(params))
