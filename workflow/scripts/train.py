"""Snakemake adapter: train one model for one seed on the shared trainer."""
from pathlib import Path

from mmnar.logs import to_file
from mmnar.training import run_train

to_file(snakemake.log[0])
o = snakemake.output
run_train(snakemake.wildcards.model, Path(snakemake.input.delta).parent, snakemake.input.split,
          o.predictions, o.model, o.history, params=snakemake.params.training,
          seed=int(snakemake.wildcards.seed))
