"""DrFuse: disentangled shared/distinct representations, logit pooling and disease-aware attention.

Yao W, Yin K, Cheung WK, Liu J, Qin J. "DrFuse: Learning Disentangled Representation for Clinical
Multi-Modal Fusion with Missing Modality and Modal Inconsistency", AAAI 2024; official code
github.com/dorothy-yao/drfuse (``models/drfuse.py``, ``models/drfuse_trainer.py``), which settles
the details the paper leaves open. Architecture as implemented, for every registered modality m:

- two encoders with a common first layer give a shared ``h_m^sh`` and a distinct ``h_m^di``
  representation (width ``hidden_dim``). The EHR modality S is read as the hourly series: a
  :class:`~mmnar.models.series_encoders.TransformerSeriesEncoder` layer (the common low-level layer,
  official ``model_feat``), then a shared and a distinct Transformer branch, each mean-pooled over
  the steps. Every other modality arrives as a precomputed embedding vector: a Linear-GELU layer in
  common, then a two-layer MLP per branch. The shared outputs of all modalities pass through one
  common three-layer MLP (official ``shared_project``);
- alignment: each ``h_m^sh`` is read as the logits of independent Bernoulli variables, and the
  Jensen-Shannon divergence of the observed modalities' distributions to their mixture is
  minimised (:func:`jensen_shannon`, term ``jsd_shared``);
- the patient's shared representation ``h^sh`` is the logit pooling of the observed modalities'
  shared representations, the logits of that mixture (:func:`logit_pool`, Eq. 2-3);
- disentanglement: ``|cos(h_m^sh, h_m^di)|`` per observed modality (terms ``orth_<m>``, Eq. 4);
- disease-aware masked attention (Eq. 5-8) over ``H = [h_1^di, ..., h_M^di, h^sh]``: one query
  from the mean of the available rows' query projections, a key projection per task c,
  ``alpha_c = softmax(q K_c^T / sqrt(d))`` with the missing modalities' rows masked out,
  ``h_c = alpha_c^T H W^V`` and a linear head per task gives the task logit;
- auxiliary predictions (Eq. 9): a linear head per row of H, trained on the patients where that
  row exists (terms ``aux_<m>``, ``aux_shared``);
- attention ranking (Eq. 10): for each task and each pair of available rows, the row whose
  auxiliary prediction has the lower (detached) BCE must get the larger attention weight,
  a hinge ``max(0, margin - sign * (alpha_i - alpha_j))`` averaged over its violated entries as in
  the official code (term ``rank_attention``).

Loss weights follow the official defaults (all 1; margin 0, ``F.margin_ranking_loss``'s default).

Adapted, and why:

- two modalities (EHR + CXR) to M: the paper's "CXR missing" cases become "any modality missing".
  Logit pooling, the JSD mixture and the attention query use the observed modalities only; a
  missing modality's distinct row is masked out of the attention (exact zero weight), its
  ``orth_<m>`` and ``aux_<m>`` terms skip the patient. ``h^sh`` exists when at least one modality
  is observed; a patient with none gets ``h^sh = 0`` (attended alone, a constant prediction).
  The JSD and the ranking loss need two observed modalities, as the paper's Eq. 13 restricts them
  to paired patients; ``aux_shared`` covers every patient with a modality, as the official code
  trains it on EHR-only patients too. S can be missing here (the paper's EHR never is), so it is
  masked like the others.
- JSD: the paper's Bernoulli reading (``p log p/m + (1-p) log (1-p)/(1-m)`` per dimension),
  summed over dimensions and averaged over patients; the official code keeps only the
  ``p log p/m`` half. With more than two modalities it is the generalised JSD, the mean KL of each
  observed distribution to their mixture, whose logits are exactly the logit pooling.
- ranking: the official code normalises each of its three pair types separately and averages
  them; with M+1 rows the violated entries of all pairs are averaged together. Ties impose no order.
- CXR pixels through ResNet-50 become a precomputed embedding through MLPs, since this pipeline
  feeds embeddings; the EHR Transformer is the shared pre-norm encoder with fixed positions
  (official: learned positions, post-norm) so that "a Transformer over S" is one network across
  models; width 64 (official 256) for the CPU budget; auxiliary heads are linear as in the
  official code (the paper says two-layer networks). The official ``aug_missing_ratio``
  augmentation (default off) is not implemented.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmnar.models.base import InputSpec, ModelInputs, ModelOutput, SeriesBatch, SeriesShape
from mmnar.models.components import two_layer_mlp
from mmnar.models.losses import output_targets
from mmnar.models.series_encoders import TransformerSeriesEncoder

_EXCLUDED_LOG = -1e4
"""Stands in for log(0) of an unobserved modality: finite, so no inf - inf reaches the gradient."""


def logit_pool(logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """``sigma^-1(mean_{m observed} sigma(h_m))``: the logits of the observed distributions' mixture.

    ``logits`` ``(B, M, d)``, ``observed`` ``(B, M)`` bool -> ``(B, d)``; with two observed this is
    Eq. 2, ``log((2e^{a+b} + e^a + e^b) / (2 + e^a + e^b))``, with one it is that one's logits, with
    none it is 0. Computed as ``logsumexp log sigma(h) - logsumexp log sigma(-h)`` for stability.
    """
    excluded = ~observed.unsqueeze(-1)
    log_p = torch.logsumexp(F.logsigmoid(logits).masked_fill(excluded, _EXCLUDED_LOG), dim=1)
    log_not_p = torch.logsumexp(F.logsigmoid(-logits).masked_fill(excluded, _EXCLUDED_LOG), dim=1)
    pooled = log_p - log_not_p
    return torch.where(observed.any(dim=1, keepdim=True), pooled, torch.zeros_like(pooled))


def bernoulli_kl(logits_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """Element-wise ``KL(Bernoulli(sigma(a)) || Bernoulli(sigma(b)))`` from logits."""
    p = torch.sigmoid(logits_p)
    return (p * (F.logsigmoid(logits_p) - F.logsigmoid(logits_q))
            + (1 - p) * (F.logsigmoid(-logits_p) - F.logsigmoid(-logits_q)))


def jensen_shannon(logits: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """Per-patient JSD ``(B,)`` of the observed modalities' ``sigma(h_m)`` (Eq. 1 for two).

    The mean over observed m of ``KL(P_m || M)``, summed over the d dimensions, where the mixture M
    has logits ``logit_pool(h, observed)``. Zero for a patient with fewer than two observed.
    """
    mixture = logit_pool(logits, observed).unsqueeze(1)
    divergence = bernoulli_kl(logits, mixture).sum(dim=-1)
    weights = observed.to(divergence.dtype)
    return (divergence * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def orthogonality(shared: torch.Tensor, distinct: torch.Tensor, observed: torch.Tensor) -> torch.Tensor:
    """``|cos(h_m^sh, h_m^di)|`` averaged over the patients with m, one value per modality ``(M,)``.

    ``shared``, ``distinct`` ``(B, M, d)``, ``observed`` ``(B, M)`` bool.
    """
    weights = observed.to(shared.dtype)
    cosine = F.cosine_similarity(shared, distinct, dim=-1).abs()
    return (cosine * weights).sum(dim=0) / weights.sum(dim=0).clamp(min=1.0)


def attention_ranking_loss(attention: torch.Tensor, losses: torch.Tensor, usable: torch.Tensor,
                           margin: float = 0.0) -> torch.Tensor:
    """Hinge on every pair of rows: the row with the lower loss must get the larger attention.

    ``attention``, ``losses`` (detached auxiliary BCE) and ``usable`` (bool) are ``(B, C, N)``, N
    the rows of H. Each usable pair with unequal losses contributes
    ``max(0, margin - sign(loss_j - loss_i) * (alpha_i - alpha_j))``; the sum is divided by the
    number of positive entries, as in the official code, so it is 0 when every ordering holds.
    """
    first, second = torch.triu_indices(attention.shape[-1], attention.shape[-1], offset=1, device=attention.device)
    sign = torch.sign(losses[..., second] - losses[..., first])
    hinge = (margin - sign * (attention[..., first] - attention[..., second])).clamp(min=0)
    hinge = hinge * (usable[..., first] & usable[..., second] & (sign != 0))
    return hinge.sum() / (hinge > 0).sum().clamp(min=1)


def _transformer_branch(hidden_dim: int, n_heads: int, n_layers: int, dropout: float) -> nn.TransformerEncoder:
    """Layers configured like :class:`TransformerSeriesEncoder`'s, stacked on its tokens."""
    layer = nn.TransformerEncoderLayer(hidden_dim, n_heads, dim_feedforward=2 * hidden_dim, dropout=dropout,
                                       batch_first=True, norm_first=True)
    return nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)


class SeriesSharedDistinct(nn.Module):
    """EHR encoders: a common first Transformer layer, then a shared and a distinct branch."""

    def __init__(self, shape: SeriesShape, hidden_dim: int, n_heads: int, n_layers: int, dropout: float):
        super().__init__()
        self.common = TransformerSeriesEncoder(shape.n_features, shape.n_steps, hidden_dim, n_heads, 1, dropout)
        self.shared = _transformer_branch(hidden_dim, n_heads, n_layers, dropout)
        self.distinct = _transformer_branch(hidden_dim, n_heads, n_layers, dropout)

    def forward(self, series: SeriesBatch) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.common.tokens(series)
        return self.shared(tokens).mean(dim=1), self.distinct(tokens).mean(dim=1)


class VectorSharedDistinct(nn.Module):
    """Encoders of an embedding vector: a common Linear-GELU layer, then a two-layer MLP per branch."""

    def __init__(self, in_dim: int, hidden_dim: int, dropout: float):
        super().__init__()
        self.common = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Dropout(dropout))
        self.shared = two_layer_mlp(hidden_dim, hidden_dim, hidden_dim, dropout)
        self.distinct = two_layer_mlp(hidden_dim, hidden_dim, hidden_dim, dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.common(x)
        return self.shared(features), self.distinct(features)


class DrFuse(nn.Module):
    def __init__(self, input_spec: InputSpec, hidden_dim: int, n_heads: int, n_layers: int, dropout: float,
                 rank_margin: float):
        super().__init__()
        self.modalities = tuple(input_spec.modalities)
        self.sequences = frozenset(input_spec.series)
        self.n_outputs = input_spec.n_outputs
        self.tasks = input_spec.tasks
        self.rank_margin = rank_margin
        self.encoders = nn.ModuleDict({
            m: SeriesSharedDistinct(input_spec.series[m], hidden_dim, n_heads, n_layers, dropout) if m in self.sequences
            else VectorSharedDistinct(input_spec.vector_dims[m], hidden_dim, dropout)
            for m in self.modalities})
        self.shared_projection = nn.Sequential(
            nn.Linear(hidden_dim, 2 * hidden_dim), nn.ReLU(), nn.Linear(2 * hidden_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim))
        self.attention_projection = nn.Linear(hidden_dim, (2 + self.n_outputs) * hidden_dim)  # W^Q, W^V, W^K_c
        self.task_heads = nn.Linear(hidden_dim, self.n_outputs)  # row c is psi_c, applied to h_c only
        self.aux_heads = nn.ModuleList(nn.Linear(hidden_dim, self.n_outputs) for _ in range(len(self.modalities) + 1))

    def disentangle(self, inputs: ModelInputs) -> tuple[torch.Tensor, torch.Tensor]:
        """Shared (after the common projection) and distinct representations, each ``(B, M, d)``."""
        pairs = [self.encoders[m](inputs.series[m] if m in self.sequences else inputs.vectors[m])
                 for m in self.modalities]
        shared = self.shared_projection(torch.stack([s for s, _ in pairs], dim=1))
        return shared, torch.stack([d for _, d in pairs], dim=1)

    def disease_attention(self, rows: torch.Tensor, attend: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Task logits ``(B, C)`` and attention weights ``(B, C, N)`` over the rows ``(B, N, d)`` of H."""
        query, value, *keys = self.attention_projection(rows).chunk(2 + self.n_outputs, dim=-1)
        weights = attend.unsqueeze(-1).to(query.dtype)
        query = (query * weights).sum(dim=1) / weights.sum(dim=1)
        scores = torch.einsum("bd,bcnd->bcn", query, torch.stack(keys, dim=1)) / math.sqrt(query.shape[-1])
        attention = scores.masked_fill(~attend.unsqueeze(1), float("-inf")).softmax(dim=-1)
        per_task = attention @ value  # (B, C, d): h_c
        return (per_task * self.task_heads.weight).sum(dim=-1) + self.task_heads.bias, attention

    def forward(self, inputs: ModelInputs, with_aux: bool = True) -> ModelOutput:
        observed = inputs.delta > 0.5
        shared, distinct = self.disentangle(inputs)
        rows = torch.cat([distinct, logit_pool(shared, observed).unsqueeze(1)], dim=1)
        # h^sh is always attended: with no modality observed it is 0, the only content-free row.
        attend = torch.cat([observed, torch.ones_like(observed[:, :1])], dim=1)
        logits, attention = self.disease_attention(rows, attend)
        if not with_aux:
            return ModelOutput(logits, {})
        aligned = observed.sum(dim=1) >= 2
        aux = {"jsd_shared": (jensen_shannon(shared, observed) * aligned).sum() / aligned.sum().clamp(min=1)}
        for m, value in zip(self.modalities, orthogonality(shared, distinct, observed)):
            aux[f"orth_{m}"] = value
        extras = {
            "aux_logits": torch.stack([head(rows[:, k]) for k, head in enumerate(self.aux_heads)], dim=1),
            "attention": attention,
            "available": torch.cat([observed, observed.any(dim=1, keepdim=True)], dim=1),
            "aligned": aligned,
        }
        return ModelOutput(logits, aux, extras)

    def supervised_terms(self, output: ModelOutput, labels: torch.Tensor, prediction_loss) -> dict[str, torch.Tensor]:
        """Auxiliary prediction of each available row of H (``aux_*``) and the ranking loss."""
        aux_logits, available = output.extras["aux_logits"], output.extras["available"]
        terms = {}
        for k, name in enumerate((*self.modalities, "shared")):
            here = torch.where(available[:, k : k + 1], labels, torch.full_like(labels, float("nan")))
            terms[f"aux_{name}"] = prediction_loss(aux_logits[:, k], here).sum()
        targets = output_targets(labels, self.tasks)                # one 0/1 target per output (classes one-hot)
        defined = ~torch.isnan(targets)
        row_loss = F.binary_cross_entropy_with_logits(
            aux_logits.detach(), torch.where(defined, targets, 0.0).unsqueeze(1).expand_as(aux_logits), reduction="none")
        usable = (available & output.extras["aligned"].unsqueeze(1)).unsqueeze(1) & defined.unsqueeze(-1)
        terms["rank_attention"] = attention_ranking_loss(output.extras["attention"], row_loss.transpose(1, 2), usable,
                                                         self.rank_margin)
        return terms


def build(input_spec: InputSpec, params: Mapping[str, Any]) -> DrFuse:
    return DrFuse(input_spec, hidden_dim=params["hidden_dim"], n_heads=params["n_heads"], n_layers=params["n_layers"],
                  dropout=params["dropout"], rank_margin=params["rank_margin"])
