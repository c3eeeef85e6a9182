"""Snakemake adapter: one patient-level stratified split per seed."""
import pandas as pd

from mmnar.io import atomic_path
from mmnar.logs import to_file
from mmnar.data.split import make_split

to_file(snakemake.log[0])
p = snakemake.params
split = make_split(pd.read_parquet(snakemake.input.labels), int(snakemake.wildcards.seed),
                   p.val_fraction, p.test_fraction, scheme=p.scheme, fold_seed=p.fold_seed)
with atomic_path(snakemake.output[0]) as tmp:
    split.to_parquet(tmp, index=False)
