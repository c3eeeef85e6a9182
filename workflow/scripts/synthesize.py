"""Snakemake adapter: write the synthetic cohort in the PhysioNet layout."""
import json
from pathlib import Path

from mmnar.io import atomic_path
from mmnar.logs import to_file
from mmnar.synth import generate

to_file(snakemake.log[0])
p = snakemake.params
out_dir = Path(snakemake.output.manifest).parent
generate(out_dir, n_patients=p.n_patients, seed=p.seed, mechanism=p.mechanism,
         direct_effect=p.direct_effect, hidden_strength=p.hidden_strength, image_size=p.image_size)
files = sorted(str(f.relative_to(out_dir)) for f in out_dir.rglob("*.csv.gz"))
with atomic_path(snakemake.output.manifest) as tmp:
    tmp.write_text(json.dumps({"files": files, "params": dict(p.items())}, indent=1))
