"""Snakemake adapter: outcome rate by observation pattern (Figure 1)."""
import pandas as pd

from mmnar.reporting.figures import pattern_outcomes, plot_pattern_outcomes
from mmnar.io import atomic_path
from mmnar.logs import to_file

to_file(snakemake.log[0])
table = pattern_outcomes(pd.read_parquet(snakemake.input.labels), snakemake.params.min_cell_count)
with atomic_path(snakemake.output.csv) as tmp:
    table.to_csv(tmp, index=False)
plot_pattern_outcomes(table, snakemake.output.png)
