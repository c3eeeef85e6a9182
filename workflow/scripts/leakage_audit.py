"""Snakemake adapter: which task × window pairs leak the outcome into the inputs."""
from mmnar.reporting.audit import run_audit
from mmnar.logs import to_file

to_file(snakemake.log[0])
run_audit(snakemake.input.cohort, {"T": snakemake.input.discharge, "R": snakemake.input.radiology},
          snakemake.params.window, snakemake.output[0], snakemake.params.min_cell_count,
          snakemake.input.feature_groups, snakemake.params.tasks)
