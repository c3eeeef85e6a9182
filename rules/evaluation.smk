# Calibration and subgroup fairness of every model's test predictions (raw, and rectified for the
# rectified models), read from the prediction files like the paired comparisons. Aggregates only:
# small cells are blank (reporting.min_cell_count). Not part of `all`: request them by name.

from types import SimpleNamespace

from mmnar.evaluation.fairness import VARIANTS as EVALUATED_VARIANTS

EVALUATED = [[model, variant] for model in MODELS for variant in evaluation_inputs(SimpleNamespace(model=model))
             if variant in EVALUATED_VARIANTS]
"""Every (model, variant) evaluated; the paper-protocol variant is fitted on the test labels and left out."""
EVALUATED_PREDICTIONS = [path for model, variant in EVALUATED
                         for path in evaluation_inputs(SimpleNamespace(model=model))[variant]]
"""Their prediction files, each entry's runs in ``RUNS`` order (as the scripts read them)."""


rule calibration:
    input:
        predictions=EVALUATED_PREDICTIONS,
        splits=expand("data/splits/seed{split}.parquet", zip, **RUNS),
        labels="data/model_input/labels.parquet",
        code=code("calibration"),
    output:
        csv=report("results/calibration.csv", caption="../workflow/report/calibration.rst", category="Evaluation"),
        png=report("results/calibration.png", caption="../workflow/report/calibration.rst", category="Evaluation"),
    log:
        "logs/calibration.log",
    params:
        evaluated=EVALUATED,
        runs=RUNS,
        bins=config["reporting"]["calibration_bins"],
        min_cell_count=config["reporting"]["min_cell_count"],
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/calibration.py"


rule fairness:
    input:
        predictions=EVALUATED_PREDICTIONS,
        splits=expand("data/splits/seed{split}.parquet", zip, **RUNS),
        labels="data/model_input/labels.parquet",
        cohort="data/cohort/cohort.parquet",
        code=code("fairness"),
    output:
        csv=report("results/fairness.csv", caption="../workflow/report/fairness.rst", category="Evaluation"),
        png=report("results/fairness.png", caption="../workflow/report/fairness.rst", category="Evaluation"),
    log:
        "logs/fairness.log",
    params:
        evaluated=EVALUATED,
        runs=RUNS,
        attributes=config["reporting"]["fairness_attributes"],
        age_edges=config["reporting"]["fairness_age_edges"],
        bins=config["reporting"]["calibration_bins"],
        min_cell_count=config["reporting"]["min_cell_count"],
        resamples=config["reporting"]["bootstrap_resamples"],
        seed=config["reporting"]["bootstrap_seed"],
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/train.yaml"
    script:
        "../workflow/scripts/fairness.py"
