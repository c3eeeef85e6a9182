"""Snakemake adapter: a paper table (mean ± sd over runs, CIs, paired differences, marks) as CSV, markdown and LaTeX."""
from mmnar.logs import to_file
from mmnar.reporting.tables import write_table

to_file(snakemake.log[0])
p = snakemake.params
labels = {tuple(key): label for key, label in p.get("labels", [])}
write_table(snakemake.input.metrics, [tuple(r) for r in p.rows], snakemake.output.csv, snakemake.output.md, labels,
            snakemake.input.comparisons, p.reference, snakemake.input.audit, snakemake.input.intervals,
            snakemake.output.tex, p.caption, p.label, p.significance_level)
