"""Snakemake adapter: what this run ran on (versions, platform, commit, encoder weights)."""
from pathlib import Path

from mmnar.logs import to_file
from mmnar.reporting.run_info import run_info, write_run_info

to_file(snakemake.log[0])
checkout = Path(__file__).resolve().parents[2]  # Snakemake sets __file__ to the script in the workflow
write_run_info(run_info(checkout, snakemake.params.text_encoder, snakemake.params.image), snakemake.output[0])
