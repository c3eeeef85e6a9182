"""The shared trainer, its preprocessing, the train checkpoint and the predict stage."""

import numpy as np
import pandas as pd
import pytest
import torch

from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.metrics import task_metrics
from mmnar.models.losses import masked_bce_with_logits
from mmnar.model_input.inputs import RawInputs
from mmnar.model_input.series import apply_series, fit_series, forward_fill, time_since_last
from mmnar.models.registry import get
from mmnar.training.predict import apply_scenario, parse_scenario, predict, run_predict
from mmnar.training.trainer import fit, fit_preprocessing, model_inputs, predict_logits
from mmnar.training.tuning import run_train

MODALITIES = ("S", "I", "T", "R")
DIMS = {"S": 6, "I": 5, "T": 4, "R": 3}
STEPS, FEATURES = 8, 2
FAST = {"batch_size": 32, "max_epochs": 12, "patience": 5, "lr": 3e-3, "device": "cpu"}
SMALL = {"hidden_dim": 16, "n_heads": 2}


def small(name):
    return {k: v for k, v in SMALL.items() if k in get(name).params}


def toy_problem(n=240, seed=0):
    """Labels are a clear function of the first structured feature (vector and series); I/T/R partly missing."""
    rng = np.random.default_rng(seed)
    delta = (rng.random((n, 4)) < 0.6).astype(np.uint8)
    delta[:, 0] = 1
    vectors = {m: rng.normal(size=(n, d)).astype(np.float32) * delta[:, [k]] for k, (m, d) in enumerate(DIMS.items())}
    signal = vectors["S"][:, 0].astype(float)
    vectors["S"][rng.random((n, DIMS["S"])) < 0.1] = np.nan
    vectors["S"][:, 0] = signal  # keep the informative feature complete
    series = rng.normal(size=(n, STEPS, FEATURES)).astype(np.float32)
    series[:, :, 0] += signal[:, None].astype(np.float32)
    series[rng.random(series.shape) < 0.5] = np.nan
    labels = np.stack([(signal + 0.3 * rng.normal(size=n) > 0).astype(float) for _ in DEFAULT_TASKS], axis=1)
    labels[rng.random(n) < 0.1, 0] = np.nan  # undefined labels
    split = np.array(["train"] * (n // 2) + ["val"] * (n // 4) + ["test"] * (n - n // 2 - n // 4))
    return RawInputs(MODALITIES, delta, vectors, {"S": series}), labels.astype(np.float32), split


def test_preprocessing_uses_only_observed_training_rows():
    vectors = {m: np.zeros((4, 1), dtype=np.float32) for m in MODALITIES}
    vectors["S"] = np.array([[1.0], [3.0], [np.nan], [1000.0]], dtype=np.float32)
    vectors["I"] = np.array([[2.0], [0.0], [4.0], [1000.0]], dtype=np.float32)
    delta = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=np.uint8)
    raw = RawInputs(MODALITIES, delta, vectors)
    reads = {m: "vector" for m in MODALITIES}
    stats = fit_preprocessing(raw, reads, np.array([True, True, True, False]))
    assert stats["S:vector"]["mean"][0] == pytest.approx(2.0) and stats["S:vector"]["scale"][0] == pytest.approx(1.0)
    assert stats["I:vector"]["mean"][0] == pytest.approx(3.0)  # row 1 has no image; row 3 is not train
    inputs = model_inputs(raw, reads, stats)
    assert inputs.vectors["S"][2, 0] == 0.0  # NaN -> train mean
    assert inputs.vectors["I"][1, 0] == 0.0  # missing modality -> train mean
    assert inputs.vectors["T"].tolist() == [[0.0]] * 4  # never observed: scale 1, stays zero


def test_series_forward_fill_median_robust_scale_and_time_since_last():
    nan = np.nan
    values = np.array([[[nan], [2.0], [nan], [nan], [6.0]],
                       [[4.0], [nan], [nan], [nan], [nan]],
                       [[1000.0], [1000.0], [nan], [nan], [nan]]], dtype=np.float32)
    stats = fit_series(values, np.array([True, True, False]))  # the third patient is not training data
    assert stats["median"][0] == pytest.approx(4.0)  # of 2, 6, 4
    assert stats["scale"][0] == pytest.approx(2.0)  # IQR of 2, 4, 6
    assert stats["mean"][0] == pytest.approx(0.0)
    np.testing.assert_array_equal(forward_fill(values)[0, :, 0], [nan, 2, 2, 2, 6])
    prepared = apply_series(values, stats)
    np.testing.assert_allclose(prepared["values"][0, :, 0], [0.0, -1.0, -1.0, -1.0, 1.0])  # median before the first
    np.testing.assert_array_equal(prepared["mask"][0, :, 0], [0, 1, 0, 0, 1])
    np.testing.assert_array_equal(time_since_last(prepared["mask"])[0, :, 0], [0, 1, 1, 2, 3])


@pytest.mark.parametrize("name", ["crl_mmnar", "basic_concat", "grud"])
def test_trainer_learns_a_separable_toy_problem(name):
    raw, labels, split = toy_problem()
    result = fit(get(name), small(name), FAST, raw, labels, split, seed=0)
    reads = get(name).reads(MODALITIES, get(name).resolve(small(name)))
    inputs = model_inputs(raw, reads, result.preprocessing)
    p = torch.sigmoid(predict_logits(result.model, inputs, torch.arange(len(split)))).numpy()
    test = split == "test"
    for t in range(len(DEFAULT_TASKS)):
        assert task_metrics(labels[test, t], p[test, t])["auc"] > 0.8
    assert {"epoch", "train_loss", "val_loss", "val_auc", "is_best"} <= set(result.history.columns)


def test_same_seed_gives_identical_weights_and_other_seed_differs():
    raw, labels, split = toy_problem(n=120)
    params = {**FAST, "max_epochs": 3}
    runs = [fit(get("crl_mmnar"), SMALL, params, raw, labels, split, seed=s).model.state_dict() for s in (3, 3, 4)]
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_early_stopping_restores_best_epoch():
    raw, labels, split = toy_problem(n=120)
    params = {**FAST, "max_epochs": 30, "patience": 2, "lr": 3e-2, "early_stopping": "val_loss"}
    result = fit(get("basic_concat"), small("basic_concat"), params, raw, labels, split, seed=0)
    history = result.history
    best_epoch = history.loc[history["val_loss"].idxmin(), "epoch"]
    assert len(history) == best_epoch + 2  # stopped after `patience` epochs without improvement
    inputs = model_inputs(raw, {m: "vector" for m in MODALITIES}, result.preprocessing)
    val = np.flatnonzero(split == "val")
    logits = predict_logits(result.model, inputs, torch.from_numpy(val))
    val_loss = masked_bce_with_logits(logits, torch.from_numpy(labels[val])).sum().item()
    assert val_loss == pytest.approx(history["val_loss"].min(), rel=1e-4)  # the restored weights are the best epoch's


def test_single_modality_reference_trains_and_predicts_only_where_its_modality_is(tmp_path):
    raw, labels, split = toy_problem(n=160)
    model_input = write_model_input(tmp_path, raw, labels)
    split_path = write_split(tmp_path, split)
    run_train("i_only", model_input, split_path, tmp_path / "model.pt", tmp_path / "history.csv",
              small("i_only"), {**FAST, "max_epochs": 2}, split_seed=0, init_seed=0)
    frame, _ = predict(torch.load(tmp_path / "model.pt", weights_only=True), model_input, "observed", 0)
    has_image = raw.delta[:, 1] == 1
    assert frame.loc[has_image, "p_readmit_30d"].notna().all() and frame.loc[~has_image, "p_readmit_30d"].isna().all()


def write_model_input(root, raw, labels):
    model_input = root / "model_input"
    model_input.mkdir()
    for m, x in raw.vectors.items():
        np.save(model_input / f"{m}.npy", x)
    np.save(model_input / "S_series.npy", raw.series["S"])
    np.save(model_input / "delta.npy", raw.delta)
    subject_ids = np.arange(1000, 1000 + len(labels))
    pd.DataFrame({"subject_id": subject_ids, **{t: labels[:, k] for k, t in enumerate(DEFAULT_TASKS)}}).to_parquet(
        model_input / "labels.parquet")
    return model_input


def write_split(root, split):
    subject_ids = np.arange(1000, 1000 + len(split))
    path = root / "split.parquet"
    pd.DataFrame({"subject_id": subject_ids[::-1], "split": split[::-1]}).to_parquet(path)  # order differs on purpose
    return path


@pytest.mark.parametrize("name", ["mmnar_fusion", "medfuse"])
def test_train_checkpoint_predicts_what_the_trained_model_predicts(tmp_path, name):
    raw, labels, split = toy_problem(n=80)
    model_input, split_path = write_model_input(tmp_path, raw, labels), write_split(tmp_path, split)
    out = tmp_path / "out"
    result = run_train(name, model_input, split_path, out / "model.pt", out / "history.csv", small(name),
                       {**FAST, "max_epochs": 2}, split_seed=0, init_seed=0)
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "model.pt"]  # no temp files left
    checkpoint = torch.load(out / "model.pt", weights_only=True)
    assert checkpoint["model_name"] == name and (checkpoint["split_seed"], checkpoint["init_seed"]) == (0, 0)

    run_predict([out / "model.pt"], model_input, [split_path], [out / "observed.parquet"], "observed", 0)
    predictions = pd.read_parquet(out / "observed.parquet")
    assert list(predictions.columns) == ["subject_id", "split"] + [f"p_{t}" for t in DEFAULT_TASKS]
    assert predictions["split"].tolist() == split.tolist()
    reads = get(name).reads(MODALITIES, get(name).resolve(small(name)))
    expected = torch.sigmoid(predict_logits(result.model, model_inputs(raw, reads, result.preprocessing),
                                            torch.arange(len(split)))).numpy()
    np.testing.assert_allclose(predictions.filter(like="p_").to_numpy(), expected, rtol=1e-5, atol=1e-6)


def test_scenarios_drop_a_modality_for_all_or_a_seeded_fraction():
    raw, _, _ = toy_problem(n=200)
    have = raw.delta[:, 1] == 1
    assert parse_scenario("observed", MODALITIES).modality is None
    dropped = apply_scenario(raw, parse_scenario("drop_I", MODALITIES), seed=0)
    assert dropped.delta[:, 1].sum() == 0 and np.array_equal(dropped.delta[:, [0, 2, 3]], raw.delta[:, [0, 2, 3]])
    half = apply_scenario(raw, parse_scenario("drop_I_0.5", MODALITIES), seed=0)
    assert half.delta[:, 1].sum() == round(0.5 * have.sum()) and not (half.delta[:, 1] > raw.delta[:, 1]).any()
    again = apply_scenario(raw, parse_scenario("drop_I_0.5", MODALITIES), seed=0)
    assert np.array_equal(half.delta, again.delta)
    assert raw.delta[:, 1].sum() == have.sum()  # the input is not modified
    for bad in ("drop_X", "drop_I_1.5", "drop_I_0", "shuffle_I"):
        with pytest.raises(ValueError, match="unknown scenario"):
            parse_scenario(bad, MODALITIES)


def test_dropping_a_modality_changes_only_the_patients_who_had_it(tmp_path):
    raw, labels, split = toy_problem(n=80)
    model_input, split_path = write_model_input(tmp_path, raw, labels), write_split(tmp_path, split)
    run_train("crl_mmnar", model_input, split_path, tmp_path / "model.pt", tmp_path / "history.csv", SMALL,
              {**FAST, "max_epochs": 2}, split_seed=0, init_seed=0)
    checkpoint = torch.load(tmp_path / "model.pt", weights_only=True)
    observed, _ = predict(checkpoint, model_input, "observed", 0)
    without_image, _ = predict(checkpoint, model_input, "drop_I", 0)
    changed = ~np.isclose(observed["p_readmit_30d"], without_image["p_readmit_30d"])
    assert changed[raw.delta[:, 1] == 1].all() and not changed[raw.delta[:, 1] == 0].any()


def test_an_unknown_trainer_setting_is_an_error():
    raw, labels, split = toy_problem(n=40)
    with pytest.raises(KeyError, match="max_epoch"):
        fit(get("basic_concat"), None, {"max_epoch": 3}, raw, labels, split, seed=0)
