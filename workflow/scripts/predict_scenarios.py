"""Snakemake adapter: predictions of one model's runs trained under modality scenarios, each under its own scenario."""
from pathlib import Path

from mmnar.logs import to_file
from mmnar.training.predict import run_predict

to_file(snakemake.log[0])
i, p = snakemake.input, snakemake.params
for scenario in dict.fromkeys(p.scenarios):
    rows = [k for k, name in enumerate(p.scenarios) if name == scenario]
    run_predict([i.models[k] for k in rows], Path(i.delta).parent, [i.splits[k] for k in rows],
                [snakemake.output[k] for k in rows], scenario=scenario, scenario_seed=p.scenario_seed)
