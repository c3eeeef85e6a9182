# CareBench's five tasks: phenotype_25 and los_remaining need cohort.window early, so the whole workflow runs
# once more, in data/carebench_tasks/, with the configuration mmnar.nested derives from this one; its
# Table 1 becomes results/carebench_tasks.csv, .md and .tex.

from mmnar.nested import CAREBENCH_DIR, carebench_config


rule carebench_tasks_run:
    input:
        WORKFLOW_FILES,
    output:
        table1=f"{CAREBENCH_DIR}/results/table1.csv",
        md=f"{CAREBENCH_DIR}/results/table1.md",
        tex=f"{CAREBENCH_DIR}/results/table1.tex",
    log:
        "logs/carebench_tasks_run.log",
    params:
        config=carebench_config(config, CAREBENCH_DIR),
    threads: config["carebench_tasks"]["threads"]  # lowered to --cores; the nested run gets what the job gets
    resources:
        mem_mb=16000,
        runtime=240,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/nested_run.py"


rule carebench_tasks:
    input:
        csv=rules.carebench_tasks_run.output.table1,
        md=rules.carebench_tasks_run.output.md,
        tex=rules.carebench_tasks_run.output.tex,
        code=code("carebench_tasks"),
    output:
        csv=report("results/carebench_tasks.csv", caption="../workflow/report/carebench_tasks.rst", category="Evaluation"),
        md="results/carebench_tasks.md",
        tex="results/carebench_tasks.tex",
    log:
        "logs/carebench_tasks.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/carebench_tasks.py"
