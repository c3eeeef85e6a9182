"""Snakemake adapter: the selected feature groups as the S embedding."""
from pathlib import Path

from mmnar.modalities.structured import run_embed_structured
from mmnar.logs import to_file

to_file(snakemake.log[0])
group_paths = {Path(path).stem: path for path in snakemake.input.groups}
run_embed_structured(snakemake.input.features, snakemake.output.embedding, group_paths, snakemake.params.groups)
