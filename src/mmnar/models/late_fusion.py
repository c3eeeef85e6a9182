"""Late fusion: one predictor per modality, their probabilities averaged over the observed modalities.

The classic decision-level fusion baseline (no single source; CareBench, Yin et al., calls its
embedding-concatenation model "late fusion", which this is not). Each modality m has its own
two-layer MLP on its vector (S: the aggregated vitals/labs vector) giving task logits ``l_m``;
the fused probability is the mean of ``sigmoid(l_m)`` over the patient's observed modalities and
the output logit is its inverse sigmoid, computed stably in log space. A missing modality's
predictor output is left out of the mean, so its content cannot matter.

A patient with no observed modality gets a learned per-task logit (trained by the fused loss on
such patients, so it tends to their log-odds) rather than 0: 0 would mean probability 1/2, far
from the prevalence of any task here.

Losses: the trainer's fused loss, plus (terms ``unimodal_<m>``, weight ``lambda_unimodal``) each
predictor's own task loss on the patients who have m. Trained on the fused loss alone, the
predictors would co-adapt (one can stay uninformative while the others compensate), which is not
late fusion; separately trained unimodal models, the textbook recipe, correspond to a large
``lambda_unimodal``. The default 1 gives each predictor its own supervision at the weight of the
fused loss.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmnar.models.base import InputSpec, ModelInputs, ModelOutput
from mmnar.models.components import two_layer_mlp

_EXCLUDED = -1e4
"""Log-probability filler for a missing modality: finite, so gradients stay free of NaN, and
``exp`` of it underflows to an exact 0 in the log-sum-exp."""


class LateFusion(nn.Module):
    def __init__(self, input_spec: InputSpec, hidden_dim: int, dropout: float):
        super().__init__()
        self.modalities = input_spec.modalities
        self.predictors = nn.ModuleDict({m: two_layer_mlp(input_spec.vector_dims[m], hidden_dim, input_spec.n_outputs, dropout)
                                         for m in self.modalities})
        self.no_modality_logit = nn.Parameter(torch.zeros(input_spec.n_outputs))

    def modality_logits(self, inputs: ModelInputs) -> torch.Tensor:
        """``(M, B, n_outputs)``: each modality's predictor, in registry order."""
        return torch.stack([self.predictors[m](inputs.vectors[m]) for m in self.modalities])

    def fuse(self, modality_logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
        """``logit(mean_{m observed} sigmoid(l_m))`` = ``LSE log sigmoid(l_m) - LSE log sigmoid(-l_m)``."""
        keep = observed.T.unsqueeze(-1)  # (M, B, 1)
        log_p = torch.where(keep, F.logsigmoid(modality_logits), _EXCLUDED).logsumexp(dim=0)
        log_not_p = torch.where(keep, F.logsigmoid(-modality_logits), _EXCLUDED).logsumexp(dim=0)
        return torch.where(observed.any(dim=1, keepdim=True), log_p - log_not_p, self.no_modality_logit)

    def forward(self, inputs: ModelInputs, with_aux: bool = True) -> ModelOutput:
        observed = inputs.delta > 0.5
        per_modality = self.modality_logits(inputs)
        extras = {"modality_logits": per_modality, "observed": observed} if with_aux else {}
        return ModelOutput(self.fuse(per_modality, observed), {}, extras)

    def supervised_terms(self, output: ModelOutput, labels: torch.Tensor, prediction_loss) -> dict[str, torch.Tensor]:
        """``unimodal_<m>``: predictor m's task loss (summed over tasks) on the patients with m."""
        if "modality_logits" not in output.extras:
            return {}
        per_modality, observed = output.extras["modality_logits"], output.extras["observed"]
        undefined = torch.full_like(labels, math.nan)
        return {f"unimodal_{m}": prediction_loss(per_modality[k], torch.where(observed[:, k:k + 1], labels, undefined)).sum()
                for k, m in enumerate(self.modalities)}


def build(input_spec: InputSpec, params: Mapping[str, Any]) -> LateFusion:
    return LateFusion(input_spec, hidden_dim=params["hidden_dim"], dropout=params["dropout"])
