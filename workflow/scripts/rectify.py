"""Snakemake adapter: per-pattern rectifier of every run of one model (protocol chosen by the rule)."""
from mmnar.logs import to_file
from mmnar.rectifier import run_rectify

to_file(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
for predictions, rectified, fitted in zip(i.predictions, o.predictions, o.fitted, strict=True):
    run_rectify(predictions, i.labels, rectified, fitted, params=p.rectifier, protocol=p.protocol)
