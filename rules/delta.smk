# Observation patterns δ, model-input arrays and Figure 1 (outcome rate by pattern).
# Every registered modality and form (mmnar.modalities.registry) has its array here.

EMBEDDING_FORMS = {m.name: {form: m.path(form) for form in m.forms} for m in modality_registry.modalities()}
EMBEDDING_FILES = [path for forms in EMBEDDING_FORMS.values() for path in forms.values()]
TASK_LABEL_FILES = [f"data/cohort/labels/{stage}.parquet" for stage in
                    dict.fromkeys(t.labelled_by for t in task_registry.run_tasks(config["tasks"]))
                    if stage != task_registry.COHORT_SQL]
MODEL_INPUT_ARRAYS = [f"data/model_input/{m}_series.npy" if form == "sequence" else f"data/model_input/{m}.npy"
                      for m, forms in EMBEDDING_FORMS.items() for form in forms]


rule build_delta:
    input:
        cohort="data/cohort/cohort.parquet",
        task_labels=TASK_LABEL_FILES,
        embeddings=EMBEDDING_FILES,
        quality_items="results/data_quality.csv",
        quality_summary="results/data_quality_summary.csv",
        code=code("build_delta"),
    output:
        arrays=MODEL_INPUT_ARRAYS,
        delta="data/model_input/delta.npy",
        labels="data/model_input/labels.parquet",
    log:
        "logs/build_delta.log",
    params:
        embeddings=EMBEDDING_FORMS,
        tasks=config["tasks"],
    resources:
        mem_mb=4000,
        runtime=10,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/build_delta.py"


rule figure1:
    input:
        labels="data/model_input/labels.parquet",
        code=code("figure1"),
    output:
        csv="results/figure1_pattern_outcomes.csv",
        png=report(
            "results/figure1_pattern_outcomes.png",
            caption="../workflow/report/figure1.rst",
            category="Figure 1",
        ),
    log:
        "logs/figure1.log",
    params:
        min_cell_count=config["reporting"]["min_cell_count"],
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/figure1.py"
