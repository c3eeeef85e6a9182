"""Table-2 ablation "+MMNAR fusion": CRL-MMNAR without masked reconstruction and InfoNCE.

Keeps the delta auto-encoder embedding (L_miss), the gating, the masked attention fusion and the
task heads, so the step to ``crl_mmnar`` isolates what reconstruction adds. Like ``crl_mmnar`` it
has no in-model per-pattern offsets: the pattern term is the rectifier's (the next ablation row).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmnar.models import crl_mmnar
from mmnar.models.base import InputSpec


def build(input_spec: InputSpec, params: Mapping[str, Any]) -> crl_mmnar.CRLMMNAR:
    return crl_mmnar.CRLMMNAR(input_spec, hidden_dim=params["hidden_dim"], n_heads=params["n_heads"],
                              dropout=params["dropout"], tau_cont=1.0, reconstruction=False)
