# Cohort, labels and per-modality extraction: the shared BigQuery-dialect SQL on the configured source.


rule extract_cohort:
    input:
        source_inputs,
        sql=sql("cohort.sql"),
        code=code("extract_cohort"),
    output:
        cohort="data/cohort/cohort.parquet",
        quality="data/quality/extract_cohort.json",
    log:
        "logs/extract_cohort.log",
    params:
        window=config["cohort"]["window"],
        early_hours=config["cohort"]["early_hours"],
        max_patients=config["cohort"]["max_patients"],
        seed=config["cohort"]["seed"],
        source=config["source"],
    resources:
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=60,
    conda:
        "../envs/extract.yaml"
    script:
        "../workflow/scripts/extract_cohort.py"


rule extract_phenotype_labels:
    input:
        phenotype_inputs,
        cohort="data/cohort/cohort.parquet",
        cohort_sql=sql("cohort.sql"),
        sql=sql("diagnoses_codes.sql"),
        code=code("extract_phenotype_labels"),
    output:
        labels="data/cohort/labels/extract_phenotype_labels.parquet",
    log:
        "logs/extract_phenotype_labels.log",
    params:
        window=config["cohort"]["window"],
        early_hours=config["cohort"]["early_hours"],
        source=config["source"],
    resources:
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=60,
    conda:
        "../envs/extract.yaml"
    script:
        "../workflow/scripts/extract_phenotype_labels.py"


rule extract_structured:
    input:
        source_inputs,
        cohort="data/cohort/cohort.parquet",
        cohort_sql=sql("cohort.sql"),
        sql=sql("structured.sql"),
        code=code("extract_structured"),
    output:
        structured="data/cohort/structured.parquet",
        quality="data/quality/extract_structured.json",
    log:
        "logs/extract_structured.log",
    params:
        window=config["cohort"]["window"],
        early_hours=config["cohort"]["early_hours"],
        source=config["source"],
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 16000 * attempt,
        runtime=120,
    conda:
        "../envs/extract.yaml"
    script:
        "../workflow/scripts/extract_structured.py"


rule extract_feature_group:
    input:
        feature_group_inputs,
        cohort="data/cohort/cohort.parquet",
        cohort_sql=sql("cohort.sql"),
        sql=lambda wildcards: sql(feature_groups.get(wildcards.group).sql),
        code=code("extract_feature_group"),
    output:
        features="data/cohort/features/{group}.parquet",
        quality="data/quality/extract_features_{group}.json",
    log:
        "logs/extract_features_{group}.log",
    wildcard_constraints:
        group="|".join(SQL_FEATURE_GROUPS) or "no-group",
    params:
        window=config["cohort"]["window"],
        early_hours=config["cohort"]["early_hours"],
        source=config["source"],
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=60,
    conda:
        "../envs/extract.yaml"
    script:
        "../workflow/scripts/extract_feature_group.py"


rule extract_notes:
    input:
        note_inputs,
        cohort="data/cohort/cohort.parquet",
        cohort_sql=sql("cohort.sql"),
        sql=lambda wildcards: sql(f"notes_{wildcards.kind}.sql"),
        code=code("extract_notes"),
    output:
        notes="data/cohort/notes_{kind}.parquet",
        quality="data/quality/extract_notes_{kind}.json",
    log:
        "logs/extract_notes_{kind}.log",
    wildcard_constraints:
        kind="discharge|radiology",
    params:
        window=config["cohort"]["window"],
        early_hours=config["cohort"]["early_hours"],
        source=config["source"],
    resources:
        mem_mb=lambda wildcards, attempt: 8000 * attempt,
        runtime=60,
    conda:
        "../envs/extract.yaml"
    script:
        "../workflow/scripts/extract_notes.py"


rule extract_cxr:
    input:
        cxr_inputs,
        cohort="data/cohort/cohort.parquet",
        sql=sql("cxr.sql"),
        code=code("extract_cxr"),
    output:
        cxr="data/cohort/cxr.parquet",
        quality="data/quality/extract_cxr.json",
    log:
        "logs/extract_cxr.log",
    params:
        cxr_folder=str(cxr_folder()),  # a different image folder reruns the linkage
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/extract.yaml"
    script:
        "../workflow/scripts/extract_cxr.py"
