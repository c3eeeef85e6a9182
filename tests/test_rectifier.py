import json

import numpy as np
import pandas as pd
import pytest

from mmnar.data.tasks import TASK_NAMES
from mmnar.rectifier import PatternRectifier, crossfit_on_evaluation_set, run_rectify


def test_crossfit_uses_the_other_folds_estimate():
    # Labels are built from the rectifier's own fold assignment: fold 0 all positive, fold 1 all
    # negative, so the in-fold bias is +0.5 / -0.5 and the other fold's is the opposite.
    n, seed = 20, 7
    fold = np.empty(n, dtype=int)
    fold[np.random.default_rng(seed).permutation(n)] = np.arange(n) % 2
    y = (fold == 0).astype(float)
    p = np.full(n, 0.5)
    rectifier = PatternRectifier(kappa_grid=(0.0,), n_folds=2, min_count=2, seed=seed).fit(y, p, np.zeros(n, dtype=int))
    np.testing.assert_array_equal(rectifier.crossfit_predictions_[fold == 0], 0.0)  # 0.5 + (-0.5)
    np.testing.assert_array_equal(rectifier.crossfit_predictions_[fold == 1], 1.0)  # 0.5 + 0.5
    assert rectifier.offsets_[0] == pytest.approx(0.0)  # full-data tau for new patients


def test_kappa_is_smallest_when_every_pattern_is_strongly_biased():
    rng = np.random.default_rng(1)
    pattern = np.repeat([0, 1, 2], 400)
    p = np.full(1200, 0.3)
    y = (rng.random(1200) < np.where(pattern == 1, 0.6, 0.05)).astype(float)  # biases +0.3 and -0.25
    rectifier = PatternRectifier(seed=0).fit(y, p, pattern)
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
    rectifier = PatternRectifier(seed=0).fit(y, p, pattern)
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
    rectifier = PatternRectifier(seed=0).fit(y, p, pattern)
    np.testing.assert_array_equal(rectifier.transform(p, pattern), p)


def test_unseen_and_rare_patterns_are_unchanged_and_output_is_clipped():
    pattern = np.array([0] * 20 + [1] * 3)
    p = np.full(23, 0.9)
    y = np.ones(23)
    rectifier = PatternRectifier(kappa_grid=(0.0,), min_count=10, seed=0).fit(y, p, pattern)
    out = rectifier.transform(np.array([0.95, 0.9, 0.9]), np.array([0, 1, 99]))
    assert out[0] == 1.0  # 0.95 + 0.1 clipped
    assert out[1] == 0.9 and out[2] == 0.9  # rare (3 < 10) and unseen patterns untouched
    assert 1 not in rectifier.offsets_


def test_nan_labels_are_ignored():
    pattern = np.zeros(30, dtype=int)
    p = np.full(30, 0.5)
    y = np.r_[np.ones(20), np.full(10, np.nan)]
    rectifier = PatternRectifier(kappa_grid=(0.0,), seed=0).fit(y, p, pattern)
    assert rectifier.offsets_[0] == pytest.approx(0.5)
    assert rectifier.counts_[0] == 20


def test_crossfit_on_evaluation_set_returns_out_of_fold_predictions():
    rng = np.random.default_rng(0)
    pattern = np.repeat([0, 1], 50)
    p = np.full(100, 0.2)
    y = (rng.random(100) < 0.6).astype(float)
    y[0] = np.nan
    rectified, rectifier = crossfit_on_evaluation_set(y, p, pattern, kappa_grid=(0.0,), seed=0)
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
        labels[task] = (rng.random(n) < p + 0.15 * (pattern_id == 2)).astype(float)
    labels.loc[rng.random(n) < 0.1, TASK_NAMES[0]] = np.nan
    predictions.to_parquet(tmp_path / "predictions.parquet")
    labels.to_parquet(tmp_path / "labels.parquet")
    return predictions, labels


def test_validation_protocol_never_reads_test_labels(tmp_path):
    rng = np.random.default_rng(0)
    predictions, labels = _write_stage_inputs(tmp_path, rng)
    run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "a.parquet", tmp_path / "a.json", {"seed": 1})

    test = predictions["split"].to_numpy() == "test"
    permuted = labels.copy()
    for task in TASK_NAMES:
        permuted.loc[test, task] = rng.permutation(permuted.loc[test, task].to_numpy())
        permuted.loc[test & (rng.random(len(test)) < 0.3), task] = 1 - permuted.loc[test, task].mean()
    permuted.to_parquet(tmp_path / "labels.parquet")
    run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "b.parquet", tmp_path / "b.json", {"seed": 1})

    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet"))
    assert json.loads((tmp_path / "a.json").read_text()) == json.loads((tmp_path / "b.json").read_text())
    out = pd.read_parquet(tmp_path / "a.parquet")
    assert list(out.columns) == list(predictions.columns)
    assert not np.allclose(out["p_icu_90d"], predictions["p_icu_90d"])  # the biased pattern was corrected


def test_paper_protocol_changes_only_test_rows_and_uses_test_labels(tmp_path):
    rng = np.random.default_rng(0)
    predictions, _ = _write_stage_inputs(tmp_path, rng)
    out = run_rectify(
        tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "c.parquet", tmp_path / "c.json",
        {"seed": 1}, protocol="paper_crossfit_test",
    )
    test = predictions["split"] == "test"
    pd.testing.assert_frame_equal(out[~test], predictions[~test])
    assert not np.allclose(out.loc[test, "p_icu_90d"], predictions.loc[test, "p_icu_90d"])
    record = json.loads((tmp_path / "c.json").read_text())
    assert record["protocol"] == "paper_crossfit_test" and record["fit_split"] == "test"
    with pytest.raises(ValueError):
        run_rectify(tmp_path / "predictions.parquet", tmp_path / "labels.parquet", tmp_path / "d.parquet", tmp_path / "d.json", protocol="test")
