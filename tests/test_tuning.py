"""Tuning in the train stage: what is searched, trial 0 is the defaults, the kept model is the best on
validation, test labels never matter, and the same seed gives the same search."""
import numpy as np
import pandas as pd
import pytest
import torch

from mmnar.models.registry import get
from mmnar.reporting.tuning import tuning_table
from mmnar.training.tuning import TRAINER_SEARCH, run_train, search_space, tune
from test_model_sklearn_references import toy_problem, write_model_input, write_split

TRAINING = {"num_threads": 1}


def names(dims):
    return {f"{d.group}.{d.name}" for d in dims}


def test_search_space_skips_what_the_config_fixes_and_adds_the_trainer_for_networks():
    assert names(search_space(get("logreg_s"), {})) == {"model.C"}
    assert names(search_space(get("logreg_s"), {"C": 0.5})) == set()
    crl = names(search_space(get("crl_mmnar"), {"hidden_dim": 16}))
    assert "model.hidden_dim" not in crl and {"model.dropout", "model.lambda_rec"} <= crl
    assert {f"training.{k}" for k in TRAINER_SEARCH} <= crl
    assert not any(n.startswith("training.") for n in names(search_space(get("hgb_all"), {})))


def test_trial_zero_is_the_defaults_and_the_kept_trial_has_the_best_validation_score():
    raw, labels, split = toy_problem(n=300)
    best, table = tune(get("logreg_s_delta"), {}, TRAINING, {"n_trials": 6, "seed": 0}, raw, labels, split, 0, 0)
    assert len(table) == 6 and table.loc[0, "model.C"] == 1.0
    assert table["model.C"].nunique() == 6
    assert table.loc[table["chosen"], "trial"].item() == best.number == table["score"].idxmin()
    assert best.model_params["C"] == table.loc[best.number, "model.C"]


def test_test_labels_never_change_the_search():
    raw, labels, split = toy_problem(n=300)
    shuffled = labels.copy()
    test = split == "test"
    shuffled[test] = np.random.default_rng(1).permutation(labels[test])
    tuning = {"n_trials": 4, "seed": 3}
    _, first = tune(get("hgb_s_delta"), {"max_iter": 20}, TRAINING, tuning, raw, labels, split, 0, 0)
    _, second = tune(get("hgb_s_delta"), {"max_iter": 20}, TRAINING, tuning, raw, shuffled, split, 0, 0)
    pd.testing.assert_frame_equal(first.drop(columns="seconds"), second.drop(columns="seconds"))


def test_same_seed_same_search_other_seed_other_search():
    raw, labels, split = toy_problem(n=300)
    run = lambda seed, init: tune(get("logreg_s"), {}, TRAINING, {"n_trials": 3, "seed": seed}, raw, labels, split,
                                  0, init)[1]["model.C"].tolist()
    assert run(0, 0) == run(0, 0)
    assert run(0, 0) != run(1, 0) and run(0, 0) != run(0, 1)


def test_one_trial_is_the_untuned_model():
    raw, labels, split = toy_problem(n=300)
    best, table = tune(get("logreg_s"), {}, TRAINING, {"n_trials": 1, "seed": 0}, raw, labels, split, 0, 0)
    assert len(table) == 1 and best.model_params["C"] == 1.0


def test_a_network_searches_the_trainer_too_and_keeps_the_chosen_settings(tmp_path):
    raw, labels, split = toy_problem(n=200)
    model_input, split_path = write_model_input(tmp_path, raw, labels), write_split(tmp_path, split)
    out = tmp_path / "out"
    run_train("basic_concat", model_input, split_path, out / "model.pt", out / "history.csv", {"hidden_dim": 8},
              {"num_threads": 1, "max_epochs": 2, "patience": 1}, split_seed=0, init_seed=0,
              tuning={"n_trials": 3, "seed": 0}, tuning_out=out / "tuning.csv")
    trials = pd.read_csv(out / "tuning.csv")
    assert len(trials) == 3 and trials.loc[0, "training.lr"] == pytest.approx(2e-4)
    chosen = trials[trials["chosen"]].iloc[0]
    checkpoint = torch.load(out / "model.pt", weights_only=True)
    assert checkpoint["model_params"]["dropout"] == pytest.approx(chosen["model.dropout"])
    assert checkpoint["model_params"]["hidden_dim"] == 8
    assert checkpoint["training"]["lr"] == pytest.approx(chosen["training.lr"])
    summary = tuning_table([out / "tuning.csv"], [["basic_concat", 0, 0]])
    assert summary.loc[0, "n_trials"] == 3 and summary.loc[0, "chosen_trial"] == chosen["trial"]
    assert summary.loc[0, "validation_score"] <= summary.loc[0, "default_score"]
