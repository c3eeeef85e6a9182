"""Run the real workflow in a scratch working directory, as a user would from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "configs" / "tiny.yaml"
TINY_TARGETS = ("results/table1.csv", "results/table2.csv", "results/figure1_pattern_outcomes.png")
"""What the session's shared tiny run (``conftest.tiny_run``) builds."""
SHARED_CACHE_VARIABLE = "MMNAR_TEST_EMBEDDING_CACHE"
"""Set by ``conftest`` to the session's embedding cache folder: runs on the tiny config embed through it."""


def shared_cache_config() -> tuple[Path, ...]:
    """A config naming the session's shared embedding cache (none outside a test session)."""
    folder = os.environ.get(SHARED_CACHE_VARIABLE)
    if not folder:
        return ()
    path = Path(folder) / "cache.yaml"
    if not path.exists():
        path.write_text(yaml.safe_dump({"embeddings": {"cache_dir": str(Path(folder) / "embeddings")}}))
    return (path,)


def snakemake(workdir: Path, *args: str, configs: tuple[Path, ...] = (TINY_CONFIG,),
              check: bool = True) -> subprocess.CompletedProcess:
    """``snakemake -s REPO/Snakefile -d workdir ARGS --configfile CONFIGS`` with this interpreter; right after
    the tiny config comes the session's shared embedding cache, so a test's own configs still override it."""
    if configs and configs[0] == TINY_CONFIG:
        configs = (TINY_CONFIG, *shared_cache_config(), *configs[1:])
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
               *args, "--configfile", *map(str, configs)]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


def planned_jobs(workdir: Path, target: str, configs: tuple[Path, ...] = (TINY_CONFIG,)) -> dict[str, int]:
    """Rule → number of jobs a dry run would execute (empty when there is nothing to do)."""
    output = snakemake(workdir, target, "-n", "--quiet", "rules", configs=configs).stdout
    jobs = {}
    in_table = False
    for line in output.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table and len(parts) == 2 and parts[1].isdigit() and parts[0] != "total":
            jobs[parts[0]] = int(parts[1])
        elif in_table and parts and parts[0] == "total":
            break
    return jobs


def write_config(path: Path, overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(overrides))
    return path
