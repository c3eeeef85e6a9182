"""``results/tuning.csv``: what tuning chose, per model and run, and how much it searched."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

ID_COLUMNS = ["model", "split_seed", "init_seed", "n_trials", "chosen_trial", "validation_score", "default_score"]


def tuning_table(trial_files: Sequence[Path], runs: Sequence[Sequence]) -> pd.DataFrame:
    """One row per model × run (``runs``: ``[model, split, init]`` per trial file): the number of
    trials, the chosen trial, its validation score (lower is better) and that of the defaults
    (trial 0), and the chosen value of every searched setting (``model.<param>``, ``training.<setting>``)."""
    rows = []
    for path, (model, split, init) in zip(trial_files, runs, strict=True):
        trials = pd.read_csv(path)
        chosen = trials[trials["chosen"].astype(bool)].iloc[0]
        searched = [c for c in trials.columns if c.startswith(("model.", "training."))]
        rows.append({"model": model, "split_seed": int(split), "init_seed": int(init), "n_trials": len(trials),
                     "chosen_trial": int(chosen["trial"]), "validation_score": chosen["score"],
                     "default_score": trials.loc[trials["trial"] == 0, "score"].iloc[0],
                     **{c: chosen[c] for c in searched}})
    table = pd.DataFrame(rows)
    return table[ID_COLUMNS + [c for c in table.columns if c not in ID_COLUMNS]]
