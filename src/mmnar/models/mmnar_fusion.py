"""Table-2 ablation "+MMNAR fusion": CRL-MMNAR without masked reconstruction and InfoNCE.

Keeps the delta auto-encoder embedding, the gating, the masked attention fusion, the task heads
and the per-pattern offsets, so the step to ``crl_mmnar`` isolates what reconstruction adds.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmnar.models.crl_mmnar import CRLMMNAR


def build(input_dims: Mapping[str, int], params: Mapping[str, Any]) -> CRLMMNAR:
    return CRLMMNAR(
        input_dims,
        hidden_dim=params["hidden_dim"],
        n_heads=params["n_heads"],
        dropout=params["dropout"],
        tau_cont=params["tau_cont"],
        reconstruction=False,
    )
