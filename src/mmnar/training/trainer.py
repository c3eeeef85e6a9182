"""Shared trainer for every registered torch model, and the ``train`` stage.

(Estimator models, the scikit-learn references, are fitted by :mod:`mmnar.training.estimators`; the
``train`` stage, which tunes either kind, is :func:`mmnar.training.tuning.run_train`.)

Every model sees the same preprocessing, fitted on the training split's rows that observed each
modality: vectors are standardised (NaN and missing modalities then set to 0, i.e. train-mean
imputation); series are forward-filled, median-imputed and robust-scaled
(:mod:`mmnar.model_input.series`). Nothing is fitted on validation or test rows. The trainer owns
optimisation (AdamW), early stopping on the validation split, seeding and mixed precision; a
model contributes its network, its loss terms and their weights (:mod:`mmnar.models.base`).
"""

from __future__ import annotations

import copy
import logging
import random
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mmnar.data.tasks import DEFAULT_RUN, MULTICLASS, Task, n_outputs, task_auc, task_blocks, tasks_in
from mmnar.device import choose_device
from mmnar.models.losses import masked_bce_with_logits
from mmnar.model_input.inputs import RawInputs
from mmnar.model_input.series import apply_series, fit_series
from mmnar.models.base import InputSpec, ModelInputs, SeriesBatch, SeriesShape
from mmnar.models.spec import SEQUENCE, TORCH, ModelSpec

log = logging.getLogger(__name__)

_EVAL_BATCH_SIZE = 2048

TRAINER_DEFAULTS: dict[str, Any] = {
    "lr": 2e-4, "weight_decay": 1e-6, "batch_size": 32, "max_epochs": 40, "patience": 30,
    "early_stopping": "val_loss", "lambda_pred": None, "focal_gamma": 0.0, "mixed_precision": True,
    "device": "auto", "num_threads": 1,
}
"""The trainer's settings (``training.*`` in the config; documented in the config schema)."""


@dataclass
class TrainResult:
    """Per-epoch history, best weights and the fitted preprocessing of one trained model."""

    model: torch.nn.Module
    history: pd.DataFrame
    preprocessing: dict[str, dict[str, np.ndarray]]
    input_spec: InputSpec
    tasks: tuple[Task, ...]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def trainer_params(params: Mapping[str, Any] | None, tasks: Sequence[Task] = DEFAULT_RUN) -> dict[str, Any]:
    """Trainer settings with defaults; ``lambda_pred`` defaults to 1 per task. An unknown key is an
    error, never ignored (``init_seeds`` says which runs exist and is not a setting of one run)."""
    unknown = sorted(set(params or {}) - set(TRAINER_DEFAULTS))
    if unknown:
        raise KeyError(f"unknown trainer settings {unknown}; known: {sorted(TRAINER_DEFAULTS)}")
    resolved = {**TRAINER_DEFAULTS, **(params or {})}
    resolved["lambda_pred"] = [float(w) for w in (resolved["lambda_pred"] or [1.0] * len(tasks))]
    if len(resolved["lambda_pred"]) != len(tasks):
        raise ValueError(f"training.lambda_pred needs one weight per task {[t.name for t in tasks]}")
    return resolved


def fit_standardiser(values: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Per-feature mean and scale of ``values[rows]``, NaN ignored; no finite value or no spread
    gives mean 0 / scale 1."""
    values = values[rows].astype(np.float64)
    finite = np.isfinite(values)
    counts = finite.sum(axis=0)
    mean = np.divide(np.where(finite, values, 0.0).sum(axis=0), counts, out=np.zeros(values.shape[1]), where=counts > 0)
    variance = np.divide((np.where(finite, values - mean, 0.0) ** 2).sum(axis=0), counts,
                         out=np.zeros(values.shape[1]), where=counts > 0)
    scale = np.sqrt(variance)
    scale[~(scale > 1e-8)] = 1.0
    return {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32)}


def fit_preprocessing(raw: RawInputs, reads: Mapping[str, str], fit_rows: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Statistics per input ``"<modality>:<form>"`` from the ``fit_rows`` patients that observed it."""
    preprocessing = {}
    for m, form in reads.items():
        rows = fit_rows & (raw.delta[:, raw.modalities.index(m)] == 1)
        if form == SEQUENCE:
            preprocessing[f"{m}:{form}"] = fit_series(raw.series[m], rows)
        else:
            preprocessing[f"{m}:{form}"] = fit_standardiser(raw.vectors[m], rows)
    return preprocessing


def model_inputs(raw: RawInputs, reads: Mapping[str, str], preprocessing: Mapping[str, Mapping[str, np.ndarray]]) -> ModelInputs:
    """CPU tensors for every patient: standardised vectors (0 where missing), preprocessed series."""
    vectors, series = {}, {}
    for m, form in reads.items():
        missing = raw.delta[:, raw.modalities.index(m)] == 0
        stats = preprocessing[f"{m}:{form}"]
        if form == SEQUENCE:
            values = raw.series[m].copy()
            values[missing] = np.nan
            prepared = apply_series(values, stats)
            series[m] = SeriesBatch(*(torch.from_numpy(prepared[k]) for k in ("values", "mask", "delta_t")))
        else:
            x = (raw.vectors[m].astype(np.float32) - stats["mean"]) / stats["scale"]
            x[~np.isfinite(x)] = 0.0
            x[missing] = 0.0
            vectors[m] = torch.from_numpy(x)
    return ModelInputs(torch.from_numpy(raw.delta.astype(np.float32)), vectors, series)


def input_spec(raw: RawInputs, reads: Mapping[str, str], preprocessing: Mapping[str, Mapping[str, np.ndarray]],
               tasks: Sequence[Task] = DEFAULT_RUN) -> InputSpec:
    vector_dims = {m: int(raw.vectors[m].shape[1]) for m, form in reads.items() if form != SEQUENCE}
    series = {m: SeriesShape(int(raw.series[m].shape[1]), int(raw.series[m].shape[2]), preprocessing[f"{m}:{form}"]["mean"])
              for m, form in reads.items() if form == SEQUENCE}
    return InputSpec(tuple(raw.modalities), vector_dims, series, n_outputs(tasks), tuple(tasks))


def prediction_loss(logits: torch.Tensor, labels: torch.Tensor, focal_gamma: float = 0.0,
                    tasks: Sequence[Task] = DEFAULT_RUN) -> torch.Tensor:
    """Per-task loss ``(n_tasks,)`` over the defined labels, from each task's type: masked BCE for
    binary and multi-label tasks (a multi-label task's loss is the mean over its labels),
    cross-entropy for multi-class (label column = class index)."""
    losses, out, col = [], 0, 0
    for task in tasks:
        if task.type == MULTICLASS:
            y = labels[:, col]
            defined = ~torch.isnan(y)
            if defined.any():
                losses.append(torch.nn.functional.cross_entropy(logits[defined, out:out + task.n_outputs], y[defined].long()))
            else:
                losses.append(logits.sum() * 0.0)
            col += 1
        else:
            per_label = masked_bce_with_logits(logits[:, out:out + task.n_outputs], labels[:, col:col + task.n_outputs], focal_gamma)
            losses.append(per_label.mean())
            col += task.n_outputs
        out += task.n_outputs
    return torch.stack(losses)


def probabilities(logits: torch.Tensor, tasks: Sequence[Task] = DEFAULT_RUN) -> torch.Tensor:
    """Logits to probabilities per task type (softmax over a multi-class task's outputs)."""
    parts, out = [], 0
    for task in tasks:
        block = logits[:, out:out + task.n_outputs]
        parts.append(torch.softmax(block, dim=1) if task.type == MULTICLASS else torch.sigmoid(block))
        out += task.n_outputs
    return torch.cat(parts, dim=1)


def weighted_terms(terms: Mapping[str, torch.Tensor], model_params: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Each model term times its weight ``lambda_<prefix>``; a term without a weight is an error."""
    weighted = {}
    for name, value in terms.items():
        key = f"lambda_{name.split('_', 1)[0]}"
        if key not in model_params:
            raise KeyError(f"model term {name!r} has no weight parameter {key!r}")
        weighted[name] = model_params[key] * value.float()
    return weighted


def _autocast(device: torch.device, enabled: bool):
    if not (enabled and device.type == "cuda"):
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


def predict_logits(model: torch.nn.Module, inputs: ModelInputs, rows: torch.Tensor, amp=None) -> torch.Tensor:
    """Eval-mode logits for ``rows``, in chunks."""
    model.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(rows), _EVAL_BATCH_SIZE):
            with amp or nullcontext():
                chunks.append(model(inputs.index(rows[start:start + _EVAL_BATCH_SIZE]), with_aux=False).logits.float())
    if not chunks:
        raise ValueError("no rows to predict")
    return torch.cat(chunks)


def _validation_scores(logits: torch.Tensor, labels: torch.Tensor, params: Mapping[str, Any],
                       tasks: Sequence[Task]) -> dict[str, float]:
    """Weighted validation loss, and each task's AUC (multi-label: macro over labels; multi-class:
    one-vs-rest macro) with their mean ``val_auc``."""
    per_task = prediction_loss(logits, labels, params["focal_gamma"], tasks)
    weights = torch.as_tensor(params["lambda_pred"], device=per_task.device)
    scores = {"val_loss": float((weights * per_task).sum())}
    aucs = {task.name: task_auc(task, y, p)
            for task, y, p in task_blocks(tasks, labels.cpu().numpy(), probabilities(logits, tasks).cpu().numpy())}
    finite = [auc for auc in aucs.values() if np.isfinite(auc)]
    scores["val_auc"] = float(np.mean(finite)) if finite else np.nan
    scores.update({f"val_auc_{name}": auc for name, auc in aucs.items()})
    return scores


def eligible_rows(spec: ModelSpec, raw: RawInputs) -> np.ndarray:
    """Patients a model is trained and evaluated on: all, or those with its one modality."""
    if spec.restrict_to is None:
        return np.ones(len(raw.delta), dtype=bool)
    return raw.delta[:, raw.modalities.index(spec.restrict_to)] == 1


def fit(spec: ModelSpec, model_params: Mapping[str, Any], training: Mapping[str, Any], raw: RawInputs,
        labels: np.ndarray, split: np.ndarray, seed: int, tasks: Sequence[Task] = DEFAULT_RUN) -> TrainResult:
    """Train on the eligible ``train`` rows, select the epoch on the eligible ``val`` rows.

    ``seed`` seeds initialisation and batch order (the split is fixed by the caller). The same seed
    gives identical weights on CPU; on CUDA a few kernels are only warned about.
    Without validation rows the last epoch is kept. An estimator model is fitted by
    :func:`mmnar.training.estimators.fit_estimator` instead.
    """
    if spec.kind != TORCH:
        raise TypeError(f"{spec.name} is a {spec.kind} model; mmnar.training.estimators fits it")
    model_params, training = spec.resolve(model_params), trainer_params(training, tasks)
    split = np.asarray(split).astype(str)
    eligible = eligible_rows(spec, raw)
    train_rows, val_rows = (split == "train") & eligible, (split == "val") & eligible
    if not train_rows.any() and spec.restrict_to is None:
        raise ValueError(f"{spec.name}: no training rows")
    if not train_rows.any():  # e.g. no CXR folder configured: the reference has no patients, its row stays empty
        log.warning("%s: no training patient has modality %s; the model is left untrained and predicts nothing",
                    spec.name, spec.restrict_to)
    device = choose_device(training["device"])
    previous = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    if training["num_threads"] > 0:
        torch.set_num_threads(training["num_threads"])
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _fit(spec, model_params, training, raw, np.array(labels, dtype=np.float32), train_rows, val_rows, seed, device,
                    tuple(tasks))
    finally:
        torch.set_num_threads(previous[0])
        torch.use_deterministic_algorithms(previous[1], warn_only=previous[2])


def _fit(spec, model_params, training, raw, labels, train_rows, val_rows, seed, device, tasks) -> TrainResult:
    seed_everything(seed)
    if not train_rows.any():
        training = {**training, "max_epochs": 0}
    reads = spec.reads(raw.modalities, model_params)
    preprocessing = fit_preprocessing(raw, reads, train_rows)
    shape = input_spec(raw, reads, preprocessing, tasks)
    inputs = model_inputs(raw, reads, preprocessing).to(device)
    labels_t = torch.from_numpy(labels).to(device)
    train_index = torch.from_numpy(np.flatnonzero(train_rows)).to(device)
    val_index = torch.from_numpy(np.flatnonzero(val_rows)).to(device)

    model = spec.build(shape, model_params).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=training["lr"], weight_decay=training["weight_decay"], fused=True)
    amp, scaler = _autocast(device, training["mixed_precision"])
    shuffler = torch.Generator().manual_seed(seed)
    pred_weights = torch.as_tensor(training["lambda_pred"], device=device)
    supervised = getattr(model, "supervised_terms", None)
    maximise = training["early_stopping"] == "val_auc"

    def loss_fn(logits, y):
        return prediction_loss(logits, y, training["focal_gamma"], tasks)

    best_score, best_state, epochs_since_best, history = None, None, 0, []
    for epoch in tqdm(range(1, training["max_epochs"] + 1), desc=f"{spec.name} seed {seed}", disable=None):
        started = time.perf_counter()
        model.train()
        sums: dict[str, torch.Tensor] = {}
        order = train_index[torch.randperm(len(train_index), generator=shuffler).to(device)]
        n_batches = 0
        for start in range(0, len(order), training["batch_size"]):
            batch = order[start:start + training["batch_size"]]
            with amp:
                output = model(inputs.index(batch), with_aux=True)
            pred = (pred_weights * loss_fn(output.logits.float(), labels_t[batch])).sum()
            terms = dict(output.aux_terms)
            if supervised is not None:
                terms.update(supervised(output, labels_t[batch], loss_fn))
            weighted = weighted_terms(terms, model_params)
            loss = pred + sum(weighted.values()) if weighted else pred
            optimiser.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimiser)
                scaler.update()
            else:
                loss.backward()
                optimiser.step()
            n_batches += 1
            record_terms = {"train_loss": loss, "train_pred_loss": pred}
            for name, value in weighted.items():
                key = f"train_{name.split('_', 1)[0]}"
                record_terms[key] = record_terms.get(key, 0.0) + value
            for name, value in record_terms.items():
                sums[name] = sums.get(name, 0.0) + value.detach()
        record = {"epoch": epoch, **{name: float(total) / n_batches for name, total in sums.items()}}

        improved = False
        if len(val_index):
            record.update(_validation_scores(predict_logits(model, inputs, val_index, amp), labels_t[val_index], training,
                                             tasks))
            score = record[training["early_stopping"]]
            improved = bool(np.isfinite(score) and (best_score is None or (score > best_score if maximise else score < best_score)))
        if improved:
            best_score, epochs_since_best = score, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            epochs_since_best += 1
        record["is_best"] = improved
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        if best_state is not None and epochs_since_best >= training["patience"]:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    return TrainResult(model, pd.DataFrame(history), preprocessing, shape, tasks)


def label_matrix(labels: pd.DataFrame) -> np.ndarray:
    """The run's label columns (``tasks_in(labels.columns)``), in task order."""
    return labels[[c for task in tasks_in(labels.columns) for c in task.label_columns]].to_numpy(dtype=np.float32)


def align_split(subject_ids: pd.Series, split_path: Path) -> np.ndarray:
    """Split label per patient in ``subject_ids`` order; every patient must be assigned."""
    splits = pd.read_parquet(split_path).set_index("subject_id")["split"]
    aligned = splits.reindex(subject_ids.to_numpy())
    if aligned.isna().any():
        raise ValueError(f"{int(aligned.isna().sum())} patients of labels.parquet are missing from {split_path}")
    return aligned.astype(str).to_numpy()


def checkpoint(spec: ModelSpec, model_params: Mapping[str, Any], result: TrainResult, split_seed: int, init_seed: int) -> dict:
    """Everything ``predict`` needs to rebuild the model: plain tensors and builtins only, so
    ``torch.load(weights_only=True)`` reads it."""
    shape = result.input_spec
    return {
        "model_name": spec.name,
        "model_params": dict(spec.resolve(model_params)),
        "split_seed": split_seed,
        "init_seed": init_seed,
        "modalities": list(shape.modalities),
        "vector_dims": dict(shape.vector_dims),
        "series": {m: {"n_steps": s.n_steps, "n_features": s.n_features, "mean": torch.from_numpy(s.mean)}
                   for m, s in shape.series.items()},
        "n_outputs": shape.n_outputs,
        "tasks": [task.name for task in result.tasks],
        "preprocessing": {key: {k: torch.from_numpy(v) for k, v in stats.items()} for key, stats in result.preprocessing.items()},
        "state_dict": {name: value.detach().cpu().clone() for name, value in result.model.state_dict().items()},
    }
