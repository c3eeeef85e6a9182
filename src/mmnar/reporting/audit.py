"""Leakage audit: which task × window pairs let an input see the outcome.

Three checks per run, written next to the tables so nobody reports a leaking number unknowingly:
- structural: does the observation window end at or after the moment the outcome is known?
- textual: do the notes a model reads state the outcome (death words in deceased patients' notes)?
- feature groups: did a group of S that is known only after the prediction time, or that states a
  task's label, reach the models (read from the groups the S embedding was actually built from)?
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.feature_groups import groups as feature_groups
from mmnar.data.feature_groups import unavailable_reason
from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.io import atomic_path

DEATH_WORDS = r"\b(?:expired|died|deceased|passed away|time of death|pronounced dead)\b"


def share(flags: np.ndarray, min_cell_count: int) -> tuple[float, bool]:
    """(mean of ``flags``, whether publishing it would reveal 1 to ``min_cell_count - 1`` patients)."""
    flagged = int(flags.sum())
    small = any(0 < n < min_cell_count for n in (flagged, len(flags) - flagged))
    return (flagged / len(flags) if len(flags) else float("nan")), small


def death_word_rates(notes: pd.DataFrame, cohort: pd.DataFrame, min_cell_count: int = 1):
    """Share of deceased and of surviving patients whose notes contain a death word (with small-cell flags)."""
    mentions = notes.assign(death_word=notes["text"].str.contains(DEATH_WORDS, case=False, regex=True))
    per_patient = mentions.groupby("subject_id")["death_word"].any()
    with_notes = cohort[cohort["subject_id"].isin(per_patient.index)]
    flagged = per_patient.reindex(with_notes["subject_id"]).to_numpy().astype(bool)
    died = with_notes["mortality_inhosp"].to_numpy() == 1
    return share(flagged[died], min_cell_count), share(flagged[~died], min_cell_count)


def feature_group_rows(used_groups: Mapping[str, list[str]], window: str,
                       tasks: Sequence[str] = DEFAULT_TASKS) -> list[dict]:
    """One row per registered feature group × task: was it used, and may it be under ``window``?"""
    rows = []
    for group in feature_groups():
        used = bool(used_groups.get(group.name))
        for task in tasks:
            reason = unavailable_reason(group, window, task)
            rows.append({"window": window, "task": task, "modality": "S",
                         "check": f"feature group {group.name} (known at {group.known_at})",
                         "deceased_share": float("nan"), "survivor_share": float("nan"),
                         "leaks": used and bool(reason), "suppressed": False,
                         "detail": ("used" if used else "not used") + (f"; {reason}" if reason else "")})
    return rows


def audit(cohort: pd.DataFrame, notes: dict[str, pd.DataFrame], window: str, min_cell_count: int = 1,
          used_groups: Mapping[str, list[str]] | None = None, tasks: Sequence[str] = DEFAULT_TASKS) -> pd.DataFrame:
    """One row per check; ``deceased_share`` / ``survivor_share`` say how many patients it concerns.

    ``leaks`` is decided on the exact shares; a share that would reveal a small cell is then
    blanked in the table (``suppressed``), never the verdict.
    """
    died = cohort["mortality_inhosp"].to_numpy() == 1
    reaches_discharge = (cohort["window_end"] >= cohort["dischtime"]).to_numpy()
    rows = []

    def row(task, modality, check, deceased, survivors, leaks):
        suppressed = deceased[1] or survivors[1]
        rows.append({"window": window, "task": task, "modality": modality, "check": check,
                     "deceased_share": float("nan") if suppressed else deceased[0],
                     "survivor_share": float("nan") if suppressed else survivors[0],
                     "leaks": leaks, "suppressed": suppressed, "detail": ""})

    for task in tasks:
        # Post-discharge outcomes happen after dischtime; death ends the admission, so a window
        # reaching discharge has reached the death.
        leaks = task == "mortality_inhosp" and bool(reaches_discharge[died].any())
        row(task, "all", "window reaches discharge", share(reaches_discharge[died], min_cell_count),
            share(reaches_discharge[~died], min_cell_count), leaks)
    for modality, frame in notes.items():
        deceased, survivors = death_word_rates(frame, cohort, min_cell_count)
        leaks = bool(deceased[0] - survivors[0] > 0.2) if pd.notna(deceased[0]) and pd.notna(survivors[0]) else False
        row("mortality_inhosp", modality, "notes mention death", deceased, survivors, leaks)
    if used_groups is not None:
        rows.extend(feature_group_rows(used_groups, window, tasks))
    return pd.DataFrame(rows)


def run_audit(cohort_path: Path, note_paths: dict[str, Path], window: str, out: Path, min_cell_count: int = 1,
              feature_groups_path: Path | None = None, tasks: Sequence[str] = DEFAULT_TASKS) -> None:
    cohort = pd.read_parquet(cohort_path)
    notes = {m: pd.read_parquet(p) for m, p in note_paths.items()}
    used = json.loads(Path(feature_groups_path).read_text()) if feature_groups_path else None
    table = audit(cohort, notes, window, min_cell_count, used, tasks)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
