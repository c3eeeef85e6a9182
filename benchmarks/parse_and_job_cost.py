"""What every snakemake command and every train job pay before doing any work.

Run from the repository against a finished run (e.g. the default run, ``snakemake --cores 8
results/table1.csv`` in RUN), with the configfiles that run used besides config.yaml, if any:

    .venv/bin/python benchmarks/parse_and_job_cost.py RUN --repeats 5

(a) ``snakemake -n TARGET`` in RUN with nothing to do: the median wall time of ``--repeats`` dry runs
(start-up, parsing the workflow and checking the config, building the DAG and comparing every output
with its inputs, code and parameters). The planned job count is recorded too: it must be 0, or the run
is not finished and the time includes planning that work.

(b) The fixed cost of a train job: a fresh interpreter does what a ``train`` job of ``--model`` does
(snakemake's script preamble imports, the script's imports, the model's module, loading its inputs,
one configuration trained for one epoch on split 0, writing the checkpoint, history and trial table
to a scratch folder); the fit itself (``trainer.fit`` or ``estimators.fit_estimator``) is timed apart,
and the fixed cost is the process's wall time minus the fit. Median of ``--repeats`` processes.

One row is appended to ``--out`` (benchmarks/parse_and_job_cost.csv) with the date, the commit
(``-dirty`` with uncommitted changes) and the machine, so runs before and after a change line up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]

TRAIN_JOB = """
import json, sys, time
started = time.perf_counter()
import pickle
from snakemake.logging import logger
from snakemake.iocontainers import Snakemake
from pathlib import Path
from mmnar.logs import to_file
from mmnar.training import estimators, trainer
from mmnar.training.tuning import run_train
from mmnar.models.registry import get
import importlib
model, run, training, out = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3]), Path(sys.argv[4])
importlib.import_module(get(model).module)
imported = time.perf_counter()
fitting = []
def timed(fit):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fit(*args, **kwargs)
        finally:
            fitting.append(time.perf_counter() - t)
    return wrapper
trainer.fit, estimators.fit_estimator = timed(trainer.fit), timed(estimators.fit_estimator)
to_file(str(out / "train.log"))
run_train(model, run / "data" / "model_input", run / "data" / "splits" / "seed0.parquet", out / "model.pt",
          out / "history.csv", model_params=None, training=training, split_seed=0, init_seed=0,
          tuning={"n_trials": 1}, tuning_out=out / "tuning.csv")
print(json.dumps({"imports": imported - started, "fit": sum(fitting), "after_imports": time.perf_counter() - imported}))
"""
"""The train job's work, as ``workflow/scripts/train.py`` does it inside snakemake's script preamble."""


def dry_run(run: Path, target: str, configfiles: list[Path]) -> tuple[float, int]:
    """Wall seconds of one ``snakemake -n`` and the number of jobs it plans."""
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(run), "-n", "--quiet", "rules"]
    if configfiles:
        command += ["--configfile", *map(str, configfiles)]
    started = time.perf_counter()
    result = subprocess.run([*command, "--", target], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"snakemake -n failed:\n{result.stderr[-3000:]}")
    total = re.search(r"^total\s+(\d+)$", result.stdout, flags=re.MULTILINE)
    return seconds, int(total.group(1)) if total else 0


def train_job(run: Path, model: str, training: dict) -> dict[str, float]:
    """Seconds of one train-job process: ``total`` (wall, interpreter start included), ``imports``, ``fit``."""
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", TRAIN_JOB, model, str(run), json.dumps(training), out],
                                capture_output=True, text=True, env=os.environ | {"OMP_NUM_THREADS": "1"})
        total = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"the train job failed:\n{result.stderr[-3000:]}")
    return {"total": total, **json.loads(result.stdout.splitlines()[-1])}


def commit() -> str:
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return head + ("-dirty" if dirty else "")


def machine() -> str:
    """CPU model, core count and Python: what the timings depend on."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    return f"{names[0] if names else platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="working directory of a finished run")
    parser.add_argument("--configfile", type=Path, nargs="*", default=[], help="the run's configfiles besides config.yaml")
    parser.add_argument("--target", default="results/table1.csv")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="basic_concat", help="the model of the train job")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "parse_and_job_cost.csv")
    args = parser.parse_args()
    run = args.run.resolve()

    dry_runs = [dry_run(run, args.target, args.configfile) for _ in range(args.repeats)]
    planned = max(jobs for _, jobs in dry_runs)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for path in args.configfile:
        config["training"].update((yaml.safe_load(path.read_text()) or {}).get("training") or {})
    training = {k: v for k, v in config["training"].items() if k != "init_seeds"}
    training.update(max_epochs=1, device="cpu", num_threads=1)
    jobs = [train_job(run, args.model, training) for _ in range(args.repeats)]

    median = lambda key: statistics.median(job[key] for job in jobs)  # noqa: E731
    row = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": machine(),
        "run": str(run),
        "target": args.target,
        "repeats": args.repeats,
        "dry_run_median_s": statistics.median(seconds for seconds, _ in dry_runs),
        "dry_run_min_s": min(seconds for seconds, _ in dry_runs),
        "dry_run_planned_jobs": planned,
        "train_model": args.model,
        "train_job_median_s": median("total"),
        "train_imports_median_s": median("imports"),
        "train_fit_median_s": median("fit"),
        "train_fixed_median_s": statistics.median(job["total"] - job["fit"] for job in jobs),
    }
    if planned:
        print(f"warning: the dry run plans {planned} jobs: {run} is not a finished run of {args.target}", file=sys.stderr)
    table = pd.DataFrame([row])
    if args.out.exists():
        table = pd.concat([pd.read_csv(args.out), table], ignore_index=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(pd.DataFrame([row]).T.to_string(header=False))


if __name__ == "__main__":
    main()
