"""Paired bootstrap comparisons (mmnar.evaluation.paired), their permutation and DeLong tests
(mmnar.evaluation.significance), the best single-modality reference, and how Table 1 shows them and
leaked tasks."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from mmnar.data.tasks import DEFAULT_TASKS
from mmnar.evaluation.paired import (COLUMNS, INTERVAL_COLUMNS, best_single_modality, compare, compare_files,
                                     compare_with_intervals, paired_bootstrap, rank_auc, resample_counts,
                                     selected_validation_auc, weighted_metrics)
from mmnar.evaluation.significance import (DelongRun, delong_combined, delong_placements, delong_run,
                                           permutation_p_value, permuted_differences)
from mmnar.reporting.tables import leaked_tasks, summarise, to_markdown


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


# --------------------------------------------------------------------------------------------------
# Metrics on resamples equal scikit-learn's


@pytest.mark.parametrize("seed", range(5))
def test_rank_auc_equals_sklearn_with_and_without_ties(seed):
    rng = np.random.default_rng(seed)
    n = 200 + 50 * seed
    y = (rng.random(n) < 0.3).astype(float)
    p = rng.random(n)
    assert rank_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    tied = np.round(p, 1)                                    # many ties, across classes too
    assert rank_auc(y, tied) == pytest.approx(roc_auc_score(y, tied), abs=1e-12)
    assert rank_auc(y, tied.astype(np.float32)) == pytest.approx(roc_auc_score(y, tied.astype(np.float32)), abs=1e-12)


def test_every_metric_of_a_resample_equals_sklearn_on_the_resampled_arrays():
    rng = np.random.default_rng(3)
    y = (rng.random(150) < 0.25).astype(float)
    p = np.round(rng.random(150), 2)
    counts = resample_counts(y, 40, rng)
    assert (counts[:, y == 1].sum(axis=1) == (y == 1).sum()).all()   # stratified: class counts kept
    scores = weighted_metrics(y, p, counts)
    for b in range(len(counts)):
        index = np.repeat(np.arange(len(y)), counts[b])
        assert scores["auc"][b] == pytest.approx(roc_auc_score(y[index], p[index]), abs=1e-12)
        assert scores["auprc"][b] == pytest.approx(average_precision_score(y[index], p[index]), abs=1e-12)
        assert scores["brier"][b] == pytest.approx(brier_score_loss(y[index], p[index]), abs=1e-12)


def test_a_single_class_has_no_auc():
    scores = weighted_metrics(np.zeros(5), np.linspace(0, 1, 5), np.ones((1, 5)))
    assert np.isnan(scores["auc"][0]) and np.isnan(scores["auprc"][0]) and scores["brier"][0] == pytest.approx(0.375)


# --------------------------------------------------------------------------------------------------
# Known answers


def labels_and_score(n=600, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(float)
    return rng, y, y + rng.normal(size=n)


def test_identical_predictions_differ_by_exactly_zero():
    rng, y, score = labels_and_score()
    p = sigmoid(score)
    result = paired_bootstrap([(y, p, p.copy()), (y, p, p.copy())], n_resamples=200).set_index("metric")
    assert (result[["difference", "ci_low", "ci_high"]] == 0).all().all()
    assert (result["p_value"] == 1).all() and (result["n_runs"] == 2).all() and (result["n_patients"] == 600).all()
    assert (result["p_permutation"] == 1).all()              # every permutation reproduces the observed 0
    assert result.loc["auc", "p_delong"] == 1 and result[["p_delong"]].drop("auc").isna().all().all()


def test_the_labels_beat_a_random_model():
    rng, y, _ = labels_and_score()
    result = paired_bootstrap([(y, y.copy(), rng.random(len(y)))], n_resamples=300).set_index("metric")
    assert result.loc["auc", "difference"] == pytest.approx(1 - roc_auc_score(y, rng.random(len(y))), abs=0.1)
    assert result.loc["auc", "ci_low"] > 0 and result.loc["auprc", "ci_low"] > 0
    assert result.loc["brier", "ci_high"] < 0                # perfect predictions: Brier 0, lower is better
    assert (result["p_value"] == 0).all()
    assert (result["p_permutation"] == 1 / 1001).all()       # no permutation reaches it: the smallest p of 1000
    assert result.loc["auc", "p_delong"] < 1e-10


def test_pairing_finds_a_difference_unpaired_intervals_cannot():
    """Two models sharing most of their error: their own CIs overlap, the paired CI excludes 0."""
    rng, y, score = labels_and_score(n=1500, seed=1)
    better, worse = sigmoid(score + rng.normal(0, 0.1, len(y))), sigmoid(score + rng.normal(0, 0.5, len(y)))
    result = paired_bootstrap([(y, better, worse)], n_resamples=1000, seed=0).set_index("metric")
    own = {name: np.percentile(weighted_metrics(y, p, resample_counts(y, 1000, np.random.default_rng(k)))["auc"],
                               [2.5, 97.5]) for k, (name, p) in enumerate((("better", better), ("worse", worse)))}
    assert own["worse"][1] > own["better"][0]               # unpaired: the intervals overlap
    assert result.loc["auc", "difference"] == pytest.approx(roc_auc_score(y, better) - roc_auc_score(y, worse))
    assert 0 < result.loc["auc", "ci_low"] < result.loc["auc", "difference"] < result.loc["auc", "ci_high"]
    assert result.loc["auc", "p_value"] < 0.01


def test_nan_predictions_restrict_the_patients_to_those_both_models_predict():
    rng, y, score = labels_and_score()
    model, reference = sigmoid(score + rng.normal(0, 0.5, len(y))), sigmoid(score)
    has_modality = rng.random(len(y)) < 0.4
    model[~has_modality] = np.nan                            # a single-modality reference's NaN
    y_undefined = y.copy()
    y_undefined[:10] = np.nan                                # undefined labels are left out too
    result = paired_bootstrap([(y_undefined, model, reference)], n_resamples=200)
    keep = has_modality & np.isfinite(y_undefined)
    subset = paired_bootstrap([(y[keep], model[keep], reference[keep])], n_resamples=200)
    assert (result["n_patients"] == keep.sum()).all()
    pd.testing.assert_frame_equal(result, subset)
    assert result.set_index("metric").loc["auc", "difference"] == pytest.approx(
        roc_auc_score(y[keep], model[keep]) - roc_auc_score(y[keep], reference[keep]))


def test_runs_are_averaged_and_a_run_with_one_class_is_left_out_of_auc():
    rng, y, score = labels_and_score()
    a, b = sigmoid(score), sigmoid(score + rng.normal(0, 1, len(y)))
    one_class = np.zeros(50)
    result = paired_bootstrap([(y, a, b), (y[::-1], a[::-1], b), (one_class, a[:50], b[:50])],
                              n_resamples=200).set_index("metric")
    first, second = roc_auc_score(y, a) - roc_auc_score(y, b), roc_auc_score(y[::-1], a[::-1]) - roc_auc_score(y[::-1], b)
    assert result.loc["auc", "difference"] == pytest.approx((first + second) / 2)
    assert result.loc["auc", "n_runs"] == 2 and result.loc["auc", "n_patients"] == 600
    assert result.loc["brier", "n_runs"] == 3 and result.loc["brier", "n_patients"] == pytest.approx((600 + 600 + 50) / 3)


def test_the_bootstrap_is_seeded():
    rng, y, score = labels_and_score()
    runs = [(y, sigmoid(score), sigmoid(score + rng.normal(0, 1, len(y))))]
    first, again = paired_bootstrap(runs, 200, seed=5), paired_bootstrap(runs, 200, seed=5)
    pd.testing.assert_frame_equal(first, again)
    other = paired_bootstrap(runs, 200, seed=6)
    assert (other["difference"] == first["difference"]).all() and (other["ci_low"] != first["ci_low"]).any()


# --------------------------------------------------------------------------------------------------
# The paired permutation test


def assert_permuted_differences_equal_sklearn(y, a, b, swaps) -> dict:
    """``permuted_differences`` against scikit-learn on every assignment of ``swaps``."""
    permuted = permuted_differences(y, a, b, swaps)
    for k, swap in enumerate(swaps):
        model, reference = np.where(swap, b, a), np.where(swap, a, b)
        for metric, score in (("auc", roc_auc_score), ("auprc", average_precision_score), ("brier", brier_score_loss)):
            assert permuted[metric][k] == pytest.approx(score(y, model) - score(y, reference), abs=1e-12)
    return permuted


def test_permuted_differences_equal_sklearn_on_every_assignment_of_a_small_case():
    """Exhaustive: all 2^4 swaps of four patients; by hand, with the reference the mirror image of a
    perfect model (b = 1 − a), only "swap none" (Δ AUC +1) and "swap all" (−1) reach |Δ| = 1, so the
    exact permutation p of the AUC difference is 2/16."""
    y = np.array([1.0, 1.0, 0.0, 0.0])
    a = np.array([0.9, 0.8, 0.2, 0.1])
    b = 1 - a
    swaps = np.array(list(itertools.product([False, True], repeat=4)))
    permuted = assert_permuted_differences_equal_sklearn(y, a, b, swaps)
    extreme = np.flatnonzero(np.isclose(np.abs(permuted["auc"]), 1))
    assert extreme.tolist() == [0, 15] and permuted["auc"][0] == 1 and permuted["auc"][15] == -1
    exact = np.mean(np.abs(permuted["auc"]) >= 1 - 1e-12)
    assert exact == 2 / 16
    # the Monte Carlo p of the workflow's test converges to it: (1 + 0.125 B) / (1 + B) ± 4 sd
    result = paired_bootstrap([(y, a, b)], n_resamples=100, n_permutations=20000).set_index("metric")
    assert result.loc["auc", "p_permutation"] == pytest.approx(2 / 16, abs=4 * np.sqrt(2 / 16 * 14 / 16 / 20000))


@pytest.mark.parametrize("seed", range(3))
def test_permuted_differences_equal_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = 80
    y = (rng.random(n) < 0.25).astype(float)
    a, b = np.round(rng.random(n), 1), np.round(rng.random(n), 1)      # ties within and across models
    swaps = rng.random((40, n)) < 0.5
    assert_permuted_differences_equal_sklearn(y, a, b, swaps)


def test_permutation_p_value_counts_ties_and_the_observed():
    assert permutation_p_value(0.5, np.array([0.5, -0.5, 0.1, 0.2])) == 3 / 5
    assert permutation_p_value(0.0, np.zeros(9)) == 1
    assert permutation_p_value(1.0, np.full(99, 0.2)) == 1 / 100


def test_permutation_test_holds_its_level_for_exchangeable_models():
    """Two models of the same quality: about 5 % of p-values below 0.05, for every metric."""
    rng = np.random.default_rng(11)
    rejections = {"auc": 0, "auprc": 0, "brier": 0, "delong": 0}
    repeats = 300
    for repeat in range(repeats):
        y = (rng.random(120) < 0.3).astype(float)
        first, second = (sigmoid(y + rng.normal(0, 1.2, len(y))) for _ in range(2))
        result = paired_bootstrap([(y, first, second)], n_resamples=100, seed=repeat, n_permutations=199)
        result = result.set_index("metric")
        for metric in ("auc", "auprc", "brier"):
            rejections[metric] += result.loc[metric, "p_permutation"] < 0.05
        rejections["delong"] += result.loc["auc", "p_delong"] < 0.05
    for test, count in rejections.items():
        assert 0.02 <= count / repeats <= 0.09, (test, count)


def test_a_clearly_better_model_has_a_small_permutation_p_over_runs():
    rng, y, score = labels_and_score(n=800, seed=4)
    better, worse = sigmoid(score), sigmoid(score + rng.normal(0, 3.0, len(y)))
    result = paired_bootstrap([(y[:400], better[:400], worse[:400]), (y[400:], better[400:], worse[400:])],
                              n_resamples=200, n_permutations=500,
                              patients=[np.arange(400), np.arange(400, 800)]).set_index("metric")
    assert result.loc["auc", "difference"] > 0.05
    assert (result["p_permutation"] < 0.01).all() and result.loc["auc", "p_delong"] < 0.001


def test_runs_on_the_same_patients_share_their_swaps():
    """Two initialisation seeds on one split: with the same patient ids, the same swaps (so the runs'
    permutation differences move together); without ids each run draws its own."""
    rng, y, score = labels_and_score(n=300, seed=5)
    a, b = sigmoid(score), sigmoid(score + rng.normal(0, 1, len(y)))
    runs = [(y, a, b), (y, a, b)]
    shared = paired_bootstrap(runs, 100, run_keys=[(0, 0), (0, 1)], n_permutations=300, patients=[np.arange(300)] * 2)
    single = paired_bootstrap([runs[0]], 100, run_keys=[(0, 0)], n_permutations=300, patients=[np.arange(300)])
    # identical runs with identical swaps: the average over the two is the single run's distribution
    assert shared["p_permutation"].tolist() == single["p_permutation"].tolist()


# --------------------------------------------------------------------------------------------------
# DeLong's test


def test_delong_on_a_hand_computed_case():
    """y = 1, 1, 0, 0. Model a: positives 0.9, 0.4, negatives 0.6, 0.1 → placements V10 = (1, ½),
    V01 = (½, 1), AUC ¾. Reference b: positives 0.8, 0.7, negatives 0.3, 0.2 → V10 = V01 = (1, 1), AUC 1.
    Differences V10: (0, −½), V01: (−½, 0); sample variances ⅛ each; var(Δ) = ⅛/2 + ⅛/2 = ⅛;
    z = −¼ / √⅛ = −1/√2; p = 2 Φ(−1/√2) = 0.4795."""
    y = np.array([1.0, 1.0, 0.0, 0.0])
    a = np.array([0.9, 0.4, 0.6, 0.1])
    b = np.array([0.8, 0.7, 0.3, 0.2])
    auc, v10, v01 = delong_placements(y, a)
    assert auc == 0.75 and v10.tolist() == [1.0, 0.5] and v01.tolist() == [0.5, 1.0]
    run = delong_run(y, a, b)
    assert run.difference == -0.25 and run.v10.tolist() == [0.0, -0.5] and run.v01.tolist() == [-0.5, 0.0]
    result = delong_combined([run])
    assert result["se"] == pytest.approx(np.sqrt(1 / 8)) and result["z"] == pytest.approx(-1 / np.sqrt(2))
    assert result["p"] == pytest.approx(0.4795, abs=1e-4) and result["p"] == pytest.approx(2 * norm.cdf(-1 / np.sqrt(2)))


def test_delong_placements_count_ties_one_half():
    """Positives 0.5, 0.9, negatives 0.5, 0.1: the tied pair counts ½ → V10 = (¾, 1), V01 = (¾, 1)."""
    auc, v10, v01 = delong_placements(np.array([1.0, 1.0, 0.0, 0.0]), np.array([0.5, 0.9, 0.5, 0.1]))
    assert auc == 0.875 and v10.tolist() == [0.75, 1.0] and v01.tolist() == [0.75, 1.0]


@pytest.mark.parametrize("seed", range(3))
def test_delong_equals_its_definition_and_sklearn(seed):
    """Midranks (Sun & Xu) against the O(m·n) kernel of DeLong et al. (1988), ties included."""
    rng = np.random.default_rng(seed)
    y = (rng.random(150) < 0.3).astype(float)
    p = np.round(rng.random(150), 1)
    auc, v10, v01 = delong_placements(y, p)
    x, z = p[y == 1], p[y == 0]
    kernel = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
    assert auc == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    np.testing.assert_allclose(v10, kernel.mean(axis=1), atol=1e-12)
    np.testing.assert_allclose(v01, kernel.mean(axis=0), atol=1e-12)


def test_delong_combines_runs_by_their_patient_sets():
    rng, y, score = labels_and_score(n=300, seed=2)
    a, b = sigmoid(score), sigmoid(score + rng.normal(0, 1, len(y)))
    one = delong_run(y, a, b, patients=np.arange(300))
    single = delong_combined([one])
    # the same patients twice (two init seeds, identical predictions): one patient set, the same test
    same = delong_combined([one, delong_run(y, a, b, patients=np.arange(300))])
    assert same["se"] == pytest.approx(single["se"]) and same["p"] == pytest.approx(single["p"])
    # disjoint patient sets (folds): independent, the variance of the mean halves
    disjoint = delong_combined([one, delong_run(y, a, b, patients=np.arange(300, 600))])
    assert disjoint["se"] == pytest.approx(single["se"] / np.sqrt(2))
    # overlapping or unknown sets: the conservative bound, the weighted mean of the standard errors
    overlapping = delong_combined([one, delong_run(y, a, b, patients=np.arange(150, 450))])
    unknown = delong_combined([DelongRun(one.difference, one.v10, one.v01), DelongRun(one.difference, one.v10, one.v01)])
    assert overlapping["se"] == pytest.approx(single["se"]) and unknown["se"] == pytest.approx(single["se"])


# --------------------------------------------------------------------------------------------------
# Every model against the references, from the workflow's frames and files


def workflow_frames(n=400, seed=0):
    """labels.parquet, two split files and per-run predictions of three models (i_only: 40 % of patients)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1000, 1000 + n)
    labels = pd.DataFrame({"subject_id": ids, **{t: (rng.random(n) < 0.3).astype(float) for t in DEFAULT_TASKS}})
    labels.loc[:20, "readmit_30d"] = np.nan
    has_image = rng.random(n) < 0.4
    splits, predictions = [], {("crl_mmnar", "raw"): [], ("crl_mmnar", "rectified"): [], ("basic_concat", "raw"): [],
                               ("i_only", "raw"): []}
    for run in range(2):
        splits.append(pd.DataFrame({"subject_id": ids, "split": rng.choice(["train", "val", "test"], n, p=[.5, .2, .3])}))
        for (model, variant), frames in predictions.items():
            noise = {"crl_mmnar": 0.5, "basic_concat": 1.0, "i_only": 1.5}[model] + 0.1 * (variant == "rectified")
            frame = pd.DataFrame({"subject_id": ids, "split": splits[-1]["split"]})
            for task in DEFAULT_TASKS:
                p = sigmoid(labels[task].fillna(0).to_numpy() + rng.normal(0, noise, n))
                frame[f"p_{task}"] = np.where(has_image | (model != "i_only"), p, np.nan)
            frames.append(frame.sample(frac=1, random_state=run))   # row order must not matter
    return labels, splits, predictions, has_image


def test_compare_pairs_every_model_with_every_reference():
    labels, splits, predictions, has_image = workflow_frames()
    table = compare(predictions, labels, splits, [(0, 0), (1, 0)], ["crl_mmnar", "basic_concat"], n_resamples=200)
    assert list(table.columns) == COLUMNS
    pairs = table[["model", "variant", "reference"]].drop_duplicates().apply(tuple, axis=1).tolist()
    assert pairs == [("crl_mmnar", "raw", "basic_concat"), ("crl_mmnar", "rectified", "crl_mmnar"),
                     ("crl_mmnar", "rectified", "basic_concat"), ("basic_concat", "raw", "crl_mmnar"),
                     ("i_only", "raw", "crl_mmnar"), ("i_only", "raw", "basic_concat")]   # never itself
    assert len(table) == 6 * len(DEFAULT_TASKS) * 3 and (table["n_runs"] == 2).all()
    rows = table.set_index(["model", "variant", "reference", "task", "metric"])
    concat = rows.loc[("basic_concat", "raw", "crl_mmnar", "mortality_inhosp", "auc")]
    assert concat["ci_high"] < 0                             # noisier predictions, on the same patients
    # the comparison of one pair is the paired bootstrap of its runs, aligned by patient
    runs = []
    for r, split in enumerate(splits):
        test = split[split["split"] == "test"].merge(labels, on="subject_id").sort_values("subject_id")
        model, reference = (predictions[name][r].set_index("subject_id").reindex(test["subject_id"])["p_mortality_inhosp"]
                            for name in (("basic_concat", "raw"), ("crl_mmnar", "raw")))
        runs.append((test["mortality_inhosp"].to_numpy(), model.to_numpy(), reference.to_numpy()))
    ids = [split[split["split"] == "test"].merge(labels, on="subject_id").sort_values("subject_id")["subject_id"]
           .to_numpy() for split in splits]
    direct = paired_bootstrap(runs, 200, seed=0, run_keys=[(0, 0), (1, 0)], patients=ids).set_index("metric").loc["auc"]
    assert concat[["difference", "ci_low", "ci_high", "p_value", "p_permutation", "p_delong"]].tolist() == pytest.approx(
        direct[["difference", "ci_low", "ci_high", "p_value", "p_permutation", "p_delong"]].tolist())
    assert concat["p_permutation"] < 0.05 and concat["p_delong"] < 0.05
    assert table.loc[table["metric"] != "auc", "p_delong"].isna().all() and table["p_permutation"].notna().all()
    assert (table["reference_role"] == "configured").all() and table["reference_val_auc"].isna().all()
    # the single-modality reference is compared on its patients only
    test_patients = np.mean([(s["split"] == "test").sum() for s in splits])
    image = rows.loc[("i_only", "raw", "crl_mmnar", "mortality_inhosp", "auc"), "n_patients"]
    expected = np.mean([((s["split"] == "test") & has_image).sum() for s in splits])
    assert image == pytest.approx(expected) and image < 0.6 * test_patients
    readmit = rows.loc[("crl_mmnar", "raw", "basic_concat", "readmit_30d", "auc"), "n_patients"]
    assert readmit < test_patients                           # undefined labels are left out


def test_a_model_without_patients_gets_an_empty_comparison():
    """The MIMIC-IV demo has no images: i_only predicts NaN for everyone."""
    labels, splits, predictions, _ = workflow_frames(n=200)
    predictions[("i_only", "raw")] = [frame.assign(**{f"p_{t}": np.nan for t in DEFAULT_TASKS})
                                      for frame in predictions[("i_only", "raw")]]
    table = compare(predictions, labels, splits, [(0, 0), (1, 0)], ["crl_mmnar"], n_resamples=100)
    empty = table[table["model"] == "i_only"]
    assert len(empty) == 9 and (empty["n_runs"] == 0).all() and empty[["difference", "ci_low", "p_value"]].isna().all().all()


def test_compare_files_writes_the_csv_reproducibly(tmp_path):
    labels, splits, predictions, _ = workflow_frames(n=300, seed=1)
    labels.to_parquet(tmp_path / "labels.parquet")
    split_paths, prediction_paths = [tmp_path / f"seed{r}.parquet" for r in range(len(splits))], {}
    for split, path in zip(splits, split_paths):
        split.to_parquet(path)
    for (model, variant), frames in predictions.items():
        prediction_paths[(model, variant)] = []
        for r, frame in enumerate(frames):
            path = tmp_path / f"{model}_{variant}_{r}.parquet"
            frame.to_parquet(path)
            prediction_paths[(model, variant)].append(path)
    args = (prediction_paths, tmp_path / "labels.parquet", split_paths, [(0, 0), (1, 0)], ["crl_mmnar"])
    compare_files(*args, tmp_path / "a.csv", n_resamples=200, seed=3)
    compare_files(*args, tmp_path / "b.csv", n_resamples=200, seed=3)
    first = pd.read_csv(tmp_path / "a.csv")
    assert list(first.columns) == COLUMNS and set(first["reference"]) == {"crl_mmnar"}
    pd.testing.assert_frame_equal(first, pd.read_csv(tmp_path / "b.csv"))


def test_each_model_gets_its_own_bootstrap_interval():
    labels, splits, predictions, has_image = workflow_frames()
    table, intervals = compare_with_intervals(predictions, labels, splits, [(0, 0), (1, 0)], ["crl_mmnar"],
                                              n_resamples=200)
    assert list(intervals.columns) == INTERVAL_COLUMNS and len(intervals) == len(predictions) * len(DEFAULT_TASKS) * 3
    rows = intervals.set_index(["model", "variant", "task", "metric"])
    for name in (("crl_mmnar", "raw"), ("i_only", "raw")):
        values, sizes = [], []
        for r, split in enumerate(splits):
            test = split[split["split"] == "test"].merge(labels, on="subject_id").sort_values("subject_id")
            p = predictions[name][r].set_index("subject_id").reindex(test["subject_id"])["p_icu_90d"].to_numpy()
            keep = np.isfinite(p) & test["icu_90d"].notna().to_numpy()
            values.append(roc_auc_score(test["icu_90d"].to_numpy()[keep], p[keep]))
            sizes.append(keep.sum())
        row = rows.loc[(*name, "icu_90d", "auc")]
        assert row["estimate"] == pytest.approx(np.mean(values)) and row["n_patients"] == pytest.approx(np.mean(sizes))
        assert row["ci_low"] < row["estimate"] < row["ci_high"] and row["n_runs"] == 2
    # the image-only model, on 40 % of the patients, has the wider interval
    width = (rows["ci_high"] - rows["ci_low"]).xs("auc", level="metric")
    assert width.loc[("i_only", "raw", "icu_90d")] > width.loc[("crl_mmnar", "raw", "icu_90d")]
    pd.testing.assert_frame_equal(table, compare(predictions, labels, splits, [(0, 0), (1, 0)], ["crl_mmnar"],
                                                 n_resamples=200))


def history(val_aucs, is_best):
    """A trainer's history.csv: per epoch ``val_auc_<task>`` (the same for every task) and ``is_best``."""
    return pd.DataFrame({"epoch": range(1, len(val_aucs) + 1), **{f"val_auc_{t}": val_aucs for t in DEFAULT_TASKS},
                         "is_best": is_best})


def test_the_kept_epochs_validation_auc_is_read():
    kept = history([0.60, 0.70, 0.80], [True, True, False])     # early stopping on val_loss kept epoch 2
    assert selected_validation_auc(kept, "icu_90d") == 0.70
    assert selected_validation_auc(kept.assign(is_best=["True", "False", "False"]), "icu_90d") == 0.60  # read back
    assert selected_validation_auc(history([0.6, 0.5], [False, False]), "icu_90d") == 0.5   # none kept: the last
    assert np.isnan(selected_validation_auc(pd.DataFrame(), "icu_90d"))
    estimator = pd.DataFrame({"task": DEFAULT_TASKS, "n_iter": 1, "val_auc": [0.61, 0.62, 0.63]})
    assert selected_validation_auc(estimator, DEFAULT_TASKS[1]) == 0.62
    chosen = best_single_modality({"s_only": [history([0.7], [True]), history([0.6], [True])],
                                   "t_only": [history([0.66], [True]), history([0.66], [True])],
                                   "i_only": [pd.DataFrame(), pd.DataFrame()]})
    assert chosen == {task: ("t_only", pytest.approx(0.66)) for task in DEFAULT_TASKS}


def test_the_best_single_modality_reference_is_chosen_on_validation_not_test(tmp_path):
    """t_only is best on validation, s_only on test: t_only is the reference, whatever the test labels."""
    labels, splits, _, _ = workflow_frames(n=300, seed=2)
    rng = np.random.default_rng(0)
    has_text = rng.random(len(labels)) < 0.5
    noise = {"crl_mmnar": 0.5, "s_only": 0.3, "t_only": 2.0}
    predictions = {(model, "raw"): [] for model in noise}
    for split in splits:
        for (model, _), frames in predictions.items():
            frame = pd.DataFrame({"subject_id": labels["subject_id"], "split": split["split"]})
            for task in DEFAULT_TASKS:
                p = sigmoid(labels[task].fillna(0).to_numpy() + rng.normal(0, noise[model], len(labels)))
                frame[f"p_{task}"] = np.where(has_text | (model != "t_only"), p, np.nan)
            frames.append(frame)
    histories = {"s_only": [history([0.55, 0.62], [True, True])] * 2, "t_only": [history([0.74, 0.70], [True, False])] * 2}
    paths = {}
    for model, frames in histories.items():
        paths[model] = []
        for r, frame in enumerate(frames):
            frame.to_csv(tmp_path / f"{model}_history{r}.csv", index=False)
            paths[model].append(tmp_path / f"{model}_history{r}.csv")
    split_paths = [tmp_path / f"seed{r}.parquet" for r in range(len(splits))]
    for split, path in zip(splits, split_paths):
        split.to_parquet(path)
    prediction_paths = {}
    for (model, variant), frames in predictions.items():
        prediction_paths[(model, variant)] = []
        for r, frame in enumerate(frames):
            frame.to_parquet(tmp_path / f"{model}_{r}.parquet")
            prediction_paths[(model, variant)].append(tmp_path / f"{model}_{r}.parquet")
    chosen = []
    for k, test_labels in enumerate((labels, labels.assign(**{t: 1 - labels[t] for t in DEFAULT_TASKS}))):
        test_labels.to_parquet(tmp_path / f"labels{k}.parquet")
        table = compare_files(prediction_paths, tmp_path / f"labels{k}.parquet", split_paths, [(0, 0), (1, 0)],
                              ["crl_mmnar"], tmp_path / f"comparisons{k}.csv", n_resamples=100, n_permutations=100,
                              history_paths=paths, intervals_out=tmp_path / f"intervals{k}.csv")
        best = table[table["reference_role"] == "best_single_modality"]
        chosen.append(best.groupby("task")["reference"].unique().map(list).to_dict())
        assert best["reference_val_auc"].tolist() == pytest.approx([0.74] * len(best))
        assert set(best["model"]) == {"crl_mmnar", "s_only"}          # t_only is not compared with itself
        on_text = best.loc[(best["model"] == "crl_mmnar") & (best["metric"] == "auc"), "n_patients"]
        assert (on_text < 0.6 * table.loc[table["reference"] == "crl_mmnar", "n_patients"].max()).all()
        if k == 0:   # on test, s_only beats t_only: a choice on test labels would have been s_only
            s_vs_t = best.loc[(best["model"] == "s_only") & (best["metric"] == "auc"), "difference"]
            assert (s_vs_t > 0).all()
        assert pd.read_csv(tmp_path / f"intervals{k}.csv").columns.tolist() == INTERVAL_COLUMNS
    assert chosen[0] == chosen[1] == {task: ["t_only"] for task in DEFAULT_TASKS}


def test_a_default_sized_comparison_covers_every_pair():
    """(Its time is a benchmark's business, not a test's.) 1000 resamples and 1000 permutations, 20 model variants against 2 references and the best
    single-modality one × 3 tasks, 2 runs of 600 test patients (the default: 3 runs of 400)."""
    labels, splits, predictions, _ = workflow_frames(n=2000)
    many = {(f"model{k}", "raw"): predictions[("basic_concat", "raw")] for k in range(17)}
    many[("crl_mmnar", "raw")] = predictions[("crl_mmnar", "raw")]
    many[("basic_concat", "raw")] = predictions[("basic_concat", "raw")]
    many[("i_only", "raw")] = predictions[("i_only", "raw")]
    table, intervals = compare_with_intervals(many, labels, splits, [(0, 0), (1, 0)], ["crl_mmnar", "basic_concat"],
                                              n_resamples=1000, n_permutations=1000,
                                              best_single_modality={t: ("i_only", 0.6) for t in DEFAULT_TASKS})
    assert table["difference"].notna().all() and table["p_permutation"].notna().all()
    assert len(table) == (20 * 3 - 3) * 3 * 3 and intervals["ci_low"].notna().all()


# --------------------------------------------------------------------------------------------------
# Table 1: the paired difference and the leak mark


def metric_rows(models_variants, values):
    return pd.DataFrame([{"model": m, "variant": v, "scenario": "observed", "split_seed": s, "init_seed": 0,
                          "task": t, "metric": metric, "value": values[(m, v)] + 0.01 * s, "n_patients": 100}
                         for m, v in models_variants for s in range(2) for t in DEFAULT_TASKS
                         for metric in ("auc", "auprc", "brier")])


def comparison_rows(entries):
    return pd.DataFrame([{"model": m, "variant": v, "reference": ref, "task": t, "metric": metric,
                          "difference": d, "ci_low": d - 0.018, "ci_high": d + 0.018, "p_value": 0.2,
                          "n_patients": 100.0, "n_runs": 2}
                         for (m, v, ref), d in entries.items() for t in DEFAULT_TASKS for metric in ("auc", "auprc", "brier")],
                        columns=COLUMNS)


ROWS = [("crl_mmnar", "raw"), ("basic_concat", "raw"), ("crl_mmnar", "rectified"), ("oracle", "ground_truth")]
METRICS = metric_rows(ROWS, {("crl_mmnar", "raw"): 0.75, ("basic_concat", "raw"): 0.70,
                             ("crl_mmnar", "rectified"): 0.76, ("oracle", "ground_truth"): 0.9})
COMPARISONS = comparison_rows({("basic_concat", "raw", "crl_mmnar"): -0.012, ("crl_mmnar", "rectified", "crl_mmnar"): 0.006,
                               ("crl_mmnar", "raw", "basic_concat"): 0.012,
                               ("crl_mmnar", "rectified", "basic_concat"): 0.018})
AUDIT = pd.DataFrame([
    {"window": "paper", "task": t, "modality": "all", "check": "window reaches discharge", "deceased_share": 1.0,
     "survivor_share": 1.0, "leaks": t == "mortality_inhosp", "suppressed": False, "detail": ""} for t in DEFAULT_TASKS] + [
    {"window": "paper", "task": "mortality_inhosp", "modality": m, "check": "notes mention death", "deceased_share": 0.9,
     "survivor_share": 0.1, "leaks": m == "T", "suppressed": False, "detail": ""} for m in ("T", "R")] + [
    {"window": "paper", "task": "readmit_30d", "modality": "S", "check": "feature group drg (known at discharge)",
     "deceased_share": np.nan, "survivor_share": np.nan, "leaks": False, "suppressed": False, "detail": "used"}])


def test_table1_has_the_paired_auc_difference_to_the_first_reference():
    table = summarise(METRICS, ROWS, comparisons=COMPARISONS, reference="crl_mmnar").set_index(["model", "variant"])
    for task in DEFAULT_TASKS:
        assert table.loc[("basic_concat", "raw"), f"{task}_auc_diff"] == pytest.approx(-0.012)
        assert table.loc[("basic_concat", "raw"), f"{task}_auc_diff_ci_low"] == pytest.approx(-0.030)
        assert table.loc[("basic_concat", "raw"), f"{task}_auc_diff_ci_high"] == pytest.approx(0.006)
        assert table.loc[("crl_mmnar", "rectified"), f"{task}_auc_diff"] == pytest.approx(0.006)
        assert np.isnan(table.loc[("crl_mmnar", "raw"), f"{task}_auc_diff"])      # the reference itself
        assert np.isnan(table.loc[("oracle", "ground_truth"), f"{task}_auc_diff"])  # no predictions compared
    markdown = to_markdown(table.reset_index())
    assert "| Concatenation baseline (zero imputation) | 100 | 2 splits × 1 init | 0.705 ± 0.007 (Δ −0.012 [−0.030, 0.006]) |" \
        in markdown
    assert "(Δ 0.006 [−0.012, 0.024])" in markdown
    assert "Δ: paired difference in test AUC to CRL-MMNAR (no rectifier) on the same test patients" in markdown
    assert markdown.count("±") == len(table) * 9 and markdown.count("(Δ") == 2 * len(DEFAULT_TASKS)


def test_the_second_reference_is_in_the_comparisons_only():
    table = summarise(METRICS, ROWS, comparisons=COMPARISONS, reference="basic_concat").set_index(["model", "variant"])
    assert table.loc[("crl_mmnar", "raw"), "mortality_inhosp_auc_diff"] == pytest.approx(0.012)
    assert np.isnan(table.loc[("basic_concat", "raw"), "mortality_inhosp_auc_diff"])


def test_leaked_tasks_are_marked_in_the_csv_and_every_markdown_cell():
    assert leaked_tasks(AUDIT) == {"mortality_inhosp": ["window reaches discharge", "notes mention death (T)"]}
    from_csv = AUDIT.assign(leaks=AUDIT["leaks"].map(str))               # as read back from leakage_audit.csv
    assert leaked_tasks(from_csv) == leaked_tasks(AUDIT)
    table = summarise(METRICS, ROWS, comparisons=COMPARISONS, reference="crl_mmnar", audit=AUDIT)
    assert table["mortality_inhosp_leaked"].all()
    assert not table["readmit_30d_leaked"].any() and not table["icu_90d_leaked"].any()
    markdown = to_markdown(table, leaked_tasks(AUDIT))
    lines = markdown.splitlines()
    body = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    for line in body:
        cells = line.strip("| ").split(" | ")[3:]
        assert [cell.endswith(" †") for cell in cells] == [t == "mortality_inhosp" for t in DEFAULT_TASKS for _ in range(3)]
    assert "† leaked: mortality_inhosp: window reaches discharge, notes mention death (T); not a prediction result." \
        in lines
    assert markdown.count("±") == len(table) * 9


def test_a_table_without_comparisons_or_audit_is_unchanged():
    table = summarise(METRICS, ROWS)
    assert not [c for c in table.columns if c.endswith(("_diff", "_leaked"))]
    markdown = to_markdown(table)
    assert "Δ" not in markdown and "†" not in markdown


# --------------------------------------------------------------------------------------------------
# reporting.references


def test_references_must_be_registered_and_trained():
    import copy

    import yaml

    from mmnar.config import ConfigError, SCHEMA, check_model_params, validate_config
    from workflow_runner import REPO

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert config["reporting"]["references"] == ["crl_mmnar", "basic_concat"]
    del config["reporting"]["references"]
    assert validate_config(copy.deepcopy(config), SCHEMA)["reporting"]["references"] == ["crl_mmnar", "basic_concat"]
    config["reporting"]["references"] = ["crl_mnar"]
    with pytest.raises(ConfigError, match=r"config 'reporting.references\[0\]': 'crl_mnar' is not one of \['crl_mmnar'"):
        validate_config(copy.deepcopy(config), SCHEMA)
    config = validate_config({**config, "models": ["crl_mmnar", "lstm"], "reporting": {
        "min_cell_count": 10, "references": ["crl_mmnar", "basic_concat"]}}, SCHEMA)
    with pytest.raises(ConfigError) as error:
        check_model_params(config)
    assert str(error.value) == ("config 'reporting.references': ['basic_concat'] not in 'models'; add them there or "
                                "remove them here (every model is compared with these)")
