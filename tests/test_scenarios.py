"""Models trained under a modality scenario: the keep_ grammar, train and predict removing the same
patients, a keep_S model blind to I/T/R, and the bootstrap CI of Table 3 and the robustness sweep."""

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from mmnar.evaluation.scenarios import (EVALUATED_ONLY, TRAINED_AND_EVALUATED, bootstrap_ci, cell_metrics,
                                        robustness_cells, table3_cells)
from mmnar.model_input.scenarios import apply_scenario, configuration_scenario, parse_scenario, ratio_scenario
from mmnar.training.predict import predict
from mmnar.training.tuning import run_train
from test_training import FAST, MODALITIES, small, toy_problem, write_model_input, write_split


# --------------------------------------------------------------------------------------------------
# The scenario grammar


def test_keep_removes_every_modality_not_listed_for_every_patient():
    raw, _, _ = toy_problem(n=120)
    scenario = parse_scenario("keep_T+R", MODALITIES)
    assert scenario.kept == ("T", "R") and scenario.removed(MODALITIES) == ("S", "I")
    kept = apply_scenario(raw, scenario, seed=0)
    assert kept.delta[:, :2].sum() == 0 and np.array_equal(kept.delta[:, 2:], raw.delta[:, 2:])
    assert raw.delta[:, 0].all()  # the input is not modified
    only_s = apply_scenario(raw, parse_scenario("keep_S", MODALITIES), seed=0)
    assert np.array_equal(only_s.delta[:, 0], raw.delta[:, 0]) and only_s.delta[:, 1:].sum() == 0
    for bad in ("keep_X", "keep_T+T", "keep_", "keep_T+", "keep_T,R", "keep"):
        with pytest.raises(ValueError, match="unknown scenario"):
            parse_scenario(bad, MODALITIES)


def test_configuration_and_ratio_names():
    assert configuration_scenario("all", MODALITIES) == "observed"
    assert configuration_scenario("R+T", MODALITIES) == configuration_scenario("T+R", MODALITIES) == "keep_T+R"
    assert configuration_scenario("S+I+T+R", MODALITIES) == "observed"
    with pytest.raises(ValueError, match="modality configuration"):
        configuration_scenario("S+X", MODALITIES)
    assert [ratio_scenario("I", r) for r in (0, 0.2, 0.25, 1)] == ["observed", "drop_I_0.2", "drop_I_0.25", "drop_I"]
    assert parse_scenario(ratio_scenario("I", 0.4), MODALITIES).fraction == pytest.approx(0.4)
    cells = table3_cells(["basic_concat"], ["all", "T+R"], MODALITIES)
    assert [(c["configuration"], c["scenario"], c["protocol"]) for c in cells] == [
        ("all", "observed", TRAINED_AND_EVALUATED), ("all", "observed", EVALUATED_ONLY),
        ("T+R", "keep_T+R", TRAINED_AND_EVALUATED), ("T+R", "keep_T+R", EVALUATED_ONLY)]
    assert [c["scenario"] for c in robustness_cells(["basic_concat"], "I", [0, 0.5])] == ["observed", "drop_I_0.5"]


# --------------------------------------------------------------------------------------------------
# Training under a scenario


def test_train_and_predict_remove_the_same_patients(tmp_path):
    raw, labels, split = toy_problem(n=120)
    model_input, split_path = write_model_input(tmp_path, raw, labels), write_split(tmp_path, split)
    run_train("basic_concat", model_input, split_path, tmp_path / "model.pt", tmp_path / "history.csv", None,
              {**FAST, "max_epochs": 1}, split_seed=0, init_seed=0, scenario="drop_I_0.5", scenario_seed=3)
    checkpoint = torch.load(tmp_path / "model.pt", weights_only=True)
    assert checkpoint["scenario"] == {"name": "drop_I_0.5", "seed": 3}
    _, seen_by_predict = predict(checkpoint, model_input, "drop_I_0.5", 3)
    train_rows = split == "train"

    def image_mean(delta):  # the training-fitted standardiser of I: the mean over training rows that keep I
        return raw.vectors["I"][train_rows & (delta[:, 1] == 1)].mean(axis=0)

    fitted = checkpoint["preprocessing"]["I:vector"]["mean"].numpy()
    np.testing.assert_allclose(fitted, image_mean(seen_by_predict.delta), rtol=1e-5)
    other_seed = apply_scenario(raw, parse_scenario("drop_I_0.5", MODALITIES), seed=4)
    assert not np.allclose(fitted, image_mean(other_seed.delta), rtol=1e-5)  # the check can fail
    assert seen_by_predict.delta[:, 1].sum() == round(0.5 * raw.delta[:, 1].sum())


@pytest.mark.parametrize("name", ["basic_concat", "logreg_all"])
def test_a_model_trained_under_keep_s_never_sees_the_other_modalities(tmp_path, name):
    raw, labels, split = toy_problem(n=120)
    settings = {**FAST, "max_epochs": 2}
    params = small(name) or None
    runs = {}
    for variant in ("recorded", "scrambled"):
        root = tmp_path / variant
        root.mkdir()
        if variant == "scrambled":  # every I/T/R value replaced; S, δ and labels unchanged
            rng = np.random.default_rng(1)
            for m in ("I", "T", "R"):
                raw.vectors[m] = rng.normal(5.0, 3.0, size=raw.vectors[m].shape).astype(np.float32)
        model_input, split_path = write_model_input(root, raw, labels), write_split(root, split)
        for scenario in ("keep_S", "observed"):
            out = root / scenario
            run_train(name, model_input, split_path, out / "model.pt", out / "history.csv", params, settings,
                      split_seed=0, init_seed=0, scenario=scenario)
            checkpoint = torch.load(out / "model.pt", weights_only=True)
            runs[variant, scenario] = (checkpoint, model_input)
    recorded, scrambled = runs["recorded", "keep_S"], runs["scrambled", "keep_S"]
    p_recorded = predict(recorded[0], recorded[1], "keep_S", 0)[0]
    pd.testing.assert_frame_equal(p_recorded, predict(scrambled[0], scrambled[1], "keep_S", 0)[0])  # retrained
    pd.testing.assert_frame_equal(p_recorded, predict(recorded[0], scrambled[1], "keep_S", 0)[0])   # same model
    # the ordinary model does read I/T/R: the same change moves its predictions
    ordinary = runs["recorded", "observed"][0]
    changed = predict(ordinary, scrambled[1], "observed", 0)[0]
    unchanged = predict(ordinary, recorded[1], "observed", 0)[0]
    assert not np.allclose(unchanged.filter(like="p_"), changed.filter(like="p_"))


def test_boosting_trains_when_a_scenario_removes_s_for_everyone(tmp_path):
    raw, labels, split = toy_problem(n=120)
    model_input, split_path = write_model_input(tmp_path, raw, labels), write_split(tmp_path, split)
    run_train("hgb_all", model_input, split_path, tmp_path / "model.pt", tmp_path / "history.csv", None, FAST,
              split_seed=0, init_seed=0, scenario="keep_T+R")
    predictions, seen = predict(torch.load(tmp_path / "model.pt", weights_only=True), model_input, "keep_T+R", 0)
    assert seen.delta[:, :2].sum() == 0 and np.isfinite(predictions.filter(like="p_").to_numpy()).all()


# --------------------------------------------------------------------------------------------------
# The bootstrap CI


def test_bootstrap_ci_on_known_cases():
    # binormal scores, separation d: AUC = Φ(d / √2); the 95 % CI covers it and has the normal width
    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.5).astype(float)
    p = rng.normal(y * 1.0, 1.0)
    auc, auprc = bootstrap_ci([((0, 0), y, p)], n_resamples=500, seed=0)
    true_auc = norm.cdf(1.0 / np.sqrt(2))
    assert auc["metric"] == "auc" and auprc["metric"] == "auprc"
    assert auc["estimate"] == pytest.approx(roc_auc_score(y, p)) and auc["ci_low"] < true_auc < auc["ci_high"]
    assert 0.03 < auc["ci_high"] - auc["ci_low"] < 0.05 and auc["n_patients"] == 2000 and auc["n_runs"] == 1
    # perfect separation: no resample can do otherwise
    perfect = bootstrap_ci([((0, 0), np.array([0, 0, 0, 1, 1.0]), np.array([0.1, 0.2, 0.3, 0.8, 0.9]))], 200, 0)
    assert [(r["estimate"], r["ci_low"], r["ci_high"]) for r in perfect] == [(1.0, 1.0, 1.0)] * 2
    # seeded; runs averaged (two copies of one run with the same key: the same draws, the same CI); undefined
    # labels and predictions left out; a single-class run left out
    once = bootstrap_ci([((0, 0), y, p)], 200, seed=5)
    assert once == bootstrap_ci([((0, 0), y, p)], 200, seed=5) != bootstrap_ci([((0, 0), y, p)], 200, seed=6)
    y_nan, p_nan = np.append(y, [np.nan, 1.0]), np.append(p, [0.3, np.nan])
    twice = bootstrap_ci([((0, 0), y, p), ((0, 0), y_nan, p_nan), ((1, 0), np.ones(5), np.ones(5))], 200, seed=5)
    assert [{**r, "n_runs": 1} for r in twice] == once and twice[0]["n_runs"] == 2


def test_cell_metrics_read_each_runs_test_patients():
    rng = np.random.default_rng(0)
    ids = np.arange(300)
    labels = pd.DataFrame({"subject_id": ids, **{t: (rng.random(300) < 0.3).astype(float)
                                                 for t in ("readmit_30d", "icu_90d", "mortality_inhosp")}})
    splits = [pd.DataFrame({"subject_id": ids, "split": np.where(ids % 3 == k, "test", "train")}) for k in range(2)]
    predictions = pd.DataFrame({"subject_id": ids[::-1], **{f"p_{t}": labels[t].to_numpy()[::-1] * 0.5 + 0.2
                                                           for t in ("readmit_30d", "icu_90d", "mortality_inhosp")}})
    predictions.loc[predictions["subject_id"] == 0, "p_icu_90d"] = np.nan  # a patient without a prediction
    table = cell_metrics([{"model": "m", "predictions": [predictions, predictions]}], labels, splits, [(0, 0), (1, 0)],
                         n_resamples=100)
    assert list(table.columns[:3]) == ["model", "task", "metric"] and len(table) == 6
    assert (table["estimate"] == 1.0).all() and (table["n_runs"] == 2).all()
    icu = table[table["task"] == "icu_90d"]["n_patients"].iloc[0]
    assert icu == (100 + 99) / 2


# --------------------------------------------------------------------------------------------------
# The config keys


@pytest.fixture
def config():
    """config.yaml with tests/configs/tiny.yaml merged in (one level deep, enough for these keys)."""
    from workflow_runner import REPO, TINY_CONFIG

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    for key, value in yaml.safe_load(TINY_CONFIG.read_text()).items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    return config


@pytest.mark.parametrize("key, value, message", [
    ("table3.models", ["basic_concat", "nope"], "config 'table3.models[1]': 'nope' is not one of"),
    ("robustness.models", ["nope"], "config 'robustness.models[0]': 'nope' is not one of"),
    ("table3.configurations", ["all", "T+X"], "config 'table3.configurations[1]': 'T+X' is not 'all' or registered"),
    ("table3.configurations", ["T+R", "R+T"], "config 'table3.configurations[1]': 'R+T' is the same configuration"),
    ("robustness.modality", "X", "config 'robustness.modality': 'X' is not a registered modality"),
    ("robustness.ratios", [0, 1.5], "config 'robustness.ratios[1]'"),
    ("table3.split_seeds", [0, 7], "config 'table3.split_seeds': [7] not in 'split.seeds'"),
])
def test_a_wrong_sweep_setting_is_one_line_naming_the_key(config, key, value, message):
    from mmnar.config import ConfigError, check_config, validate_config

    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(ConfigError) as caught:
        validate_config(config)
        check_config(config, main_process=False)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value), str(caught.value)


def test_the_sweep_keys_have_defaults(config):
    from mmnar.config import check_config, validate_config

    del config["table3"], config["robustness"]
    validate_config(config)
    check_config(config, main_process=False)
    assert config["table3"]["configurations"][0] == "all" and config["table3"]["split_seeds"] is None
    assert config["robustness"]["modality"] == "I" and config["robustness"]["ratios"][0] == 0


def test_table3_rows_marks_and_renderings():
    from mmnar.reporting.robustness import table3, table3_latex, table3_markdown

    rng = np.random.default_rng(0)
    ids = np.arange(200)
    tasks = ("readmit_30d", "icu_90d", "mortality_inhosp")
    labels = pd.DataFrame({"subject_id": ids, **{t: (rng.random(200) < 0.3).astype(float) for t in tasks}})
    split = pd.DataFrame({"subject_id": ids, "split": np.where(ids < 100, "test", "train")})
    good = pd.DataFrame({"subject_id": ids, **{f"p_{t}": labels[t] * 0.4 + rng.random(200) * 0.6 for t in tasks}})
    empty = good.assign(**{f"p_{t}": np.nan for t in tasks})   # e.g. i_only when no test patient keeps I
    cells = table3_cells(["basic_concat", "i_only"], ["all", "S"], MODALITIES)
    predictions = [good] * 4 + [empty] * 4
    audit = pd.DataFrame({"check": ["notes mention death"], "task": ["mortality_inhosp"], "modality": ["T"],
                          "leaks": [True]})
    table = table3(cells, predictions, labels, [split], [(0, 0)], audit, n_resamples=50)
    assert len(table) == 2 * 2 * 2 * 3 and table["leaked"].tolist() == [False, False, True] * 8
    assert table.loc[table["model"] == "basic_concat", "auc"].notna().all()
    assert table.loc[table["model"] == "i_only", ["auc", "n_test_patients"]].isna().all().all()
    assert (table.loc[table["model"] == "i_only", "n_runs"] == 0).all()
    markdown = table3_markdown(table, {"mortality_inhosp": ["notes mention death (T)"]}, 50)
    assert markdown.count("### ") == 2 and "| I only (patients with I) | S | – | – |" in markdown
    assert "† leaked: mortality_inhosp: notes mention death (T)" in markdown
    latex = table3_latex(table, {}, 50)
    assert latex.count(r"\begin{tabular}") == 2 and r"\textsuperscript{\dag}" in latex
