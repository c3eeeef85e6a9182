# Per-modality embeddings behind a content-addressed cache: a changed cohort embeds only what is new.


rule embed_structured:
    input:
        features="data/cohort/structured.parquet",
        code=code("embed/structured.py"),
    output:
        embedding="data/embeddings/S.parquet",
        features="data/embeddings/S.features.json",
    log:
        "logs/embed_structured.log",
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
        code=code("embed"),
    output:
        "data/embeddings/{modality}.parquet",
    log:
        "logs/embed_text_{modality}.log",
    wildcard_constraints:
        modality="T|R",
    params:
        encoder=config["embeddings"]["text"]["encoder"],
        max_tokens=config["embeddings"]["text"]["max_tokens"],
        batch_size=config["embeddings"]["text"]["batch_size"],
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
        code=code("embed"),
    output:
        "data/embeddings/I.parquet",
    log:
        "logs/embed_image.log",
    params:
        cxr_folder=str(cxr_folder()),
        arch=config["embeddings"]["image"]["arch"],
        weights=config["embeddings"]["image"]["weights"],
        image_size=config["embeddings"]["image"]["image_size"],
        batch_size=config["embeddings"]["image"]["batch_size"],
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
