"""The contract between the shared trainer and every model: what a model reads, builds and returns.

A model module defines one :class:`ModelSpec` named ``SPEC`` and its ``nn.Module``. The trainer
(``mmnar.training.trainer``) standardises the inputs with training-split statistics, builds
:class:`ModelInputs` and calls ``model(inputs, with_aux=...)``; it adds the task losses and each
auxiliary term weighted by the model parameter ``lambda_<prefix>`` (``prefix`` = the term's name up
to the first ``_``), so a model's loss terms and their weights are declared in one place.

A second kind of model, an *estimator* (``ModelSpec.kind == ESTIMATOR``), is not a network: its spec
carries a recipe (``estimator``) that ``mmnar.training.estimators`` fits with scikit-learn, one
classifier per task, instead of the torch trainer (:mod:`mmnar.models.sklearn_references`). It is
registered, configured, trained, predicted and evaluated through the same names, files and stages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from mmnar.data.tasks import DEFAULT_RUN, Task

VECTOR = "vector"
SEQUENCE = "sequence"
FORMS = (VECTOR, SEQUENCE)
"""How a model reads a modality: a flat vector, or a time series (values, mask, time since last)."""

TORCH = "torch"
ESTIMATOR = "estimator"
"""The two kinds of model: an ``nn.Module`` trained by the shared trainer, or a scikit-learn estimator."""


class ModelOutput(NamedTuple):
    """Task logits ``(B, n_outputs)``, the model's unweighted auxiliary loss terms, and any extra
    tensors (e.g. auxiliary logits) that :meth:`supervised_terms` needs."""

    logits: torch.Tensor
    aux_terms: dict[str, torch.Tensor]
    extras: dict[str, torch.Tensor] = {}


@dataclass
class SeriesBatch:
    """A time-series modality, all ``(B, T, F)`` float tensors, already imputed and scaled.

    ``values``: forward-filled, then the training-split median before the first observation, then
    robust-scaled (so 0 is the training median); ``mask``: 1 where the bin holds a measurement;
    ``delta_t``: hours since the feature was last measured (since the start of the horizon if never).
    """

    values: torch.Tensor
    mask: torch.Tensor
    delta_t: torch.Tensor

    def index(self, rows: torch.Tensor) -> SeriesBatch:
        return SeriesBatch(self.values[rows], self.mask[rows], self.delta_t[rows])

    def to(self, device: torch.device | str) -> SeriesBatch:
        return SeriesBatch(self.values.to(device), self.mask.to(device), self.delta_t.to(device))


@dataclass
class ModelInputs:
    """One batch: ``delta`` ``(B, M)`` float (1 = observed, columns in modality-registry order);
    ``vectors`` ``{m: (B, d_m)}`` standardised, exactly 0 where m is missing; ``series``
    ``{m: SeriesBatch}`` for the modalities read as sequences (mask all 0 where m is missing)."""

    delta: torch.Tensor
    vectors: dict[str, torch.Tensor] = field(default_factory=dict)
    series: dict[str, SeriesBatch] = field(default_factory=dict)

    def index(self, rows: torch.Tensor) -> ModelInputs:
        return ModelInputs(self.delta[rows], {m: x[rows] for m, x in self.vectors.items()},
                           {m: s.index(rows) for m, s in self.series.items()})

    def to(self, device: torch.device | str) -> ModelInputs:
        return ModelInputs(self.delta.to(device), {m: x.to(device) for m, x in self.vectors.items()},
                           {m: s.to(device) for m, s in self.series.items()})

    def observed(self, modality: str, modalities: Sequence[str]) -> torch.Tensor:
        """``(B,)`` bool: which patients have ``modality``."""
        return self.delta[:, list(modalities).index(modality)] > 0.5


@dataclass(frozen=True)
class SeriesShape:
    """Shape of a sequence input: ``n_steps`` bins of ``n_features``; ``mean`` ``(F,)`` is the
    training-split empirical mean of the observed values in scaled units (GRU-D decays towards it)."""

    n_steps: int
    n_features: int
    mean: np.ndarray


@dataclass(frozen=True)
class InputSpec:
    """What a model is built for: every registered modality in δ order, the dimension of each
    vector input, the shape of each sequence input, the number of task outputs and the tasks they
    belong to (the run's; a multi-class task has one output per class)."""

    modalities: tuple[str, ...]
    vector_dims: Mapping[str, int]
    series: Mapping[str, SeriesShape]
    n_outputs: int
    tasks: tuple[Task, ...] = DEFAULT_RUN


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

    ``reads(modalities, params)`` returns ``{modality: form}`` for the inputs it consumes (a model
    built for all registered modalities reads a fifth one as soon as it is registered).
    ``restrict_to``: a single-modality reference is trained, selected and evaluated only on the
    patients who have that modality; its predictions are NaN elsewhere.
    ``build`` makes the network of a torch model; an estimator model has ``build=None`` and its
    recipe in ``estimator`` (an :class:`mmnar.models.sklearn_references.Reference`), fitted by
    ``mmnar.training.estimators``.
    """

    name: str
    label: str
    citation: str
    reads: Callable[[Sequence[str], Mapping[str, Any]], dict[str, str]]
    build: Callable[[InputSpec, Mapping[str, Any]], nn.Module] | None
    params: Mapping[str, Param]
    restrict_to: str | None = None
    estimator: Any = None

    @property
    def kind(self) -> str:
        """:data:`TORCH` or :data:`ESTIMATOR`."""
        return TORCH if self.estimator is None else ESTIMATOR

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


def all_vectors(modalities: Sequence[str], params: Mapping[str, Any]) -> dict[str, str]:
    """``reads`` of a model that takes every registered modality as a vector."""
    return {m: VECTOR for m in modalities}


SupervisedTerms = Callable[[ModelOutput, torch.Tensor, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]],
                           dict[str, torch.Tensor]]
"""Optional model method ``supervised_terms(output, labels, prediction_loss)``: loss terms that need
the labels (e.g. DrFuse's auxiliary predictions). ``prediction_loss(logits, labels)`` returns the
per-task loss ``(n_tasks,)`` over the defined labels; the trainer weights each returned term by
``lambda_<prefix>`` like the auxiliary terms."""


# Common parameter declarations, so models that share a meaning share a name and a description.
HIDDEN_DIM = Param(64, {"type": "integer", "minimum": 1}, "width of modality tokens and of the shared representation",
                   Search("choice", choices=(32, 64, 128), multiple_of="n_heads"))
DROPOUT = Param(0.1, {"type": "number", "minimum": 0, "maximum": 1}, "dropout probability", Search("float", 0.0, 0.5))
N_HEADS = Param(4, {"type": "integer", "minimum": 1}, "attention heads; must divide hidden_dim")
N_LAYERS = Param(1, {"type": "integer", "minimum": 1}, "stacked recurrent or Transformer layers")
