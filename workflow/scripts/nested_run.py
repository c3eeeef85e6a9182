"""Snakemake adapter: run the whole workflow in a working directory of its own, with a derived configuration
(a generator setting of the mechanism sweep, CareBench's tasks); the outputs are that run's targets."""
from pathlib import Path

from mmnar.sweep import run_setting

workdir = Path(snakemake.output.table1).parents[1]
targets = [str(Path(path).relative_to(workdir)) for path in snakemake.output]
snakefile = Path(snakemake.scriptdir).parents[1] / "Snakefile"   # this workflow's own
run_setting(snakefile, workdir, snakemake.params.config, targets, snakemake.threads, Path(snakemake.log[0]))
