"""Snakemake adapter: oracle metrics from the synthetic ground truth."""
from mmnar.evaluate import evaluate_oracle
from mmnar.logs import to_file

to_file(snakemake.log[0])
evaluate_oracle(snakemake.input.ground_truth, snakemake.input.labels, snakemake.input.split,
                int(snakemake.wildcards.seed), snakemake.output[0])
