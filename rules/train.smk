# Splits, the shared trainer with tuning (the same budget for every model), prediction under a modality scenario, the rectifier and test-split
# evaluation. One train job per model × split seed × initialisation seed; predict, rectify and
# evaluate take every run of one model in one job, so torch's start-up is paid once per model.
# Per-patient predictions stay under data/ (patient-level data, PhysioNet DUA); results/ holds
# models, histories and metrics only, so it can be shared as it is.
# A model's chain is one group: a cluster gets one submission per model.

TRAINING_PARAMS = {k: v for k, v in config["training"].items() if k != "init_seeds"}
"""What changes a trained model; the list of initialisation seeds only says which runs exist."""


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
        scheme=config["split"]["scheme"],
        fold_seed=config["split"]["fold_seed"],
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/split.py"


rule train:
    input:
        arrays=model_arrays,
        delta="data/model_input/delta.npy",
        labels="data/model_input/labels.parquet",
        split="data/splits/seed{split}.parquet",
        code=model_code("train"),
    output:
        model="results/models/{model}/split{split}/init{init}/model.pt",
        history="results/models/{model}/split{split}/init{init}/history.csv",
        tuning="results/models/{model}/split{split}/init{init}/tuning.csv",
    log:
        "logs/train/{model}/split{split}_init{init}.log",
    params:
        model_params=lambda wildcards: config["model_params"].get(wildcards.model, {}),  # fixed; tuning searches the rest
        registry_entry=registry_entry,
        training=TRAINING_PARAMS,
        tuning=config["tuning"],
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


rule predict:
    input:
        models=expand("results/models/{{model}}/split{split}/init{init}/model.pt", zip, **RUNS),
        splits=expand("data/splits/seed{split}.parquet", zip, **RUNS),
        arrays=model_arrays,
        delta="data/model_input/delta.npy",
        labels="data/model_input/labels.parquet",
        code=model_code("predict"),
    output:
        expand("data/predictions/{{model}}/{{scenario}}/split{split}_init{init}.parquet", zip, **RUNS),
    log:
        "logs/predict/{model}/{scenario}.log",
    wildcard_constraints:
        scenario=r"observed|drop_[A-Za-z0-9]+(_[0-9.]+)?|keep_[A-Za-z0-9]+(\+[A-Za-z0-9]+)*",
    params:
        registry_entry=registry_entry,
        scenario_seed=config["predict"]["scenario_seed"],
    resources:
        mem_mb=4000,
        runtime=20,
    group:
        "train"
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/predict.py"


rule rectify:
    input:
        predictions=expand("data/predictions/{{model}}/{{scenario}}/split{split}_init{init}.parquet", zip, **RUNS),
        labels="data/model_input/labels.parquet",
        code=code("rectify"),
    output:
        predictions=expand("data/predictions/{{model}}/{{scenario}}/split{split}_init{init}.rectified.parquet", zip, **RUNS),
        fitted=expand("results/models/{{model}}/split{split}/init{init}/rectifier_{{scenario}}.json", zip, **RUNS),
    log:
        "logs/rectify/{model}/{scenario}.log",
    params:
        rectifier={k: config["rectifier"][k] for k in ("estimator", "kappa_grid", "n_folds", "min_count", "seed")},
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
        predictions=expand("data/predictions/{{model}}/{{scenario}}/split{split}_init{init}.rectified_paper_crossfit_test.parquet", zip, **RUNS),
        fitted=expand("results/models/{{model}}/split{split}/init{init}/rectifier_paper_crossfit_test_{{scenario}}.json",
                      zip, **RUNS),
    log:
        "logs/rectify_paper_crossfit_test/{model}/{scenario}.log",
    params:
        rectifier={k: config["rectifier"][k] for k in ("estimator", "kappa_grid", "n_folds", "min_count", "seed")},
        protocol="paper_crossfit_test",


rule evaluate:
    input:
        unpack(evaluation_inputs),
        splits=expand("data/splits/seed{split}.parquet", zip, **RUNS),
        labels="data/model_input/labels.parquet",
        code=code("evaluate"),
    output:
        "results/models/{model}/metrics.csv",
    log:
        "logs/evaluate/{model}.log",
    params:
        runs=RUNS,
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
        splits=expand("data/splits/seed{split}.parquet", split=SPLIT_SEEDS),
        code=code("evaluate_oracle"),
    output:
        "results/oracle/metrics.csv",
    log:
        "logs/evaluate_oracle.log",
    params:
        split_seeds=SPLIT_SEEDS,
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/evaluate_oracle.py"


TUNED_RUNS = [[model, split, init] for model in MODELS for split, init in zip(RUNS["split"], RUNS["init"])]
"""Every train job, in Table 1's model order: its trial table goes into results/tuning.csv."""


rule tuning_table:
    input:
        trials=[f"results/models/{model}/split{split}/init{init}/tuning.csv" for model, split, init in TUNED_RUNS],
        code=code("tuning_table"),
    output:
        report("results/tuning.csv", caption="../workflow/report/tuning.rst", category="Tables"),
    log:
        "logs/tuning_table.log",
    params:
        runs=TUNED_RUNS,
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/tuning_table.py"
