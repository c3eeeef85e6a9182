"""Snakemake adapter: phenotype_25's labels from the index admissions' diagnosis codes."""
from mmnar.data.extract import extract_phenotype_labels
from mmnar.data.sources import open_source
from mmnar.logs import to_file

to_file(snakemake.log[0])
i = snakemake.input
extract_phenotype_labels(open_source(snakemake.config), i.cohort_sql, i.sql, i.cohort, snakemake.output.labels,
                         snakemake.params.window, snakemake.params.early_hours)
