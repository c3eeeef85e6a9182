"""Snakemake adapter: paired bootstrap differences of every model to the reference models."""
from mmnar.evaluation.paired import compare_files
from mmnar.logs import to_file

to_file(snakemake.log[0])
p = snakemake.params
n_runs = len(p.runs["split"])
files = snakemake.input.predictions
compare_files({(model, variant): files[k * n_runs:(k + 1) * n_runs] for k, (model, variant) in enumerate(p.compared)},
              snakemake.input.labels, snakemake.input.splits, list(zip(p.runs["split"], p.runs["init"])),
              p.references, snakemake.output[0], p.resamples, p.seed)
