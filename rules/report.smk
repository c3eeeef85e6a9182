# Paper tables: mean ± sd over seeds.


rule table1:
    input:
        metrics=metric_files,
        code=code("table"),
    output:
        csv=report("results/table1.csv", caption="../workflow/report/table1.rst", category="Tables"),
        md="results/table1.md",
    log:
        "logs/table1.log",
    params:
        rows=[["basic_concat", "raw"], ["mmnar_fusion", "raw"], ["crl_mmnar", "raw"],
              ["crl_mmnar", "rectified"], ["crl_mmnar", "paper_crossfit_test"],
              ["oracle", "ground_truth"]],
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/table.py"


use rule table1 as table2 with:
    output:
        csv=report("results/table2.csv", caption="../workflow/report/table2.rst", category="Tables"),
        md="results/table2.md",
    log:
        "logs/table2.log",
    params:
        rows=[["basic_concat", "raw"], ["mmnar_fusion", "raw"], ["crl_mmnar", "raw"],
              ["crl_mmnar", "rectified"]],


rule leakage_audit:
    input:
        cohort="data/cohort/cohort.parquet",
        discharge="data/cohort/notes_discharge.parquet",
        radiology="data/cohort/notes_radiology.parquet",
        code=code("leakage_audit"),
    output:
        report("results/leakage_audit.csv", caption="../workflow/report/leakage_audit.rst", category="Tables"),
    log:
        "logs/leakage_audit.log",
    params:
        window=config["cohort"]["window"],
        min_cell_count=config["reporting"]["min_cell_count"],
    resources:
        mem_mb=2000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/leakage_audit.py"
