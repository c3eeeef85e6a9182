"""Table-2 ablation "+MMNAR fusion": CRL-MMNAR without masked reconstruction and InfoNCE.

Keeps the delta auto-encoder embedding, the gating, the masked attention fusion, the task heads
and the per-pattern offsets, so the step to ``crl_mmnar`` isolates what reconstruction adds.
"""

from __future__ import annotations

from functools import partial

from mmnar.models import crl_mmnar

build = partial(crl_mmnar.build, reconstruction=False)
