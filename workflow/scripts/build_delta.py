"""Snakemake adapter: δ matrix, pattern ids and model-input arrays, once the inputs pass the quality limit."""
from pathlib import Path

from mmnar.data.quality import check_limits
from mmnar.logs import to_file
from mmnar.model_input.delta import build_model_input

to_file(snakemake.log[0])
check_limits(snakemake.input.quality_summary, snakemake.input.quality_items)
build_model_input(snakemake.input.cohort, snakemake.params.embeddings, Path(snakemake.output.delta).parent,
                  snakemake.params.tasks, snakemake.input.task_labels)
