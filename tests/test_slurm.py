"""The workflow through a real SLURM cluster, submitted by snakemake-executor-plugin-slurm.

.ci/slurm/ installs Debian's SLURM packages and brings up a single node on loopback with
accounting (sacct) and two fake GPUs; the tiny workflow then runs with profiles/slurm and must
give the same Table 1 as a local run.

The cluster run starts from the local run's prepared inputs (synthetic source, cohort, embeddings,
model inputs): the plugin polls sacct between dependency levels, so the dozen levels of data
preparation cost minutes of waiting that say nothing new about the cluster. From training on
(grouped jobs with a fake GPU: training, prediction, rectifier, evaluation; then the comparison) it runs there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from workflow_runner import REPO, TINY_CONFIG, shared_cache_config

pytestmark = pytest.mark.workflow

SLURM_CI = REPO / ".ci" / "slurm"
TARGET = "results/table1.csv"
# The workflow's own time limit; the plugin polls, so a SLURM run is slower than a local one.
RUN_TIMEOUT_S = 1500
# Fake GPUs on the CI node: ask for them where the tiny config runs on CPU, so the gres path
# (sbatch --gpus, CUDA_VISIBLE_DEVICES) is exercised, overriding the rules via set-resources.
GPU_OVERRIDES = ("embed_text:gpu=1", "embed_image:gpu=1", "train:gpu=1")
PREPARED = ("synthetic", "cohort", "cache", "embeddings", "quality", "model_input")
"""Folders of data/ the cluster run takes over from the local run (mtimes kept: nothing to redo)."""


def _cannot_run_slurm() -> str | None:
    if os.geteuid() != 0:
        return "needs root (slurmd, munge and the package install run as root)"
    if shutil.which("apt-get") is None:
        return "needs apt-get to install Debian's SLURM packages"
    return None


def _give_up(message: str) -> None:
    """Skip on a machine that cannot host SLURM; in CI (CI=true) the same is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"SLURM test cannot run in CI: {message}")
    pytest.skip(f"SLURM cluster not available: {message}")


def _script(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SLURM_CI / name), *args], capture_output=True, text=True,
                          env=env, timeout=900)


@pytest.fixture(scope="module")
def slurm_env(tmp_path_factory):
    """Environment whose SLURM clients (sbatch, sacct) reach a freshly started cluster."""
    reason = _cannot_run_slurm()
    if reason:
        _give_up(reason)
    state = tmp_path_factory.mktemp("slurm-state")
    # The plugin submits `sys.executable -m snakemake` with --export=ALL: the jobs inherit
    # this environment, so the venv's tools are on their PATH too.
    env = os.environ | {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SLURM_CONF": str(state / "slurm.conf"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    try:
        for name, args in (("install.sh", ()), ("up.sh", (str(state),))):
            result = _script(name, *args, env=env)
            if result.returncode != 0:
                pytest.fail(f".ci/slurm/{name} failed ({result.returncode}):\n"
                            f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
        yield env
    finally:
        _script("down.sh", str(state), env=env)


def _snakemake(workdir: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`snakemake TARGET -s Snakefile -d WORKDIR ARGS --configfile tiny.yaml` under `timeout`."""
    command = ["timeout", "-k", "60", str(RUN_TIMEOUT_S), sys.executable, "-m", "snakemake",
               TARGET, "-s", str(REPO / "Snakefile"), "-d", str(workdir), *args,
               "--configfile", str(TINY_CONFIG), *map(str, shared_cache_config()),
               str(TINY_CONFIG.parent / "few_models.yaml")]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        why = "timed out" if result.returncode in (124, 137) else f"failed ({result.returncode})"
        pytest.fail(f"snakemake {' '.join(args)} {why}:\n"
                    f"{result.stdout[-4000:]}\n{result.stderr[-12000:]}")
    return result


def _sacct(run_id: str, since: str, env: dict[str, str]) -> list[dict[str, str]]:
    """Accounting records of this run's jobs (the plugin names every job after the run id)."""
    fields = ["JobID", "JobName", "State", "AllocTRES"]
    out = subprocess.run(["sacct", "-X", "-n", "-P", "-S", since, "--name", run_id,
                          "-o", ",".join(fields)],
                         capture_output=True, text=True, env=env, check=True).stdout
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line]


def test_workflow_through_slurm_matches_local_run(slurm_env, tmp_path):
    local, cluster = tmp_path / "local", tmp_path / "slurm"
    _snakemake(local, "--cores", "2", env=slurm_env)
    for folder in PREPARED:
        if (local / "data" / folder).exists():  # in a test session the embedding cache is shared, outside data/
            shutil.copytree(local / "data" / folder, cluster / "data" / folder)

    since = time.strftime("%Y-%m-%dT%H:%M:%S")
    result = _snakemake(
        cluster, "--profile", str(REPO / "profiles" / "slurm"),
        # One CI node has 2 CPUs: a group job must not ask for more.
        "--cores", "2",
        # The profile's 40 s suits a busy cluster; here it would only slow the run down.
        "--slurm-init-seconds-before-status-checks", "2",
        "--set-resources", *GPU_OVERRIDES,
        env=slurm_env)

    expected = pd.read_csv(local / TARGET)
    actual = pd.read_csv(cluster / TARGET)
    pd.testing.assert_frame_equal(actual, expected, check_exact=False, rtol=0, atol=1e-9)

    run_id = re.search(r"SLURM run ID: (\S+)", result.stdout + result.stderr)
    assert run_id, "the SLURM executor did not report a run ID: jobs were not submitted"
    jobs = _sacct(run_id.group(1), since, slurm_env)
    assert jobs, f"sacct lists no job of run {run_id.group(1)}"
    assert all(job["State"] == "COMPLETED" for job in jobs), jobs
    assert any("gres/gpu=" in job["AllocTRES"] for job in jobs), \
        f"no job was allocated a (fake) GPU: {jobs}"
    # The train group went out as grouped jobs, with a log folder of their own.
    assert list((cluster / ".snakemake" / "slurm_logs").glob("group_train*")), \
        "no grouped 'train' job was submitted"
