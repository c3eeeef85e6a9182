"""Snakemake adapter: test metrics of every run and prediction variant of one model."""
from mmnar.evaluation.evaluate import evaluate_model
from mmnar.logs import to_file

to_file(snakemake.log[0])
i = snakemake.input
variants = {k: v for k, v in i.items() if k not in ("splits", "labels", "code")}
runs = snakemake.params.runs
evaluate_model(
    [{"model": snakemake.wildcards.model, "scenario": "observed", "split_seed": s, "init_seed": n, "split": i.splits[r],
      "variants": {variant: files[r] for variant, files in variants.items()}}
     for r, (s, n) in enumerate(zip(runs["split"], runs["init"]))],
    i.labels, snakemake.output[0])
