"""Snakemake adapter: index admissions and labels."""
from mmnar.data.extract import extract_cohort
from mmnar.logs import to_file
from mmnar.data.sources import open_source

to_file(snakemake.log[0])
p, o = snakemake.params, snakemake.output
extract_cohort(open_source(snakemake.config), snakemake.input.sql, o.cohort, o.quality,
               p.window, p.early_hours, p.max_patients, p.seed)
