"""Snakemake adapter: test metrics for every prediction variant of one run."""
from mmnar.evaluate import evaluate_run
from mmnar.logs import to_file

to_file(snakemake.log[0])
variants = {k: v for k, v in snakemake.input.items() if k not in ("labels", "split", "code")}
evaluate_run(variants, snakemake.input.labels, snakemake.input.split, snakemake.wildcards.model,
             int(snakemake.wildcards.seed), snakemake.output[0])
