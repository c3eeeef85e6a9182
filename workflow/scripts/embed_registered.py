"""Snakemake adapter: the vector of a modality computed from the cohort by its registered extractor."""
import pandas as pd

from mmnar.logs import to_file
from mmnar.modalities.frame import write_embedding_frame
from mmnar.modalities.registry import get

to_file(snakemake.log[0])
extract = get(snakemake.wildcards.modality).extractor_function()
write_embedding_frame(extract(pd.read_parquet(snakemake.input.cohort), snakemake.config), snakemake.output[0])
