"""CareBench's other tasks: a nested run of this workflow with the early window.

``phenotype_25`` (25 phenotypes, multi-label) and ``los_remaining`` (7 classes) are predicted
``cohort.early_hours`` into the ICU stay (``cohort.window: early``), the paper's three tasks at
discharge (``paper``); one run has one window. So, like a mechanism-sweep setting (mmnar.sweep),
the target ``results/carebench_tasks.csv`` runs the whole workflow once more in its own working
directory, ``data/carebench_tasks/``, with the configuration :func:`carebench_config` derives from
the run's own: ``carebench_tasks.tasks``, the early window and ``carebench_tasks.models``. That run
has its own DAG, caches and incremental reruns; its Table 1 is copied into ``results/``.

Paths in the derived configuration are as the nested run sees them from its working directory: the
embedding cache is the outer run's (a note or image is embedded once for both runs), and the inputs
the outer configuration points at (PhysioNet folders, the BigQuery cache, a local encoder or image
weights) are made absolute. Outputs (``synthetic.out_dir``) stay relative: the nested run writes its own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmnar.data.feature_groups import availability
from mmnar.io import atomic_path
from mmnar.modalities.text_source import BUNDLED_ENCODER
from mmnar.sweep import from_workdir, merge, restrict_models

CAREBENCH_DIR = "data/carebench_tasks"
"""Working directory of the nested run, relative to the outer one."""
WINDOW = "early"
PREFERRED_REFERENCE = "crl_mmnar"
"""First paired-comparison reference of the nested run when it is among its models (the method the
paper is about), as ``sweep.reference`` is for a sweep setting; else the outer run's first reference
among them, else the first model."""
TABLE1_LABEL, LABEL = r"\label{tab:table1}", r"\label{tab:carebench_tasks}"
"""The LaTeX label of the copied table: the paper includes Table 1 as well."""


def absolute(path: str, root: str | os.PathLike) -> str:
    """``path`` (relative to the outer working directory ``root``) as an absolute path."""
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(root, path))


def outer_inputs_absolute(config: dict, root: Path) -> None:
    """Make the inputs the configuration points at absolute (in place): the PhysioNet folders, the
    BigQuery cache, and a text encoder or image weights given as a path that exists."""
    local = config.get("local") or {}
    for key in ("mimiciv", "note", "cxr"):
        if local.get(key):
            local[key] = absolute(local[key], root)
    if (config.get("bigquery") or {}).get("cache_dir"):
        config["bigquery"]["cache_dir"] = absolute(config["bigquery"]["cache_dir"], root)
    text, image = config["embeddings"]["text"], config["embeddings"]["image"]
    if (root / text["encoder"]).exists():
        if text["encoder"] != BUNDLED_ENCODER:
            text["encoder"] = absolute(text["encoder"], root)
    if (root / image["weights"]).is_file():
        image["weights"] = absolute(image["weights"], root)


def reference(models: Sequence[str], references: Sequence[str]) -> str:
    return next(m for m in (PREFERRED_REFERENCE, *references, *models) if m in models)


def carebench_config(config: Mapping[str, Any], workdir: str = CAREBENCH_DIR, root: str | os.PathLike | None = None
                     ) -> dict:
    """The complete configuration of the nested run in ``workdir`` (relative to the outer working
    directory ``root``, by default the current one): the outer configuration with
    ``carebench_tasks.tasks``, ``cohort.window: early``, ``carebench_tasks.models`` (the rectified
    models and the references restricted to them), per-task loss weights 1, the split seeds of
    ``carebench_tasks.split_seeds`` (null: the outer run's), the feature groups of
    ``features.groups`` the early window allows for those tasks, the outer run's embedding cache and
    absolute paths to the outer run's inputs. The source is the outer run's."""
    section = config["carebench_tasks"]
    root = Path.cwd() if root is None else Path(root)
    inner = merge(dict(config), {"tasks": list(section["tasks"]), "cohort": {"window": WINDOW},
                                 "training": {"lambda_pred": None}})
    if section.get("split_seeds") is not None:
        inner["split"]["seeds"] = list(section["split_seeds"])
        for name in ("table3", "robustness"):  # outer targets only, whose seeds must be among the run's
            if inner.get(name):
                inner[name]["split_seeds"] = None
    models = list(section["models"])
    restrict_models(inner, models, reference(models, inner["reporting"]["references"]))
    if inner["features"]["groups"] is not None:
        reasons = availability(WINDOW, tuple(inner["tasks"]))
        inner["features"]["groups"] = [g for g in inner["features"]["groups"] if not reasons[g]]
    inner["embeddings"]["cache_dir"] = from_workdir(inner["embeddings"]["cache_dir"], workdir)
    outer_inputs_absolute(inner, root)
    return inner


def copy_table(sources: Sequence[str | os.PathLike], targets: Sequence[str | os.PathLike]) -> None:
    """Copy the nested run's Table 1 (csv, md, tex) to ``targets``, each atomically; the LaTeX table
    gets a label of its own."""
    for source, target in zip(sources, targets, strict=True):
        with atomic_path(target) as tmp:
            if Path(target).suffix == ".tex":
                tmp.write_text(Path(source).read_text().replace(TABLE1_LABEL, LABEL))
            else:
                shutil.copyfile(source, tmp)
