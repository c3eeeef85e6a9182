"""Snakemake adapter: predictions of every run of one model under one modality scenario."""
from pathlib import Path

from mmnar.logs import to_file
from mmnar.training.predict import run_predict

to_file(snakemake.log[0])
run_predict(snakemake.input.models, Path(snakemake.input.delta).parent, snakemake.input.splits, snakemake.output,
            scenario=snakemake.wildcards.scenario, scenario_seed=snakemake.params.scenario_seed)
