"""The mechanism sweep: settings, each setting's configuration, and the table across settings."""

import copy

import numpy as np
import pandas as pd
import pytest
import yaml

from mmnar.config import ConfigError, check_config, validate_config
from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.reporting.sweep import setting_rows, sweep_figure
from mmnar.sweep import setting_config, setting_name, settings
from workflow_runner import REPO, planned_jobs, write_config


def default_config():
    return validate_config(yaml.safe_load((REPO / "config.yaml").read_text()))


def test_settings_are_the_listed_ones_or_the_grid_product():
    listed = settings({"settings": [{"mechanism": "mcar", "hidden_strength": 0.0, "direct_effect": 0.0}], "grid": None})
    assert listed == {"mcar_hidden0_direct0": {"mechanism": "mcar", "hidden_strength": 0.0, "direct_effect": 0.0}}
    grid = settings({"settings": None, "grid": {"mechanism": ["mcar", "mnar"], "hidden_strength": [0, 0.5],
                                                "direct_effect": [1]}})
    assert list(grid) == ["mcar_hidden0_direct1", "mcar_hidden0.5_direct1", "mnar_hidden0_direct1",
                          "mnar_hidden0.5_direct1"]
    with pytest.raises(ValueError, match="twice"):
        settings({"settings": [{"mechanism": "mcar", "hidden_strength": 0, "direct_effect": 0}] * 2})


def test_a_settings_run_is_this_config_with_the_overrides_the_models_and_the_generator_values():
    config = default_config()
    before = copy.deepcopy(config)
    values = {"mechanism": "mcar", "hidden_strength": 0.5, "direct_effect": 0.0}
    inner = setting_config(config, "mcar_hidden0.5_direct0", values)
    assert config == before                                   # the outer config is left alone
    assert inner["source"] == "synthetic"
    assert inner["models"] == config["sweep"]["models"]
    assert {k: inner["synthetic"][k] for k in values} == values
    assert inner["split"]["seeds"] == config["sweep"]["overrides"]["split"]["seeds"]
    assert inner["split"]["val_fraction"] == config["split"]["val_fraction"]    # merged, not replaced
    assert inner["embeddings"]["cache_dir"] == "../../cache/embeddings"   # the outer data/cache/embeddings
    assert set(inner["rectifier"]["models"]) <= set(inner["models"])
    assert inner["reporting"]["references"][0] == config["sweep"]["reference"]
    assert set(inner["reporting"]["references"]) <= set(inner["models"])
    check_config(validate_config(inner), main_process=False)   # a valid run on its own


@pytest.mark.parametrize("outer, inner", [("cache/emb", "../../../cache/emb"), ("/scratch/emb", "/scratch/emb")])
def test_every_setting_shares_the_outer_runs_embedding_cache_wherever_it_is(outer, inner):
    config = default_config()
    config["embeddings"]["cache_dir"] = outer
    assert setting_config(config, "mnar_hidden1_direct1", {})["embeddings"]["cache_dir"] == inner


def test_the_sweep_reference_must_be_swept():
    config = default_config()
    config["sweep"]["reference"] = "drfuse"
    with pytest.raises(ConfigError, match=r"config 'sweep.reference': 'drfuse' is not in 'sweep.models'"):
        check_config(config, main_process=False)


def test_the_sweep_target_runs_one_workflow_per_setting(tmp_path):
    small = write_config(tmp_path / "sweep.yaml", {"sweep": {"settings": [
        {"mechanism": "mcar", "hidden_strength": 0.0, "direct_effect": 0.0},
        {"mechanism": "mnar", "hidden_strength": 1.0, "direct_effect": 0.0}]}})
    jobs = planned_jobs(tmp_path, "results/mechanism_sweep.csv", configs=(REPO / "config.yaml", small))
    assert jobs == {"sweep_setting": 2, "mechanism_sweep": 1}


def table1(models, aucs, oracle_aucs):
    rows = [{"model": m, "variant": v, "label": f"{m} {v}", "n_splits": 2, "n_inits": 1,
             **{f"{t}_leaked": t == "mortality_inhosp" for t in DEFAULT_TASKS},
             **{f"{t}_auc_mean": auc for t in DEFAULT_TASKS}, **{f"{t}_auc_sd": 0.01 for t in DEFAULT_TASKS}}
            for (m, v), auc in zip(models, aucs)]
    rows += [{"model": "oracle", "variant": v, "label": v, "n_splits": 2, "n_inits": 1,
              **{f"{t}_auc_mean": auc for t in DEFAULT_TASKS}, **{f"{t}_auc_sd": 0.0 for t in DEFAULT_TASKS}}
             for v, auc in oracle_aucs.items()]
    return pd.DataFrame(rows)


def test_a_settings_rows_carry_the_ceilings_and_the_paired_difference(tmp_path):
    models = [("crl_mmnar", "raw"), ("basic_concat", "raw"), ("crl_mmnar", "rectified")]
    table = table1(models, [0.75, 0.70, 0.76], {"ground_truth": 0.80, "recorded": 0.78, "recorded_no_delta": 0.72})
    comparisons = pd.DataFrame([{"model": m, "variant": v, "reference": "basic_concat", "task": t, "metric": "auc",
                                 "difference": d, "ci_low": d - 0.02, "ci_high": d + 0.02, "p_value": 0.01}
                                for (m, v), d in [(models[0], 0.05), (models[2], 0.06)] for t in DEFAULT_TASKS])
    values = {"mechanism": "mnar", "hidden_strength": 1.0, "direct_effect": 0.0}
    rows = setting_rows("mnar_hidden1_direct0", values, table, comparisons, "basic_concat")
    assert len(rows) == 3 * len(DEFAULT_TASKS) and "oracle" not in set(rows["model"])
    crl = rows[(rows["model"] == "crl_mmnar") & (rows["variant"] == "raw")].iloc[0]
    assert crl["gap_to_oracle"] == pytest.approx(-0.05) and crl["gap_to_recorded_ceiling"] == pytest.approx(-0.03)
    assert crl["delta_ceiling_gain"] == pytest.approx(0.06) and crl["auc_diff"] == 0.05
    assert crl["n_runs"] == 2 and crl["mechanism"] == "mnar" and not crl["leaked"]
    assert rows.loc[rows["task"] == "mortality_inhosp", "leaked"].all()
    assert rows.loc[rows["model"] == "basic_concat", "auc_diff"].isna().all()   # the reference itself
    sweep_figure(rows, "basic_concat", tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").stat().st_size > 10_000
    assert np.isfinite(rows["auc"]).all()


def test_setting_names_are_stable():
    assert setting_name("mnar", 1.0, 0.0) == "mnar_hidden1_direct0"
    assert setting_name("mar", 0.25, -1.0) == "mar_hidden0.25_direct-1"
