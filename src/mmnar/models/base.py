"""The torch side of the contract between the shared trainer and every model: what a network reads and returns.

A model module defines its ``nn.Module`` and a builder; its registry entry (a
:class:`~mmnar.models.spec.ModelSpec` in :mod:`mmnar.models.registry`) names both. The trainer
(``mmnar.training.trainer``) standardises the inputs with training-split statistics, builds
:class:`ModelInputs` and calls ``model(inputs, with_aux=...)``; it adds the task losses and each
auxiliary term weighted by the model parameter ``lambda_<prefix>`` (``prefix`` = the term's name up
to the first ``_``), so a model's loss terms and their weights are declared in one place.

A second kind of model, an *estimator* (``ModelSpec.kind == ESTIMATOR``), is not a network: its spec
names a recipe that ``mmnar.training.estimators`` fits with scikit-learn, one classifier per task,
instead of the torch trainer (:mod:`mmnar.models.sklearn_references`). It is registered, configured,
trained, predicted and evaluated through the same names, files and stages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch

from mmnar.data.tasks import DEFAULT_RUN, Task


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


SupervisedTerms = Callable[[ModelOutput, torch.Tensor, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]],
                           dict[str, torch.Tensor]]
"""Optional model method ``supervised_terms(output, labels, prediction_loss)``: loss terms that need
the labels (e.g. DrFuse's auxiliary predictions). ``prediction_loss(logits, labels)`` returns the
per-task loss ``(n_tasks,)`` over the defined labels; the trainer weights each returned term by
``lambda_<prefix>`` like the auxiliary terms."""

