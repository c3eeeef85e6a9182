"""Snakemake adapter: note embeddings (T = discharge summaries, R = radiology reports)."""
import torch

from mmnar.modalities.text import run_embed_text
from mmnar.logs import to_file

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p, embeddings = snakemake.params, snakemake.config["embeddings"]
run_embed_text(snakemake.input.notes, snakemake.output[0], encoder=p.encoder, max_tokens=p.max_tokens,
               batch_size=embeddings["text"]["batch_size"], cache_dir=p.cache_dir, device=p.device,
               shard_size=embeddings["shard_size"])
