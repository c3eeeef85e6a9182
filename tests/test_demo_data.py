"""The unchanged workflow on the real, openly licensed MIMIC-IV demo (structured modality only)."""

import json

import numpy as np
import pandas as pd
import pytest

from mmnar.data import feature_groups
from mmnar.data.tasks import DEFAULT_TASKS
from workflow_runner import REPO, TINY_CONFIG, snakemake, write_config

DEMO = REPO.parent / "shared" / "data" / "mimic-iv-demo-2.2"

pytestmark = [pytest.mark.workflow,
              pytest.mark.skipif(not (DEMO / "hosp" / "admissions.csv.gz").exists(), reason=f"MIMIC-IV demo not found at {DEMO}")]


def test_workflow_runs_on_the_mimic_iv_demo(tmp_path):
    demo = write_config(tmp_path / "demo.yaml", {
        "source": "local", "local": {"mimiciv": str(DEMO), "note": None, "cxr": None},
        "rectifier": {"models": ["crl_mmnar"], "kappa_grid": [0.0, 0.01, 0.02, 0.03, 0.04, 0.05], "n_folds": 2, "min_count": 5,
                      "seed": 0, "paper_crossfit_test": False},
        "tuning": {"n_trials": 1},
        # the recurrent series model and the single-modality references of the modalities the demo lacks
        "models": ["crl_mmnar", "grud", "i_only", "t_only", "r_only"],
        "reporting": {"references": ["crl_mmnar"]},
        "split": {"seeds": [0]},
    })
    snakemake(tmp_path, "--cores", "2", "results/table1.csv", "results/leakage_audit.csv", configs=(TINY_CONFIG, demo))
    cohort = pd.read_parquet(tmp_path / "data/cohort/cohort.parquet")
    assert 80 <= len(cohort) <= 100                   # 100 demo patients; adults with one ICU stay
    assert cohort["subject_id"].is_unique
    assert (cohort["age"] >= 18).all()
    delta = np.load(tmp_path / "data/model_input/delta.npy")
    assert delta[:, 0].all() and not delta[:, 1:].any()   # no note or CXR folder: only S observed
    quality = pd.read_csv(tmp_path / "results/data_quality.csv")
    assert quality.empty, f"a clean PhysioNet release reported as damaged:\n{quality.head()}"
    table = pd.read_csv(tmp_path / "results/table1.csv")
    assert "Oracle (true probabilities, synthetic only)" not in set(table["label"])
    assert {f"{t}_auc_mean" for t in DEFAULT_TASKS} <= set(table.columns)
    no_patients = table[table["model"].isin(["i_only", "t_only", "r_only"])]
    assert (no_patients["n_test_patients"] == 0).all() and no_patients["mortality_inhosp_auc_mean"].isna().all()
    assert table.loc[table["model"] == "grud", "mortality_inhosp_brier_mean"].notna().all()  # the series form runs on MIMIC
    used = json.loads((tmp_path / "data/embeddings/S.feature_groups.json").read_text())
    assert tuple(used) == feature_groups.selected(None, "paper") and all(used.values())
    names = json.loads((tmp_path / "data/embeddings/S.features.json").read_text())
    assert {"charlson_comorbidity_index", "apr_drg_severity", "n_vasopressor_orders", "insurance=MEDICARE"} <= set(names)
    audit = pd.read_csv(tmp_path / "results/leakage_audit.csv")
    assert not audit.loc[audit["check"].str.startswith("feature group"), "leaks"].any()
