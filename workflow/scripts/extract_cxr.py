"""Snakemake adapter: latest frontal chest X-ray per stay inside the window."""
from mmnar.data.extract import extract_cxr
from mmnar.logs import to_file
from mmnar.data.sources import cxr_source

to_file(snakemake.log[0])
o = snakemake.output
extract_cxr(cxr_source(snakemake.config), snakemake.input.sql, snakemake.input.cohort, o.cxr, o.quality)
