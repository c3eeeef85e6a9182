"""Snakemake adapter: δ matrix, pattern ids and model-input arrays."""
from pathlib import Path

from mmnar import MODALITIES
from mmnar.delta import build_model_input
from mmnar.logs import to_file

to_file(snakemake.log[0])
embeddings = dict(zip(MODALITIES, snakemake.input.embeddings))
build_model_input(snakemake.input.cohort, embeddings, Path(snakemake.output.delta).parent)
