"""Device choice for the embedding stages (stand-in until ``mmnar.device.choose_device`` exists)."""

from __future__ import annotations

import torch


def choose_device(requested: str) -> torch.device:
    """Map ``"auto"`` to CUDA when present, else CPU; pass any explicit torch device string through."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)
