"""Shared trainer for every registered model, and the ``train`` stage.

All models see identical preprocessing: a per-feature standardiser fitted on the training split's
observed rows only, then NaN (unmeasured structured features) and missing modalities set to 0,
i.e. train-mean imputation. Nothing is fitted on validation or test rows.
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from mmnar import MODALITIES, TASKS
from mmnar.device import choose_device
from mmnar.io import atomic_path
from mmnar.losses import masked_bce_with_logits, total_loss
from mmnar.models import build_model
from mmnar.models.hyperparams import DEFAULT_PARAMS, resolve_params
from mmnar.metrics import task_metrics

__all__ = [
    "DEFAULT_PARAMS",
    "TrainResult",
    "align_split",
    "apply_standardiser",
    "fit_predict",
    "fit_standardiser",
    "load_model_inputs",
    "run_train",
    "seed_everything",
]

_EVAL_BATCH_SIZE = 2048


@dataclass
class TrainResult:
    """Probabilities ``(N, n_tasks)`` for all patients, per-epoch history, best weights, preprocessing."""

    predictions: np.ndarray
    history: pd.DataFrame
    state_dict: dict[str, torch.Tensor]
    preprocessing: dict[str, dict[str, np.ndarray]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit_standardiser(arrays: Mapping[str, np.ndarray], delta: np.ndarray, fit_rows: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Per-feature mean and scale from the ``fit_rows`` (train) patients that observed each modality.

    NaN entries are ignored; features with no finite value or no spread get mean 0 / scale 1.
    """
    preprocessing = {}
    for k, m in enumerate(MODALITIES):
        values = arrays[m][fit_rows & (delta[:, k] == 1)].astype(np.float64)
        finite = np.isfinite(values)
        counts = finite.sum(axis=0)
        filled = np.where(finite, values, 0.0)
        mean = np.divide(filled.sum(axis=0), counts, out=np.zeros(values.shape[1]), where=counts > 0)
        variance = np.divide(
            (np.where(finite, values - mean, 0.0) ** 2).sum(axis=0), counts, out=np.zeros(values.shape[1]), where=counts > 0
        )
        scale = np.sqrt(variance)
        scale[~(scale > 1e-8)] = 1.0
        preprocessing[m] = {"mean": mean.astype(np.float32), "scale": scale.astype(np.float32)}
    return preprocessing


def apply_standardiser(
    arrays: Mapping[str, np.ndarray], delta: np.ndarray, preprocessing: Mapping[str, Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Standardise; NaN and every row of a missing modality become 0 (the train mean)."""
    standardised = {}
    for k, m in enumerate(MODALITIES):
        values = (arrays[m].astype(np.float32) - preprocessing[m]["mean"]) / preprocessing[m]["scale"]
        values[~np.isfinite(values)] = 0.0
        values[delta[:, k] == 0] = 0.0
        standardised[m] = values
    return standardised


def _autocast(device: torch.device, enabled: bool):
    if not (enabled and device.type == "cuda"):
        return nullcontext(), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
    return torch.autocast("cuda", dtype=dtype), scaler


def _predict_logits(model, inputs: Mapping[str, torch.Tensor], delta: torch.Tensor, rows: torch.Tensor, amp) -> torch.Tensor:
    model.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(rows), _EVAL_BATCH_SIZE):
            batch = rows[start : start + _EVAL_BATCH_SIZE]
            with amp:
                logits = model({m: x[batch] for m, x in inputs.items()}, delta[batch], with_aux=False).logits
            chunks.append(logits.float())
    return torch.cat(chunks) if chunks else torch.empty(0, len(TASKS), device=delta.device)


def _validation_scores(logits: torch.Tensor, labels: torch.Tensor, params: Mapping[str, Any]) -> dict[str, float]:
    per_task = masked_bce_with_logits(logits, labels, params["focal_gamma"])
    weights = torch.as_tensor(params["lambda_pred"], device=per_task.device)
    y, p = labels.cpu().numpy(), torch.sigmoid(logits).cpu().numpy()
    aucs = [task_metrics(y[:, t], p[:, t])["auc"] for t in range(len(TASKS))]
    scores = {"val_loss": float((weights * per_task).sum()), "val_auc": float(np.nanmean(aucs)) if np.isfinite(aucs).any() else np.nan}
    scores.update({f"val_auc_{task}": auc for task, auc in zip(TASKS, aucs)})
    return scores


def fit_predict(
    model_name: str,
    arrays: Mapping[str, np.ndarray],
    delta: np.ndarray,
    labels: np.ndarray,
    split: np.ndarray,
    params: Mapping[str, Any] | None,
    seed: int,
) -> TrainResult:
    """Train ``model_name`` on the ``train`` rows, select the epoch on ``val``, predict every row.

    ``arrays``: ``{m: (N, d_m) float32}`` (S may hold NaN); ``delta``: ``(N, 4)`` uint8;
    ``labels``: ``(N, n_tasks)`` float with NaN where undefined; ``split``: ``(N,)`` strings
    ``train/val/test``. ``params``: overrides of :data:`DEFAULT_PARAMS` (documented in
    :mod:`mmnar.models.hyperparams`). The same seed gives identical predictions on CPU; on CUDA
    a few kernels (embedding backward) are only warned about, not made deterministic.
    Without validation rows the last epoch is kept.
    """
    params = resolve_params(params)
    split = np.asarray(split).astype(str)
    train_rows, val_rows = split == "train", split == "val"
    if not train_rows.any():
        raise ValueError("no training rows in split")
    delta = np.array(delta, dtype=np.uint8)  # a writable copy: torch.from_numpy shares memory
    device = choose_device(params["device"])
    previous_threads = torch.get_num_threads()
    previous_determinism = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    if params["num_threads"] > 0:
        torch.set_num_threads(params["num_threads"])
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        return _fit(model_name, arrays, delta, np.array(labels, dtype=np.float32), train_rows, val_rows, params, seed, device)
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(previous_determinism, warn_only=previous_warn_only)


def _fit(model_name, arrays, delta, labels, train_rows, val_rows, params, seed, device) -> TrainResult:
    seed_everything(seed)
    preprocessing = fit_standardiser(arrays, delta, train_rows)
    standardised = apply_standardiser(arrays, delta, preprocessing)
    inputs = {m: torch.from_numpy(x).to(device) for m, x in standardised.items()}
    delta_t = torch.from_numpy(delta).to(device)
    labels_t = torch.from_numpy(labels).to(device)
    train_index = torch.from_numpy(np.flatnonzero(train_rows)).to(device)
    val_index = torch.from_numpy(np.flatnonzero(val_rows)).to(device)

    model = build_model(model_name, {m: x.shape[1] for m, x in standardised.items()}, params).to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=params["lr"], weight_decay=params["weight_decay"], fused=True)
    amp, scaler = _autocast(device, params["mixed_precision"])
    shuffler = torch.Generator().manual_seed(seed)
    loss_weights = {key: params[key] for key in ("lambda_miss", "lambda_rec", "lambda_cont", "lambda_pred")}
    maximise = params["early_stopping"] == "val_auc"

    best_score, best_state, epochs_since_best = None, None, 0
    history = []
    for epoch in tqdm(range(1, params["max_epochs"] + 1), desc=f"{model_name} seed {seed}", disable=None):
        started = time.perf_counter()
        model.train()
        sums: dict[str, torch.Tensor] = {}
        order = train_index[torch.randperm(len(train_index), generator=shuffler).to(device)]
        n_batches = 0
        for start in range(0, len(order), params["batch_size"]):
            batch = order[start : start + params["batch_size"]]
            with amp:
                output = model({m: x[batch] for m, x in inputs.items()}, delta_t[batch])
            aux = {name: value.float() for name, value in output.aux_terms.items()}
            pred = masked_bce_with_logits(output.logits.float(), labels_t[batch], params["focal_gamma"])
            loss = total_loss(aux, pred, **loss_weights)
            optimiser.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimiser)
                scaler.update()
            else:
                loss.backward()
                optimiser.step()
            n_batches += 1
            terms = {"train_loss": loss, "train_pred_loss": (torch.as_tensor(params["lambda_pred"], device=device) * pred).sum()}
            for prefix in ("miss", "rec", "cont"):
                parts = [v for name, v in aux.items() if name.split("_", 1)[0] == prefix]
                if parts:
                    terms[f"train_{prefix}"] = torch.stack(parts).sum()
            for name, value in terms.items():
                sums[name] = sums.get(name, 0.0) + value.detach()
        record = {"epoch": epoch, **{name: float(total) / n_batches for name, total in sums.items()}}

        if len(val_index):
            record.update(_validation_scores(_predict_logits(model, inputs, delta_t, val_index, amp), labels_t[val_index], params))
            score = record[params["early_stopping"]]
            improved = np.isfinite(score) and (best_score is None or (score > best_score if maximise else score < best_score))
        else:
            improved = False
        if improved:
            best_score, epochs_since_best = score, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            epochs_since_best += 1
        record["is_best"] = improved
        record["seconds"] = time.perf_counter() - started
        history.append(record)
        if best_state is not None and epochs_since_best >= params["patience"]:
            break

    if best_state is not None:
        model.load_state_dict(best_state)
    all_rows = torch.arange(len(delta), device=device)
    probabilities = torch.sigmoid(_predict_logits(model, inputs, delta_t, all_rows, amp)).cpu().numpy()
    state_dict = {name: value.detach().cpu().clone() for name, value in model.state_dict().items()}
    return TrainResult(probabilities, pd.DataFrame(history), state_dict, preprocessing)


def load_model_inputs(model_input_dir: Path) -> tuple[dict[str, np.ndarray], np.ndarray, pd.DataFrame]:
    """``{S,I,T,R}.npy``, ``delta.npy`` and ``labels.parquet`` as written by ``build_delta``."""
    model_input_dir = Path(model_input_dir)
    arrays = {m: np.load(model_input_dir / f"{m}.npy") for m in MODALITIES}
    delta = np.load(model_input_dir / "delta.npy")
    labels = pd.read_parquet(model_input_dir / "labels.parquet")
    for m, x in arrays.items():
        if x.shape[0] != len(labels):
            raise ValueError(f"{m}.npy has {x.shape[0]} rows but labels.parquet has {len(labels)}")
    if delta.shape != (len(labels), len(MODALITIES)):
        raise ValueError(f"delta.npy has shape {delta.shape}, expected {(len(labels), len(MODALITIES))}")
    return arrays, delta, labels


def align_split(subject_ids: pd.Series, split_path: Path) -> np.ndarray:
    """Split label per patient in ``subject_ids`` order; every patient must be assigned."""
    splits = pd.read_parquet(split_path).set_index("subject_id")["split"]
    aligned = splits.reindex(subject_ids.to_numpy())
    if aligned.isna().any():
        raise ValueError(f"{int(aligned.isna().sum())} patients of labels.parquet are missing from {split_path}")
    return aligned.astype(str).to_numpy()


def run_train(
    model_name: str,
    model_input_dir: Path,
    split_path: Path,
    predictions_out: Path,
    model_out: Path,
    history_out: Path,
    params: Mapping[str, Any] | None,
    seed: int,
) -> TrainResult:
    """The ``train`` stage: fit, then write predictions parquet, model ``.pt`` and history csv.

    The ``.pt`` holds plain tensors and builtins only, so ``torch.load(weights_only=True)`` reads it.
    """
    params = resolve_params(params)
    arrays, delta, labels = load_model_inputs(model_input_dir)
    split = align_split(labels["subject_id"], split_path)
    label_matrix = labels[list(TASKS)].to_numpy(dtype=np.float32)
    result = fit_predict(model_name, arrays, delta, label_matrix, split, params, seed)

    predictions = pd.DataFrame({"subject_id": labels["subject_id"].to_numpy(), "split": split})
    for t, task in enumerate(TASKS):
        predictions[f"p_{task}"] = result.predictions[:, t].astype(np.float64)
    with atomic_path(predictions_out) as tmp:
        predictions.to_parquet(tmp, index=False)
    checkpoint = {
        "model_name": model_name,
        "seed": seed,
        "params": params,
        "input_dims": {m: int(x.shape[1]) for m, x in arrays.items()},
        "state_dict": result.state_dict,
        "preprocessing": {m: {k: torch.from_numpy(v) for k, v in stats.items()} for m, stats in result.preprocessing.items()},
    }
    with atomic_path(model_out) as tmp:
        torch.save(checkpoint, tmp)
    with atomic_path(history_out) as tmp:
        result.history.to_csv(tmp, index=False)
    return result
