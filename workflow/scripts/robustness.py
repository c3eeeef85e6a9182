"""Snakemake adapter: test metrics and figure of models retrained at each missing ratio of one modality."""
from mmnar.logs import to_file
from mmnar.reporting.robustness import write_robustness

to_file(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
write_robustness(p.cells, i.predictions, i.splits, list(zip(p.runs["split"], p.runs["init"])), i.labels, i.audit,
                 o.csv, o.md, o.png, n_resamples=p.resamples, seed=p.seed)
