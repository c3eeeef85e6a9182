"""Seconds per training epoch of every registered torch model on the default run's model inputs.

Run after the default workflow (``snakemake --cores 8 results/table1.csv``) from the working
directory that holds ``data/``:

    .venv/bin/python benchmarks/training_speed.py --epochs 3 --out benchmarks/training_speed.csv

Each model trains alone (one torch thread, as a ``train`` job does) on split 0 for ``--epochs``
epochs with the configured trainer settings, patience disabled; the median epoch time (training
plus the validation pass) and the time of one prediction pass over every patient are reported.
The numbers the README quotes come from this script.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from mmnar.modalities.registry import names as modality_names
from mmnar.model_input.inputs import load_raw_inputs
from mmnar.models.registry import specs
from mmnar.models.spec import TORCH
from mmnar.training.trainer import align_split, fit, label_matrix, model_inputs, predict_logits


def measure(name: str, model_input: Path, split_path: Path, training: dict, epochs: int) -> dict:
    spec = specs()[name]
    reads = spec.reads(modality_names(), spec.resolve())
    raw, labels = load_raw_inputs(model_input, reads)
    split = align_split(labels["subject_id"], split_path)
    settings = {**training, "max_epochs": epochs, "patience": epochs + 1, "device": "cpu", "num_threads": 1}
    result = fit(spec, None, settings, raw, label_matrix(labels), split, seed=0)
    inputs = model_inputs(raw, reads, result.preprocessing)
    started = time.perf_counter()
    predict_logits(result.model, inputs, torch.arange(len(labels)))
    return {"model": name, "label": spec.label, "epoch_seconds": float(np.median(result.history["seconds"])),
            "predict_seconds": time.perf_counter() - started, "n_train": int((split == "train").sum()),
            "parameters": sum(p.numel() for p in result.model.parameters())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("."))
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parents[1] / "config.yaml")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", nargs="*", default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/training_speed.csv"))
    args = parser.parse_args()
    training = {k: v for k, v in yaml.safe_load(args.config.read_text())["training"].items() if k != "init_seeds"}
    model_input = args.workdir / "data" / "model_input"
    split_path = args.workdir / "data" / "splits" / "seed0.parquet"
    torch_models = [name for name, spec in specs().items() if spec.kind == TORCH]  # estimators have no epochs
    rows = [measure(name, model_input, split_path, training, args.epochs) for name in (args.models or torch_models)]
    table = pd.DataFrame(rows)
    table["machine"] = f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table[["model", "epoch_seconds", "predict_seconds", "parameters"]].to_markdown(index=False, floatfmt=".2f"))


if __name__ == "__main__":
    main()
