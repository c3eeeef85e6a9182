"""Snakemake adapter: oracle metrics from the synthetic ground truth, on every split's test patients."""
from mmnar.evaluation.evaluate import evaluate_oracle
from mmnar.logs import to_file

to_file(snakemake.log[0])
evaluate_oracle(snakemake.input.ground_truth, snakemake.input.labels,
                dict(zip(snakemake.params.split_seeds, snakemake.input.splits, strict=True)), snakemake.output[0])
