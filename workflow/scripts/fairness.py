"""Snakemake adapter: subgroup metrics and max − min gaps across race, sex and age groups."""
from mmnar.evaluation.fairness import fairness_files
from mmnar.logs import to_file
from mmnar.reporting.evaluation_figures import plot_fairness_gaps

to_file(snakemake.log[0])
p = snakemake.params
n_runs = len(p.runs["split"])
files = snakemake.input.predictions
table = fairness_files({(model, variant): files[k * n_runs:(k + 1) * n_runs] for k, (model, variant) in enumerate(p.evaluated)},
                       snakemake.input.labels, snakemake.input.splits, list(zip(p.runs["split"], p.runs["init"])),
                       snakemake.input.cohort, snakemake.output.csv, p.attributes, p.age_edges, p.bins,
                       p.min_cell_count, p.resamples, p.seed)
plot_fairness_gaps(table, snakemake.output.png)
