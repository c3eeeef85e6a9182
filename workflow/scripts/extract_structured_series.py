"""Snakemake adapter: hourly series of the structured features over the horizon of the window."""
from mmnar.data.sources import open_source
from mmnar.logs import to_file
from mmnar.modalities.series import extract_structured_series

to_file(snakemake.log[0])
i, p = snakemake.input, snakemake.params
extract_structured_series(open_source(snakemake.config), i.cohort_sql, i.sql, i.cohort, snakemake.output[0],
                          p.window, p.early_hours, p.horizon_hours)
