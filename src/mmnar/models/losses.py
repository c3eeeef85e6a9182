"""Loss terms of CRL-MMNAR (docs/method.md) and how they are weighted into the training objective.

Every masked loss returns an exact zero (not NaN) when its mask selects nothing, so a batch in
which, say, no patient has a radiology report still produces a usable gradient from the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from mmnar.data.tasks import MULTICLASS, Task

_EXCLUDED_LOGIT = -1e4


def masked_bce_with_logits(logits: torch.Tensor, labels: torch.Tensor, focal_gamma: float = 0.0) -> torch.Tensor:
    """Per-task mean binary cross-entropy over the patients whose label is defined.

    ``labels`` holds NaN where a task is undefined (readmission after in-hospital death); those
    entries contribute nothing. ``focal_gamma > 0`` down-weights easy examples,
    ``(1 - p_t)^gamma * BCE`` (Lin et al. 2017); 0 is plain BCE. Returns shape ``(n_tasks,)``.
    """
    defined = ~torch.isnan(labels)
    safe_labels = torch.where(defined, labels, torch.zeros_like(labels))  # NaN*0 would still be NaN
    per_entry = F.binary_cross_entropy_with_logits(logits, safe_labels, reduction="none")
    if focal_gamma > 0:
        p_true = torch.exp(-per_entry)
        per_entry = (1.0 - p_true).pow(focal_gamma) * per_entry
    weights = defined.to(per_entry.dtype)
    return (per_entry * weights).sum(dim=0) / weights.sum(dim=0).clamp(min=1.0)


def delta_autoencoder_bce(delta_logits: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Mean BCE of the decoded observation pattern against the true one (L_miss before lambda)."""
    return F.binary_cross_entropy_with_logits(delta_logits, delta.to(delta_logits.dtype))


def masked_reconstruction_mse(target: torch.Tensor, reconstruction: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over selected patients of the squared L2 distance ``||target - reconstruction||^2``.

    Shapes ``(..., B, d)`` and mask ``(..., B)``; leading dimensions (one per modality) are kept.
    """
    weights = mask.to(reconstruction.dtype)
    squared_norm = (target - reconstruction).pow(2).sum(dim=-1)
    return (squared_norm * weights).sum(dim=-1) / weights.sum(dim=-1).clamp(min=1.0)


def masked_info_nce(anchors: torch.Tensor, candidates: torch.Tensor, mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE with cosine similarity: anchor i must pick its own candidate among the selected ones.

    Only rows where ``mask`` is true take part, as anchors and as negatives; this equals the
    cross-entropy of the similarity matrix restricted to those rows. With fewer than two such rows
    there are no negatives and the term is zero. Shapes ``(..., B, d)`` and mask ``(..., B)``;
    leading dimensions (one per modality) are kept, so all modalities go in one call.
    """
    similarity = F.normalize(anchors, dim=-1) @ F.normalize(candidates, dim=-1).transpose(-1, -2) / temperature
    # A finite fill (cosine/temperature is far smaller) keeps gradients free of inf - inf = NaN.
    similarity = similarity.masked_fill(~mask.unsqueeze(-2), _EXCLUDED_LOGIT)
    per_anchor = torch.logsumexp(similarity, dim=-1) - similarity.diagonal(dim1=-2, dim2=-1)
    weights = mask.to(similarity.dtype)
    count = weights.sum(dim=-1)
    loss = (per_anchor * weights).sum(dim=-1) / count.clamp(min=1.0)
    return torch.where(count >= 2, loss, torch.zeros_like(loss))


def total_loss(
    aux_terms: Mapping[str, torch.Tensor],
    prediction_loss_per_task: torch.Tensor,
    lambda_miss: float,
    lambda_rec: float,
    lambda_cont: float,
    lambda_pred: Sequence[float],
) -> torch.Tensor:
    """``L_miss + sum_m (lambda_rec L_rec^m + lambda_cont L_cont^m) + sum_t lambda_pred,t L_pred,t``.

    ``aux_terms`` holds the unweighted model terms keyed ``miss``, ``rec_<m>`` and ``cont_<m>``;
    models without a term simply do not report it.
    """
    weight_by_prefix = {"miss": lambda_miss, "rec": lambda_rec, "cont": lambda_cont}
    pred_weights = torch.as_tensor(lambda_pred, dtype=prediction_loss_per_task.dtype, device=prediction_loss_per_task.device)
    loss = (pred_weights * prediction_loss_per_task).sum()
    for name, value in aux_terms.items():
        prefix = name.split("_", 1)[0]
        if prefix not in weight_by_prefix:
            raise KeyError(f"unknown auxiliary loss term {name!r}")
        loss = loss + weight_by_prefix[prefix] * value
    return loss


def output_targets(labels: torch.Tensor, tasks: Sequence[Task]) -> torch.Tensor:
    """``(B, outputs)`` 0/1 targets, one per logit: a multi-class task's class index becomes its one-hot
    row (NaN where undefined); binary and multi-label columns stay as they are."""
    parts, col = [], 0
    for task in tasks:
        if task.type == MULTICLASS:
            y = labels[:, col]
            classes = torch.arange(task.n_outputs, device=labels.device, dtype=labels.dtype)
            one_hot = (y.unsqueeze(1) == classes).to(labels.dtype)
            parts.append(torch.where(torch.isnan(y).unsqueeze(1), torch.full_like(one_hot, float("nan")), one_hot))
            col += 1
        else:
            parts.append(labels[:, col:col + task.n_outputs])
            col += task.n_outputs
    return torch.cat(parts, dim=1)
