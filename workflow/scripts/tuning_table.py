"""Snakemake adapter: the chosen hyperparameters of every model and run, in one table."""
from mmnar.io import atomic_path
from mmnar.logs import to_file
from mmnar.reporting.tuning import tuning_table

to_file(snakemake.log[0])
table = tuning_table(snakemake.input.trials, snakemake.params.runs)
with atomic_path(snakemake.output[0]) as tmp:
    table.to_csv(tmp, index=False)
