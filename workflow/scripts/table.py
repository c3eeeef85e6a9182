"""Snakemake adapter: a paper table (mean ± sd over seeds) as CSV and markdown."""
from mmnar.logs import to_file
from mmnar.tables import write_table

to_file(snakemake.log[0])
write_table(snakemake.input.metrics, [tuple(r) for r in snakemake.params.rows],
            snakemake.output.csv, snakemake.output.md)
