"""Parsing the workflow, which every snakemake command does (a dry run too), imports no deep-learning or
scikit-learn code: the registries, config checks and input functions read declarations only."""

import json
import subprocess
import sys

from workflow_runner import REPO, TINY_CONFIG

HEAVY = ("torch", "torchvision", "transformers", "sklearn", "scipy")

PROBE = f"""
import atexit, json, runpy, sys
atexit.register(lambda: print("HEAVY " + json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules))))
sys.argv = ["snakemake", *sys.argv[1:]]
runpy.run_module("snakemake", run_name="__main__")
"""


def test_a_dry_run_imports_no_heavy_package(tmp_path):
    """In an empty working directory the dry run plans every job of Table 1, so every input function runs."""
    result = subprocess.run([sys.executable, "-c", PROBE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n",
                             "--quiet", "rules", "--configfile", str(TINY_CONFIG), "--", "results/table1.csv"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "train" in result.stdout  # the model jobs were planned: their code inputs and registry entries computed
    assert [json.loads(line.removeprefix("HEAVY ")) for line in result.stdout.splitlines() if line.startswith("HEAVY ")] == [[]]
