"""Modality scenarios: what is removed from the raw model inputs before a model sees them.

A scenario is applied to :class:`~mmnar.model_input.inputs.RawInputs` of the whole cohort, before any
preprocessing is fitted or applied, by setting δ_m = 0 for the chosen patients: every consumer then
treats the modality as never measured (the trainer's inputs zero a missing vector and blank a missing
series; an estimator's design treats it as missing). The same scenario is used at training time
(``mmnar.training.tuning.run_train``) and at prediction time (``mmnar.training.predict``), and is
seeded, so a model trained and tested under ``drop_I_0.4`` loses the same patients' images in both.

- ``observed``: the data as recorded;
- ``drop_<m>``: modality ``m`` removed for every patient;
- ``drop_<m>_<p>``: ``m`` removed for a random fraction ``p`` (0 < p ≤ 1) of the patients who have it,
  drawn with the scenario seed, so every model loses the same patients' data;
- ``keep_<m>+<m>…``: every modality not listed removed for every patient (``keep_T+R``, ``keep_S``);
  the canonical name lists the kept modalities in registry order (:func:`keep_scenario`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from mmnar.model_input.inputs import RawInputs

OBSERVED = "observed"
ALL = "all"
"""The modality configuration of every registered modality (Table 3): the ``observed`` scenario."""
_DROP = re.compile(r"drop_(?P<modality>[A-Za-z0-9]+?)(?:_(?P<fraction>0?\.\d+|1(?:\.0+)?))?")
_KEEP = re.compile(r"keep_(?P<kept>[A-Za-z0-9]+(?:\+[A-Za-z0-9]+)*)")
WILDCARD = r"observed|drop_[A-Za-z0-9]+(_[0-9.]+)?|keep_[A-Za-z0-9]+(\+[A-Za-z0-9]+)*"
"""A regular expression every scenario name matches (Snakemake wildcard constraint)."""
TRAINABLE_WILDCARD = r"drop_[A-Za-z0-9]+(_[0-9.]+)?|keep_[A-Za-z0-9]+(\+[A-Za-z0-9]+)*"
"""Scenarios a model is trained under (``observed`` is the ordinary model)."""


@dataclass(frozen=True)
class Scenario:
    """``modality``/``fraction``: a ``drop_`` scenario; ``kept``: a ``keep_`` scenario (else None)."""

    name: str
    modality: str | None = None
    fraction: float = 1.0
    kept: tuple[str, ...] | None = None

    def removed(self, modalities: Sequence[str]) -> tuple[str, ...]:
        """The modalities this scenario removes (for all, or for a fraction of, their patients)."""
        if self.kept is not None:
            return tuple(m for m in modalities if m not in self.kept)
        return (self.modality,) if self.modality is not None else ()


def parse_scenario(name: str, modalities: tuple[str, ...]) -> Scenario:
    """The :class:`Scenario` a name describes; an unknown modality or a bad fraction is an error."""
    if name == OBSERVED:
        return Scenario(name)
    drop, keep = _DROP.fullmatch(name), _KEEP.fullmatch(name)
    if drop and drop["modality"] in modalities:
        return Scenario(name, drop["modality"], float(drop["fraction"] or 1.0))
    if keep:
        kept = keep["kept"].split("+")
        if set(kept) <= set(modalities) and len(set(kept)) == len(kept):
            return Scenario(name, kept=tuple(kept))
    raise ValueError(f"unknown scenario {name!r}: use 'observed', 'drop_<m>', 'drop_<m>_<p>' or 'keep_<m>+<m>...' "
                     f"with m in {list(modalities)} (each at most once) and 0 < p <= 1")


def apply_scenario(raw: RawInputs, scenario: Scenario, seed: int) -> RawInputs:
    """A copy of ``raw`` with the scenario's modalities removed for the chosen patients (δ = 0)."""
    if scenario.kept is not None:
        delta = raw.delta.copy()
        for column, m in enumerate(raw.modalities):
            if m not in scenario.kept:
                delta[:, column] = 0
        return replace(raw, delta=delta)
    if scenario.modality is None:
        return raw
    column = raw.modalities.index(scenario.modality)
    delta = raw.delta.copy()
    have = np.flatnonzero(delta[:, column] == 1)
    n_drop = int(round(scenario.fraction * len(have)))
    dropped = np.random.default_rng(seed).choice(have, size=n_drop, replace=False) if n_drop < len(have) else have
    delta[dropped, column] = 0
    # model_inputs zeroes (vectors) / blanks (series) every δ = 0 row; an estimator's design treats it as missing
    return replace(raw, delta=delta)


# --------------------------------------------------------------------------------------------------
# Names of the scenarios of Table 3 and of the missing-ratio robustness sweep


def configuration_modalities(configuration: str, modalities: Sequence[str]) -> tuple[str, ...]:
    """The modalities of a configuration (``all``, or modalities joined by ``+``: ``T+R``), in
    registry order; an unknown or repeated modality is a ``ValueError``."""
    if configuration == ALL:
        return tuple(modalities)
    parts = configuration.split("+")
    unknown = [m for m in parts if m not in modalities]
    if unknown or len(set(parts)) != len(parts) or not parts:
        raise ValueError(f"modality configuration {configuration!r}: use 'all' or registered modalities "
                         f"{list(modalities)} joined by '+', each at most once")
    return tuple(m for m in modalities if m in parts)


def keep_scenario(kept: Iterable[str], modalities: Sequence[str]) -> str:
    """The scenario keeping only ``kept``: ``observed`` when that is every modality, else the canonical
    ``keep_<m>+…`` (registry order, so ``R+T`` and ``T+R`` are one scenario and one set of models)."""
    kept = set(kept)
    if kept >= set(modalities):
        return OBSERVED
    return "keep_" + "+".join(m for m in modalities if m in kept)


def configuration_scenario(configuration: str, modalities: Sequence[str]) -> str:
    """The scenario of a Table 3 modality configuration (``all`` → ``observed``, ``T+R`` → ``keep_T+R``)."""
    return keep_scenario(configuration_modalities(configuration, modalities), modalities)


def ratio_scenario(modality: str, ratio: float) -> str:
    """The scenario removing ``modality`` for a share ``ratio`` of its patients (0 → ``observed``)."""
    if not 0 <= ratio <= 1:
        raise ValueError(f"missing ratio {ratio} is not in [0, 1]")
    if ratio == 0:
        return OBSERVED
    return f"drop_{modality}_{np.format_float_positional(float(ratio), trim='-')}" if ratio < 1 else f"drop_{modality}"
