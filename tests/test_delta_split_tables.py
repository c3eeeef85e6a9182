"""δ assembly, Figure 1 statistics, patient-level splits and table summaries."""

import numpy as np
import pandas as pd
import pytest

from mmnar.data.tasks import TASK_NAMES
from mmnar.data.split import make_split
from mmnar.model_input.delta import build_model_input
from mmnar.modalities import registry
from mmnar.reporting.figures import pattern_outcomes, wilson_interval
from mmnar.reporting.tables import summarise, table1_rows, to_markdown


def write_embedding(path, subject_ids, dim, value):
    frame = pd.DataFrame({"subject_id": subject_ids})
    for k in range(dim):
        frame[f"emb_{k}"] = np.float32(value)
    frame.to_parquet(path, index=False)


def test_model_input_aligns_rows_and_sets_delta(tmp_path):
    cohort = pd.DataFrame({"subject_id": [30, 10, 20], "readmit_30d": [1.0, np.nan, 0.0],
                           "icu_90d": [0.0, np.nan, 1.0], "mortality_inhosp": [0.0, 1.0, 0.0]})
    cohort.to_parquet(tmp_path / "cohort.parquet")
    paths = {m: {"vector": tmp_path / f"{m}.parquet"} for m in "SITR"}
    write_embedding(paths["S"]["vector"], [10, 20, 30], 2, 1.0)
    write_embedding(paths["I"]["vector"], [20], 3, 2.0)
    write_embedding(paths["T"]["vector"], [30, 10], 4, 3.0)
    write_embedding(paths["R"]["vector"], [], 4, 0.0)
    paths["S"]["sequence"] = tmp_path / "S_series.npz"
    np.savez(paths["S"]["sequence"], subject_id=np.array([20, 30]), values=np.arange(8, dtype=np.float32).reshape(2, 2, 2),
             features=np.array(["a", "b"]), hours=np.array([0.0, 1.0]))
    labels = build_model_input(tmp_path / "cohort.parquet", paths, tmp_path / "out")
    delta = np.load(tmp_path / "out" / "delta.npy")
    assert delta.tolist() == [[1, 0, 1, 0], [1, 0, 1, 0], [1, 1, 0, 0]]
    image = np.load(tmp_path / "out" / "I.npy")
    assert image.shape == (3, 3) and image[2].tolist() == [2.0] * 3 and not image[:2].any()
    assert labels["pattern"].tolist() == ["S+T", "S+T", "S+I"]
    assert labels["pattern_id"].tolist() == [5, 5, 3]
    assert labels["subject_id"].tolist() == [30, 10, 20]
    series = np.load(tmp_path / "out" / "S_series.npy")
    assert series.shape == (3, 2, 2) and np.isnan(series[1]).all() and series[0].tolist() == [[4, 5], [6, 7]]


def test_pattern_ids_are_one_encoding_with_bit_k_for_the_kth_registered_modality():
    assert registry.names()[:4] == ("S", "I", "T", "R")
    delta = np.array([[1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]])
    assert registry.pattern_ids(delta).tolist() == [1, 15, 8, 0]
    assert [registry.pattern_name(bits) for bits in delta] == ["S", "S+I+T+R", "R", "none"]


def test_pattern_outcomes_count_only_defined_labels():
    labels = pd.DataFrame({"subject_id": range(4), "pattern_id": [1, 1, 1, 3], "pattern": ["S"] * 3 + ["S+I"],
                           "readmit_30d": [1.0, 0.0, np.nan, 1.0], "icu_90d": [0.0, 0.0, np.nan, 1.0],
                           "mortality_inhosp": [0.0, 0.0, 1.0, 0.0]})
    table = pattern_outcomes(labels).set_index(["pattern", "task"])
    assert table.loc[("S", "readmit_30d"), "n_defined"] == 2
    assert table.loc[("S", "readmit_30d"), "rate"] == 0.5
    assert table.loc[("S", "mortality_inhosp"), "n_events"] == 1
    assert (table["ci_low"] <= table["rate"]).all() and (table["rate"] <= table["ci_high"]).all()


def test_pattern_outcomes_suppress_small_cells():
    n = 40
    labels = pd.DataFrame({"subject_id": range(n), "pattern_id": [1] * 35 + [3] * 5,
                           "pattern": ["S"] * 35 + ["S+I"] * 5,
                           "readmit_30d": [1.0] * 15 + [0.0] * 20 + [1.0] * 5,
                           "icu_90d": [1.0] * 3 + [0.0] * 32 + [0.0] * 5,
                           "mortality_inhosp": [0.0] * n})
    table = pattern_outcomes(labels, min_cell_count=10).set_index(["pattern", "task"])
    assert not table.loc[("S", "readmit_30d"), "suppressed"] and table.loc[("S", "readmit_30d"), "n_events"] == 15
    assert table.loc[("S", "icu_90d"), "suppressed"]                 # 3 events
    assert table.loc[("S", "icu_90d")][["n_events", "rate", "ci_low", "ci_high"]].isna().all()
    assert table.loc[("S", "mortality_inhosp"), "n_events"] == 0      # zero is not a small cell
    assert table.loc["S+I"]["suppressed"].all() and table.loc["S+I"]["n_patients"].isna().all()


def test_wilson_interval_matches_reference_value():
    low, high = wilson_interval(np.array([10]), np.array([100]))
    assert low[0] == pytest.approx(0.0552, abs=1e-4) and high[0] == pytest.approx(0.1744, abs=1e-4)


def synthetic_labels(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    death = (rng.random(n) < 0.1).astype(float)
    readmit = np.where(death == 1, np.nan, (rng.random(n) < 0.2).astype(float))
    return pd.DataFrame({"subject_id": np.arange(n) + 100, "mortality_inhosp": death,
                         "readmit_30d": readmit, "icu_90d": readmit})


def test_split_is_seeded_disjoint_and_stratified():
    labels = synthetic_labels()
    split = make_split(labels, seed=0, val_fraction=0.15, test_fraction=0.2)
    assert split.equals(make_split(labels, seed=0, val_fraction=0.15, test_fraction=0.2))
    assert not split.equals(make_split(labels, seed=1, val_fraction=0.15, test_fraction=0.2))
    counts = split["split"].value_counts()
    assert counts["test"] == 200 and counts["val"] == 150 and counts["train"] == 650
    merged = split.merge(labels, on="subject_id")
    rates = merged.groupby("split")["mortality_inhosp"].mean()
    assert rates.max() - rates.min() < 0.01


def test_split_rejects_several_rows_per_patient():
    labels = synthetic_labels(20)
    labels.loc[1, "subject_id"] = labels.loc[0, "subject_id"]
    with pytest.raises(ValueError, match="by patient"):
        make_split(labels, seed=0, val_fraction=0.2, test_fraction=0.2)


def test_summary_reports_mean_and_sd_over_runs_and_says_over_what():
    rows = [{"model": "crl_mmnar", "variant": "raw", "scenario": "observed", "split_seed": s, "init_seed": 0,
             "task": t, "metric": "auc", "value": v, "n_patients": 50 + s}
            for s, v in enumerate([0.6, 0.8]) for t in TASK_NAMES]
    table = summarise(pd.DataFrame(rows), [("crl_mmnar", "raw"), ("basic_concat", "raw")])
    assert len(table) == 1 and (table.loc[0, "n_splits"], table.loc[0, "n_inits"]) == (2, 1)
    assert table.loc[0, "sd_over"] == "2 splits × 1 init" and table.loc[0, "n_test_patients"] == 50.5
    assert table.loc[0, "label"] == "CRL-MMNAR"
    assert table.loc[0, "readmit_30d_auc_mean"] == pytest.approx(0.7)
    assert table.loc[0, "readmit_30d_auc_sd"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert "0.700 ± 0.141" in to_markdown(table)


def test_table1_has_a_row_per_model_then_rectified_variants_then_the_oracle():
    rows = table1_rows(["crl_mmnar", "drfuse"], ["crl_mmnar"], paper_variant=True, oracle=True)
    assert rows == [["crl_mmnar", "raw"], ["drfuse", "raw"], ["crl_mmnar", "rectified"],
                    ["crl_mmnar", "paper_crossfit_test"], ["oracle", "ground_truth"], ["oracle", "recorded"],
                    ["oracle", "recorded_no_delta"]]
