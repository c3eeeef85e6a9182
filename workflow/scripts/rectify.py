"""Snakemake adapter: per-pattern rectifier (protocol chosen by the rule)."""
from mmnar.logs import to_file
from mmnar.rectifier import run_rectify

to_file(snakemake.log[0])
run_rectify(snakemake.input.predictions, snakemake.input.labels, snakemake.output.predictions,
            snakemake.output.fitted, params=snakemake.params.rectifier, protocol=snakemake.params.protocol)
