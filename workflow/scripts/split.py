"""Snakemake adapter: one patient-level stratified split per seed."""
import pandas as pd

from mmnar.io import atomic_path
from mmnar.logs import to_file
from mmnar.data.split import make_split

to_file(snakemake.log[0])
split = make_split(pd.read_parquet(snakemake.input.labels), int(snakemake.wildcards.seed),
                   snakemake.params.val_fraction, snakemake.params.test_fraction)
with atomic_path(snakemake.output[0]) as tmp:
    split.to_parquet(tmp, index=False)
