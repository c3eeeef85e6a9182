"""What the registry says about a model, importable without torch or scikit-learn.

A :class:`ModelSpec` is plain data: name, labels, the inputs it reads, its hyperparameters and the
*name* of the code that makes it (``module`` and ``builder``). The workflow reads specs while it is
parsed (config schema, input files, rule parameters), so this module and :mod:`mmnar.models.registry`
import neither torch nor a model module: ``module`` is imported only when a network is built
(:meth:`ModelSpec.build`) or an estimator's recipe is made (:meth:`ModelSpec.recipe`), inside a job.
The torch side of the contract (batches, outputs, input shapes) is :mod:`mmnar.models.base`.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from mmnar.models.base import InputSpec

VECTOR = "vector"
SEQUENCE = "sequence"
FORMS = (VECTOR, SEQUENCE)
"""How a model reads a modality: a flat vector, or a time series (values, mask, time since last)."""

TORCH = "torch"
ESTIMATOR = "estimator"
"""The two kinds of model: an ``nn.Module`` trained by the shared trainer, or a scikit-learn estimator
fitted by :mod:`mmnar.training.estimators` (one classifier per task, no epochs)."""

STRUCTURED = "S"
"""The structured EHR modality: the one the time-series models read as its hourly series, and the
base vector of the scikit-learn references."""


@dataclass(frozen=True)
class Search:
    """Where hyperparameter tuning looks for a parameter (:mod:`mmnar.training.tuning`): ``kind``
    ``log`` (log-uniform), ``float`` or ``int`` over ``[low, high]``, or ``choice`` over ``choices``;
    ``multiple_of`` names a parameter that each choice must be a multiple of (e.g. attention heads)."""

    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple = ()
    multiple_of: str | None = None


@dataclass(frozen=True)
class Param:
    """One model hyperparameter: its default, a JSON-schema fragment, a one-line description and,
    if tuning may change it, where to search."""

    default: Any
    schema: Mapping[str, Any]
    doc: str
    search: Search | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    ``module`` holds the model's code and ``builder`` names the callable in it that makes the model:
    for a torch model ``builder(input_spec, params, **options)`` returns the ``nn.Module``; for an
    estimator model ``builder(**options)`` returns its fitting recipe (a
    :class:`mmnar.models.sklearn_references.Reference`). ``options`` are what tells apart models that
    share one builder (the modality of a single-modality reference, a reference's learner and inputs).
    ``reads(modalities, params)`` returns ``{modality: form}`` for the inputs it consumes (a model
    built for all registered modalities reads a fifth one as soon as it is registered).
    ``restrict_to``: a single-modality reference is trained, selected and evaluated only on the
    patients who have that modality; its predictions are NaN elsewhere.
    """

    name: str
    label: str
    citation: str
    module: str
    builder: str
    reads: Callable[[Sequence[str], Mapping[str, Any]], dict[str, str]]
    params: Mapping[str, Param]
    kind: str = TORCH
    options: Mapping[str, Any] = field(default_factory=dict)
    restrict_to: str | None = None

    def defaults(self) -> dict[str, Any]:
        return {key: param.default for key, param in self.params.items()}

    def resolve(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults overridden by ``overrides``; an unknown key is an error, never ignored."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.params))
        if unknown:
            raise KeyError(f"model_params.{self.name}: unknown keys {unknown}; known: {sorted(self.params)}")
        return {**self.defaults(), **overrides}

    def schema(self) -> dict[str, Any]:
        """JSON schema of ``model_params.<name>`` (defaults and descriptions included)."""
        return {"type": "object", "additionalProperties": False,
                "properties": {key: {**param.schema, "default": param.default, "description": param.doc}
                               for key, param in self.params.items()}}

    def build(self, input_spec: InputSpec, params: Mapping[str, Any]) -> nn.Module:
        """The network of a torch model (its module is imported here, not before)."""
        if self.kind != TORCH:
            raise TypeError(f"{self.name} is an {self.kind} model with no network to build; "
                            "mmnar.training.estimators fits it")
        return self._builder()(input_spec, params, **self.options)

    def recipe(self) -> Any:
        """The fitting recipe of an estimator model (its module is imported here, not before)."""
        if self.kind != ESTIMATOR:
            raise TypeError(f"{self.name} is a {self.kind} model with no estimator recipe; mmnar.training.trainer trains it")
        return self._builder()(**self.options)

    def _builder(self) -> Callable[..., Any]:
        return getattr(importlib.import_module(self.module), self.builder)

    def job_entry(self, modalities: Sequence[str], overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Everything a train or predict job of this model takes from the registry, as plain data:
        the code it runs (module, builder, kind, options), each parameter's default and search space,
        what it reads under ``overrides`` and whom it is restricted to. The workflow passes it as a rule
        parameter, so editing one model's entry reruns that model's jobs and no other's."""
        return {"module": self.module, "builder": self.builder, "kind": self.kind, "options": dict(self.options),
                "params": {key: {"default": param.default,
                                 "search": dataclasses.asdict(param.search) if param.search else None}
                           for key, param in self.params.items()},
                "reads": self.reads(modalities, self.resolve(overrides)), "restrict_to": self.restrict_to}


# ``reads`` shared by several models.


def all_vectors(modalities: Sequence[str], params: Mapping[str, Any]) -> dict[str, str]:
    """Every registered modality as a vector."""
    return {m: VECTOR for m in modalities}


def structured_vector(modalities: Sequence[str], params: Mapping[str, Any]) -> dict[str, str]:
    """S as its aggregated vector, nothing else."""
    return {STRUCTURED: VECTOR}


def structured_series(modalities: Sequence[str], params: Mapping[str, Any]) -> dict[str, str]:
    """S as its time series, nothing else (the EHR-only sequence models)."""
    return {STRUCTURED: SEQUENCE}


def structured_series_and_vectors(modalities: Sequence[str], params: Mapping[str, Any]) -> dict[str, str]:
    """S as its time series (the EHR of DrFuse and MedFuse), every other modality as its embedding vector."""
    return {m: SEQUENCE if m == STRUCTURED else VECTOR for m in modalities}


def one_vector(modality: str) -> Callable[[Sequence[str], Mapping[str, Any]], dict[str, str]]:
    """``reads`` of a model that takes ``modality``'s vector and nothing else."""

    def reads(modalities: Sequence[str], params: Mapping[str, Any]) -> dict[str, str]:
        return {modality: VECTOR}

    return reads


# Common parameter declarations, so models that share a meaning share a name and a description.
HIDDEN_DIM = Param(64, {"type": "integer", "minimum": 1}, "width of modality tokens and of the shared representation",
                   Search("choice", choices=(32, 64, 128), multiple_of="n_heads"))
DROPOUT = Param(0.1, {"type": "number", "minimum": 0, "maximum": 1}, "dropout probability", Search("float", 0.0, 0.5))
N_HEADS = Param(4, {"type": "integer", "minimum": 1}, "attention heads; must divide hidden_dim")
N_LAYERS = Param(1, {"type": "integer", "minimum": 1}, "stacked recurrent or Transformer layers")
