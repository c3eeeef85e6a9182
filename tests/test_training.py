import numpy as np
import pandas as pd
import pytest
import torch

from mmnar import MODALITIES, TASKS
from mmnar.losses import masked_bce_with_logits
from mmnar.evaluation.metrics import task_metrics
from mmnar.training.trainer import apply_standardiser, fit_predict, fit_standardiser, run_train

DIMS = {"S": 6, "I": 5, "T": 4, "R": 3}
FAST = {"hidden_dim": 16, "n_heads": 2, "batch_size": 32, "max_epochs": 12, "patience": 5, "lr": 3e-3, "device": "cpu"}


def _toy_problem(n=240, seed=0):
    """Task labels are a clear function of the first structured feature; I/T/R partly missing."""
    rng = np.random.default_rng(seed)
    delta = (rng.random((n, 4)) < 0.6).astype(np.uint8)
    delta[:, 0] = 1
    arrays = {m: rng.normal(size=(n, d)).astype(np.float32) * delta[:, [k]] for k, (m, d) in enumerate(DIMS.items())}
    signal = arrays["S"][:, 0].astype(float)
    arrays["S"][rng.random((n, DIMS["S"])) < 0.1] = np.nan
    arrays["S"][:, 0] = signal  # keep the informative feature complete
    labels = np.stack([(signal + 0.3 * rng.normal(size=n) > 0).astype(float) for _ in TASKS], axis=1)
    labels[rng.random(n) < 0.1, 0] = np.nan  # undefined labels
    split = np.array(["train"] * (n // 2) + ["val"] * (n // 4) + ["test"] * (n - n // 2 - n // 4))
    return arrays, delta, labels, split


def test_standardiser_uses_only_observed_training_rows():
    arrays = {m: np.zeros((4, 1), dtype=np.float32) for m in MODALITIES}
    arrays["S"] = np.array([[1.0], [3.0], [np.nan], [1000.0]], dtype=np.float32)
    arrays["I"] = np.array([[2.0], [0.0], [4.0], [1000.0]], dtype=np.float32)
    delta = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 0, 0]], dtype=np.uint8)
    train = np.array([True, True, True, False])
    stats = fit_standardiser(arrays, delta, train)
    assert stats["S"]["mean"][0] == pytest.approx(2.0) and stats["S"]["scale"][0] == pytest.approx(1.0)
    assert stats["I"]["mean"][0] == pytest.approx(3.0)  # row 1 has no image; row 3 is not train
    standardised = apply_standardiser(arrays, delta, stats)
    assert standardised["S"][2, 0] == 0.0  # NaN -> train mean
    assert standardised["I"][1, 0] == 0.0  # missing modality -> train mean
    assert standardised["T"].tolist() == [[0.0]] * 4  # never observed: scale 1, stays zero


@pytest.mark.parametrize("name", ["crl_mmnar", "basic_concat"])
def test_trainer_learns_a_separable_toy_problem(name):
    arrays, delta, labels, split = _toy_problem()
    result = fit_predict(name, arrays, delta, labels, split, FAST, seed=0)
    test = split == "test"
    assert result.predictions.shape == (len(split), len(TASKS))
    for t in range(len(TASKS)):
        assert task_metrics(labels[test, t], result.predictions[test, t])["auc"] > 0.8
    assert {"epoch", "train_loss", "val_loss", "val_auc", "is_best"} <= set(result.history.columns)


def test_same_seed_gives_identical_predictions_and_other_seed_differs():
    arrays, delta, labels, split = _toy_problem(n=120)
    params = {**FAST, "max_epochs": 3}
    first = fit_predict("crl_mmnar", arrays, delta, labels, split, params, seed=3)
    second = fit_predict("crl_mmnar", arrays, delta, labels, split, params, seed=3)
    other = fit_predict("crl_mmnar", arrays, delta, labels, split, params, seed=4)
    np.testing.assert_array_equal(first.predictions, second.predictions)
    assert not np.array_equal(first.predictions, other.predictions)


def test_early_stopping_restores_best_epoch():
    arrays, delta, labels, split = _toy_problem(n=120)
    params = {**FAST, "max_epochs": 30, "patience": 2, "lr": 3e-2, "early_stopping": "val_loss"}
    result = fit_predict("basic_concat", arrays, delta, labels, split, params, seed=0)
    history = result.history
    best_epoch = history.loc[history["val_loss"].idxmin(), "epoch"]
    assert len(history) == best_epoch + 2  # stopped after `patience` epochs without improvement
    # the restored weights reproduce the best epoch's validation loss
    val = split == "val"
    p = torch.tensor(result.predictions[val]).clamp(1e-7, 1 - 1e-7)
    logits = torch.log(p / (1 - p))
    val_loss = masked_bce_with_logits(logits, torch.tensor(labels[val], dtype=torch.float32)).sum().item()
    assert val_loss == pytest.approx(history["val_loss"].min(), rel=1e-3)


def test_run_train_writes_contract_files(tmp_path):
    arrays, delta, labels, split = _toy_problem(n=80)
    model_input = tmp_path / "model_input"
    model_input.mkdir()
    for m, x in arrays.items():
        np.save(model_input / f"{m}.npy", x)
    np.save(model_input / "delta.npy", delta)
    subject_ids = np.arange(1000, 1080)
    pd.DataFrame({"subject_id": subject_ids, **{t: labels[:, k] for k, t in enumerate(TASKS)}}).to_parquet(model_input / "labels.parquet")
    split_path = tmp_path / "split.parquet"
    pd.DataFrame({"subject_id": subject_ids[::-1], "split": split[::-1]}).to_parquet(split_path)  # order differs on purpose

    out = tmp_path / "out"
    run_train("mmnar_fusion", model_input, split_path, out / "predictions.parquet", out / "model.pt", out / "history.csv", {**FAST, "max_epochs": 2}, seed=0)

    predictions = pd.read_parquet(out / "predictions.parquet")
    assert list(predictions.columns) == ["subject_id", "split"] + [f"p_{t}" for t in TASKS]
    assert predictions["subject_id"].tolist() == subject_ids.tolist()
    assert predictions["split"].tolist() == split.tolist()
    assert predictions.filter(like="p_").stack().between(0, 1).all()
    checkpoint = torch.load(out / "model.pt", weights_only=True)
    assert checkpoint["model_name"] == "mmnar_fusion" and "state_dict" in checkpoint and "S" in checkpoint["preprocessing"]
    assert len(pd.read_csv(out / "history.csv")) == 2
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "model.pt", "predictions.parquet"]  # no temp files left
