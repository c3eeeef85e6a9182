"""Pick the torch device a training job runs on."""

from __future__ import annotations

import os

import torch


def choose_device(requested: str = "auto") -> torch.device:
    """Return the device for ``requested`` ("auto", "cpu", "cuda" or "cuda:N").

    "auto" takes the first visible GPU when there is one (``CUDA_VISIBLE_DEVICES`` is honoured by
    torch itself, so a scheduler can pin jobs to GPUs) and falls back to the CPU. Asking for CUDA
    on a machine without it is an error rather than a silent fallback, so a misconfigured cluster
    job fails loudly instead of running 100x slower.
    """
    requested = str(requested).strip().lower()
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {requested!r} requested but torch sees no CUDA device")
        # Deterministic cuBLAS needs this before the first matmul; harmless when already set.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    elif device.type != "cpu":
        raise ValueError(f"unsupported device {requested!r}; use 'auto', 'cpu' or 'cuda[:N]'")
    return device
