# The mechanism sweep: the whole workflow once per synthetic generator setting, in data/sweep/<setting>/,
# then one table and figure across settings (mmnar.sweep, mmnar.reporting.sweep).

from mmnar.sweep import SWEEP_DIR, setting_config
from mmnar.sweep import settings as sweep_settings

SWEEP = sweep_settings(config["sweep"])


rule sweep_setting:
    input:
        WORKFLOW_FILES,
    output:
        table1=f"{SWEEP_DIR}/{{setting}}/results/table1.csv",
        comparisons=f"{SWEEP_DIR}/{{setting}}/results/comparisons.csv",
    log:
        "logs/sweep/{setting}.log",
    wildcard_constraints:
        setting="|".join(SWEEP),
    params:
        config=lambda wildcards: setting_config(config, wildcards.setting, SWEEP[wildcards.setting]),
    threads: config["sweep"]["threads"]  # Snakemake lowers it to --cores; the setting's run gets what the job gets
    resources:
        mem_mb=16000,
        runtime=240,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/nested_run.py"


rule mechanism_sweep:
    input:
        table1=expand(f"{SWEEP_DIR}/{{setting}}/results/table1.csv", setting=SWEEP),
        comparisons=expand(f"{SWEEP_DIR}/{{setting}}/results/comparisons.csv", setting=SWEEP),
        code=code("mechanism_sweep"),
    output:
        csv=report("results/mechanism_sweep.csv", caption="../workflow/report/mechanism_sweep.rst", category="Mechanism sweep"),
        md="results/mechanism_sweep.md",
        png=report("results/mechanism_sweep.png", caption="../workflow/report/mechanism_sweep.rst", category="Mechanism sweep"),
    log:
        "logs/mechanism_sweep.log",
    params:
        settings=SWEEP,
        reference=config["sweep"]["reference"],
    resources:
        mem_mb=2000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/mechanism_sweep.py"
