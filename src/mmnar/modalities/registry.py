"""Modality registry: each modality is one entry; δ, patterns, arrays and rules are derived from it.

A modality's δ bit is its position here (S is bit 0): the same order gives the columns of
``delta.npy``, the bits of ``pattern_id`` (``Σ δ_k 2^k``) and the order models read tokens in.
Its *forms* are the files the workflow makes for it under ``data/embeddings/``: a ``vector``
(``<name>.parquet``: ``subject_id`` + ``emb_*``; presence of a row is δ = 1) and optionally a
``sequence`` (``<name>_series.npz``: hourly values over the observation window). ``rule`` names the
rule that writes the vector; a modality with an ``extractor`` (``module:function``) is built by the
generic rule ``embed_registered`` from the cohort table, so adding one needs no rule file at all.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

VECTOR = "vector"
SEQUENCE = "sequence"


@dataclass(frozen=True)
class Modality:
    name: str
    label: str
    source: str
    rule: str
    forms: tuple[str, ...] = (VECTOR,)
    extractor: str | None = None
    """``module:function(cohort: DataFrame, config: dict) -> DataFrame`` (subject_id + emb_*): for a
    modality computed from the cohort table by the generic rule (e.g. demographics)."""

    def path(self, form: str = VECTOR) -> str:
        """The file of ``form`` under ``data/embeddings/``."""
        if form not in self.forms:
            raise ValueError(f"modality {self.name} has no {form!r} form; it has {self.forms}")
        return f"data/embeddings/{self.name}.parquet" if form == VECTOR else f"data/embeddings/{self.name}_series.npz"

    def extractor_function(self) -> Callable:
        module, function = self.extractor.split(":")
        return getattr(importlib.import_module(module), function)


REGISTRY: list[Modality] = [
    Modality("S", "Structured EHR", "vitals and labs over the window (rules/sql/structured*.sql)",
             "embed_structured", forms=(VECTOR, SEQUENCE)),
    Modality("I", "Chest X-ray", "MIMIC-CXR-JPG images in the window (rules/sql/cxr.sql)", "embed_image"),
    Modality("T", "Discharge summary", "MIMIC-IV-Note discharge notes (rules/sql/notes_discharge.sql)", "embed_text"),
    Modality("R", "Radiology reports", "MIMIC-IV-Note radiology notes (rules/sql/notes_radiology.sql)", "embed_text"),
]
"""Registered modalities in δ-bit order. Register a new one by appending here."""


def modalities() -> tuple[Modality, ...]:
    """The registered modalities, checked: unique one-token names (they become file names and labels)."""
    names = [m.name for m in REGISTRY]
    if len(set(names)) != len(names) or not all(n.isalnum() for n in names):
        raise ValueError(f"modality names must be unique and alphanumeric, got {names}")
    return tuple(REGISTRY)


def names() -> tuple[str, ...]:
    return tuple(m.name for m in modalities())


def get(name: str) -> Modality:
    for modality in modalities():
        if modality.name == name:
            return modality
    raise KeyError(f"unknown modality {name!r}; registered: {names()}")


def pattern_ids(delta: np.ndarray) -> np.ndarray:
    """``Σ_k δ_k 2^k`` per row: the one pattern encoding (bit k = k-th registered modality)."""
    delta = np.asarray(delta)
    return (delta.astype(np.int64) * (1 << np.arange(delta.shape[1]))).sum(axis=1)


def pattern_name(bits: Sequence[int], modality_names: Sequence[str] | None = None) -> str:
    """Human-readable pattern, e.g. ``S+T+R`` (``none`` when nothing is observed)."""
    modality_names = modality_names or names()
    return "+".join(m for m, bit in zip(modality_names, bits) if bit) or "none"
