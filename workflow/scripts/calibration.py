"""Snakemake adapter: calibration of every model's test predictions (ECE, recalibration, reliability curves)."""
from mmnar.evaluation.calibration import calibration_files
from mmnar.logs import to_file
from mmnar.reporting.evaluation_figures import plot_reliability

to_file(snakemake.log[0])
p = snakemake.params
n_runs = len(p.runs["split"])
files = snakemake.input.predictions
table = calibration_files({(model, variant): files[k * n_runs:(k + 1) * n_runs] for k, (model, variant) in enumerate(p.evaluated)},
                          snakemake.input.labels, snakemake.input.splits, list(zip(p.runs["split"], p.runs["init"])),
                          snakemake.output.csv, p.bins, p.min_cell_count)
plot_reliability(table, snakemake.output.png)
