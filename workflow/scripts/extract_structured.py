"""Snakemake adapter: structured features over the window."""
from mmnar.data.extract import extract_structured
from mmnar.logs import to_file
from mmnar.data.sources import open_source

to_file(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
extract_structured(open_source(snakemake.config), i.cohort_sql, i.sql, i.cohort, o.structured, o.quality,
                   p.window, p.early_hours)
