"""The scikit-learn references: what each one reads, how it treats missing modalities, and that the
train checkpoint predicts exactly what scikit-learn's fitted objects predict."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.metrics import task_metrics
from mmnar.model_input.inputs import RawInputs
from mmnar.models.registry import build_model, get, specs
from mmnar.models.sklearn_references import LOGREG_MAX_ITER, Reference
from mmnar.models.spec import ESTIMATOR, VECTOR
from mmnar.training.estimators import fit_estimator, probabilities
from mmnar.training.predict import predict, run_predict
from mmnar.training.trainer import fit
from mmnar.training.tuning import run_train

MODALITIES = ("S", "I", "T", "R")
DIMS = {"S": 6, "I": 8, "T": 5, "R": 3}
REFERENCES = ["logreg_s", "logreg_s_delta", "logreg_all", "hgb_s_delta", "hgb_all"]
TRAINING = {"num_threads": 1}
SMALL_HGB = {"max_iter": 30}


def small(name):
    return SMALL_HGB if name.startswith("hgb") else {}


def toy_problem(n=400, seed=0, label="s_and_image"):
    """S always observed (10 % of its entries NaN), I/T/R observed for ~60 %; zeros where missing, as
    build_delta writes them. ``label``: ``s_and_image`` (S's first feature, having I and I's first
    feature), or ``delta_t`` (only whether T was recorded: S is noise)."""
    rng = np.random.default_rng(seed)
    delta = (rng.random((n, len(MODALITIES))) < 0.6).astype(np.uint8)
    delta[:, 0] = 1
    vectors = {m: rng.normal(size=(n, d)).astype(np.float32) * delta[:, [k]] for k, (m, d) in enumerate(DIMS.items())}
    signal = vectors["S"][:, 0].astype(float)
    vectors["S"][rng.random((n, DIMS["S"])) < 0.1] = np.nan
    vectors["S"][:, 0] = signal
    if label == "delta_t":
        labels = np.stack([delta[:, 2].astype(float)] * len(DEFAULT_TASKS), axis=1)
    else:
        score = signal + 2.0 * delta[:, 1] + 1.5 * vectors["I"][:, 0]
        labels = np.stack([(score + 0.5 * rng.normal(size=n) > 1.0).astype(float) for _ in DEFAULT_TASKS], axis=1)
    labels[rng.random(n) < 0.1, 0] = np.nan  # undefined, e.g. readmission after an in-hospital death
    split = np.array(["train"] * (n // 2) + ["val"] * (n // 4) + ["test"] * (n - n // 2 - n // 4))
    return RawInputs(MODALITIES, delta, vectors), labels.astype(np.float32), split


def write_model_input(root, raw, labels):
    model_input = root / "model_input"
    model_input.mkdir()
    for m, x in raw.vectors.items():
        np.save(model_input / f"{m}.npy", x)
    np.save(model_input / "delta.npy", raw.delta)
    pd.DataFrame({"subject_id": np.arange(1000, 1000 + len(labels)),
                  **{t: labels[:, k] for k, t in enumerate(DEFAULT_TASKS)}}).to_parquet(model_input / "labels.parquet")
    return model_input


def write_split(root, split):
    path = root / "split.parquet"
    pd.DataFrame({"subject_id": np.arange(1000, 1000 + len(split))[::-1], "split": split[::-1]}).to_parquet(path)
    return path


def design(name, raw, result):
    return get(name).recipe().design(raw, result.design)


def test_references_are_registered_estimators_after_the_concatenation_baseline():
    names = list(specs())
    assert names[names.index("basic_concat") + 1:names.index("basic_concat") + 6] == REFERENCES
    for name in REFERENCES:
        spec = get(name)
        assert spec.kind == ESTIMATOR and spec.restrict_to is None
        assert isinstance(spec.recipe(), Reference)  # the registry's learner and inputs are the module's
        assert spec.schema()["properties"]  # own parameters, validated like every model's
    assert get("logreg_s").reads(MODALITIES, {}) == get("hgb_s_delta").reads(MODALITIES, {}) == {"S": VECTOR}
    assert get("logreg_all").reads((*MODALITIES, "D"), {}) == {m: VECTOR for m in (*MODALITIES, "D")}
    assert get("logreg_s").defaults() == {"C": 1.0} and get("logreg_all").defaults()["n_components"] == 16
    assert get("hgb_all").defaults() == {"max_iter": 100, "learning_rate": 0.1, "max_leaf_nodes": 31,
                                         "l2_regularization": 0.0, "early_stopping": False, "n_components": 16}
    with pytest.raises(TypeError, match="estimator"):
        build_model("logreg_s", None)
    raw, labels, split = toy_problem(n=40)
    with pytest.raises(TypeError, match="estimators"):
        fit(get("logreg_s"), None, {}, raw, labels, split, seed=0)


@pytest.mark.parametrize("name", ["logreg_s", "logreg_all"])
def test_logreg_is_sklearns_pipeline_fitted_on_the_training_rows_with_a_defined_label(name):
    raw, labels, split = toy_problem()
    result = fit_estimator(get(name), {"C": 0.3}, TRAINING, raw, labels, split, seed=0)
    x = design(name, raw, result)
    for t, task in enumerate(DEFAULT_TASKS):
        rows = (split == "train") & np.isfinite(labels[:, t])
        reference = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                              ("logreg", LogisticRegression(C=0.3, max_iter=LOGREG_MAX_ITER))]).fit(x[rows], labels[rows, t])
        state = result.classifiers[task]
        np.testing.assert_allclose(state["coef"], reference.named_steps["logreg"].coef_[0], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(state["intercept"], reference.named_steps["logreg"].intercept_, rtol=1e-10)
        np.testing.assert_allclose(probabilities(get(name), result.design, result.classifiers, raw)[:, t],
                                   reference.predict_proba(x)[:, 1], rtol=1e-10, atol=1e-12)
    if name == "logreg_all":  # the PCA of I: sklearn's, on the training patients who have I
        rows = (split == "train") & (raw.delta[:, 1] == 1)
        pca = PCA(n_components=DIMS["I"], svd_solver="full").fit(raw.vectors["I"][rows].astype(np.float64))  # 8 < 16
        np.testing.assert_allclose(result.design["pca:I"]["components"], pca.components_, atol=1e-10)
        np.testing.assert_allclose(result.design["pca:I"]["mean"], pca.mean_, atol=1e-10)
        assert x.shape[1] == DIMS["S"] + len(MODALITIES) + DIMS["I"] + DIMS["T"] + DIMS["R"]


@pytest.mark.parametrize("name", ["hgb_s_delta", "hgb_all"])
def test_exported_trees_predict_what_sklearn_predicts(name):
    raw, labels, split = toy_problem()
    result = fit_estimator(get(name), SMALL_HGB, TRAINING, raw, labels, split, seed=0)
    x = design(name, raw, result)
    assert np.isnan(x).any()  # S's unmeasured entries and the missing modalities' scores stay NaN
    p = probabilities(get(name), result.design, result.classifiers, raw)
    for t, task in enumerate(DEFAULT_TASKS):
        model = result.fitted[task]
        assert model.random_state == 0 and model.n_iter_ == SMALL_HGB["max_iter"]  # no early stopping by default
        np.testing.assert_allclose(p[:, t], model.predict_proba(x)[:, 1], rtol=1e-12, atol=1e-14)


def test_delta_models_read_the_observation_indicators():
    """Only whether T was recorded carries the label: the δ models find it, logreg on S cannot."""
    raw, labels, split = toy_problem(n=1200, label="delta_t")
    test = split == "test"
    auc = {}
    for name in ("logreg_s", "logreg_s_delta", "hgb_s_delta"):
        result = fit_estimator(get(name), small(name), TRAINING, raw, labels, split, seed=0)
        p = probabilities(get(name), result.design, result.classifiers, raw)
        auc[name] = task_metrics(labels[test, 2], p[test, 2])["auc"]
    assert auc["logreg_s_delta"] > 0.99 and auc["hgb_s_delta"] > 0.99
    assert abs(auc["logreg_s"] - 0.5) < 0.1, auc


@pytest.mark.parametrize("name", ["logreg_all", "hgb_all"])
def test_fitted_statistics_see_training_rows_only(name):
    raw, labels, split = toy_problem()
    before = fit_estimator(get(name), small(name), TRAINING, raw, labels, split, seed=0)

    def arrays(result):
        return {f"{k}/{key}": v for k, stats in {**result.design, **result.classifiers}.items() for key, v in stats.items()}

    changed = RawInputs(raw.modalities, raw.delta, {m: x.copy() for m, x in raw.vectors.items()})
    for rows in (split == "val", split == "test"):
        changed.vectors["S"][rows] = 1e3
        changed.vectors["I"][rows & (raw.delta[:, 1] == 1)] = -1e3
    after = arrays(fit_estimator(get(name), small(name), TRAINING, changed, labels, split, seed=0))
    assert all(np.array_equal(value, after[key]) for key, value in arrays(before).items())
    changed.vectors["I"][np.flatnonzero((split == "train") & (raw.delta[:, 1] == 1))[0]] = 50.0  # positive control
    moved = fit_estimator(get(name), small(name), TRAINING, changed, labels, split, seed=0)
    assert not np.array_equal(moved.design["pca:I"]["mean"], before.design["pca:I"]["mean"])
    if name == "logreg_all":
        assert not np.array_equal(moved.classifiers["icu_90d"]["median"], before.classifiers["icu_90d"]["median"])


@pytest.mark.parametrize("name, missing", [("logreg_all", 0.0), ("hgb_all", np.nan)])
def test_a_missing_modality_contributes_zeros_to_logreg_and_nan_to_boosting(name, missing):
    raw, labels, split = toy_problem()
    raw.delta[3, 0] = 0  # one patient without S
    result = fit_estimator(get(name), small(name), TRAINING, raw, labels, split, seed=0)
    x = design(name, raw, result)
    n_s = DIMS["S"]
    assert np.isnan(x[3, :n_s]).all()  # S removed: unmeasured (logreg: the training median; boosting: NaN)
    np.testing.assert_array_equal(x[:, n_s:n_s + len(MODALITIES)], raw.delta)
    start = n_s + len(MODALITIES)
    for k, m in enumerate(MODALITIES[1:], start=1):
        block = x[:, start:start + DIMS[m]]
        without = raw.delta[:, k] == 0
        np.testing.assert_array_equal(block[without], np.full_like(block[without], missing))
        assert np.isfinite(block[~without]).all() and (block[~without] != 0).all()
        start += DIMS[m]
    # What the array holds for a patient without the modality never reaches the prediction
    garbage = RawInputs(raw.modalities, raw.delta, {m: x.copy() for m, x in raw.vectors.items()})
    for k, m in enumerate(MODALITIES):
        garbage.vectors[m][raw.delta[:, k] == 0] = 7.0
    np.testing.assert_array_equal(probabilities(get(name), result.design, result.classifiers, raw),
                                  probabilities(get(name), result.design, result.classifiers, garbage))


def test_dropping_I_changes_exactly_the_predictions_of_patients_who_had_it(tmp_path):
    raw, labels, split = toy_problem()
    model_input, split_path = write_model_input(tmp_path, raw, labels), write_split(tmp_path, split)
    had_image = raw.delta[:, 1] == 1
    for name in ("logreg_s", "logreg_s_delta", "logreg_all", "hgb_all"):
        out = tmp_path / name
        run_train(name, model_input, split_path, out / "model.pt", out / "history.csv", small(name), TRAINING,
                  split_seed=0, init_seed=0)
        checkpoint = torch.load(out / "model.pt", weights_only=True)
        observed, _ = predict(checkpoint, model_input, "observed", 0)
        dropped, _ = predict(checkpoint, model_input, "drop_I", 0)
        changed = (observed.filter(like="p_").to_numpy() != dropped.filter(like="p_").to_numpy()).any(axis=1)
        assert not changed[~had_image].any(), name
        if name == "logreg_s":
            assert not changed.any()
        elif name.startswith("logreg"):
            assert changed[had_image].all(), name
        else:  # a tree ensemble may send a patient to the same leaves either way; here δ_I decides almost every tree
            assert changed[had_image].mean() > 0.95, changed[had_image].mean()


@pytest.mark.parametrize("name", REFERENCES)
def test_checkpoint_round_trip_gives_identical_predictions(tmp_path, name):
    raw, labels, split = toy_problem(n=200)
    model_input, split_path = write_model_input(tmp_path, raw, labels), write_split(tmp_path, split)
    out = tmp_path / "out"
    result = run_train(name, model_input, split_path, out / "model.pt", out / "history.csv", small(name), TRAINING,
                       split_seed=1, init_seed=2)
    assert sorted(p.name for p in out.iterdir()) == ["history.csv", "model.pt"]
    checkpoint = torch.load(out / "model.pt", weights_only=True)
    assert (checkpoint["model_name"], checkpoint["kind"], checkpoint["split_seed"], checkpoint["init_seed"]) == \
           (name, ESTIMATOR, 1, 2)
    run_predict([out / "model.pt"], model_input, [split_path], [out / "observed.parquet"], "observed", 0)
    predictions = pd.read_parquet(out / "observed.parquet")
    assert list(predictions.columns) == ["subject_id", "split"] + [f"p_{t}" for t in DEFAULT_TASKS]
    assert predictions["split"].tolist() == split.tolist()
    expected = probabilities(get(name), result.design, result.classifiers, raw)
    np.testing.assert_array_equal(predictions.filter(like="p_").to_numpy(), expected)
    x = design(name, raw, result)
    for t, task in enumerate(DEFAULT_TASKS):
        np.testing.assert_allclose(expected[:, t], result.fitted[task].predict_proba(x)[:, 1], rtol=1e-10, atol=1e-12)
        assert getattr(result.fitted[task], "random_state", None) == 2 or \
               result.fitted[task].named_steps["logreg"].random_state == 2
    history = pd.read_csv(out / "history.csv")
    assert history["task"].tolist() == list(DEFAULT_TASKS)
    assert history[["train_log_loss", "val_log_loss", "val_auc", "seconds"]].notna().all().all()
    assert history.loc[0, "n_train"] == int(((split == "train") & np.isfinite(labels[:, 0])).sum())


def test_boosting_early_stopping_monitors_the_validation_split():
    raw, labels, split = toy_problem()
    params = {"max_iter": 300, "learning_rate": 0.3, "early_stopping": True}
    result = fit_estimator(get("hgb_s_delta"), params, TRAINING, raw, labels, split, seed=0)
    for task, row in result.history.set_index("task").iterrows():
        model = result.fitted[task]
        assert model.n_iter_ < 300 and row["n_iter"] == model.n_iter_
        # sklearn's validation score (negative log-loss) is the history's log-loss on our val rows
        assert -model.validation_score_[-1] == pytest.approx(row["val_log_loss"], rel=1e-6)


def test_a_task_with_one_training_class_predicts_the_smoothed_training_rate():
    raw, labels, split = toy_problem(n=120)
    labels[:, 2] = 0.0
    result = fit_estimator(get("logreg_s_delta"), None, TRAINING, raw, labels, split, seed=0)
    p = probabilities(get("logreg_s_delta"), result.design, result.classifiers, raw)
    n_train = (split == "train").sum()
    np.testing.assert_allclose(p[:, 2], 0.5 / (n_train + 1))
    assert result.history["constant"].tolist() == [False, False, True] and result.fitted["mortality_inhosp"] is None


def test_logreg_all_reads_a_fifth_modality():
    raw, labels, split = toy_problem()
    rng = np.random.default_rng(1)
    observed = (rng.random(len(split)) < 0.5).astype(np.uint8)
    five = RawInputs((*MODALITIES, "D"), np.column_stack([raw.delta, observed]),
                     {**raw.vectors, "D": rng.normal(size=(len(split), 3)).astype(np.float32) * observed[:, None]})
    result = fit_estimator(get("logreg_all"), None, TRAINING, five, labels, split, seed=0)
    assert result.feature_names[-3:] == ["D:pc0", "D:pc1", "D:pc2"] and "delta:D" in result.feature_names
