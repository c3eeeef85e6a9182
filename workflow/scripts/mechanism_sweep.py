"""Snakemake adapter: the mechanism sweep's table and figure across settings."""
from mmnar.logs import to_file
from mmnar.reporting.sweep import write_sweep

to_file(snakemake.log[0])
settings = snakemake.params.settings
write_sweep(settings, dict(zip(settings, snakemake.input.table1)), dict(zip(settings, snakemake.input.comparisons)),
            snakemake.params.reference, snakemake.output.csv, snakemake.output.md, snakemake.output.png)
