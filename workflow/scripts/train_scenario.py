"""Snakemake adapter: tune and train one model under a modality scenario on one split with one initialisation seed."""
from pathlib import Path

from mmnar.logs import to_file
from mmnar.training.tuning import run_train

to_file(snakemake.log[0])
w, o = snakemake.wildcards, snakemake.output
run_train(w.model, Path(snakemake.input.delta).parent, snakemake.input.split, o.model, o.history,
          model_params=snakemake.params.model_params, training=snakemake.params.training,
          split_seed=int(w.split), init_seed=int(w.init), tuning=snakemake.params.tuning, tuning_out=o.tuning,
          scenario=w.scenario, scenario_seed=snakemake.params.scenario_seed)
