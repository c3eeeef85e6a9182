"""The ``predict`` stage: a saved model's probabilities for every patient under a modality scenario.

A scenario names what is removed before the model sees the data, with the training-fitted
preprocessing unchanged (so a model trained on all modalities is evaluated without some):

- ``observed``: the data as recorded;
- ``drop_<m>``: modality ``m`` removed for every patient (δ_m = 0, its values as if never measured);
- ``drop_<m>_<p>``: ``m`` removed for a random fraction ``p`` (0 < p ≤ 1) of the patients who have it,
  drawn with ``scenario_seed`` so every model loses the same patients' data;
- ``keep_<m>+<m>…``: every modality not listed removed for every patient.

The grammar lives in :mod:`mmnar.model_input.scenarios` (the train stage applies the same scenarios
to train a model under one); its names are re-exported here.

Torch models are rebuilt from their state dict; estimator models (the scikit-learn references)
predict from their saved arrays (:mod:`mmnar.training.estimators`). Both see the scenario the same
way: δ_m = 0, and the model's own treatment of a missing modality replaces m's values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mmnar.data.tasks import run_tasks
from mmnar.io import atomic_path
from mmnar.model_input.inputs import RawInputs, load_raw_inputs
from mmnar.model_input.scenarios import OBSERVED, Scenario, apply_scenario, parse_scenario  # noqa: F401 (re-exported)
from mmnar.models.base import InputSpec, SeriesShape
from mmnar.models.registry import get as get_spec
from mmnar.models.spec import ESTIMATOR
from mmnar.training.estimators import checkpoint_probabilities
from mmnar.training.trainer import align_split, eligible_rows, model_inputs, predict_logits, probabilities


def rebuild(checkpoint: dict) -> tuple[torch.nn.Module, dict, dict[str, str]]:
    """The trained model, its preprocessing and the inputs it reads, from a ``train`` checkpoint."""
    spec = get_spec(checkpoint["model_name"])
    params = checkpoint["model_params"]
    shape = InputSpec(tuple(checkpoint["modalities"]), checkpoint["vector_dims"],
                      {m: SeriesShape(s["n_steps"], s["n_features"], s["mean"].numpy()) for m, s in checkpoint["series"].items()},
                      checkpoint["n_outputs"], run_tasks(checkpoint["tasks"]))
    model = spec.build(shape, params)
    model.load_state_dict(checkpoint["state_dict"])
    preprocessing = {key: {k: v.numpy() for k, v in stats.items()} for key, stats in checkpoint["preprocessing"].items()}
    return model, preprocessing, spec.reads(shape.modalities, params)


def predict(checkpoint: dict, model_input_dir: Path, scenario_name: str, scenario_seed: int) -> tuple[pd.DataFrame, RawInputs]:
    """Probabilities per patient, a column per output of the tasks the model was trained on
    (``Task.prediction_columns``; NaN where a single-modality model does not apply)."""
    spec = get_spec(checkpoint["model_name"])
    if spec.kind == ESTIMATOR:
        model, preprocessing = None, None
        reads = spec.reads(tuple(checkpoint["modalities"]), checkpoint["model_params"])
    else:
        model, preprocessing, reads = rebuild(checkpoint)
    raw, labels = load_raw_inputs(model_input_dir, reads)
    if list(raw.modalities) != checkpoint["modalities"]:
        raise ValueError(f"model trained on modalities {checkpoint['modalities']}, inputs have {list(raw.modalities)}")
    raw = apply_scenario(raw, parse_scenario(scenario_name, raw.modalities), scenario_seed)
    if spec.kind == ESTIMATOR:
        p = checkpoint_probabilities(checkpoint, raw)
    else:
        inputs = model_inputs(raw, reads, preprocessing)
        with torch.no_grad():
            p = probabilities(predict_logits(model, inputs, torch.arange(len(raw.delta))),
                              run_tasks(checkpoint["tasks"])).numpy().astype(np.float64)
    p[~eligible_rows(spec, raw)] = np.nan
    frame = pd.DataFrame({"subject_id": labels["subject_id"].to_numpy()})
    columns = [c for task in run_tasks(checkpoint["tasks"]) for c in task.prediction_columns]
    return pd.concat([frame, pd.DataFrame(p, columns=columns)], axis=1), raw


def run_predict(model_paths: list[Path], model_input_dir: Path, split_paths: list[Path], outputs: list[Path],
                scenario: str, scenario_seed: int) -> None:
    """The ``predict`` stage for several trained runs of one model (one job: the start-up cost of
    torch is paid once); ``model_paths[i]`` with split ``split_paths[i]`` writes ``outputs[i]``."""
    torch.set_num_threads(1)
    for model_path, split_path, out in zip(model_paths, split_paths, outputs, strict=True):
        checkpoint = torch.load(model_path, weights_only=True)
        frame, _ = predict(checkpoint, model_input_dir, scenario, scenario_seed)
        frame.insert(1, "split", align_split(frame["subject_id"], split_path))
        with atomic_path(out) as tmp:
            frame.to_parquet(tmp, index=False)
