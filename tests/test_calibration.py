"""Equal-mass ECE, logistic recalibration and reliability curves (mmnar.evaluation.calibration)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.evaluation.calibration import COLUMNS, calibration, logistic_calibration, logit, reliability_points
from mmnar.metrics import equal_mass_bins, expected_calibration_error
from mmnar.reporting.evaluation_figures import plot_reliability


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --------------------------------------------------------------------------------------------------
# Equal-mass bins and ECE by hand


def test_equal_mass_bins_by_rank_with_ties_together():
    assert equal_mass_bins([0.9, 0.1, 0.5, 0.3, 0.7, 0.2], 3).tolist() == [2, 0, 1, 1, 2, 0]
    # three tied predictions share the rank of the first (0), so they stay in bin 0 and bin 1 gets one
    assert equal_mass_bins([0.2, 0.2, 0.2, 0.8], 2).tolist() == [0, 0, 0, 1]
    assert np.bincount(equal_mass_bins(np.linspace(0, 1, 103), 10)).tolist() == [11, 10, 10, 11, 10, 10, 11, 10, 10, 10]


def test_quantile_ece_by_hand_and_the_uniform_one_unchanged():
    y = np.array([0, 0, 0, 1, 1, 1, np.nan])
    p = np.array([0.05, 0.1, 0.15, 0.2, 0.3, 0.9, 0.5])
    # equal mass: {0.05, 0.1, 0.15} (no event, Σp 0.3) and {0.2, 0.3, 0.9} (3 events, Σp 1.4)
    assert expected_calibration_error(y, p, 2, strategy="quantile") == pytest.approx((0.3 + 1.6) / 6)
    # equal width: [0, 0.5) holds five (2 events, Σp 0.8), [0.5, 1] one (1 event, p 0.9)
    assert expected_calibration_error(y, p, 2) == pytest.approx((1.2 + 0.1) / 6)
    assert expected_calibration_error(y, p, 2, strategy="uniform") == expected_calibration_error(y, p, 2)
    with pytest.raises(ValueError, match="strategy"):
        expected_calibration_error(y, p, 2, strategy="width")


# --------------------------------------------------------------------------------------------------
# Logistic recalibration


def recalibration_sample(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1.5, n)
    return z, (rng.random(n) < sigmoid(z)).astype(float)


def test_overconfident_predictions_have_slope_one_half():
    z, y = recalibration_sample()
    fit = logistic_calibration(y, sigmoid(2 * z))           # logit(p) = 2z, the truth is z
    assert fit["slope"] == pytest.approx(0.5, abs=0.03)
    assert fit["intercept"] == pytest.approx(0.0, abs=0.05)
    calibrated = logistic_calibration(y, sigmoid(z))
    assert calibrated["slope"] == pytest.approx(1.0, abs=0.05)
    assert calibrated["calibration_in_the_large"] == pytest.approx(0.0, abs=0.05)


def test_shifted_predictions_have_intercept_minus_one_and_match_sklearn_unpenalised():
    z, y = recalibration_sample(seed=1)
    p = sigmoid(z + 1)                                        # one logit too high
    fit = logistic_calibration(y, p)
    assert fit["intercept"] == pytest.approx(-1.0, abs=0.06) and fit["slope"] == pytest.approx(1.0, abs=0.05)
    assert fit["calibration_in_the_large"] == pytest.approx(-1.0, abs=0.06)
    reference = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(logit(p)[:, None], y)
    assert fit["slope"] == pytest.approx(reference.coef_[0][0], abs=1e-4)
    assert fit["intercept"] == pytest.approx(reference.intercept_[0], abs=1e-4)


def test_no_fit_without_both_classes_or_with_separation():
    assert np.isnan(logistic_calibration(np.ones(5), np.linspace(0.1, 0.9, 5))["slope"])
    separated = logistic_calibration(np.array([0, 0, 0, 1, 1, 1.0]), np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8]))
    assert np.isnan(separated["slope"]) and np.isnan(separated["intercept"])
    constant = logistic_calibration(np.array([0, 1, 0, 1.0]), np.full(4, 0.3))
    assert np.isnan(constant["slope"]) and constant["calibration_in_the_large"] == pytest.approx(logit(0.5) - logit(0.3))


# --------------------------------------------------------------------------------------------------
# Reliability points and small cells


def test_reliability_points_suppress_small_cells_of_patients_events_or_non_events():
    p = np.r_[np.full(10, 0.05), np.full(10, 0.3), np.full(10, 0.9)] + np.arange(30) * 1e-4
    y = np.r_[np.zeros(10), [1, 1, 1] + [0] * 7, np.ones(10)]
    points = reliability_points(y, p, n_bins=3, min_cell_count=10).set_index("bin")
    assert points["suppressed"].tolist() == [False, True, False]     # bin 1: 3 events
    assert points.loc[0, "observed_rate"] == 0 and points.loc[0, "n_patients"] == 10   # zero events is publishable
    assert points.loc[2, "observed_rate"] == 1 and points.loc[2, "mean_predicted"] == pytest.approx(np.mean(p[20:]))
    assert points.loc[1, ["n_patients", "mean_predicted", "observed_rate"]].isna().all()
    assert not reliability_points(y, p, n_bins=3, min_cell_count=3)["suppressed"].any()


def workflow_frames(n=300, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.arange(1000, 1000 + n)
    labels = pd.DataFrame({"subject_id": ids, **{t: (rng.random(n) < 0.3).astype(float) for t in DEFAULT_TASKS}})
    labels.loc[:20, DEFAULT_TASKS[0]] = np.nan
    splits = [pd.DataFrame({"subject_id": ids, "split": rng.choice(["train", "val", "test"], n, p=[0.4, 0.2, 0.4])})
              for _ in range(2)]

    def predictions(noise, coverage=1.0):
        frames = []
        for _ in splits:
            frame = pd.DataFrame({"subject_id": ids})
            for task in DEFAULT_TASKS:
                p = sigmoid(2 * labels[task].fillna(0).to_numpy() - 1 + rng.normal(0, noise, n))
                p[rng.random(n) > coverage] = np.nan
                frame[f"p_{task}"] = p
            frames.append(frame)
        return frames

    return labels, splits, {("crl_mmnar", "raw"): predictions(1.0), ("crl_mmnar", "rectified"): predictions(0.8),
                            ("i_only", "raw"): predictions(1.0, coverage=0.2)}


def test_calibration_table_has_every_run_and_their_mean(tmp_path):
    labels, splits, predictions = workflow_frames()
    table = calibration(predictions, labels, splits, [(0, 0), (1, 0)], n_bins=5, min_cell_count=10)
    assert list(table.columns) == COLUMNS and "subject_id" not in table
    summary = table[table["kind"] == "summary"]
    assert len(summary) == len(predictions) * len(DEFAULT_TASKS) * 3
    assert set(summary["run"]) == {"split0_init0", "split1_init0", "mean"}
    task = DEFAULT_TASKS[0]
    rows = summary[(summary["model"] == "crl_mmnar") & (summary["variant"] == "raw") & (summary["task"] == task)]
    per_run = rows[rows["run"] != "mean"].set_index("run")
    mean = rows[rows["run"] == "mean"].iloc[0]
    assert mean["ece"] == pytest.approx(per_run["ece"].mean()) and mean["n_runs"] == 2
    test = splits[0].query("split == 'test'").merge(labels, on="subject_id").merge(predictions[("crl_mmnar", "raw")][0],
                                                                                   on="subject_id")
    keep = test[task].notna()
    assert per_run.loc["split0_init0", "n_patients"] == keep.sum()
    assert per_run.loc["split0_init0", "ece"] == pytest.approx(
        expected_calibration_error(test[task], test[f"p_{task}"], 5, strategy="quantile"))
    assert per_run.loc["split0_init0", "slope"] == pytest.approx(
        logistic_calibration(test[task], test[f"p_{task}"])["slope"])
    bins = table[table["kind"] == "reliability"]
    shown = bins[~bins["suppressed"]]
    assert ((shown["n_patients"] == 0) | (shown["n_patients"] >= 10)).all()   # 0: a bin emptied by ties
    assert bins.loc[bins["suppressed"], ["n_patients", "mean_predicted", "observed_rate"]].isna().all().all()
    # the mean bin is suppressed when any run's bin is
    for keys, group in bins.groupby(["model", "variant", "task", "bin"]):
        assert group.loc[group["run"] == "mean", "suppressed"].item() == group.loc[group["run"] != "mean", "suppressed"].any()
    # i_only covers 20 % of the patients: ~24 test patients, 5 bins of ~5: every bin suppressed
    assert bins[(bins["model"] == "i_only")]["suppressed"].all()
    plot_reliability(table, tmp_path / "calibration.png")
    assert (tmp_path / "calibration.png").stat().st_size > 10_000
