# Per-modality embeddings behind a content-addressed cache: a changed cohort embeds only what is new.


rule embed_structured:
    input:
        features="data/cohort/structured.parquet",
        groups=expand("data/cohort/features/{group}.parquet", group=SQL_FEATURE_GROUPS),
        code=code("embed_structured"),
    output:
        embedding="data/embeddings/S.parquet",
        features="data/embeddings/S.features.json",
        feature_groups="data/embeddings/S.feature_groups.json",
    log:
        "logs/embed_structured.log",
    params:
        groups=list(FEATURE_GROUPS),
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/embed.yaml"
    script:
        "../workflow/scripts/embed_structured.py"


rule embed_text:
    input:
        notes=lambda wc: f"data/cohort/notes_{TEXT_KIND[wc.modality]}.parquet",
        code=code("embed_text"),
    output:
        "data/embeddings/{modality}.parquet",
    log:
        "logs/embed_text_{modality}.log",
    wildcard_constraints:
        modality="T|R",
    # Only what can change a vector is a parameter; batch and shard sizes are read from the config
    # by the script, so changing them reruns nothing.
    params:
        encoder=config["embeddings"]["text"]["encoder"],
        max_tokens=config["embeddings"]["text"]["max_tokens"],
        cache_dir=config["embeddings"]["cache_dir"],
        device=config["embeddings"]["device"],
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=EMBED_GPUS,
    conda:
        "../envs/embed.yaml"
    script:
        "../workflow/scripts/embed_text.py"


rule embed_image:
    input:
        cxr="data/cohort/cxr.parquet",
        code=code("embed_image"),
    output:
        embedding="data/embeddings/I.parquet",
        quality="data/quality/embed_image.json",
    log:
        "logs/embed_image.log",
    params:
        cxr_folder=str(cxr_folder()),
        arch=config["embeddings"]["image"]["arch"],
        weights=config["embeddings"]["image"]["weights"],
        image_size=config["embeddings"]["image"]["image_size"],
        seed=config["embeddings"]["image"]["seed"],
        cache_dir=config["embeddings"]["cache_dir"],
        device=config["embeddings"]["device"],
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=EMBED_GPUS,
    conda:
        "../envs/embed.yaml"
    script:
        "../workflow/scripts/embed_image.py"


rule extract_structured_series:
    input:
        source_inputs,
        cohort="data/cohort/cohort.parquet",
        cohort_sql=sql("cohort.sql"),
        sql=sql("structured_series.sql"),
        code=code("extract_structured_series"),
    output:
        modality_registry.get("S").path("sequence"),
    log:
        "logs/extract_structured_series.log",
    params:
        window=config["cohort"]["window"],
        early_hours=config["cohort"]["early_hours"],
        horizon_hours=config["structured"]["series_hours"],
        source=config["source"],
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: 16000 * attempt,
        runtime=120,
    conda:
        "../envs/extract.yaml"
    script:
        "../workflow/scripts/extract_structured_series.py"


# A registered modality with an extractor (module:function over the cohort table) needs no rule of its own.
REGISTERED_EXTRACTORS = [m.name for m in modality_registry.modalities() if m.extractor]


if REGISTERED_EXTRACTORS:

    rule embed_registered:
        input:
            cohort="data/cohort/cohort.parquet",
            code=code("embed_registered"),
        output:
            "data/embeddings/{modality}.parquet",
        log:
            "logs/embed_registered_{modality}.log",
        wildcard_constraints:
            modality="|".join(REGISTERED_EXTRACTORS),
        resources:
            mem_mb=2000,
            runtime=10,
        conda:
            "../envs/embed.yaml"
        script:
            "../workflow/scripts/embed_registered.py"
