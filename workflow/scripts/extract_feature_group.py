"""Snakemake adapter: one feature group of the structured modality."""
from mmnar.data.extract import extract_feature_group
from mmnar.logs import to_file
from mmnar.data.sources import open_source

to_file(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
extract_feature_group(open_source(snakemake.config), i.cohort_sql, i.sql, i.cohort, o.features, o.quality,
                      snakemake.wildcards.group, p.window, p.early_hours)
