# Observation patterns δ, model-input arrays and Figure 1 (outcome rate by pattern).


rule build_delta:
    input:
        cohort="data/cohort/cohort.parquet",
        embeddings=expand("data/embeddings/{modality}.parquet", modality=MODALITIES),
        code=code("delta.py"),
    output:
        arrays=expand("data/model_input/{modality}.npy", modality=MODALITIES),
        delta="data/model_input/delta.npy",
        labels="data/model_input/labels.parquet",
    log:
        "logs/build_delta.log",
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
        code=code("delta.py"),
    output:
        csv="results/figure1_pattern_outcomes.csv",
        png=report(
            "results/figure1_pattern_outcomes.png",
            caption="../workflow/report/figure1.rst",
            category="Figure 1",
        ),
    log:
        "logs/figure1.log",
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/figure1.py"
