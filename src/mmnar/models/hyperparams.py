"""Hyperparameters shared by the models and the trainer, with their defaults.

Keys (the config schema mirrors this list):

- ``hidden_dim`` (64): width d of modality tokens, the delta embedding z and the representation h.
- ``n_heads`` (4): attention heads in the fusion layer; must divide ``hidden_dim``.
- ``dropout`` (0.1): dropout in projections, attention, heads.
- ``lr`` (2e-4), ``weight_decay`` (1e-6): AdamW, as in the paper.
- ``batch_size`` (32): training mini-batch size, as in the paper.
- ``max_epochs`` (40): upper bound on training epochs.
- ``patience`` (30): epochs without validation improvement before stopping (paper: 30).
- ``early_stopping`` ("val_loss"): selection criterion, "val_loss" (weighted prediction loss on
  the validation split, lower is better) or "val_auc" (mean AUC over tasks, higher is better).
- ``lambda_miss`` (0.1): weight of the delta auto-encoder BCE.
- ``lambda_rec`` (0.1): weight of each modality's masked-reconstruction loss.
- ``lambda_cont`` (0.1): weight of each modality's InfoNCE loss.
- ``tau_cont`` (0.1): InfoNCE temperature.
- ``lambda_pred`` ([1, 1, 1]): per-task prediction-loss weights in ``mmnar.TASKS`` order.
- ``focal_gamma`` (0.0): focal-loss exponent; 0 is plain BCE.
- ``mixed_precision`` (True): autocast (bf16 where supported, else fp16 + GradScaler); used only on
  CUDA, ignored on CPU.
- ``device`` ("auto"): see :func:`mmnar.device.choose_device`.
- ``num_threads`` (1): torch intra-op CPU threads for the job; 0 keeps torch's default. One thread
  is fastest for these small matrices and lets Snakemake run one job per core.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULT_PARAMS: dict[str, Any] = {
    "hidden_dim": 64,
    "n_heads": 4,
    "dropout": 0.1,
    "lr": 2e-4,
    "weight_decay": 1e-6,
    "batch_size": 32,
    "max_epochs": 40,
    "patience": 30,
    "early_stopping": "val_loss",
    "lambda_miss": 0.1,
    "lambda_rec": 0.1,
    "lambda_cont": 0.1,
    "tau_cont": 0.1,
    "lambda_pred": [1.0, 1.0, 1.0],
    "focal_gamma": 0.0,
    "mixed_precision": True,
    "device": "auto",
    "num_threads": 1,
}

EARLY_STOPPING_CRITERIA = ("val_loss", "val_auc")


def resolve_params(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults overridden by ``params``; unknown keys are rejected so a typo cannot go unnoticed."""
    params = dict(params or {})
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise KeyError(f"unknown training parameters {unknown}; known: {sorted(DEFAULT_PARAMS)}")
    resolved = {**DEFAULT_PARAMS, **params}
    if resolved["early_stopping"] not in EARLY_STOPPING_CRITERIA:
        raise ValueError(f"early_stopping must be one of {EARLY_STOPPING_CRITERIA}, got {resolved['early_stopping']!r}")
    if resolved["hidden_dim"] % resolved["n_heads"]:
        raise ValueError("hidden_dim must be divisible by n_heads")
    resolved["lambda_pred"] = [float(w) for w in resolved["lambda_pred"]]
    return resolved
