"""Snakemake adapter: a paper table (mean ± sd over runs, paired differences, leak marks) as CSV and markdown."""
from mmnar.logs import to_file
from mmnar.reporting.tables import write_table

to_file(snakemake.log[0])
labels = {tuple(key): label for key, label in snakemake.params.get("labels", [])}
write_table(snakemake.input.metrics, [tuple(r) for r in snakemake.params.rows],
            snakemake.output.csv, snakemake.output.md, labels, snakemake.input.comparisons,
            snakemake.params.reference, snakemake.input.audit)
