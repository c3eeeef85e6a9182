"""Snakemake adapter: discharge summaries or radiology reports inside the window."""
from mmnar.data.extract import extract_notes
from mmnar.logs import to_file
from mmnar.data.sources import notes_available, open_source

to_file(snakemake.log[0])
i, o, p = snakemake.input, snakemake.output, snakemake.params
extract_notes(open_source(snakemake.config), i.cohort_sql, i.sql, i.cohort, o.notes, o.quality,
              snakemake.wildcards.kind, p.window, p.early_hours, available=notes_available(snakemake.config))
