"""Fitting and predictions for estimator models (the scikit-learn references).

The parallel of :mod:`mmnar.training.trainer` for a spec with ``kind == ESTIMATOR``
(:mod:`mmnar.models.sklearn_references`): the same eligible patients, split file, trainer settings
check and output files (``model.pt``, ``history.csv``), but no epochs. The PCA of each other
modality is fitted on the training patients who have it; then one binary classifier per output on the
training patients whose label is defined (NaN labels, e.g. readmission after an in-hospital death,
are left out), its own imputer and scaler included: one per binary task, one per label of a
multi-label task, and one-vs-rest per class of a multi-class task, whose probabilities are then
normalised to sum to 1 (the references stay binary classifiers; a multinomial fit is not offered). Nothing is fitted on validation or test rows;
boosting with ``early_stopping`` only *monitors* the validation split's log-loss to stop.

A task whose defined training labels hold a single class (or none) gets a constant prediction, the
smoothed training rate ``(positives + 0.5) / (rows + 1)``, with a warning, so a tiny cohort still
yields a prediction file. ``training.num_threads`` bounds the BLAS/OpenMP threads (0: no bound);
the other trainer settings do not apply to these models.

The checkpoint holds plain tensors and builtins only (``torch.load(weights_only=True)`` reads it):
the model name and parameters, seeds, modalities, ``kind: "estimator"``, the PCA arrays
(``design``), each task's fitted arrays (``classifiers``) and the feature names. ``history.csv`` has
one row per output (``task``, ``output``): training and validation rows, features, iterations (lbfgs iterations or boosting
trees), log-loss and AUC on the training and validation rows, and the seconds the fit took.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import expit
from threadpoolctl import threadpool_limits

from mmnar.data.tasks import DEFAULT_RUN, MULTICLASS, Task, n_outputs, run_tasks
from mmnar.models.losses import output_targets
from mmnar.metrics import task_metrics
from mmnar.model_input.inputs import RawInputs
from mmnar.models.registry import get as get_spec
from mmnar.models.spec import ESTIMATOR, ModelSpec
from mmnar.training.trainer import eligible_rows, trainer_params

log = logging.getLogger(__name__)


@dataclass
class EstimatorResult:
    """The fitted arrays of one estimator model (saved) and the scikit-learn objects (not saved;
    ``None`` for a task with a constant prediction)."""

    design: dict[str, dict[str, np.ndarray]]
    classifiers: dict[str, dict[str, np.ndarray]]
    feature_names: list[str]
    history: pd.DataFrame
    fitted: dict[str, Any]


def _check(spec: ModelSpec) -> None:
    if spec.kind != ESTIMATOR:
        raise TypeError(f"{spec.name} is a {spec.kind} model; mmnar.training.trainer trains it")


def output_names(task: Task) -> list[str]:
    """A task's classifier names: the task (binary), or ``<task>.<label or class>``."""
    return [column.removeprefix("p_") for column in task.prediction_columns]


def binary_targets(tasks: Sequence[Task], labels: np.ndarray):
    """``(task, output name, 0/1 target with NaN where undefined)`` for every model output, in output order
    (:func:`mmnar.models.losses.output_targets`: a class index becomes its one-hot row)."""
    targets = output_targets(torch.from_numpy(np.asarray(labels, dtype=np.float64)), tasks).numpy()
    names = [(task, name) for task in tasks for name in output_names(task)]
    for k, (task, name) in enumerate(names):
        yield task, name, targets[:, k]


def normalise_classes(p: np.ndarray, tasks: Sequence[Task]) -> np.ndarray:
    """One-vs-rest class probabilities rescaled to sum to 1 within each multi-class task."""
    out = 0
    for task in tasks:
        if task.type == MULTICLASS:
            block = p[:, out:out + task.n_outputs]
            p[:, out:out + task.n_outputs] = block / block.sum(axis=1, keepdims=True)
        out += task.n_outputs
    return p


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    if len(y) == 0:
        return np.nan
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_estimator(spec: ModelSpec, model_params: Mapping[str, Any] | None, training: Mapping[str, Any] | None,
                  raw: RawInputs, labels: np.ndarray, split: np.ndarray, seed: int,
                  tasks: Sequence[Task] = DEFAULT_RUN) -> EstimatorResult:
    """Fit on the eligible ``train`` rows (``seed`` is every ``random_state``); ``val`` rows are
    scored in the history and, for boosting with ``early_stopping``, stopped on."""
    _check(spec)
    model_params, training = spec.resolve(model_params), trainer_params(training, tasks)
    reference = spec.recipe()
    split = np.asarray(split).astype(str)
    eligible = eligible_rows(spec, raw)
    train_rows, val_rows = (split == "train") & eligible, (split == "val") & eligible
    if not train_rows.any():
        raise ValueError(f"{spec.name}: no training rows")
    labels = np.asarray(labels, dtype=np.float64)
    threads = training["num_threads"] if training["num_threads"] > 0 else None
    classifiers, fitted, history = {}, {}, []
    with threadpool_limits(limits=threads):
        design = reference.fit_design(raw, train_rows, model_params, seed)
        x = reference.design(raw, design)
        for task, output, y in binary_targets(tasks, labels):
            started = time.perf_counter()
            fit_rows, score_rows = train_rows & np.isfinite(y), val_rows & np.isfinite(y)
            if len(np.unique(y[fit_rows])) < 2:
                rate = (y[fit_rows].sum() + 0.5) / (fit_rows.sum() + 1)
                log.warning("%s: %s has %d defined training labels of one class or none; it predicts the "
                            "smoothed training rate %.4f for everyone", spec.name, output, int(fit_rows.sum()), rate)
                state, model = reference.constant_classifier(x.shape[1], rate), None
            else:
                if model_params.get("early_stopping") and not score_rows.any():
                    log.warning("%s: early_stopping is set but %s has no validation rows with a defined label; "
                                "all %d iterations are kept", spec.name, output, model_params["max_iter"])
                state, model = reference.fit_classifier(x[fit_rows], y[fit_rows], model_params, seed,
                                                        x[score_rows], y[score_rows])
            classifiers[output], fitted[output] = state, model
            p_train = expit(reference.decision_function(state, x[fit_rows]))
            p_val = expit(reference.decision_function(state, x[score_rows]))
            n_iter = int(state["n_iter"][0]) if "n_iter" in state else len(state["tree_start"]) - 1
            history.append({
                "task": task.name, "output": output, "n_train": int(fit_rows.sum()), "n_val": int(score_rows.sum()), "n_features": x.shape[1],
                "n_iter": n_iter, "constant": model is None,
                "train_log_loss": _log_loss(y[fit_rows], p_train), "val_log_loss": _log_loss(y[score_rows], p_val),
                "train_auc": task_metrics(y[fit_rows], p_train)["auc"], "val_auc": task_metrics(y[score_rows], p_val)["auc"],
                "seconds": time.perf_counter() - started})
    return EstimatorResult(design, classifiers, reference.feature_names(raw, design), pd.DataFrame(history), fitted)


def probabilities(spec: ModelSpec, design: Mapping[str, Mapping[str, np.ndarray]],
                  classifiers: Mapping[str, Mapping[str, np.ndarray]], raw: RawInputs,
                  tasks: Sequence[Task] = DEFAULT_RUN) -> np.ndarray:
    """``(N, outputs)`` probabilities of every patient from the fitted arrays (scikit-learn's
    ``predict_proba[:, 1]`` per output, multi-class blocks normalised); a modality whose δ is 0 is
    treated as never observed."""
    _check(spec)
    reference = spec.recipe()
    x = reference.design(raw, design)
    p = np.stack([expit(reference.decision_function(classifiers[name], x))
                  for task in tasks for name in output_names(task)], axis=1)
    return normalise_classes(p, tasks)


def _tensors(arrays: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, dict[str, torch.Tensor]]:
    return {key: {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in stats.items()} for key, stats in arrays.items()}


def _arrays(tensors: Mapping[str, Mapping[str, torch.Tensor]]) -> dict[str, dict[str, np.ndarray]]:
    return {key: {k: v.numpy() for k, v in stats.items()} for key, stats in tensors.items()}


def checkpoint(spec: ModelSpec, model_params: Mapping[str, Any] | None, result: EstimatorResult, raw: RawInputs,
               split_seed: int, init_seed: int, tasks: Sequence[Task] = DEFAULT_RUN) -> dict:
    """Everything ``predict`` needs, as plain tensors and builtins (``torch.load(weights_only=True)``)."""
    return {
        "model_name": spec.name,
        "kind": ESTIMATOR,
        "model_params": dict(spec.resolve(model_params)),
        "split_seed": split_seed,
        "init_seed": init_seed,
        "modalities": list(raw.modalities),
        "vector_dims": {m: int(x.shape[1]) for m, x in raw.vectors.items()},
        "n_outputs": n_outputs(tasks),
        "tasks": [task.name for task in tasks],
        "feature_names": list(result.feature_names),
        "design": _tensors(result.design),
        "classifiers": _tensors(result.classifiers),
    }


def checkpoint_probabilities(checkpoint: Mapping[str, Any], raw: RawInputs) -> np.ndarray:
    """:func:`probabilities` of a saved estimator model."""
    spec = get_spec(checkpoint["model_name"])
    dims = {m: int(x.shape[1]) for m, x in raw.vectors.items()}
    if dims != dict(checkpoint["vector_dims"]):
        raise ValueError(f"{spec.name} was trained on vectors of dimensions {dict(checkpoint['vector_dims'])}, "
                         f"the inputs have {dims}: rerun train")
    return probabilities(spec, _arrays(checkpoint["design"]), _arrays(checkpoint["classifiers"]), raw,
                         run_tasks(checkpoint["tasks"]))
