"""The mechanism sweep: the whole workflow, once per synthetic generator setting.

Each setting (mechanism × hidden-component strength × direct effect of δ) is a complete run of this
workflow in its own working directory, ``data/sweep/<setting>/``, with the run's own configuration
plus ``sweep.overrides`` (a smaller cohort, fewer models or seeds) and the setting's three generator
values; its ``results/`` are what ``mmnar.reporting.sweep`` aggregates. Running each setting as a
separate working directory keeps every setting's DAG, caches and incremental reruns exactly those
of a normal run: a changed model parameter reruns that model in every setting, nothing else.
"""

from __future__ import annotations

import copy
import itertools
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mmnar.io import atomic_path

SETTING_KEYS = ("mechanism", "hidden_strength", "direct_effect")
SWEEP_DIR = "data/sweep"
"""Where each setting's working directory lies, relative to the outer one."""


def from_workdir(path: str, workdir: str | os.PathLike) -> str:
    """``path`` (relative to the outer working directory) relative to the nested ``workdir`` inside it;
    an absolute path stays as it is."""
    return path if os.path.isabs(path) else os.path.relpath(path, workdir)


def setting_name(mechanism: str, hidden_strength: float, direct_effect: float) -> str:
    return f"{mechanism}_hidden{hidden_strength:g}_direct{direct_effect:g}"


def settings(sweep: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Setting name → generator values: the listed ``sweep.settings``, else the ``sweep.grid`` product."""
    listed = sweep.get("settings") or [dict(zip(SETTING_KEYS, values)) for values in
                                       itertools.product(*(sweep["grid"][key] for key in SETTING_KEYS))]
    named = {setting_name(**{k: s[k] for k in SETTING_KEYS}): {k: s[k] for k in SETTING_KEYS} for s in listed}
    if len(named) != len(listed):
        raise ValueError("sweep.settings lists the same setting twice")
    return named


def merge(base: dict, override: Mapping) -> dict:
    """``base`` updated recursively with ``override`` (as Snakemake merges --configfile files)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def restrict_models(config: dict, models: Sequence[str], reference: str) -> None:
    """Make ``models`` the run's models (in place): the rectified models and the paired-comparison
    references are those of ``config`` among them, with ``reference`` the first reference."""
    config["models"] = list(models)
    config["rectifier"]["models"] = [m for m in config["rectifier"]["models"] if m in models]
    config["reporting"]["references"] = [reference, *(m for m in config["reporting"]["references"]
                                                      if m in models and m != reference)]


def setting_workdir(name: str) -> str:
    return f"{SWEEP_DIR}/{name}"


def setting_config(config: Mapping[str, Any], name: str, values: Mapping[str, Any]) -> dict:
    """The complete configuration of setting ``name``'s run (paths relative to its working directory).
    Every setting shares the outer run's embedding cache, so a note or image identical across settings
    is embedded once."""
    sweep = config["sweep"]
    inner = merge(config, sweep.get("overrides") or {})
    inner["source"] = "synthetic"
    restrict_models(inner, sweep["models"], sweep["reference"])
    inner["synthetic"].update(values)
    inner["embeddings"]["cache_dir"] = from_workdir(inner["embeddings"]["cache_dir"], setting_workdir(name))
    return inner


def run_setting(snakefile: Path, workdir: Path, config: Mapping[str, Any], targets: list[str], cores: int,
                log_path: Path) -> None:
    """Write the run's config into ``workdir`` and run the workflow there (a sweep setting, or another
    nested run such as mmnar.nested's); its log goes to ``log_path``."""
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "config.yaml"
    with atomic_path(config_path) as tmp:
        tmp.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "-d", str(workdir), "--cores", str(cores),
               *targets, "--configfile", str(config_path)]
    with open(log_path, "w") as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        raise RuntimeError(f"the nested workflow run in {workdir} failed (exit {result.returncode}); see {log_path}")
