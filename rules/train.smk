# Splits, training on the shared trainer, the rectifier and test-split evaluation, per model × seed.
# Per-patient predictions stay under data/ (patient-level data, PhysioNet DUA); results/ holds
# models, histories and metrics only, so it can be shared as it is.
# One {model, seed} chain is small: the jobs are grouped so a cluster gets one submission per chain.


rule split:
    input:
        labels="data/model_input/labels.parquet",
        code=code("split"),
    output:
        "data/splits/seed{seed}.parquet",
    log:
        "logs/split/seed{seed}.log",
    params:
        val_fraction=config["split"]["val_fraction"],
        test_fraction=config["split"]["test_fraction"],
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/split.py"


rule train:
    input:
        arrays=expand("data/model_input/{modality}.npy", modality=MODALITIES),
        delta="data/model_input/delta.npy",
        labels="data/model_input/labels.parquet",
        split="data/splits/seed{seed}.parquet",
        code=code("train"),
    output:
        predictions="data/predictions/{model}/seed{seed}/predictions.parquet",
        model="results/models/{model}/seed{seed}/model.pt",
        history="results/models/{model}/seed{seed}/history.csv",
    log:
        "logs/train/{model}/seed{seed}.log",
    params:
        training=config["training"],
    threads: config["training"]["num_threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=TRAIN_GPUS,
    group:
        "train"
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/train.py"


rule rectify:
    input:
        predictions="data/predictions/{model}/seed{seed}/predictions.parquet",
        labels="data/model_input/labels.parquet",
        code=code("rectify"),
    output:
        predictions="data/predictions/{model}/seed{seed}/rectified.parquet",
        fitted="results/models/{model}/seed{seed}/rectifier.json",
    log:
        "logs/rectify/{model}/seed{seed}.log",
    params:
        rectifier={k: v for k, v in config["rectifier"].items() if k != "paper_crossfit_test"},
        protocol="validation",
    resources:
        mem_mb=1000,
        runtime=10,
    group:
        "train"
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/rectify.py"


use rule rectify as rectify_paper_crossfit_test with:
    output:
        predictions="data/predictions/{model}/seed{seed}/rectified_paper_crossfit_test.parquet",
        fitted="results/models/{model}/seed{seed}/rectifier_paper_crossfit_test.json",
    log:
        "logs/rectify_paper_crossfit_test/{model}/seed{seed}.log",
    params:
        rectifier={k: v for k, v in config["rectifier"].items() if k != "paper_crossfit_test"},
        protocol="paper_crossfit_test",


rule evaluate:
    input:
        unpack(prediction_variants),
        labels="data/model_input/labels.parquet",
        split="data/splits/seed{seed}.parquet",
        code=code("evaluate"),
    output:
        "results/models/{model}/seed{seed}/metrics.csv",
    log:
        "logs/evaluate/{model}/seed{seed}.log",
    resources:
        mem_mb=1000,
        runtime=5,
    group:
        "train"
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/evaluate.py"


rule evaluate_oracle:
    input:
        ground_truth=f"{SYNTHETIC_DIR}/ground_truth.parquet",
        labels="data/model_input/labels.parquet",
        split="data/splits/seed{seed}.parquet",
        code=code("evaluate_oracle"),
    output:
        "results/oracle/seed{seed}/metrics.csv",
    log:
        "logs/evaluate_oracle/seed{seed}.log",
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/evaluate_oracle.py"
