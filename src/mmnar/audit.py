"""Leakage audit: which task × window pairs let an input see the outcome.

Two checks per run, written next to the tables so nobody reports a leaking number unknowingly:
- structural: does the observation window end at or after the moment the outcome is known?
- textual: do the notes a model reads state the outcome (death words in deceased patients' notes)?
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mmnar import TASKS
from mmnar.io import atomic_path

DEATH_WORDS = r"\b(?:expired|died|deceased|passed away|time of death|pronounced dead)\b"


def death_word_rates(notes: pd.DataFrame, cohort: pd.DataFrame) -> tuple[float, float]:
    """Share of deceased and of surviving patients whose notes contain a death word."""
    mentions = notes.assign(death_word=notes["text"].str.contains(DEATH_WORDS, case=False, regex=True))
    per_patient = mentions.groupby("subject_id")["death_word"].any()
    with_notes = cohort[cohort["subject_id"].isin(per_patient.index)]
    flagged = per_patient.reindex(with_notes["subject_id"]).to_numpy()
    died = with_notes["mortality_inhosp"].to_numpy() == 1
    rate = lambda mask: float(flagged[mask].mean()) if mask.any() else float("nan")  # noqa: E731
    return rate(died), rate(~died)


def audit(cohort: pd.DataFrame, notes: dict[str, pd.DataFrame], window: str) -> pd.DataFrame:
    """One row per check; ``deceased_share`` / ``survivor_share`` say how many patients it concerns."""
    died = cohort["mortality_inhosp"].to_numpy() == 1
    reaches_discharge = (cohort["window_end"] >= cohort["dischtime"]).to_numpy()
    share = lambda mask: float(reaches_discharge[mask].mean()) if mask.any() else float("nan")  # noqa: E731
    rows = []
    for task in TASKS:
        # Post-discharge outcomes happen after dischtime; death ends the admission, so a window
        # reaching discharge has reached the death.
        leaks = task == "mortality_inhosp" and bool(reaches_discharge[died].any())
        rows.append({"window": window, "task": task, "modality": "all", "check": "window reaches discharge",
                     "deceased_share": share(died), "survivor_share": share(~died), "leaks": leaks})
    for modality, frame in notes.items():
        deceased, survivors = death_word_rates(frame, cohort)
        leaks = bool(deceased - survivors > 0.2) if pd.notna(deceased) and pd.notna(survivors) else False
        rows.append({"window": window, "task": "mortality_inhosp", "modality": modality,
                     "check": "notes mention death", "deceased_share": deceased, "survivor_share": survivors,
                     "leaks": leaks})
    return pd.DataFrame(rows)


def run_audit(cohort_path: Path, note_paths: dict[str, Path], window: str, out: Path) -> None:
    cohort = pd.read_parquet(cohort_path)
    notes = {m: pd.read_parquet(p) for m, p in note_paths.items()}
    table = audit(cohort, notes, window)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
