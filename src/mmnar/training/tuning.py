"""The ``train`` stage with hyperparameter tuning: the same budget for every model, chosen on validation.

Every model, CRL-MMNAR and the simple references alike, gets ``tuning.n_trials`` configurations on
each split × initialisation seed: the first is the registered defaults (with ``model_params`` and
the ``training`` settings of the config), the others are proposed by Optuna's TPE sampler (seeded
by ``tuning.seed``, the split seed and the initialisation seed) within each parameter's
:class:`~mmnar.models.spec.Search`. A torch model also searches the learning rate and the weight
decay (:data:`TRAINER_SEARCH`). A parameter that the config sets in ``model_params.<model>`` is
fixed, never searched.

Each configuration is trained exactly as an untuned model (the shared trainer with early stopping
on the split's validation patients, or the scikit-learn fit); the configuration kept is the one
with the best validation score (:func:`validation_score`: the early-stopping criterion
``training.early_stopping``, by default the task-weighted validation log-loss). Test patients are
never read. The kept model is what ``predict`` uses; every trial (parameters, score, epochs,
seconds) is written to ``tuning.csv`` next to it, so the chosen values are on record per model and
run (``results/tuning.csv`` collects them).

``n_trials: 1`` is the untuned run. The paper tunes every model by grid search; the paper-scale
budget is one switch, ``tuning.n_trials`` (README, "Tuning").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mmnar.data.tasks import DEFAULT_RUN, Task, tasks_in
from mmnar.io import atomic_path
from mmnar.modalities.registry import names as modality_names
from mmnar.model_input.inputs import load_raw_inputs
from mmnar.model_input.scenarios import OBSERVED, apply_scenario, parse_scenario
from mmnar.models.registry import get as get_spec
from mmnar.models.spec import TORCH, ModelSpec, Search
from mmnar.training import estimators, trainer

log = logging.getLogger(__name__)

TRAINER_SEARCH = {"lr": Search("log", 1e-4, 3e-3), "weight_decay": Search("log", 1e-6, 1e-2)}
"""Trainer settings searched for every torch model (the config's values are the first trial)."""

TUNING_DEFAULTS = {"n_trials": 1, "seed": 0}
"""``tuning.*`` in the config (documented in the config schema)."""


@dataclass
class Dimension:
    """One searched setting: where it goes (``model`` parameters or ``training`` settings) and its range."""

    group: str
    name: str
    search: Search


def search_space(spec: ModelSpec, fixed: Mapping[str, Any]) -> list[Dimension]:
    """What tuning may change for ``spec``: its parameters with a search range that the config does
    not fix (``fixed``: the model's ``model_params``), then the trainer's for a torch model."""
    dims = [Dimension("model", name, param.search) for name, param in spec.params.items()
            if param.search is not None and name not in fixed]
    if spec.kind == TORCH:
        dims += [Dimension("training", name, search) for name, search in TRAINER_SEARCH.items()]
    return dims


def suggest(trial, dim: Dimension, params: Mapping[str, Any]) -> Any:
    """One value of ``dim`` from an Optuna trial; ``params`` (the model's resolved parameters) fix
    ``multiple_of``."""
    search, key = dim.search, f"{dim.group}.{dim.name}"
    if search.kind == "log":
        return trial.suggest_float(key, search.low, search.high, log=True)
    if search.kind == "float":
        return trial.suggest_float(key, search.low, search.high)
    if search.kind == "int":
        return trial.suggest_int(key, int(search.low), int(search.high))
    if search.kind == "choice":
        divisor = params.get(search.multiple_of, 1) if search.multiple_of else 1
        choices = [c for c in search.choices if c % divisor == 0] or [params[dim.name]]
        return trial.suggest_categorical(key, choices)
    raise ValueError(f"unknown search kind {search.kind!r}")


def validation_score(spec: ModelSpec, history: pd.DataFrame, training: Mapping[str, Any],
                     tasks: Sequence[Task] = DEFAULT_RUN) -> float:
    """The kept model's validation score, lower is better: the early-stopping criterion
    (``val_loss``: task-weighted log-loss; ``val_auc``: mean AUC, negated). NaN without validation."""
    auc = training["early_stopping"] == "val_auc"
    if spec.kind == TORCH:
        best = history[history["is_best"].astype(bool)] if "is_best" in history else history.iloc[:0]
        if best.empty:
            return np.nan
        value = float(best.iloc[-1][training["early_stopping"]])
        return -value if auc else value
    per_task = history.groupby("task", sort=False)[["val_auc", "val_log_loss"]].mean()  # a task's outputs averaged
    if auc:
        return -float(np.nanmean(per_task["val_auc"])) if per_task["val_auc"].notna().any() else np.nan
    weights = pd.Series(training["lambda_pred"], index=[task.name for task in tasks])
    losses = per_task["val_log_loss"].reindex(weights.index)
    return float((weights * losses)[losses.notna()].sum()) if losses.notna().any() else np.nan


@dataclass
class Trial:
    number: int
    model_params: dict[str, Any]
    training: dict[str, Any]
    result: Any
    score: float
    seconds: float


def tune(spec: ModelSpec, model_params: Mapping[str, Any] | None, training: Mapping[str, Any] | None,
         tuning: Mapping[str, Any] | None, raw, labels: np.ndarray, split: np.ndarray, split_seed: int,
         init_seed: int, tasks: Sequence[Task] = DEFAULT_RUN) -> tuple[Trial, pd.DataFrame]:
    """Train ``n_trials`` configurations; return the best by validation score and every trial's record."""
    tuning = {**TUNING_DEFAULTS, **(tuning or {})}
    fixed = dict(model_params or {})
    base_training = trainer.trainer_params(training, tasks)
    dims = search_space(spec, fixed)
    study = None
    if tuning["n_trials"] > 1 and dims:
        import optuna  # only a tuned run pays its import

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        seed = int(np.random.SeedSequence([tuning["seed"], split_seed, init_seed]).generate_state(1)[0])
        study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    start_params, start_settings = spec.resolve(fixed), dict(base_training)
    if study is not None:
        study.enqueue_trial({f"{d.group}.{d.name}": (start_params if d.group == "model" else start_settings)[d.name]
                             for d in dims})
    trials, best = [], None
    for number in range(tuning["n_trials"] if study is not None else 1):
        params, settings = dict(start_params), dict(start_settings)
        trial = study.ask() if study is not None else None
        if trial is not None:
            for dim in dims:
                (params if dim.group == "model" else settings)[dim.name] = suggest(trial, dim, params)
        started = time.perf_counter()
        result = _fit(spec, params, settings, raw, labels, split, init_seed, tasks)
        score = validation_score(spec, result.history, settings, tasks)
        if trial is not None and np.isfinite(score):
            study.tell(trial, score)
        elif trial is not None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        record = Trial(number, params, settings, result, score, time.perf_counter() - started)
        log.info("%s split %d init %d trial %d: validation score %.5f (%s)", spec.name, split_seed, init_seed, number,
                 score, {d.name: (params if d.group == "model" else settings)[d.name] for d in dims})
        if best is None or (np.isfinite(score) and not score >= best.score):  # NaN best: any finite score wins
            best = record
        trials.append(record)
    table = pd.DataFrame([{"trial": t.number, "score": t.score, "chosen": t.number == best.number,
                           "epochs": len(t.result.history) if spec.kind == TORCH else np.nan,
                           "seconds": t.seconds,
                           **{f"{d.group}.{d.name}": (t.model_params if d.group == "model" else t.training)[d.name]
                              for d in dims}} for t in trials])
    return best, table


def _fit(spec, params, settings, raw, labels, split, seed, tasks):
    if spec.kind == TORCH:
        return trainer.fit(spec, params, settings, raw, labels, split, seed=seed, tasks=tasks)
    return estimators.fit_estimator(spec, params, settings, raw, labels, split, seed=seed, tasks=tasks)


def run_train(model_name: str, model_input_dir: Path, split_path: Path, model_out: Path, history_out: Path,
              model_params: Mapping[str, Any] | None, training: Mapping[str, Any] | None, split_seed: int,
              init_seed: int, tuning: Mapping[str, Any] | None = None, tuning_out: Path | None = None,
              scenario: str = OBSERVED, scenario_seed: int = 0):
    """The ``train`` stage: tune and fit one model on one split with one initialisation seed; write
    the kept model's checkpoint (with its chosen parameters), its history and the trial table.

    ``scenario`` (:mod:`mmnar.model_input.scenarios`, e.g. ``keep_T+R``, ``drop_I_0.4``) is applied to
    the raw inputs of every patient (train, validation and test alike) before anything is fitted, with
    ``scenario_seed`` (the predict stage's, so predicting under the same scenario removes the same
    patients' data); the checkpoint records it."""
    spec = get_spec(model_name)
    reads = spec.reads(modality_names(), spec.resolve(model_params))
    raw, labels = load_raw_inputs(model_input_dir, reads)
    raw = apply_scenario(raw, parse_scenario(scenario, raw.modalities), scenario_seed)
    split = trainer.align_split(labels["subject_id"], split_path)
    tasks = tasks_in(labels.columns)
    best, table = tune(spec, model_params, training, tuning, raw, trainer.label_matrix(labels), split,
                       split_seed, init_seed, tasks)
    if spec.kind == TORCH:
        saved = trainer.checkpoint(spec, best.model_params, best.result, split_seed, init_seed)
        saved["training"] = {k: best.training[k] for k in TRAINER_SEARCH}
    else:
        saved = estimators.checkpoint(spec, best.model_params, best.result, raw, split_seed, init_seed, tasks)
    if scenario != OBSERVED:  # an ordinary model's checkpoint stays as it was
        saved["scenario"] = {"name": scenario, "seed": int(scenario_seed)}
    with atomic_path(model_out) as tmp:
        torch.save(saved, tmp)
    with atomic_path(history_out) as tmp:
        best.result.history.to_csv(tmp, index=False)
    if tuning_out is not None:
        with atomic_path(tuning_out) as tmp:
            table.to_csv(tmp, index=False)
    return best.result
