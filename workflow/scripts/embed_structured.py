"""Snakemake adapter: structured feature vectors as the S embedding."""
from mmnar.modalities.structured import run_embed_structured
from mmnar.logs import to_file

to_file(snakemake.log[0])
run_embed_structured(snakemake.input.features, snakemake.output.embedding)
