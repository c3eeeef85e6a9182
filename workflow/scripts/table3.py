"""Snakemake adapter: Table 3, performance by modality configuration under both protocols."""
from mmnar.logs import to_file
from mmnar.reporting.robustness import write_table3

to_file(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
write_table3(p.cells, i.predictions, i.splits, list(zip(p.runs["split"], p.runs["init"])), i.labels, i.audit,
             o.csv, o.md, o.tex, n_resamples=p.resamples, seed=p.seed)
