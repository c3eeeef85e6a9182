"""Snakemake adapter: merge the stages' quality reports into results/data_quality{,_summary}.csv."""
from mmnar.data.quality import write_data_quality
from mmnar.logs import to_file
from mmnar.modalities.registry import names

to_file(snakemake.log[0])
write_data_quality(snakemake.input.reports, snakemake.output.listing, snakemake.output.summary,
                   snakemake.params.max_bad_fraction, names())
