"""Subgroup metrics, validation-only thresholds, max − min gaps and small cells (mmnar.evaluation.fairness)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.evaluation.fairness import (COLUMNS, age_group, age_labels, attribute_bootstrap, demographic_groups,
                                       ece_bin_count, fairness, group_metrics, max_min_gap, race_group, sex_group,
                                       subgroup_metrics, weighted_equal_mass_ece, youden_threshold)
from mmnar.evaluation.paired import resample_counts
from mmnar.metrics import expected_calibration_error
from mmnar.reporting.evaluation_figures import plot_fairness_gaps


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --------------------------------------------------------------------------------------------------
# Groups


def test_race_is_grouped_as_carebench_does():
    race = pd.Series(["WHITE", "WHITE - OTHER EUROPEAN", "BLACK/CAPE VERDEAN", "BLACK/AFRICAN AMERICAN",
                      "HISPANIC/LATINO - PUERTO RICAN", "HISPANIC OR LATINO", "ASIAN - CHINESE", "UNKNOWN",
                      "PATIENT DECLINED TO ANSWER", "SOUTH AMERICAN", "AMERICAN INDIAN/ALASKA NATIVE", None, " white "])
    assert race_group(race).tolist() == ["WHITE", "WHITE", "BLACK/AFRICAN AMERICAN", "BLACK/AFRICAN AMERICAN",
                                         "HISPANIC/LATINO", "HISPANIC/LATINO", "ASIAN", "OTHER", "OTHER", "OTHER",
                                         "OTHER", "OTHER", "WHITE"]


def test_sex_and_half_open_age_groups():
    assert sex_group(pd.Series(["F", "M", None, "X"])).tolist() == ["F", "M", "Unknown", "Unknown"]
    assert age_labels([20, 40, 60, 80]) == ["<20", "20-40", "40-60", "60-80", "80+"]
    ages = pd.Series([18, 19.9, 20, 39, 40, 79, 80, 91, np.nan])
    assert age_group(ages).tolist() == ["<20", "<20", "20-40", "20-40", "40-60", "60-80", "80+", "80+", "Unknown"]
    cohort = pd.DataFrame({"subject_id": [1, 2], "age": [30, 85], "gender": ["F", "M"], "race": ["ASIAN", "WHITE"]})
    assert demographic_groups(cohort, ["sex", "age"]).to_dict("list") == {"subject_id": [1, 2], "sex": ["F", "M"],
                                                                          "age": ["20-40", "80+"]}


# --------------------------------------------------------------------------------------------------
# Threshold and subgroup metrics by hand


def test_youden_threshold_by_hand():
    y = np.array([0, 0, 1, 0, 1, 1, np.nan])
    p = np.array([0.1, 0.3, 0.35, 0.4, 0.8, 0.9, 0.99])
    # p >= 0.8: TPR 2/3, FPR 0 (J 2/3); p >= 0.35: TPR 1, FPR 1/3 (J 2/3): ties go to the higher threshold
    assert youden_threshold(y, p) == 0.8
    assert youden_threshold(np.array([0, 1, 1]), np.array([0.2, 0.6, 0.7])) == 0.6
    assert np.isnan(youden_threshold(np.ones(4), np.linspace(0, 1, 4)))


def test_subgroup_tpr_fpr_auprc_and_the_max_min_gap_by_hand():
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0, 1, 1, 0, 0], dtype=float)
    p = np.array([0.9, 0.4, 0.6, 0.2, 0.1, 0.8, 0.7, 0.3, 0.55, 0.45, 0.35, 0.65])
    groups = np.array(["A"] * 5 + ["B"] * 7)
    table = subgroup_metrics(y, p, groups, threshold=0.5, calibration_bins=1, min_cell_count=1).set_index("group")
    # A: positives 0.9 (called), 0.4 (missed); negatives 0.6 (called), 0.2, 0.1
    assert table.loc["A", ["n_patients", "n_positives", "tpr", "fpr"]].tolist() == [5, 2, 0.5, pytest.approx(1 / 3)]
    # B: positives 0.8, 0.55 (called), 0.45 (missed); negatives 0.7, 0.65 (called), 0.3, 0.35
    assert table.loc["B", ["n_patients", "n_positives", "tpr", "fpr"]].tolist() == [7, 3, pytest.approx(2 / 3), 0.5]
    assert table.loc["A", "auprc"] == pytest.approx(average_precision_score(y[:5], p[:5]))
    assert table.loc["B", "auprc"] == pytest.approx(average_precision_score(y[5:], p[5:]))
    # one bin: ECE = |events − Σp| / n
    assert table.loc["A", "ece"] == pytest.approx(abs(2 - p[:5].sum()) / 5)
    gap = max_min_gap(table.reset_index())
    assert gap["tpr"] == pytest.approx(2 / 3 - 1 / 2) and gap["fpr"] == pytest.approx(1 / 2 - 1 / 3)
    assert gap["auprc"] == pytest.approx(abs(table.loc["A", "auprc"] - table.loc["B", "auprc"]))


def test_small_subgroups_are_suppressed_and_left_out_of_the_gap():
    rng = np.random.default_rng(0)
    groups = np.array(["big"] * 40 + ["few_positives"] * 30 + ["small"] * 9 + ["other_big"] * 40)
    y = np.r_[np.tile([0.0, 1.0], 20), [1.0] * 3 + [0.0] * 27, [1.0] * 4 + [0.0] * 5, np.tile([0.0, 1.0], 20)]
    p = np.clip(0.3 * y + rng.random(len(y)) * 0.7, 0, 1)
    table = subgroup_metrics(y, p, groups, 0.5, calibration_bins=10, min_cell_count=10).set_index("group")
    assert table["suppressed"].to_dict() == {"big": False, "few_positives": True, "small": True, "other_big": False}
    assert table.loc[["few_positives", "small"], ["n_patients", "n_positives", "auprc", "tpr", "fpr", "ece"]].isna().all().all()
    gap = max_min_gap(table.reset_index())
    assert gap["tpr"] == pytest.approx(abs(table.loc["big", "tpr"] - table.loc["other_big", "tpr"]))
    alone = subgroup_metrics(y[:79], p[:79], groups[:79], 0.5, 10, 10)
    assert all(np.isnan(value) for value in max_min_gap(alone).values())   # one publishable group: no gap
    assert ece_bin_count(40, 10, 10) == 4 and ece_bin_count(500, 10, 10) == 10 and ece_bin_count(5, 10, 10) == 1


# --------------------------------------------------------------------------------------------------
# Resampled metrics equal the metrics of the resampled arrays


def test_resampled_ece_tpr_fpr_auprc_equal_those_of_the_resampled_arrays():
    rng = np.random.default_rng(3)
    y = (rng.random(80) < 0.3).astype(float)
    p = np.round(rng.random(80), 1)                          # many ties
    counts = resample_counts(y, 30, rng)
    values = group_metrics(y, p, 0.5, counts, ece_bins=4)
    assert np.allclose(weighted_equal_mass_ece(y, p, np.ones((1, 80)), 4),
                       expected_calibration_error(y, p, 4, strategy="quantile"))
    for b in range(len(counts)):
        index = np.repeat(np.arange(len(y)), counts[b])
        yb, pb = y[index], p[index]
        assert values["ece"][b] == pytest.approx(expected_calibration_error(yb, pb, 4, strategy="quantile"), abs=1e-12)
        assert values["auprc"][b] == pytest.approx(average_precision_score(yb, pb), abs=1e-12)
        assert values["tpr"][b] == pytest.approx(np.mean(pb[yb == 1] >= 0.5))
        assert values["fpr"][b] == pytest.approx(np.mean(pb[yb == 0] >= 0.5))


def test_bootstrap_keeps_group_sizes_and_is_seeded():
    rng = np.random.default_rng(1)
    groups = np.array(["A"] * 60 + ["B"] * 50)
    y = (rng.random(110) < 0.4).astype(float)
    p = sigmoid(2 * y - 1 + rng.normal(0, 1, 110))
    table, draws, gaps = attribute_bootstrap(y, p, groups, 0.5, 10, 10, 200, np.random.default_rng(7))
    again = attribute_bootstrap(y, p, groups, 0.5, 10, 10, 200, np.random.default_rng(7))
    assert all(np.array_equal(gaps[m], again[2][m]) for m in gaps)
    assert set(draws) == {"A", "B"} and all(np.isfinite(gaps[m]).all() for m in gaps)
    # TPR of a replicate is a multiple of 1 / (the group's positives): class counts are kept
    positives = int(y[groups == "A"].sum())
    assert np.allclose(np.round(draws["A"]["tpr"] * positives), draws["A"]["tpr"] * positives)


# --------------------------------------------------------------------------------------------------
# The table, from the workflow's frames


def workflow_frames(n=900, seed=0):
    rng = np.random.default_rng(seed)
    ids = np.arange(1000, 1000 + n)
    labels = pd.DataFrame({"subject_id": ids, **{t: (rng.random(n) < 0.35).astype(float) for t in DEFAULT_TASKS}})
    cohort = pd.DataFrame({"subject_id": ids, "age": rng.integers(18, 95, n), "gender": rng.choice(["F", "M"], n),
                           "race": rng.choice(["WHITE", "BLACK/AFRICAN AMERICAN", "ASIAN - KOREAN", "UNKNOWN"], n,
                                              p=[0.6, 0.3, 0.09, 0.01])})
    splits = [pd.DataFrame({"subject_id": ids, "split": rng.choice(["train", "val", "test"], n, p=[0.4, 0.3, 0.3])})
              for _ in range(2)]
    frames = []
    for _ in splits:
        frame = pd.DataFrame({"subject_id": ids})
        for task in DEFAULT_TASKS:
            frame[f"p_{task}"] = sigmoid(2 * labels[task].to_numpy() - 1 + rng.normal(0, 1, n))
        frames.append(frame)
    return labels, cohort, splits, {("crl_mmnar", "raw"): frames}


def run_table(labels, cohort, splits, predictions, **kwargs):
    return fairness(predictions, labels, splits, [(0, 0), (1, 0)], demographic_groups(cohort),
                    min_cell_count=10, n_resamples=100, **kwargs)


def test_fairness_table_rows_gaps_and_small_cells(tmp_path):
    labels, cohort, splits, predictions = workflow_frames()
    table = run_table(labels, cohort, splits, predictions)
    assert list(table.columns) == COLUMNS and "subject_id" not in table
    task = DEFAULT_TASKS[0]
    rows = table[table["task"] == task]
    assert rows["attribute"].tolist()[0] == "all" and set(rows["attribute"]) == {"all", "race", "sex", "age"}
    race = rows[rows["attribute"] == "race"].set_index("group")
    assert race.index.tolist() == ["WHITE", "BLACK/AFRICAN AMERICAN", "ASIAN", "OTHER", "gap"]
    assert race.loc["OTHER", "suppressed"] and race.loc[["OTHER"], ["n_patients", "tpr"]].isna().all().all()
    shown = table[~table["suppressed"] & (table["group"] != "gap")]
    assert (shown["n_patients"] >= 10).all() and (shown["n_positives"] >= 10).all()
    # the gap averages each run's max − min over the publishable groups; its CI is ordered
    gap = race.loc["gap"]
    assert gap["n_runs"] == 2 and gap["n_groups"] >= 2
    assert gap["tpr_ci_low"] <= gap["tpr_ci_high"] and gap["auprc"] >= 0
    per_run = []
    for split, frame in zip(splits, predictions[("crl_mmnar", "raw")]):
        merged = split.merge(labels, on="subject_id").merge(frame, on="subject_id").merge(
            demographic_groups(cohort), on="subject_id").sort_values("subject_id")
        val, test = merged[merged["split"] == "val"], merged[merged["split"] == "test"]
        threshold = youden_threshold(val[task], val[f"p_{task}"])
        groups = subgroup_metrics(test[task], test[f"p_{task}"], test["race"], threshold, 10, 10)
        per_run.append(max_min_gap(groups)["tpr"])
    assert gap["tpr"] == pytest.approx(np.mean(per_run))
    plot_fairness_gaps(table, tmp_path / "fairness.png")
    assert (tmp_path / "fairness.png").stat().st_size > 10_000


def test_threshold_comes_from_validation_patients_only():
    labels, cohort, splits, predictions = workflow_frames(n=600, seed=2)
    before = run_table(labels, cohort, splits, predictions)
    test_ids = set(splits[0].query("split == 'test'")["subject_id"]) | set(splits[1].query("split == 'test'")["subject_id"])
    val_ids = (set(splits[0].query("split == 'val'")["subject_id"]) | set(splits[1].query("split == 'val'")["subject_id"]))
    only_test = labels["subject_id"].isin(test_ids - val_ids)
    flipped = labels.copy()
    flipped.loc[only_test, list(DEFAULT_TASKS)] = 1 - flipped.loc[only_test, list(DEFAULT_TASKS)]
    after = run_table(flipped, cohort, splits, predictions)
    overall = lambda table: table[table["group"] == "all"].set_index("task")
    pd.testing.assert_series_equal(overall(before)["threshold"], overall(after)["threshold"])
    assert (overall(before)["tpr"] != overall(after)["tpr"]).all()   # the test labels did change the metrics
    only_val = labels["subject_id"].isin(val_ids - test_ids)
    shuffled = labels.copy()
    shuffled.loc[only_val, list(DEFAULT_TASKS)] = 1 - shuffled.loc[only_val, list(DEFAULT_TASKS)]
    assert (overall(run_table(shuffled, cohort, splits, predictions))["threshold"] != overall(before)["threshold"]).all()


def test_the_table_is_seeded():
    labels, cohort, splits, predictions = workflow_frames(n=400, seed=4)
    first = run_table(labels, cohort, splits, predictions, seed=3)
    pd.testing.assert_frame_equal(first, run_table(labels, cohort, splits, predictions, seed=3))
