"""Snakemake adapter: paired comparisons of every model with the references, and each model's bootstrap CI."""
from mmnar.evaluation.paired import compare_files
from mmnar.logs import to_file

to_file(snakemake.log[0])
p = snakemake.params
n_runs = len(p.runs["split"])
files, histories = snakemake.input.predictions, snakemake.input.histories
compare_files({(model, variant): files[k * n_runs:(k + 1) * n_runs] for k, (model, variant) in enumerate(p.compared)},
              snakemake.input.labels, snakemake.input.splits, list(zip(p.runs["split"], p.runs["init"])),
              p.references, snakemake.output.comparisons, p.resamples, p.seed, p.permutations,
              {model: histories[k * n_runs:(k + 1) * n_runs] for k, model in enumerate(p.single_modality)},
              snakemake.output.intervals)
