"""CareBench's other tasks end to end: 25 phenotypes (multi-label) and remaining length of stay (7 classes)
beside the paper's three, on the tiny synthetic cohort with the early window they need."""

import json

import numpy as np
import pandas as pd
import pytest

from mmnar.data.phenotypes import phenotype_labels
from mmnar.data.tasks import TASKS
from workflow_runner import TINY_CONFIG, snakemake, write_config

pytestmark = pytest.mark.workflow

MODELS = ["crl_mmnar", "drfuse", "hgb_all"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("carebench_tasks")
    overrides = write_config(workdir / "tasks.yaml", {
        "tasks": list(TASKS), "cohort": {"window": "early"}, "models": MODELS,
        "rectifier": {"models": ["crl_mmnar"]}, "reporting": {"references": ["crl_mmnar"]},
        "tuning": {"n_trials": 1}, "split": {"seeds": [0]}})  # one split: every claim here is per run
    snakemake(workdir, "--cores", "2", "results/table1.csv", configs=(TINY_CONFIG, overrides))
    return workdir


def test_labels_hold_every_tasks_columns_from_the_source_tables(run):
    labels = pd.read_parquet(run / "data/model_input/labels.parquet")
    columns = [c for task in TASKS.values() for c in task.label_columns]
    assert list(labels.columns) == ["subject_id", *columns, "pattern_id", "pattern"]
    los = labels["los_remaining"].dropna()
    assert los.between(0, 6).all() and (los == los.round()).all() and los.nunique() > 2
    # the phenotypes are the synthetic diagnoses of each index admission, mapped again here
    cohort = pd.read_parquet(run / "data/cohort/cohort.parquet")
    diagnoses = pd.read_csv(next((run / "data/synthetic").rglob("diagnoses_icd.csv.gz")), dtype={"icd_code": str})
    expected = phenotype_labels(diagnoses, cohort["hadm_id"]).to_numpy()
    phenotypes = labels[list(TASKS["phenotype_25"].label_columns)].to_numpy()
    coded = cohort["hadm_id"].isin(diagnoses["hadm_id"]).to_numpy()
    np.testing.assert_array_equal(phenotypes[coded], expected[coded])
    assert np.isnan(phenotypes[~coded]).all() and phenotypes[coded].sum() > 0


def test_predictions_have_an_output_per_label_and_class(run):
    for model in MODELS:
        p = pd.read_parquet(run / f"data/predictions/{model}/observed/split0_init0.parquet")
        for task in TASKS.values():
            assert set(task.prediction_columns) <= set(p.columns), (model, task.name)
        classes = p[list(TASKS["los_remaining"].prediction_columns)].to_numpy()
        np.testing.assert_allclose(classes.sum(axis=1), 1.0, rtol=1e-5)


def test_table1_scores_each_task_by_its_type_and_the_rectifier_leaves_the_others(run):
    table = pd.read_csv(run / "results/table1.csv")
    models = table[table["model"] != "oracle"]
    for column in ("phenotype_25_macro_auc_mean", "phenotype_25_macro_auprc_mean", "los_remaining_accuracy_mean",
                   "los_remaining_macro_f1_mean", "los_remaining_kappa_mean", "mortality_inhosp_auc_mean"):
        assert models[column].notna().all(), column
    oracle = table[table["model"] == "oracle"]
    assert oracle["phenotype_25_macro_auc_mean"].isna().all()     # the generator has no truth for them
    markdown = (run / "results/table1.md").read_text()
    oracle_line = next(line for line in markdown.splitlines() if line.startswith("| Oracle"))
    assert "nan" not in markdown and oracle_line.count("| — ") == 6 and "—: undefined" in markdown
    metrics = pd.read_csv(run / "results/models/crl_mmnar/metrics.csv")
    assert {f"phenotype_25.{label}" for label in TASKS["phenotype_25"].classes} <= set(metrics["task"])
    record = json.loads((run / "results/models/crl_mmnar/split0/init0/rectifier_observed.json").read_text())
    assert set(record["tasks"]) == {"readmit_30d", "icu_90d", "mortality_inhosp"}
    assert record["unrectified_tasks"] == ["phenotype_25", "los_remaining"]
    raw = pd.read_parquet(run / "data/predictions/crl_mmnar/observed/split0_init0.parquet")
    rectified = pd.read_parquet(run / "data/predictions/crl_mmnar/observed/split0_init0.rectified.parquet")
    others = [c for name in record["unrectified_tasks"] for c in TASKS[name].prediction_columns]
    pd.testing.assert_frame_equal(raw[others], rectified[others])
