import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit
from sklearn.metrics import brier_score_loss, roc_auc_score

from mmnar.data.tasks import TASK_NAMES
from mmnar.rectifier import (DEFAULT_KAPPA_GRID, ESTIMATORS, PatternRectifier, between_pattern_variance, crossfit_on_evaluation_set,
                             estimate_offsets, miscalibration_p_value, run_rectify, shrink)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_crossfit_uses_the_other_folds_estimate(estimator):
    # Labels are built from the rectifier's own fold assignment: fold 0 all positive, fold 1 all
    # negative, so the in-fold bias is +0.5 / -0.5 and the other fold's is the opposite. Each
    # fold's residuals are constant (s2 = 0), so shrinkage keeps the other fold's bias whole.
    n, seed = 20, 7
    fold = np.empty(n, dtype=int)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % 2
    y = (fold == 0).astype(float)
    p = np.full(n, 0.5)
    rectifier = PatternRectifier(kappa_grid=(0.0,), n_folds=2, min_count=2, seed=seed, estimator=estimator).fit(
        y, p, np.zeros(n, dtype=int))
    np.testing.assert_array_equal(rectifier.crossfit_predictions_[fold == 0], 0.0)  # 0.5 + (-0.5)
    np.testing.assert_array_equal(rectifier.crossfit_predictions_[fold == 1], 1.0)  # 0.5 + 0.5
    assert rectifier.offsets_[0] == pytest.approx(0.0)  # full-data tau for new patients


def test_kappa_is_smallest_when_every_pattern_is_strongly_biased():
    rng = np.random.default_rng(1)
    pattern = np.repeat([0, 1, 2], 400)
    p = np.full(1200, 0.3)
    y = (rng.random(1200) < np.where(pattern == 1, 0.6, 0.05)).astype(float)  # biases +0.3 and -0.25
    rectifier = PatternRectifier(seed=0, estimator="paper").fit(y, p, pattern)
    assert rectifier.kappa_ == 0.0
    assert rectifier.offsets_[1] == pytest.approx(0.3, abs=0.06)
    assert rectifier.transform(np.array([0.3]), np.array([1]))[0] == pytest.approx(0.3 + rectifier.offsets_[1])


def test_kappa_filters_noise_patterns_but_keeps_the_biased_one():
    # Pattern 0 is badly calibrated; patterns 1..3 are calibrated up to sampling noise (|tau| ~ 0.01-0.03).
    rng = np.random.default_rng(0)
    pattern = np.repeat([0, 1, 2, 3], 300)
    p = rng.uniform(0.2, 0.6, 1200)
    truth = np.where(pattern == 0, p + 0.3, p)
    y = (rng.random(1200) < truth).astype(float)
    rectifier = PatternRectifier(seed=0, estimator="paper").fit(y, p, pattern)
    assert rectifier.kappa_ > 0.0
    assert rectifier.brier_by_kappa_[rectifier.kappa_] < rectifier.brier_by_kappa_[0.0]
    out = rectifier.transform(p, pattern)
    assert np.all(out[pattern == 0] > p[pattern == 0])
    assert rectifier.summary()["patterns"]["0"]["applied"] is True


def test_no_bias_leaves_predictions_unchanged():
    rng = np.random.default_rng(3)
    pattern = np.repeat([0, 1], 500)
    p = rng.uniform(0.1, 0.9, 1000)
    y = (rng.random(1000) < p).astype(float)
    rectifier = PatternRectifier(seed=0, estimator="paper").fit(y, p, pattern)
    np.testing.assert_array_equal(rectifier.transform(p, pattern), p)
    # Pattern 1's raw bias is +0.03 (noise); shrinkage keeps a fifth of it, the paper's kappa drops it.
    shrunk = PatternRectifier(seed=0).fit(y, p, pattern)
    assert abs(shrunk.estimate_.tau_hat[1]) > 0.025
    assert np.abs(shrunk.transform(p, pattern) - p).max() < 0.01


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_unseen_and_rare_patterns_are_unchanged_and_output_is_clipped(estimator):
    pattern = np.array([0] * 20 + [1] * 3)
    p = np.full(23, 0.9)
    y = np.ones(23)
    rectifier = PatternRectifier(kappa_grid=(0.0,), min_count=10, seed=0, estimator=estimator).fit(y, p, pattern)
    out = rectifier.transform(np.array([0.95, 0.9, 0.9]), np.array([0, 1, 99]))
    assert out[0] == 1.0  # 0.95 + 0.1 clipped
    assert out[1] == 0.9 and out[2] == 0.9  # rare (3 < 10) and unseen patterns untouched
    assert 1 not in rectifier.offsets_


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_nan_labels_are_ignored(estimator):
    pattern = np.zeros(30, dtype=int)
    p = np.full(30, 0.5)
    y = np.r_[np.ones(20), np.full(10, np.nan)]
    rectifier = PatternRectifier(kappa_grid=(0.0,), seed=0, estimator=estimator).fit(y, p, pattern)
    assert rectifier.offsets_[0] == pytest.approx(0.5)
    assert rectifier.counts_[0] == 20


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_crossfit_on_evaluation_set_returns_out_of_fold_predictions(estimator):
    rng = np.random.default_rng(0)
    pattern = np.repeat([0, 1], 50)
    p = np.full(100, 0.2)
    y = (rng.random(100) < 0.6).astype(float)
    y[0] = np.nan
    rectified, rectifier = crossfit_on_evaluation_set(y, p, pattern, kappa_grid=(0.0,), seed=0, estimator=estimator)
    assert not np.allclose(rectified[1:], p[1:])  # a +0.4 bias in both patterns
    np.testing.assert_array_equal(rectified[1:], rectifier.crossfit_predictions_[1:])
    assert rectified[0] == pytest.approx(rectifier.transform(p[:1], pattern[:1])[0])


def _write_stage_inputs(tmp_path, rng, n=600):
    subject_ids = np.arange(n)
    split = rng.choice(["train", "val", "test"], size=n, p=[0.5, 0.25, 0.25])
    pattern_id = rng.integers(0, 4, n)
    predictions = pd.DataFrame({"subject_id": subject_ids, "split": split})
    labels = pd.DataFrame({"subject_id": subject_ids, "pattern_id": pattern_id})
    for task in TASK_NAMES:
        p = rng.uniform(0.05, 0.5, n)
        predictions[f"p_{task}"] = p
        labels[task] = (rng.random(n) < p + 0.3 * (pattern_id == 2)).astype(float)
    labels.loc[rng.random(n) < 0.1, TASK_NAMES[0]] = np.nan
    predictions.to_parquet(tmp_path / "predictions.parquet")
    labels.to_parquet(tmp_path / "labels.parquet")
    return predictions, labels


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_validation_protocol_never_reads_test_labels(tmp_path, estimator):
    rng = np.random.default_rng(0)
    predictions, labels = _write_stage_inputs(tmp_path, rng)
    params = {"seed": 1, "estimator": estimator}
    run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "a.parquet", tmp_path / "a.json", params)

    test = predictions["split"].to_numpy() == "test"
    permuted = labels.copy()
    for task in TASK_NAMES:
        permuted.loc[test, task] = rng.permutation(permuted.loc[test, task].to_numpy())
        permuted.loc[test & (rng.random(len(test)) < 0.3), task] = 1 - permuted.loc[test, task].mean()
    permuted.to_parquet(tmp_path / "labels.parquet")
    run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "b.parquet", tmp_path / "b.json", params)

    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"))
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())
    out = pd.read_parquet(tmp_path / "a.parquet")
    assert list(out.columns) == list(predictions.columns)
    assert not np.allclose(out["p_icu_90d"], predictions["p_icu_90d"])  # the biased pattern was corrected


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_paper_protocol_changes_only_test_rows_and_uses_test_labels(tmp_path, estimator):
    rng = np.random.default_rng(0)
    predictions, _ = _write_stage_inputs(tmp_path, rng)
    out = run_rectify(
        tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "c.parquet", tmp_path / "c.json",
        {"seed": 1, "estimator": estimator}, protocol="paper_crossfit_test",
    )
    test = predictions["split"] == "test"
    pd.testing.assert_frame_equal(out[~test], predictions[~test])
    if estimator == "paper":  # (shrinkage leaves these ~40-patient test patterns alone: their noise hides the bias)
        assert not np.allclose(out.loc[test, "p_icu_90d"], predictions.loc[test, "p_icu_90d"])
    record = json.loads((tmp_path / "c.json").read_text())
    assert record["protocol"] == "paper_crossfit_test" and record["fit_split"] == "test" and record["estimator"] == estimator
    with pytest.raises(ValueError):
        run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "d.parquet", tmp_path / "d.json", protocol="test")


def test_run_rectify_records_the_estimator_and_every_shrinkage_quantity(tmp_path):
    rng = np.random.default_rng(0)
    _write_stage_inputs(tmp_path, rng)
    run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "e.parquet", tmp_path / "e.json")
    record = json.loads((tmp_path / "e.json").read_text())
    assert record["estimator"] == "shrunk" and record["params"]["estimator"] == "shrunk"
    task = record["tasks"]["icu_90d"]
    assert task["estimator"] == "shrunk" and task["kappa"] is None and task["between_pattern_variance"] > 0
    for fitted in task["patterns"].values():
        a, s2 = task["between_pattern_variance"], fitted["s2"]
        assert fitted["tau"] == pytest.approx(fitted["tau_raw"] * a / (a + s2))
    paper = run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "f.parquet", tmp_path / "f.json",
                        {"estimator": "paper"})
    task = json.loads((tmp_path / "f.json").read_text())["tasks"]["icu_90d"]
    assert task["estimator"] == "paper" and task["between_pattern_variance"] is None and task["kappa"] in DEFAULT_KAPPA_GRID
    assert all(f["tau"] == f["tau_raw"] for f in task["patterns"].values())
    assert not paper.equals(pd.read_parquet(tmp_path / "e.parquet"))
    with pytest.raises(ValueError, match="estimator"):
        run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "g.parquet", tmp_path / "g.json",
                    {"estimator": "james_stein"})



def test_shrinkage_formula_on_a_hand_computed_example():
    # Pattern 0: p = .5, y = 1,1,1,0  -> residuals .5,.5,.5,-.5: tau_hat = .25, var = .75/3 = .25, s2 = .25/4 = .0625
    # Pattern 1: p = .2,.4, y = 1,1    -> residuals .8,.6:         tau_hat = .7,  var = .02/1 = .02,  s2 = .02/2 = .01
    # Pattern 2: p = .5, y = 0,0,0,0,1 -> residuals -.5 x4, .5:    tau_hat = -.3, var = .8/4 = .2,    s2 = .2/5 = .04
    # Pattern 3: one patient, below min_count = 2: tau = 0, and it takes no part in A.
    # A = (4 * (.0625 - .0625) + 2 * (.49 - .01) + 5 * (.09 - .04)) / (4 + 2 + 5) = 1.21 / 11 = .11
    pattern = np.array([0] * 4 + [1] * 2 + [2] * 5 + [3])
    p = np.array([.5] * 4 + [.2, .4] + [.5] * 5 + [.5])
    y = np.array([1, 1, 1, 0] + [1, 1] + [0, 0, 0, 0, 1] + [1], dtype=float)
    rectifier = PatternRectifier(min_count=2, seed=0).fit(y, p, pattern)
    estimate = rectifier.estimate_
    np.testing.assert_array_equal(estimate.values, [0, 1, 2])
    np.testing.assert_array_equal(estimate.n, [4, 2, 5])
    np.testing.assert_allclose(estimate.tau_hat, [0.25, 0.7, -0.3])
    np.testing.assert_allclose(estimate.s2, [0.0625, 0.01, 0.04])
    assert estimate.between_variance == pytest.approx(0.11)
    expected = {0: 0.25 * 0.11 / (0.11 + 0.0625), 1: 0.7 * 0.11 / (0.11 + 0.01), 2: -0.3 * 0.11 / (0.11 + 0.04)}
    assert rectifier.offsets_ == pytest.approx(expected)
    assert expected[2] == pytest.approx(-0.22)
    out = rectifier.transform(np.full(4, 0.3), np.array([0, 1, 2, 3]))
    np.testing.assert_allclose(out, [0.3 + expected[0], 0.3 + expected[1], 0.08, 0.3])
    assert rectifier.summary()["patterns"]["3"] == {"n": 1, "tau_raw": None, "s2": None, "tau": None, "applied": False}
    # The pieces, on their own: A is cut at 0, and A = 0 silences every pattern.
    assert between_pattern_variance(np.array([0.01, -0.01]), np.array([0.001, 0.002]), np.array([5, 5])) == 0.0
    np.testing.assert_array_equal(shrink(np.array([0.3, -0.2]), np.array([0.01, 0.0]), 0.0), [0.0, 0.0])
    assert estimate_offsets(np.array([0.5, 0.5, -0.5]), np.array([0, 0, 1]), "paper").tau[1] == -0.5  # n = 1: no s2 needed


PATTERN_SHARES = np.array([0.35, 0.25, 0.15, 0.12, 0.08, 0.05])  # six patterns of unequal size


def _cohort(rng, n, shift):
    """True probabilities p (the model's predictions) and labels; pattern 0's true rate is p + shift."""
    pattern = rng.choice(len(PATTERN_SHARES), n, p=PATTERN_SHARES)
    p = expit(rng.normal(-1.4, 1.0, n))
    y = (rng.random(n) < np.clip(p + shift * (pattern == 0), 0, 1)).astype(float)
    return y, p, pattern


def _changes(shift, draws=100, n=2000):
    """Mean change of evaluation AUC and Brier, per estimator, fitting on one cohort and scoring another."""
    changes = {estimator: [] for estimator in ESTIMATORS}
    for draw in range(draws):
        rng = np.random.default_rng(draw)
        (y_fit, p_fit, g_fit), (y_eval, p_eval, g_eval) = _cohort(rng, n, shift), _cohort(rng, n, shift)
        auc, brier = roc_auc_score(y_eval, p_eval), brier_score_loss(y_eval, p_eval)
        for estimator in ESTIMATORS:
            rectified = PatternRectifier(seed=draw, estimator=estimator).fit(y_fit, p_fit, g_fit).transform(p_eval, g_eval)
            changes[estimator].append((roc_auc_score(y_eval, rectified) - auc, brier_score_loss(y_eval, rectified) - brier))
    return {estimator: np.mean(values, axis=0) for estimator, values in changes.items()}


def test_shrunk_rectifier_does_no_harm_when_there_is_nothing_to_correct():
    changes = _changes(shift=0.0)
    auc_shrunk, brier_shrunk = changes["shrunk"]
    auc_paper, brier_paper = changes["paper"]
    assert auc_shrunk >= -0.002 and brier_shrunk <= 0.0005
    assert auc_paper < auc_shrunk - 0.0005 and brier_paper > brier_shrunk  # the paper estimator corrects noise


def test_shrunk_rectifier_still_corrects_a_real_bias():
    auc_shrunk, brier_shrunk = _changes(shift=0.08)["shrunk"]
    assert brier_shrunk < -0.001 and auc_shrunk > 0


def test_shrinkage_corrects_nothing_unless_the_patterns_are_miscalibrated_together():
    # A sweep run's validation fit (ICU, MNAR without a hidden component): A > 0 by chance, but
    # Q = sum tau_hat^2 / s2 = 9.5 on 6 patterns (p = 0.15): no evidence of any pattern bias.
    tau_hat = np.array([-0.026, -0.026, -0.053, 0.077, 0.008, 0.095])
    s2 = np.array([0.00015, 0.00101, 0.00373, 0.01428, 0.00179, 0.00287])
    q = np.sum(tau_hat**2 / s2)
    assert miscalibration_p_value(tau_hat, s2) == pytest.approx(stats.chi2.sf(q, 6)) == pytest.approx(0.148, abs=0.005)
    assert between_pattern_variance(tau_hat, s2, np.array([82, 47, 15, 12, 38, 60])) > 0   # the weights were the sizes
    # One pattern five standard errors off is evidence enough.
    assert miscalibration_p_value(np.r_[tau_hat[:5], 0.27], s2) < 0.001
    assert miscalibration_p_value(np.array([0.1, 0.0]), np.array([0.0, 0.0])) == 0.0   # s2 = 0: certain
    assert miscalibration_p_value(np.array([0.0]), np.array([0.0])) == 1.0
