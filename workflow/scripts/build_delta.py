"""Snakemake adapter: δ matrix, pattern ids and model-input arrays, once the inputs pass the quality limit."""
from pathlib import Path

from mmnar import MODALITIES
from mmnar.delta import build_model_input
from mmnar.logs import to_file
from mmnar.quality import check_limits

to_file(snakemake.log[0])
check_limits(snakemake.input.quality_summary, snakemake.input.quality_items)
embeddings = dict(zip(MODALITIES, snakemake.input.embeddings))
build_model_input(snakemake.input.cohort, embeddings, Path(snakemake.output.delta).parent)
