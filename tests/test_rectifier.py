import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import expit
from sklearn.metrics import brier_score_loss, roc_auc_score

from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.rectifier import (DEFAULT_KAPPA_GRID, ESTIMATORS, PatternRectifier, between_pattern_variance, crossfit_on_evaluation_set,
                             estimate_offsets, log_loss, miscalibration_p_value, pattern_moments, run_rectify, shrink)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_crossfit_uses_the_other_folds_estimate(estimator):
    # Labels are built from the rectifier's own fold assignment: fold 0 all positive, fold 1 all
    # negative, so the in-fold bias is +0.5 / -0.5 and the other fold's is the opposite. The paper
    # estimator adds the other fold's bias whole; shrinkage keeps A / (A + s2) of it, with
    # s2 = 0.5 * 0.5 / 10 (the calibrated-model floor: each fold's residuals are constant) and
    # A = 0.5**2 - s2.
    n, seed = 20, 7
    fold = np.empty(n, dtype=int)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % 2
    y = (fold == 0).astype(float)
    p = np.full(n, 0.5)
    rectifier = PatternRectifier(kappa_grid=(0.0,), n_folds=2, min_count=2, seed=seed, estimator=estimator).fit(
        y, p, np.zeros(n, dtype=int))
    s2 = 0.025
    kept = 1.0 if estimator == "paper" else (0.25 - s2) / 0.25
    np.testing.assert_allclose(rectifier.crossfit_predictions_[fold == 0], 0.5 - 0.5 * kept)
    np.testing.assert_allclose(rectifier.crossfit_predictions_[fold == 1], 0.5 + 0.5 * kept)
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
    # Pattern 1's raw bias is +0.03 (noise); the paper's kappa drops it, and for shrunk the Q gate does not fire.
    shrunk = PatternRectifier(seed=0).fit(y, p, pattern)
    assert abs(shrunk.estimate_.tau_hat[1]) > 0.025
    np.testing.assert_array_equal(shrunk.transform(p, pattern), p)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_unseen_and_rare_patterns_are_unchanged_and_output_is_clipped(estimator):
    pattern = np.array([0] * 20 + [1] * 3)
    p = np.full(23, 0.8)
    y = np.ones(23)
    rectifier = PatternRectifier(kappa_grid=(0.0,), min_count=10, seed=0, estimator=estimator).fit(y, p, pattern)
    out = rectifier.transform(np.array([0.95, 0.9, 0.9]), np.array([0, 1, 99]))
    assert out[0] == 1.0  # 0.95 + (0.2, shrunk: 0.16) clipped
    assert out[1] == 0.9 and out[2] == 0.9  # rare (3 < 10) and unseen patterns untouched
    assert 1 not in rectifier.offsets_


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_nan_labels_are_ignored(estimator):
    pattern = np.zeros(30, dtype=int)
    p = np.full(30, 0.5)
    y = np.r_[np.ones(20), np.full(10, np.nan)]
    rectifier = PatternRectifier(kappa_grid=(0.0,), seed=0, estimator=estimator).fit(y, p, pattern)
    # 20 labelled: tau_hat = 0.5; shrunk keeps A / (A + s2), s2 = 0.25 / 20, A = 0.25 - s2
    assert rectifier.offsets_[0] == pytest.approx(0.5 if estimator == "paper" else 0.5 * (0.25 - 0.0125) / 0.25)
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
    for task in DEFAULT_TASKS:
        p = rng.uniform(0.05, 0.5, n)
        predictions[f"p_{task}"] = p
        labels[task] = (rng.random(n) < p + 0.3 * (pattern_id == 2)).astype(float)
    labels.loc[rng.random(n) < 0.1, DEFAULT_TASKS[0]] = np.nan
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
    for task in DEFAULT_TASKS:
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
    # s2 = max(residual variance, mean p(1 - p)) / n:
    # Pattern 0: p = .5, y = 1,1,1,0  -> residuals .5,.5,.5,-.5: tau_hat = .25, var = .75/3 = .25 (= .5 * .5), s2 = .25/4 = .0625
    # Pattern 1: p = .1,.1, y = 1,1    -> residuals .9,.9: tau_hat = .9, var = 0 < .1 * .9 = .09: s2 = .09/2 = .045
    # Pattern 2: p = .5, y = 0,0,0,0,1 -> residuals -.5 x4, .5: tau_hat = -.3, var = .8/4 = .2 < .25: s2 = .25/5 = .05
    # Pattern 3: one patient, below min_count = 2: tau = 0, and it takes no part in A.
    # Q = .25**2/.0625 + .9**2/.045 + .3**2/.05 = 1 + 18 + 1.8 on 3 df (p < .001): the gate fires.
    # A = (4 * (.0625 - .0625) + 2 * (.81 - .045) + 5 * (.09 - .05)) / (4 + 2 + 5) = 1.73 / 11
    pattern = np.array([0] * 4 + [1] * 2 + [2] * 5 + [3])
    p = np.array([.5] * 4 + [.1, .1] + [.5] * 5 + [.5])
    y = np.array([1, 1, 1, 0] + [1, 1] + [0, 0, 0, 0, 1] + [1], dtype=float)
    rectifier = PatternRectifier(min_count=2, seed=0, heldout_check=False).fit(y, p, pattern)  # the formula, not the check
    estimate = rectifier.estimate_
    np.testing.assert_array_equal(estimate.values, [0, 1, 2])
    np.testing.assert_array_equal(estimate.n, [4, 2, 5])
    np.testing.assert_allclose(estimate.tau_hat, [0.25, 0.9, -0.3])
    np.testing.assert_allclose(estimate.s2, [0.0625, 0.045, 0.05])
    a = 1.73 / 11
    assert estimate.between_variance == pytest.approx(a)
    expected = {0: 0.25 * a / (a + 0.0625), 1: 0.9 * a / (a + 0.045), 2: -0.3 * a / (a + 0.05)}
    assert rectifier.offsets_ == pytest.approx(expected)
    out = rectifier.transform(np.full(4, 0.3), np.array([0, 1, 2, 3]))
    np.testing.assert_allclose(out, [0.3 + expected[0], 0.3 + expected[1], 0.3 + expected[2], 0.3])
    assert rectifier.summary()["patterns"]["3"] == {"n": 1, "tau_raw": None, "s2": None, "tau": None, "applied": False}
    # The pieces, on their own: A is cut at 0, and A = 0 silences every pattern.
    assert between_pattern_variance(np.array([0.01, -0.01]), np.array([0.001, 0.002]), np.array([5, 5])) == 0.0
    np.testing.assert_array_equal(shrink(np.array([0.3, -0.2]), np.array([0.01, 0.0]), 0.0), [0.0, 0.0])
    assert estimate_offsets(np.array([0.5, 0.5, -0.5]), np.array([0, 0, 1]), np.full(3, 0.25), "paper").tau[1] == -0.5  # n = 1: no s2 needed


def test_a_pattern_without_events_keeps_the_standard_error_of_a_calibrated_model():
    # 30 patients at p = 0.06, 0.07, 0.08 and no event: the residuals -p barely vary (empirical s2 about
    # 7e-7), but a calibrated model sees no event among 30 such patients about one time in nine.
    p = np.tile([0.06, 0.07, 0.08], 10)
    _, n, tau_hat, s2 = pattern_moments(-p, np.zeros(30, dtype=int), p * (1 - p))
    assert n[0] == 30 and tau_hat[0] == pytest.approx(-0.07)
    assert s2[0] == pytest.approx(np.mean(p * (1 - p)) / 30)
    assert miscalibration_p_value(tau_hat, s2) == pytest.approx(stats.chi2.sf(0.07**2 / s2[0], 1))
    assert miscalibration_p_value(tau_hat, s2) > 0.1


def test_calibrated_predictions_of_a_rare_outcome_are_left_unchanged():
    # A sweep fold's validation split: 264 patients, about 7 % positive (20 events) over 8 patterns,
    # labels drawn from the predictions. Patterns without events looked certain to Cochran's test
    # under the empirical standard error, and the held-out check let about 4 % of such draws through
    # (benchmarks/rectifier_no_harm.py, setting rare_no_bias); each cost about 0.04 test AUC.
    applied = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        pattern = rng.choice(len(EIGHT_SHARES), 264, p=EIGHT_SHARES)
        p = expit(rng.normal(-2.8, 1.0, 264))
        y = (rng.random(264) < p).astype(float)
        applied += PatternRectifier(seed=seed).fit(y, p, pattern).summary()["applied"]
    assert applied <= 1


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


# --- held-out check of the shrunk estimator (issue: do no harm when there is nothing to correct) ---

EIGHT_SHARES = np.array([0.30, 0.20, 0.15, 0.12, 0.09, 0.07, 0.04, 0.03])  # the 2^3 I/T/R patterns, unequal sizes


def _logit_cohort(rng, n, offset=0.0):
    """Predictions p = true probabilities except pattern 0, whose true logit is logit(p) + offset."""
    pattern = rng.choice(len(EIGHT_SHARES), n, p=EIGHT_SHARES)
    p = expit(rng.normal(-1.4, 1.0, n))
    y = (rng.random(n) < expit(np.log(p / (1 - p)) + offset * (pattern == 0))).astype(float)
    return y, p, pattern


def test_calibrated_predictions_are_left_unchanged_on_most_seeds():
    # Labels drawn from the predicted probabilities: every pattern is calibrated, at the default run's
    # validation size (300 patients over 8 patterns).
    unchanged = 0
    for seed in range(20):
        y, p, pattern = _logit_cohort(np.random.default_rng(seed), 300)
        rectifier = PatternRectifier(seed=seed).fit(y, p, pattern)
        same = np.array_equal(rectifier.transform(p, pattern), p)
        assert same == (not rectifier.summary()["applied"])
        unchanged += same
    assert unchanged >= 18


def test_heldout_check_refuses_most_chance_passes_of_the_gate():
    # With nothing to correct, Cochran's gate still fires on about 2 % of draws (about 10 % before its
    # standard error had the calibrated-model floor); the held-out check must refuse most of those,
    # and a correction must reach new patients on about 1 % of draws at most.
    draws, fired, refused = 1000, 0, 0
    for seed in range(draws):
        y, p, pattern = _logit_cohort(np.random.default_rng(seed), 300)
        rectifier = PatternRectifier(seed=seed).fit(y, p, pattern)
        if np.any(rectifier.estimate_.tau != 0):  # the gate passed: a correction was proposed
            fired += 1
            refused += not rectifier.summary()["applied"]
            assert PatternRectifier(seed=seed, heldout_check=False).fit(y, p, pattern).summary()["applied"]
    assert fired >= 15
    assert refused >= 0.5 * fired
    assert fired - refused <= 0.012 * draws


def test_strong_pattern_offset_is_corrected_and_improves_test_log_loss():
    # +1.5 logits in the most common pattern (30 %), fitted on 300 validation patients, scored on 2000 others.
    corrected = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        (y, p, pattern), (y_test, p_test, pattern_test) = _logit_cohort(rng, 300, 1.5), _logit_cohort(rng, 2000, 1.5)
        rectifier = PatternRectifier(seed=seed).fit(y, p, pattern)
        if not rectifier.summary()["applied"]:
            continue
        corrected += 1
        heldout = rectifier.summary()["heldout"]
        assert heldout["log_loss_corrected"] < heldout["log_loss_uncorrected"] and heldout["auc_corrected"] >= heldout["auc_uncorrected"]
        assert rectifier.offsets_[0] > 0.1
        out = rectifier.transform(p_test, pattern_test)
        # (log-loss clipped to [0.001, 0.999] as in the check: the additive correction can clip to 0 or 1)
        assert log_loss(y_test, out) < log_loss(y_test, p_test)
        assert brier_score_loss(y_test, out) < brier_score_loss(y_test, p_test)
    assert corrected >= 16


def test_heldout_check_refuses_a_global_miscalibration_that_costs_auc():
    # A rare, well-predicted outcome (AUC ~0.97) from an overconfident model (logit 1.5x the truth),
    # patterns that track severity and no effect of the pattern itself: each pattern's mean residual
    # is non-zero, the gate fires on 2000 validation patients, and correcting it costs test AUC.
    changes, proposed = {True: [], False: []}, 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        cohorts = []
        for n in (2000, 2000):
            severity = rng.standard_normal(n)
            delta = np.column_stack([rng.random(n) < expit(a + b * severity) for a, b in ((-0.4, 0.8), (1.8, -0.8), (-0.2, 0.6))])
            logit = -6.5 + 4.5 * severity
            cohorts.append(((rng.random(n) < expit(logit)).astype(float), expit(1.5 * logit), delta @ np.array([4, 2, 1])))
        (y, p, pattern), (y_test, p_test, pattern_test) = cohorts
        auc = roc_auc_score(y_test, p_test)
        for check in (True, False):
            rectifier = PatternRectifier(seed=seed, heldout_check=check).fit(y, p, pattern)
            changes[check].append(roc_auc_score(y_test, rectifier.transform(p_test, pattern_test)) - auc)
            proposed += (not check) and rectifier.summary()["applied"]
    assert proposed >= 10
    assert np.mean(changes[False]) < -0.002 <= np.mean(changes[True])


def test_heldout_record_is_written_and_decides_the_task_and_the_fit_is_deterministic(tmp_path):
    rng = np.random.default_rng(0)
    predictions, _ = _write_stage_inputs(tmp_path, rng, n=1200)
    for name in ("a", "b"):
        run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / f"{name}.parquet", tmp_path / f"{name}.json",
                    {"seed": 3})
    assert (tmp_path / "a.json").read_text() == (tmp_path / "b.json").read_text()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"))
    record, out = json.loads((tmp_path / "a.json").read_text()), pd.read_parquet(tmp_path / "a.parquet")
    for task in DEFAULT_TASKS:
        fitted = record["tasks"][task]
        heldout = fitted["heldout"]
        assert set(heldout) == {"splits", "log_loss_uncorrected", "log_loss_corrected", "brier_uncorrected", "brier_corrected",
                                "auc_uncorrected", "auc_corrected", "applied"}
        assert fitted["applied"] == heldout["applied"] == any(f["applied"] for f in fitted["patterns"].values())
        if heldout["applied"]:
            assert heldout["log_loss_corrected"] < heldout["log_loss_uncorrected"]
            assert heldout["auc_corrected"] >= heldout["auc_uncorrected"]
        else:
            np.testing.assert_array_equal(out[f"p_{task}"], predictions[f"p_{task}"])
    assert record["tasks"]["icu_90d"]["applied"]  # pattern 2's +0.3 bias, on ~300 validation patients


def test_paper_estimator_and_paper_protocol_are_unchanged_on_a_fixed_case(tmp_path):
    # Numbers recorded with the rectifier before the held-out check existed: neither the paper
    # estimator nor the paper_crossfit_test protocol (either estimator) may move, except where the
    # shrunk estimator's standard error took the calibrated-model floor (mortality: 169.4631 -> 169.4520).
    _write_stage_inputs(tmp_path, np.random.default_rng(0))
    expected = {
        ("validation", "paper"): ([244.23414359178196, 200.8332463534138, 216.54089802301087], [0.04, 0.03, 0.0],
                                  {"0": -0.033287, "1": 0.022569, "2": 0.579309, "3": 0.039911}),
        ("paper_crossfit_test", "paper"): ([186.40831529791524, 173.2734382719902, 172.744419841453], [0.05, 0.05, 0.05],
                                           {"0": 0.121189, "1": 0.076476, "2": 0.175819, "3": 0.182669}),
        ("paper_crossfit_test", "shrunk"): ([171.39789346406087, 164.1312774897691, 169.45201052503586], [None, None, None],
                                            {"0": 0.082223, "1": 0.052671, "2": 0.105358, "3": 0.128773}),
    }
    for (protocol, estimator), (sums, kappas, readmit_tau) in expected.items():
        out = run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "o.parquet", tmp_path / "o.json",
                          {"seed": 1, "estimator": estimator}, protocol)
        record = json.loads((tmp_path / "o.json").read_text())
        assert [out[f"p_{task}"].sum() for task in ("readmit_30d", "icu_90d", "mortality_inhosp")] == pytest.approx(sums, rel=1e-12)
        assert [record["tasks"][task]["kappa"] for task in ("readmit_30d", "icu_90d", "mortality_inhosp")] == kappas
        assert {k: f["tau"] for k, f in record["tasks"]["readmit_30d"]["patterns"].items()} == pytest.approx(readmit_tau, abs=1e-6)
        assert all(record["tasks"][task]["heldout"] is None for task in DEFAULT_TASKS)
