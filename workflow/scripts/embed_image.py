"""Snakemake adapter: chest X-ray embeddings."""
import torch

from mmnar.modalities.image import run_embed_image
from mmnar.logs import to_file

to_file(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
p, embeddings = snakemake.params, snakemake.config["embeddings"]
run_embed_image(snakemake.input.cxr, p.cxr_folder, snakemake.output.embedding, snakemake.output.quality,
                arch=p.arch, weights=p.weights, image_size=p.image_size,
                batch_size=embeddings["image"]["batch_size"], cache_dir=p.cache_dir, device=p.device,
                seed=p.seed, shard_size=embeddings["shard_size"])
