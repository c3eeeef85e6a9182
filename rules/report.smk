# Paper tables: mean ± sd over runs (split seeds × initialisation seeds); rows from the model registry.
# Paired comparisons: every model against the reference models (and per task the best single-modality
# model by validation AUC) on the same test patients; each model's own bootstrap CI (model_intervals.csv).

import platform
from types import SimpleNamespace

from mmnar.reporting.run_info import package_versions
from mmnar.reporting.tables import ABLATION_LABELS, CAPTIONS, table1_rows, table2_rows

REFERENCES = config["reporting"]["references"]
COMPARED = [[model, variant] for model in MODELS for variant in evaluation_inputs(SimpleNamespace(model=model))]
"""Every (model, variant) with predictions, in Table 1's order; references are their models' raw variant."""
COMPARED_PREDICTIONS = [path for model, variant in COMPARED
                        for path in evaluation_inputs(SimpleNamespace(model=model))[variant]]
"""Their prediction files, each entry's runs in ``RUNS`` order (as workflow/scripts/compare.py reads them)."""
SINGLE_MODALITY = [m for m in MODELS if model_registry.get(m).restrict_to]
"""Candidates for the best single-modality reference of each task, chosen on validation AUC."""
SINGLE_MODALITY_HISTORIES = [f"results/models/{m}/split{s}/init{i}/history.csv"
                             for m in SINGLE_MODALITY for s, i in zip(RUNS["split"], RUNS["init"])]


rule compare:
    input:
        predictions=COMPARED_PREDICTIONS,
        splits=expand("data/splits/seed{split}.parquet", zip, **RUNS),
        labels="data/model_input/labels.parquet",
        histories=SINGLE_MODALITY_HISTORIES,
        code=code("compare"),
    output:
        comparisons=report("results/comparisons.csv", caption="../workflow/report/comparisons.rst", category="Tables"),
        intervals="results/model_intervals.csv",
    log:
        "logs/compare.log",
    params:
        compared=COMPARED,
        runs=RUNS,
        references=REFERENCES,
        single_modality=SINGLE_MODALITY,
        resamples=config["reporting"]["bootstrap_resamples"],
        permutations=config["reporting"]["permutation_resamples"],
        seed=config["reporting"]["bootstrap_seed"],
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/compare.py"


rule table1:
    input:
        metrics=metric_files,
        comparisons="results/comparisons.csv",
        intervals="results/model_intervals.csv",
        audit="results/leakage_audit.csv",
        run_info="results/run_info.json",  # every Table 1 comes with the environment that wrote it
        code=code("table"),
    output:
        csv=report("results/table1.csv", caption="../workflow/report/table1.rst", category="Tables"),
        md="results/table1.md",
        tex="results/table1.tex",
    log:
        "logs/table1.log",
    params:
        rows=table1_rows(MODELS, RECTIFIED, config["rectifier"]["paper_crossfit_test"], SYNTHETIC),
        reference=REFERENCES[0],
        significance_level=config["reporting"]["significance_level"],
        caption=CAPTIONS["table1"],
        label="tab:table1",
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
        tex="results/table2.tex",
    log:
        "logs/table2.log",
    params:
        rows=table2_rows(MODELS),
        labels=[[list(key), label] for key, label in ABLATION_LABELS.items()],
        reference=REFERENCES[0],
        significance_level=config["reporting"]["significance_level"],
        caption=CAPTIONS["table2"],
        label="tab:table2",


rule leakage_audit:
    input:
        cohort="data/cohort/cohort.parquet",
        discharge="data/cohort/notes_discharge.parquet",
        radiology="data/cohort/notes_radiology.parquet",
        feature_groups="data/embeddings/S.feature_groups.json",
        code=code("leakage_audit"),
    output:
        report("results/leakage_audit.csv", caption="../workflow/report/leakage_audit.rst", category="Tables"),
    log:
        "logs/leakage_audit.log",
    params:
        window=config["cohort"]["window"],
        min_cell_count=config["reporting"]["min_cell_count"],
        tasks=config["tasks"],
    resources:
        mem_mb=2000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/leakage_audit.py"


rule run_info:
    input:
        code=code("run_info"),
    output:
        report("results/run_info.json", caption="../workflow/report/run_info.rst", category="Run"),
    log:
        "logs/run_info.log",
    params:
        # Read from package metadata while parsing (no import): a changed environment rewrites the file,
        # and Table 1, which reads it, is rebuilt with it; nothing upstream reruns.
        packages=package_versions(),
        python=platform.python_version(),
        text_encoder=config["embeddings"]["text"]["encoder"],
        image={key: config["embeddings"]["image"][key] for key in ("arch", "weights", "seed")},
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/run_info.py"
