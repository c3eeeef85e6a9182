# Models trained under a modality scenario (mmnar.model_input.scenarios: keep_<m>+<m>…, drop_<m>_<p>):
# the same scenario, with the same seed, removes the same patients' data in training and prediction.
# Two outputs, neither in `rule all`: Table 3 (performance by modality configuration: trained and tested
# with only those modalities, or the ordinary model tested with the others removed) and the missing-ratio
# robustness sweep. Each reuses the ordinary models (results/models/) where its protocol allows: the
# `all` configuration, ratio 0, and every evaluated_only cell (the predict rule under a keep_ scenario).
# Trained models go to results/scenario_models/, patient-level predictions stay under data/.

from mmnar.evaluation import scenarios as sweeps
from mmnar.model_input.scenarios import TRAINABLE_WILDCARD

TABLE3_RUNS = sweeps.sweep_runs(config["table3"]["split_seeds"], SPLIT_SEEDS, INIT_SEEDS)
TABLE3_CELLS = sweeps.table3_cells(config["table3"]["models"], config["table3"]["configurations"], MODALITIES)
ROBUSTNESS_RUNS = sweeps.sweep_runs(config["robustness"]["split_seeds"], SPLIT_SEEDS, INIT_SEEDS)
ROBUSTNESS_CELLS = sweeps.robustness_cells(config["robustness"]["models"], config["robustness"]["modality"],
                                           config["robustness"]["ratios"])
"""Each output's cells (model × configuration × protocol, model × ratio) and runs (its split seeds × init seeds)."""
TABLE3_TRAINED = sweeps.trained_scenarios(TABLE3_CELLS)
ROBUSTNESS_TRAINED = sweeps.trained_scenarios(ROBUSTNESS_CELLS)
"""The scenarios models are trained under: keep_<m>+… (Table 3) and drop_<m>_<ratio> (robustness)."""
ORDINARY_PREDICTIONS = "data/predictions/{model}/{scenario}/split{split}_init{init}.parquet"
SCENARIO_PREDICTIONS = "data/scenario_predictions/{scenario}/{model}/split{split}_init{init}.parquet"
SCENARIO_MODEL = "results/scenario_models/{scenario}/{model}/split{split}/init{init}/model.pt"


rule train_scenario:
    input:
        arrays=model_arrays,
        delta="data/model_input/delta.npy",
        labels="data/model_input/labels.parquet",
        split="data/splits/seed{split}.parquet",
        code=model_code("train_scenario"),
    output:
        model="results/scenario_models/{scenario}/{model}/split{split}/init{init}/model.pt",
        history="results/scenario_models/{scenario}/{model}/split{split}/init{init}/history.csv",
        tuning="results/scenario_models/{scenario}/{model}/split{split}/init{init}/tuning.csv",
    log:
        "logs/train_scenario/{scenario}/{model}/split{split}_init{init}.log",
    wildcard_constraints:
        scenario=TRAINABLE_WILDCARD,
    params:
        model_params=lambda wildcards: config["model_params"].get(wildcards.model, {}),  # fixed; tuning searches the rest
        registry_entry=registry_entry,
        training=TRAINING_PARAMS,
        tuning=config["tuning"],
        scenario_seed=config["predict"]["scenario_seed"],
    threads: config["training"]["num_threads"]
    resources:
        mem_mb=4000,
        runtime=60,
        gpu=TRAIN_GPUS,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/train_scenario.py"


# One job per model predicts every run of every scenario it was trained under (torch's start-up is paid
# once per model), each under its own scenario: the same patients lose the same data as in training.
if TABLE3_TRAINED:

    rule predict_table3_scenarios:
        input:
            models=sweeps.run_files(SCENARIO_MODEL, TABLE3_TRAINED, TABLE3_RUNS),
            splits=sweeps.run_files("data/splits/seed{split}.parquet", TABLE3_TRAINED, TABLE3_RUNS),
            arrays=model_arrays,
            delta="data/model_input/delta.npy",
            labels="data/model_input/labels.parquet",
            code=model_code("predict_scenarios"),
        output:
            sweeps.run_files(SCENARIO_PREDICTIONS, TABLE3_TRAINED, TABLE3_RUNS),
        log:
            "logs/predict_scenarios/table3/{model}.log",
        params:
            scenarios=sweeps.run_files("{scenario}", TABLE3_TRAINED, TABLE3_RUNS),
            registry_entry=registry_entry,
            scenario_seed=config["predict"]["scenario_seed"],
        resources:
            mem_mb=4000,
            runtime=20,
        conda:
            "../envs/train.yaml"
        script:
            "../workflow/scripts/predict_scenarios.py"


if ROBUSTNESS_TRAINED:

    rule predict_robustness_scenarios:
        input:
            models=sweeps.run_files(SCENARIO_MODEL, ROBUSTNESS_TRAINED, ROBUSTNESS_RUNS),
            splits=sweeps.run_files("data/splits/seed{split}.parquet", ROBUSTNESS_TRAINED, ROBUSTNESS_RUNS),
            arrays=model_arrays,
            delta="data/model_input/delta.npy",
            labels="data/model_input/labels.parquet",
            code=model_code("predict_scenarios"),
        output:
            sweeps.run_files(SCENARIO_PREDICTIONS, ROBUSTNESS_TRAINED, ROBUSTNESS_RUNS),
        log:
            "logs/predict_scenarios/robustness/{model}.log",
        params:
            scenarios=sweeps.run_files("{scenario}", ROBUSTNESS_TRAINED, ROBUSTNESS_RUNS),
            registry_entry=registry_entry,
            scenario_seed=config["predict"]["scenario_seed"],
        resources:
            mem_mb=4000,
            runtime=20,
        conda:
            "../envs/train.yaml"
        script:
            "../workflow/scripts/predict_scenarios.py"


rule table3:
    input:
        predictions=sweeps.cell_files(TABLE3_CELLS, TABLE3_RUNS, ORDINARY_PREDICTIONS, SCENARIO_PREDICTIONS),
        splits=expand("data/splits/seed{split}.parquet", zip, **TABLE3_RUNS),
        labels="data/model_input/labels.parquet",
        audit="results/leakage_audit.csv",
        code=code("table3"),
    output:
        csv=report("results/table3.csv", caption="../workflow/report/table3.rst", category="Evaluation"),
        md="results/table3.md",
        tex="results/table3.tex",
    log:
        "logs/table3.log",
    params:
        cells=TABLE3_CELLS,
        runs=TABLE3_RUNS,
        resamples=config["reporting"]["bootstrap_resamples"],
        seed=config["reporting"]["bootstrap_seed"],
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/table3.py"


rule robustness_missing_ratio:
    input:
        predictions=sweeps.cell_files(ROBUSTNESS_CELLS, ROBUSTNESS_RUNS, ORDINARY_PREDICTIONS, SCENARIO_PREDICTIONS),
        splits=expand("data/splits/seed{split}.parquet", zip, **ROBUSTNESS_RUNS),
        labels="data/model_input/labels.parquet",
        audit="results/leakage_audit.csv",
        code=code("robustness"),
    output:
        csv=report("results/robustness_missing_ratio.csv", caption="../workflow/report/robustness_missing_ratio.rst",
                   category="Evaluation"),
        md="results/robustness_missing_ratio.md",
        png=report("results/robustness_missing_ratio.png", caption="../workflow/report/robustness_missing_ratio.rst",
                   category="Evaluation"),
    log:
        "logs/robustness_missing_ratio.log",
    params:
        cells=ROBUSTNESS_CELLS,
        runs=ROBUSTNESS_RUNS,
        resamples=config["reporting"]["bootstrap_resamples"],
        seed=config["reporting"]["bootstrap_seed"],
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/robustness.py"
