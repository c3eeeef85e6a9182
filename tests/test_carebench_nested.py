"""CareBench's five tasks as a nested run (mmnar.nested, rules/carebench.smk): its configuration, its place in
the DAG and its configuration errors. The nested run itself is not run here (tests/test_carebench_tasks.py
runs such a configuration end to end)."""

import copy
import os

import pytest
import yaml

from mmnar.config import ConfigError, check_config, error_line, validate_config
from mmnar.data.tasks import TASKS
from mmnar.modalities.text import BUNDLED_ENCODER
from mmnar.nested import CAREBENCH_DIR, LABEL, TABLE1_LABEL, carebench_config, copy_table
from workflow_runner import REPO, planned_jobs


def default_config():
    return validate_config(yaml.safe_load((REPO / "config.yaml").read_text()))


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_the_nested_run_predicts_every_task_early_with_the_carebench_models():
    config = default_config()
    config["training"]["lambda_pred"] = [1.0, 2.0, 1.0]     # one per task of the outer run
    before = copy.deepcopy(config)
    inner = carebench_config(config)
    assert config == before                                   # the outer config is left alone
    section = config["carebench_tasks"]
    assert inner["tasks"] == section["tasks"] == list(TASKS)
    assert inner["cohort"]["window"] == "early" and inner["cohort"]["early_hours"] == config["cohort"]["early_hours"]
    assert inner["source"] == config["source"]
    assert inner["models"] == section["models"]
    assert inner["training"]["lambda_pred"] is None and inner["training"]["lr"] == config["training"]["lr"]
    assert inner["split"]["seeds"] == config["split"]["seeds"]  # split_seeds null: the outer run's
    assert inner["rectifier"]["models"] == ["crl_mmnar"]
    assert inner["reporting"]["references"] == ["crl_mmnar", "basic_concat"]
    check_config(validate_config(inner), main_process=False)   # a valid run on its own


def test_the_nested_run_shares_the_embedding_cache_and_finds_the_outer_runs_inputs(tmp_path):
    (tmp_path / "encoder").mkdir()
    (tmp_path / "encoder" / "config.json").write_text("{}")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "resnet18.pt").write_bytes(b"")
    config = default_config()
    config["source"] = "local"
    config["local"] = {"mimiciv": "physionet/mimiciv/3.1", "note": "../mimic-iv-note/2.2", "cxr": "/data/mimic-cxr"}
    config["embeddings"]["text"]["encoder"] = "encoder"
    config["embeddings"]["image"]["weights"] = "weights/resnet18.pt"
    inner = carebench_config(config, root=tmp_path)
    cache = inner["embeddings"]["cache_dir"]
    assert os.path.normpath(os.path.join(CAREBENCH_DIR, cache)) == os.path.normpath(config["embeddings"]["cache_dir"])
    assert inner["local"] == {"mimiciv": str(tmp_path / "physionet/mimiciv/3.1"),
                              "note": str(tmp_path.parent / "mimic-iv-note/2.2"),
                              "cxr": "/data/mimic-cxr"}                      # absolute: as it was
    assert inner["bigquery"]["cache_dir"] == str(tmp_path / "data/bigquery")
    assert inner["embeddings"]["text"]["encoder"] == str(tmp_path / "encoder")
    assert inner["embeddings"]["image"]["weights"] == str(tmp_path / "weights/resnet18.pt")
    assert inner["source"] == "local" and inner["synthetic"]["out_dir"] == config["synthetic"]["out_dir"]

    config = default_config()                 # names, not paths: as they are; an absolute cache: as it is
    config["embeddings"]["cache_dir"] = "/shared/embeddings"
    inner = carebench_config(config, root=tmp_path)
    assert inner["embeddings"]["cache_dir"] == "/shared/embeddings"
    assert inner["embeddings"]["text"]["encoder"] == BUNDLED_ENCODER == config["embeddings"]["text"]["encoder"]
    assert inner["embeddings"]["image"]["weights"] == "random"


def test_the_nested_runs_seeds_references_and_feature_groups():
    config = default_config()
    config["carebench_tasks"].update(models=["basic_concat", "hgb_all", "s_only"], split_seeds=[1, 2],
                                     tasks=["phenotype_25", "los_remaining"])
    config["features"]["groups"] = ["demographics", "vitals_labs", "diagnoses"]
    config["table3"]["split_seeds"] = [0]
    inner = carebench_config(config)
    assert inner["split"]["seeds"] == [1, 2] and inner["table3"]["split_seeds"] is None
    assert inner["tasks"] == ["phenotype_25", "los_remaining"]
    assert inner["rectifier"]["models"] == []
    assert inner["reporting"]["references"] == ["basic_concat"]   # crl_mmnar not run: the next outer reference
    assert inner["features"]["groups"] == ["demographics", "vitals_labs"]   # diagnoses is known at discharge only
    check_config(validate_config(inner), main_process=False)
    config["carebench_tasks"]["models"] = ["hgb_all", "s_only"]
    assert carebench_config(config)["reporting"]["references"] == ["hgb_all"]


def test_carebench_tasks_plans_one_nested_run_and_one_copy_and_paper_includes_them(tmp_path):
    jobs = planned_jobs(tmp_path, "results/carebench_tasks.csv")
    assert jobs == {"carebench_tasks_run": 1, "carebench_tasks": 1}
    paper = planned_jobs(tmp_path, "paper")
    assert paper["carebench_tasks_run"] == 1 and paper["carebench_tasks"] == 1


def test_an_unregistered_carebench_model_or_task_is_one_line_naming_the_key():
    config = default_config()
    config["carebench_tasks"]["models"] = ["crl_mmnar", "gru_d"]
    with pytest.raises(ConfigError) as error:
        validate_config(config)
    message = error_line(error.value)
    assert message.startswith("configuration error: config 'carebench_tasks.models[1]': 'gru_d' is not one of "
                              "['crl_mmnar', ") and "\n" not in message
    config = default_config()
    config["carebench_tasks"]["tasks"] = ["phenotype_26"]
    with pytest.raises(ConfigError, match=r"config 'carebench_tasks.tasks\[0\]': 'phenotype_26' is not one of"):
        validate_config(config)


def test_a_nested_run_that_cannot_work_fails_in_the_outer_runs_check():
    config = default_config()
    config["carebench_tasks"]["split_seeds"] = [0, 5]      # 5 folds under test_fraction 0.2: seed 5 tests fold 0
    with pytest.raises(ConfigError, match=r"config 'carebench_tasks.split_seeds': seeds 0 and 5 test the same fold"):
        check_config(config, main_process=False)
    config = default_config()
    config["cohort"]["early_hours"] = 24
    with pytest.raises(ConfigError, match=r"config 'cohort.early_hours': los_remaining.*carebench_tasks"):
        check_config(config, main_process=False)
    config["carebench_tasks"]["tasks"] = ["readmit_30d", "phenotype_25"]
    check_config(config, main_process=False)
    config["features"]["groups"] = ["diagnoses", "drg"]
    with pytest.raises(ConfigError, match=r"config 'features.groups': none is known in window 'early'"):
        check_config(config, main_process=False)


def test_the_copied_table_is_the_nested_runs_with_a_latex_label_of_its_own(tmp_path):
    sources = [tmp_path / "table1.csv", tmp_path / "table1.md", tmp_path / "table1.tex"]
    sources[0].write_text("model,phenotype_25_macro_auc_mean\ncrl_mmnar,0.7\n")
    sources[1].write_text("| model |\n")
    sources[2].write_text(f"\\begin{{table}}\n\\caption{{x}}\n{TABLE1_LABEL}\n\\end{{table}}\n")
    targets = [tmp_path / "results" / f"carebench_tasks{s.suffix}" for s in sources]
    copy_table(sources, targets)
    assert [t.read_text() for t in targets[:2]] == [s.read_text() for s in sources[:2]]
    assert LABEL in targets[2].read_text() and TABLE1_LABEL not in targets[2].read_text()
    assert sorted(p.name for p in targets[0].parent.iterdir()) == sorted(t.name for t in targets)  # no temporaries
