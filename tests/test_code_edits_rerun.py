"""Editing a package module plans the jobs that run it and what follows them, nothing else (dry runs of a
finished run): a model's module reruns that model, a shared component the models that import it, a
data-stage module everything from that stage on, and the model registry no model at all."""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow

from mmnar.code_inputs import import_closure
from mmnar.models.registry import get
from workflow_runner import REPO, TINY_CONFIG, snakemake

PACKAGE = REPO / "src" / "mmnar"
TARGET = "results/table1.csv"
MODEL_RULES = {"train", "predict", "rectify", "rectify_paper_crossfit_test", "evaluate"}
"""The rules of a model's jobs up to its metrics (those with a ``model`` wildcard)."""
UPSTREAM_OF_SPLIT = {"synthesize", "extract_cohort", "extract_cxr", "extract_feature_group", "extract_notes",
                     "extract_structured", "extract_structured_series", "embed_image", "embed_structured",
                     "embed_text", "build_delta"}


@pytest.fixture
def finished_run(tiny_run) -> tuple[Path, tuple[Path, ...]]:
    """``(working directory, configfiles)`` of the session's tiny run (conftest), finished up to Table 1: its
    models include the paper's, the concatenation baseline (no shared component), DrFuse and estimators."""
    return tiny_run, (TINY_CONFIG,)


def planned(run: tuple[Path, tuple[Path, ...]]) -> list[tuple[str, dict[str, str]]]:
    """``(rule, wildcards)`` of every job ``snakemake -n`` plans for Table 1."""
    workdir, configs = run
    jobs: list[tuple[str, dict[str, str]]] = []
    for line in snakemake(workdir, TARGET, "-n", configs=configs).stdout.splitlines():
        if match := re.fullmatch(r"\s*(?:local)?rule (\w+):", line):
            jobs.append((match.group(1), {}))
        elif match := re.fullmatch(r"\s*wildcards: (.*)", line):
            jobs[-1][1].update(pair.split("=", 1) for pair in match.group(1).split(", "))
    return jobs


@contextmanager
def edited(relative: str):
    """``src/mmnar/<relative>`` with a comment appended, then restored with its old mtime (the repository
    is left as it was). A new mtime alone is not an edit: snakemake compares the checksum it recorded."""
    path = PACKAGE / relative
    before, text = path.stat(), path.read_bytes()
    path.write_bytes(text + b"\n# edited by tests/test_code_edits_rerun.py\n")
    try:
        yield
    finally:
        path.write_bytes(text)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def run_models(run) -> list[str]:
    """The models of the run, from its train jobs' logs."""
    return sorted(p.name for p in (run[0] / "logs" / "train").iterdir())


def models_running(relative: str, models: list[str]) -> set[str]:
    """The models whose train job runs ``src/mmnar/<relative>`` (its script's code plus the model's module)."""
    return {m for m in models
            if PACKAGE / relative in import_closure(REPO / "workflow/scripts/train.py", PACKAGE, modules=(get(m).module,))}


def test_a_finished_run_plans_nothing(finished_run):
    assert planned(finished_run) == []


def test_a_model_module_reruns_that_model_only(finished_run):
    with edited("models/drfuse.py"):
        jobs = planned(finished_run)
    assert {w["model"] for _, w in jobs if "model" in w} == {"drfuse"}
    assert {"train", "predict", "evaluate"} <= {rule for rule, w in jobs if "model" in w} <= MODEL_RULES
    assert not {rule for rule, w in jobs if "model" not in w} & (UPSTREAM_OF_SPLIT | {"split"})
    n_runs = len(list((finished_run[0] / "logs" / "train" / "drfuse").iterdir()))
    assert sum(rule == "train" for rule, _ in jobs) == n_runs


def test_a_shared_component_reruns_the_models_that_import_it(finished_run):
    models = run_models(finished_run)
    users = models_running("models/components.py", models)
    assert users and users != set(models)  # the run has models with and without it
    with edited("models/components.py"):
        jobs = planned(finished_run)
    assert {w["model"] for rule, w in jobs if rule == "train"} == users
    assert not {rule for rule, w in jobs if "model" not in w} & (UPSTREAM_OF_SPLIT | {"split"})


def test_a_data_stage_module_reruns_from_that_stage(finished_run):
    with edited("data/split.py"):
        jobs = planned(finished_run)
    rules = {rule for rule, _ in jobs}
    assert "split" in rules and not rules & UPSTREAM_OF_SPLIT
    assert {w["model"] for rule, w in jobs if rule == "train"} == set(run_models(finished_run))


def test_the_model_registry_reruns_no_model(finished_run):
    """Each model job's own registry entry is its parameter: adding a model or editing another's entry
    leaves it alone; only the jobs that show the labels rerun."""
    with edited("models/registry.py"):
        jobs = planned(finished_run)
    assert jobs and not {rule for rule, _ in jobs} & (MODEL_RULES | UPSTREAM_OF_SPLIT | {"split"})
