"""Paired bootstrap comparisons (mmnar.evaluation.paired) and how Table 1 shows them and leaked tasks."""

import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from mmnar.data.tasks import TASK_NAMES
from mmnar.evaluation.paired import (COLUMNS, compare, compare_files, paired_bootstrap, rank_auc, resample_counts,
                                     weighted_metrics)
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


def test_the_labels_beat_a_random_model():
    rng, y, _ = labels_and_score()
    result = paired_bootstrap([(y, y.copy(), rng.random(len(y)))], n_resamples=300).set_index("metric")
    assert result.loc["auc", "difference"] == pytest.approx(1 - roc_auc_score(y, rng.random(len(y))), abs=0.1)
    assert result.loc["auc", "ci_low"] > 0 and result.loc["auprc", "ci_low"] > 0
    assert result.loc["brier", "ci_high"] < 0                # perfect predictions: Brier 0, lower is better
    assert (result["p_value"] == 0).all()


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
# Every model against the references, from the workflow's frames and files


def workflow_frames(n=400, seed=0):
    """labels.parquet, two split files and per-run predictions of three models (i_only: 40 % of patients)."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1000, 1000 + n)
    labels = pd.DataFrame({"subject_id": ids, **{t: (rng.random(n) < 0.3).astype(float) for t in TASK_NAMES}})
    labels.loc[:20, "readmit_30d"] = np.nan
    has_image = rng.random(n) < 0.4
    splits, predictions = [], {("crl_mmnar", "raw"): [], ("crl_mmnar", "rectified"): [], ("basic_concat", "raw"): [],
                               ("i_only", "raw"): []}
    for run in range(2):
        splits.append(pd.DataFrame({"subject_id": ids, "split": rng.choice(["train", "val", "test"], n, p=[.5, .2, .3])}))
        for (model, variant), frames in predictions.items():
            noise = {"crl_mmnar": 0.5, "basic_concat": 1.0, "i_only": 1.5}[model] + 0.1 * (variant == "rectified")
            frame = pd.DataFrame({"subject_id": ids, "split": splits[-1]["split"]})
            for task in TASK_NAMES:
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
    assert len(table) == 6 * len(TASK_NAMES) * 3 and (table["n_runs"] == 2).all()
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
    direct = paired_bootstrap(runs, 200, seed=0, run_keys=[(0, 0), (1, 0)]).set_index("metric").loc["auc"]
    assert concat[["difference", "ci_low", "ci_high", "p_value"]].tolist() == pytest.approx(
        direct[["difference", "ci_low", "ci_high", "p_value"]].tolist())
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
    predictions[("i_only", "raw")] = [frame.assign(**{f"p_{t}": np.nan for t in TASK_NAMES})
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


def test_a_default_sized_comparison_is_fast():
    """B = 1000 on 3 runs × 20 model variants × 3 tasks of 400 test patients (the default cohort)."""
    labels, splits, predictions, _ = workflow_frames(n=2000)
    many = {(f"model{k}", "raw"): predictions[("basic_concat", "raw")] for k in range(18)}
    many[("crl_mmnar", "raw")] = predictions[("crl_mmnar", "raw")]
    many[("basic_concat", "raw")] = predictions[("basic_concat", "raw")]
    start = time.perf_counter()
    table = compare(many, labels, splits, [(0, 0), (1, 0)], ["crl_mmnar", "basic_concat"], n_resamples=1000)
    assert time.perf_counter() - start < 30
    assert table["difference"].notna().all()


# --------------------------------------------------------------------------------------------------
# Table 1: the paired difference and the leak mark


def metric_rows(models_variants, values):
    return pd.DataFrame([{"model": m, "variant": v, "scenario": "observed", "split_seed": s, "init_seed": 0,
                          "task": t, "metric": metric, "value": values[(m, v)] + 0.01 * s, "n_patients": 100}
                         for m, v in models_variants for s in range(2) for t in TASK_NAMES
                         for metric in ("auc", "auprc", "brier")])


def comparison_rows(entries):
    return pd.DataFrame([{"model": m, "variant": v, "reference": ref, "task": t, "metric": metric,
                          "difference": d, "ci_low": d - 0.018, "ci_high": d + 0.018, "p_value": 0.2,
                          "n_patients": 100.0, "n_runs": 2}
                         for (m, v, ref), d in entries.items() for t in TASK_NAMES for metric in ("auc", "auprc", "brier")],
                        columns=COLUMNS)


ROWS = [("crl_mmnar", "raw"), ("basic_concat", "raw"), ("crl_mmnar", "rectified"), ("oracle", "ground_truth")]
METRICS = metric_rows(ROWS, {("crl_mmnar", "raw"): 0.75, ("basic_concat", "raw"): 0.70,
                             ("crl_mmnar", "rectified"): 0.76, ("oracle", "ground_truth"): 0.9})
COMPARISONS = comparison_rows({("basic_concat", "raw", "crl_mmnar"): -0.012, ("crl_mmnar", "rectified", "crl_mmnar"): 0.006,
                               ("crl_mmnar", "raw", "basic_concat"): 0.012,
                               ("crl_mmnar", "rectified", "basic_concat"): 0.018})
AUDIT = pd.DataFrame([
    {"window": "paper", "task": t, "modality": "all", "check": "window reaches discharge", "deceased_share": 1.0,
     "survivor_share": 1.0, "leaks": t == "mortality_inhosp", "suppressed": False, "detail": ""} for t in TASK_NAMES] + [
    {"window": "paper", "task": "mortality_inhosp", "modality": m, "check": "notes mention death", "deceased_share": 0.9,
     "survivor_share": 0.1, "leaks": m == "T", "suppressed": False, "detail": ""} for m in ("T", "R")] + [
    {"window": "paper", "task": "readmit_30d", "modality": "S", "check": "feature group drg (known at discharge)",
     "deceased_share": np.nan, "survivor_share": np.nan, "leaks": False, "suppressed": False, "detail": "used"}])


def test_table1_has_the_paired_auc_difference_to_the_first_reference():
    table = summarise(METRICS, ROWS, comparisons=COMPARISONS, reference="crl_mmnar").set_index(["model", "variant"])
    for task in TASK_NAMES:
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
    assert markdown.count("±") == len(table) * 9 and markdown.count("(Δ") == 2 * len(TASK_NAMES)


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
        assert [cell.endswith(" †") for cell in cells] == [t == "mortality_inhosp" for t in TASK_NAMES for _ in range(3)]
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
