"""The hourly form of S (rules/sql/structured_series.sql): bins, anchors, horizon and window, on a
hand-made fixture whose right answer is known cell by cell; the same result through the BigQuery
emulator; the same items as structured.sql; and agreement with structured.sql on the real demo."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mimic_fixture
from mimic_fixture import write_fixture
from mmnar.data.extract import extract_cohort, extract_structured
from mmnar.data.sources.local import LocalSource
from mmnar.data.sql import read_sql, with_sampled_cohort
from mmnar.data.sql_portability import check_sql_dir, problems, shared_statements
from mmnar.modalities.series import (align_series, bin_hours, extract_structured_series, feature_names,
                                     item_features, load_series)

ROOT = Path(__file__).resolve().parents[1]
SQL = ROOT / "rules" / "sql"
DEMO = ROOT.parent / "shared" / "data" / "mimic-iv-demo-2.2"

# Hand-placed rows on top of tests/mimic_fixture.py (whose own rows are kept), with the bin each lands
# in. Patient 1: early window [01-02 00:00, 01-04 00:00], paper window [01-01 10:00, 01-10 12:00].
# Patient 3: early [01-01 09:00, 01-03 09:00], paper [01-01 08:00, 01-05 09:00] (97 h).
EXTRA_CHARTEVENTS = [
    # subject_id, hadm_id, stay_id, charttime, itemid, valuenum
    (1, 101, 1001, "2150-01-01 23:00:00", 220045, 500.0),   # before intime: outside the early window
    (1, 101, 1001, "2150-01-02 00:00:00", 220045, 70.0),    # early: exactly at the anchor -> bin 0
    (1, 101, 1001, "2150-01-02 01:30:00", 220045, 90.0),    # early bin 1, with the fixture's 80 at 01:00
    (1, 101, 1001, "2150-01-03 00:00:00", 220045, 65.0),    # early: exactly 24 h -> last bin (closed end)
    (1, 101, 1001, "2150-01-09 11:59:00", 220045, 999.0),   # paper: 24 h 1 min before the end -> dropped
    (1, 101, 1001, "2150-01-09 12:00:00", 220045, 55.0),    # paper: exactly 24 h before -> bin 0
    (1, 101, 1001, "2150-01-10 11:00:00", 220045, 60.0),    # paper: exactly 1 h before -> bin 22
    (1, 101, 1001, "2150-01-10 11:30:00", 220045, 70.0),    # paper bin 23
    (1, 101, 1001, "2150-01-10 12:00:00", 220045, 90.0),    # paper: at window_end -> bin 23
    (1, 101, 1001, "2150-01-10 09:30:00", 220179, 110.0),   # paper bin 21 (2.5 h before the end)
    (1, 101, 1001, "2150-01-10 10:00:00", 220179, "inf"),   # paper bin 21: left out of the mean
    (1, 101, 1001, "2150-01-10 08:00:00", 220180, "nan"),   # paper bin 19: its only value is NaN
    (3, 301, 3001, "2150-01-03 10:00:00", 220045, 777.0),   # early: 49 h, after the 48 h window
]
EXTRA_LABEVENTS = [
    # labevent_id, subject_id, hadm_id, itemid, charttime, valuenum
    (6, 1, 101, 50912, "2150-01-10 06:00:00", 2.0),     # paper bin 17
    (7, 1, None, 50912, "2150-01-10 06:30:00", 4.0),    # paper bin 18: no hadm_id, in the window
    (8, 3, None, 50813, "2150-01-01 07:00:00", 8.0),    # before admittime: outside the paper window
]
NONFINITE = {"inf", "nan"}
F = {name: i for i, name in enumerate(feature_names(read_sql(SQL / "structured.sql")))}


def write_series_fixture(root: Path, finite_only: bool = False) -> dict[str, Path]:
    folders = write_fixture(root)
    keep = (lambda row: not NONFINITE & set(map(str, row))) if finite_only else (lambda row: True)
    mimic_fixture._write(folders["mimiciv"] / "icu/chartevents.csv.gz",
                         ["subject_id", "hadm_id", "stay_id", "charttime", "itemid", "valuenum"],
                         [r for r in mimic_fixture.CHARTEVENTS + EXTRA_CHARTEVENTS if keep(r)])
    mimic_fixture._write(folders["mimiciv"] / "hosp/labevents.csv.gz",
                         ["labevent_id", "subject_id", "hadm_id", "itemid", "charttime", "valuenum"],
                         [r for r in mimic_fixture.LABEVENTS + EXTRA_LABEVENTS if keep(r)])
    return folders


@pytest.fixture
def fixture(tmp_path):
    folders = write_series_fixture(tmp_path / "mimic")
    return LocalSource(folders["mimiciv"]), tmp_path


def series_for(source, tmp_path: Path, window: str, horizon_hours: int) -> dict[str, np.ndarray]:
    cohort = tmp_path / f"cohort_{window}.parquet"
    extract_cohort(source, SQL / "cohort.sql", cohort, tmp_path / "q_cohort.json", window, 48, None, 0)
    out = tmp_path / f"series_{window}_{horizon_hours}.npz"
    written = extract_structured_series(source, SQL / "cohort.sql", SQL / "structured_series.sql", cohort, out,
                                        window, 48, horizon_hours)
    series = load_series(out)
    for key in written:
        np.testing.assert_array_equal(written[key], series[key])
    return series


def cell(series, subject_id: int, step: int, feature: str) -> float:
    row = int(np.flatnonzero(series["subject_id"] == subject_id)[0])
    return float(series["values"][row, step, F[feature]])


def measured_cells(series) -> set[tuple[int, int, str]]:
    names = series["features"].tolist()
    rows, steps, columns = np.nonzero(np.isfinite(series["values"]))
    return {(int(series["subject_id"][r]), int(s), names[c]) for r, s, c in zip(rows, steps, columns)}


def test_early_anchor_bins_forward_from_icu_intime(fixture):
    source, tmp = fixture
    series = series_for(source, tmp, "early", 24)
    assert series["subject_id"].dtype == np.int64 and series["values"].dtype == np.float32
    assert series["subject_id"].tolist() == [1, 3]              # 4 and 5 have no measurement
    assert series["values"].shape == (2, 24, len(F))
    assert series["features"].tolist() == list(F)
    np.testing.assert_array_equal(series["hours"], np.arange(24.0))
    assert cell(series, 1, 0, "heart_rate") == 70.0             # at intime exactly
    assert cell(series, 1, 1, "heart_rate") == pytest.approx(85.0)   # 80 at 01:00 and 90 at 01:30
    assert cell(series, 1, 23, "heart_rate") == 65.0            # at 24 h exactly: the closed end
    assert cell(series, 1, 6, "creatinine") == 1.0
    assert cell(series, 3, 16, "heart_rate") == 120.0
    assert cell(series, 3, 21, "lactate") == 4.0
    # 500 before intime, 100 at 25 h and creatinine 3.0 at 30 h are outside the horizon or window
    assert measured_cells(series) == {(1, 0, "heart_rate"), (1, 1, "heart_rate"), (1, 23, "heart_rate"),
                                      (1, 6, "creatinine"), (3, 16, "heart_rate"), (3, 21, "lactate")}


def test_early_horizon_longer_than_the_window_keeps_only_window_bins(fixture):
    source, tmp = fixture
    series = series_for(source, tmp, "early", 72)
    assert cell(series, 1, 25, "heart_rate") == 100.0           # at 25 h, inside the 48 h window
    assert cell(series, 1, 30, "creatinine") == 3.0             # a lab without hadm_id
    values = series["values"][:, 48:]                           # bin 48 starts at window_end
    assert not np.isfinite(values).any()                        # 777 at 49 h and 150 at 71 h are dropped


def test_paper_anchor_ends_at_window_end(fixture):
    source, tmp = fixture
    series = series_for(source, tmp, "paper", 24)
    assert series["subject_id"].tolist() == [1]                 # 3 is measured, but not in its last 24 h
    np.testing.assert_array_equal(series["hours"], np.arange(-24.0, 0.0))
    assert cell(series, 1, 23, "heart_rate") == pytest.approx(80.0)  # 70 at 11:30 and 90 at window_end
    assert cell(series, 1, 22, "heart_rate") == 60.0            # exactly 1 h before the end
    assert cell(series, 1, 0, "heart_rate") == 55.0             # exactly 24 h before the end
    assert cell(series, 1, 17, "creatinine") == 2.0
    assert cell(series, 1, 18, "creatinine") == 4.0
    assert cell(series, 1, 21, "sbp") == 110.0                  # the inf in the same bin is left out
    assert math.isnan(cell(series, 1, 19, "dbp"))               # a bin holding only NaN is unmeasured
    assert measured_cells(series) == {(1, 0, "heart_rate"), (1, 22, "heart_rate"), (1, 23, "heart_rate"),
                                      (1, 17, "creatinine"), (1, 18, "creatinine"), (1, 21, "sbp")}


def test_paper_short_stay_fills_only_the_last_bins(fixture):
    source, tmp = fixture
    series = series_for(source, tmp, "paper", 120)              # patient 3's window is 97 h long
    assert series["subject_id"].tolist() == [1, 3]
    assert cell(series, 3, 120 - 1 - 80, "heart_rate") == 120.0  # 80 h before discharge
    assert cell(series, 3, 120 - 1 - 75, "lactate") == 4.0
    assert cell(series, 3, 120 - 1 - 47, "heart_rate") == 777.0
    row = int(np.flatnonzero(series["subject_id"] == 3)[0])
    # admittime is 97 h before the end (bin 22): the lactate of 8.0 an hour earlier is not in the window
    assert not np.isfinite(series["values"][row, :23]).any()


def test_non_finite_values_are_counted_not_averaged(fixture):
    source, tmp = fixture
    cohort = tmp / "cohort.parquet"
    extract_cohort(source, SQL / "cohort.sql", cohort, tmp / "q.json", "paper", 48, None, 0)
    sql = with_sampled_cohort(read_sql(SQL / "structured_series.sql"), read_sql(SQL / "cohort.sql"))
    long = source.query(sql, {"window": "paper", "early_hours": 48, "horizon_hours": 24,
                              "subject_ids": pd.read_parquet(cohort)["subject_id"].tolist()})
    assert list(long.columns) == ["subject_id", "bin", "feature", "mean", "n", "n_nonfinite"]
    rows = long.set_index(["subject_id", "bin", "feature"])
    assert rows.loc[(1, 21, "sbp"), ["n", "n_nonfinite"]].tolist() == [1, 1]
    assert rows.loc[(1, 19, "dbp"), ["n", "n_nonfinite"]].tolist() == [0, 1]
    assert np.isnan(rows.loc[(1, 19, "dbp"), "mean"])
    assert rows.loc[(1, 23, "heart_rate"), "n"] == 2


def test_align_series_to_cohort_order(fixture):
    source, tmp = fixture
    series = series_for(source, tmp, "early", 24)
    aligned = align_series(series, np.array([5, 3, 1, 4]))
    assert aligned.shape == (4, 24, len(F)) and aligned.dtype == np.float32
    assert np.isnan(aligned[[0, 3]]).all()
    np.testing.assert_array_equal(aligned[1], series["values"][1])
    np.testing.assert_array_equal(aligned[2], series["values"][0])


def test_bad_horizon_and_bin_hours():
    np.testing.assert_array_equal(bin_hours("paper", 3), [-3.0, -2.0, -1.0])
    np.testing.assert_array_equal(bin_hours("early", 3), [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="horizon_hours"):
        extract_structured_series(None, SQL / "cohort.sql", SQL / "structured_series.sql", Path("x"), Path("y"),
                                  "early", 48, 0)


def test_load_series_rejects_other_npz(tmp_path):
    np.savez(tmp_path / "other.npz", values=np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="not a structured series file"):
        load_series(tmp_path / "other.npz")


def test_both_forms_of_s_measure_the_same_items():
    vector = item_features(read_sql(SQL / "structured.sql"))
    sequence = item_features(read_sql(SQL / "structured_series.sql"))
    assert len(vector) == 23 and len({item for _, item, _ in vector}) == 23
    assert sequence == vector


def test_series_sql_is_portable():
    # tests/test_bigquery_portability.py checks every rules/sql/*.sql (shared_statements globs the
    # folder); this pins that the series query, composed with the sampled cohort, is among them.
    statements = shared_statements(SQL)
    assert {"structured_series.sql", "structured_series.sql + cohort"} <= set(statements)
    assert problems(statements["structured_series.sql + cohort"]) == []
    assert check_sql_dir(SQL) == {}


# --- the same query through the real BigQuery client and the local emulator ---------------------

HELPER = ROOT / ".ci" / "bqemulator"
VENV = Path(os.environ.get("MMNAR_BQEMULATOR_VENV", ROOT / ".ci-venvs" / "bqemulator"))  # as .ci/run builds it


def _emulator():
    spec = importlib.util.spec_from_file_location("bqemulator_helper", HELPER / "emulator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def emulated(tmp_path_factory):
    """The finite rows of the fixture in DuckDB and in a running emulator (as a ``bigquery`` config).

    Non-finite values are left out here: a CSV load into BigQuery does not parse them as the local
    reader does, and their handling is checked above.
    """
    emulator = _emulator()
    folders = write_series_fixture(tmp_path_factory.mktemp("mimic"), finite_only=True)
    subprocess.run([str(HELPER / "install.sh"), str(VENV)], check=True)
    log = tmp_path_factory.mktemp("bqemulator") / "server.log"
    process, endpoint = emulator.start(VENV, log)
    try:
        datasets = emulator.load_physionet(endpoint, folders["mimiciv"], None)
        yield folders, {"source": "bigquery", "bigquery": {
            "project": emulator.PROJECT, "datasets": datasets, "api_endpoint": endpoint, "anonymous": True,
            "cache_dir": str(tmp_path_factory.mktemp("bigquery-cache"))}}
    finally:
        emulator.stop(process.pid)


@pytest.mark.parametrize(("window", "horizon_hours"), [("early", 24), ("paper", 24), ("paper", 120)])
def test_bigquery_emulator_series_matches_local(emulated, tmp_path, window, horizon_hours):
    from mmnar.data.sources import open_source
    from mmnar.data.sources.bigquery import BigQuerySource

    folders, config = emulated
    local = LocalSource(folders["mimiciv"])
    cohort = tmp_path / "cohort.parquet"
    extract_cohort(local, SQL / "cohort.sql", cohort, tmp_path / "q.json", window, 48, None, 0)
    sql = with_sampled_cohort(read_sql(SQL / "structured_series.sql"), read_sql(SQL / "cohort.sql"))
    params = {"window": window, "early_hours": 48, "horizon_hours": horizon_hours,
              "subject_ids": pd.read_parquet(cohort)["subject_id"].tolist()}
    remote_source = open_source(config)
    assert isinstance(remote_source, BigQuerySource)
    frames = [source.query(sql, params) for source in (local, remote_source)]
    assert len(frames[0]) > 0
    pd.testing.assert_frame_equal(*(f.reset_index(drop=True) for f in frames), check_dtype=False)
    out = {}
    for name, source in (("local", local), ("bigquery", remote_source)):
        out[name] = extract_structured_series(source, SQL / "cohort.sql", SQL / "structured_series.sql", cohort,
                                              tmp_path / f"{name}.npz", window, 48, horizon_hours)
    for key in out["local"]:
        np.testing.assert_array_equal(out["local"][key], out["bigquery"][key])


# --- the real MIMIC-IV demo --------------------------------------------------------------------

demo = pytest.mark.skipif(not (DEMO / "hosp" / "admissions.csv.gz").exists(),
                          reason=f"MIMIC-IV demo not found at {DEMO}")


@demo
@pytest.mark.parametrize(("window", "horizon_hours"), [("early", 48), ("paper", 48)])
def test_demo_series_agrees_with_structured_means(tmp_path, window, horizon_hours):
    source = LocalSource(DEMO)
    cohort_path = tmp_path / "cohort.parquet"
    cohort = extract_cohort(source, SQL / "cohort.sql", cohort_path, tmp_path / "q.json", window, 48, None, 0)
    started = time.perf_counter()
    series = extract_structured_series(source, SQL / "cohort.sql", SQL / "structured_series.sql", cohort_path,
                                       tmp_path / "series.npz", window, 48, horizon_hours)
    print(f"\n{window}: structured series extraction on the demo took {time.perf_counter() - started:.2f} s")
    n = len(series["subject_id"])
    assert series["values"].shape == (n, horizon_hours, len(F)) and 0.8 * len(cohort) <= n <= len(cohort)
    assert set(series["subject_id"]) <= set(cohort["subject_id"])
    assert np.isfinite(series["values"]).any(axis=(0, 1)).sum() >= 15    # most features are measured
    extract_structured(source, SQL / "cohort.sql", SQL / "structured.sql", cohort_path, tmp_path / "s.parquet",
                       tmp_path / "q_s.json", window, 48)
    vector = pd.read_parquet(tmp_path / "s.parquet").set_index("subject_id")
    # Count-weighted bin means must give structured.sql's mean wherever the whole window's values fall
    # inside the horizon, i.e. the bin counts add up to structured.sql's n.
    long = source.query(with_sampled_cohort(read_sql(SQL / "structured_series.sql"), read_sql(SQL / "cohort.sql")),
                        {"window": window, "early_hours": 48, "horizon_hours": horizon_hours,
                         "subject_ids": cohort["subject_id"].tolist()})
    long = long[long["n"] > 0].assign(total=lambda f: f["mean"] * f["n"])
    per_patient = long.groupby(["subject_id", "feature"])[["total", "n"]].sum()
    compared = 0
    for (subject_id, feature), row in per_patient.iterrows():
        assert row["n"] <= vector.loc[subject_id, f"{feature}_n"]   # the horizon is part of the window
        if row["n"] == vector.loc[subject_id, f"{feature}_n"]:
            assert row["total"] / row["n"] == pytest.approx(vector.loc[subject_id, f"{feature}_mean"], rel=1e-9)
            compared += 1
    assert compared >= 100
    if window == "early":   # a 48 h window inside a closed 48 h horizon: every value is in the series
        measured = vector[[f"{feature}_n" for feature in F if f"{feature}_n" in vector.columns]]
        assert int(per_patient["n"].sum()) == int(measured.to_numpy().sum())
        with_values = set(vector.index[measured.sum(axis=1) > 0])
        assert set(series["subject_id"]) == with_values
    # the arrays hold exactly the per-bin means of the query
    row_of = {s: i for i, s in enumerate(series["subject_id"])}
    sample = long.iloc[:: max(len(long) // 200, 1)]
    for r in sample.itertuples():
        assert series["values"][row_of[r.subject_id], r.bin, F[r.feature]] == np.float32(r.mean)
