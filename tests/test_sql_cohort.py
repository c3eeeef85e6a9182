"""The shared cohort SQL on a tiny DuckDB fixture whose right answer is known row by row."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mimic_fixture import write_fixture
from mmnar.data.extract import (cxr_image_path, extract_cohort, extract_cxr, extract_notes,
                           extract_structured, sample_patients)
from mmnar.data.sources.local import LocalSource, MissingSourceError
from mmnar.data.sql import read_sql, referenced_datasets, retarget_datasets, to_duckdb

SQL = Path(__file__).parents[1] / "rules" / "sql"


@pytest.fixture
def fixture(tmp_path):
    folders = write_fixture(tmp_path / "mimic")
    source = LocalSource(folders["mimiciv"], folders["note"], folders["cxr"])
    return source, tmp_path


def cohort_for(source, tmp_path, window="paper"):
    out = tmp_path / f"cohort_{window}.parquet"
    extract_cohort(source, SQL / "cohort.sql", out, tmp_path / "q_cohort.json", window, 48, None, 0)
    return pd.read_parquet(out).set_index("subject_id")


def test_cohort_keeps_first_adult_single_icu_admission(fixture):
    source, tmp = fixture
    cohort = cohort_for(source, tmp)
    assert list(cohort.index) == [1, 3, 4, 5]          # patient 2 is a minor throughout
    assert cohort.loc[4, "hadm_id"] == 402             # the minor admission 401 is skipped
    assert cohort.loc[5, "hadm_id"] == 502             # 501 has two ICU stays
    assert cohort.loc[1, "stay_id"] == 1001
    assert cohort.loc[4, "n_prior_admissions"] == 1


def test_labels_follow_the_day_boundaries_and_mask_after_death(fixture):
    source, tmp = fixture
    cohort = cohort_for(source, tmp)
    assert cohort.loc[1, "readmit_30d"] == 1.0 and cohort.loc[1, "icu_90d"] == 1.0
    assert cohort.loc[4, "readmit_30d"] == 0.0 and cohort.loc[4, "icu_90d"] == 0.0   # day 31, no ICU
    assert cohort.loc[3, "mortality_inhosp"] == 1.0
    assert np.isnan(cohort.loc[3, "readmit_30d"]) and np.isnan(cohort.loc[3, "icu_90d"])


def test_early_window_is_capped_at_48_hours_of_icu(fixture):
    source, tmp = fixture
    cohort = cohort_for(source, tmp, "early")
    assert cohort.loc[1, "window_start"] == pd.Timestamp("2150-01-02 00:00:00")
    assert cohort.loc[1, "window_end"] == pd.Timestamp("2150-01-04 00:00:00")
    assert cohort.loc[3, "window_end"] == pd.Timestamp("2150-01-03 09:00:00")


@pytest.mark.parametrize("window, heart_rate_max", [("paper", 150.0), ("early", 100.0)])
def test_structured_features_respect_window_and_labs_without_hadm(fixture, window, heart_rate_max):
    source, tmp = fixture
    cohort_path = tmp / f"cohort_{window}.parquet"
    extract_cohort(source, SQL / "cohort.sql", cohort_path, tmp / "q_cohort.json", window, 48, None, 0)
    out = tmp / "structured.parquet"
    extract_structured(source, SQL / "cohort.sql", SQL / "structured.sql", cohort_path, out, tmp / "q_s.json", window, 48)
    features = pd.read_parquet(out).set_index("subject_id")
    assert features.loc[1, "creatinine_mean"] == pytest.approx(2.0)   # 1.0 with hadm, 3.0 without
    assert features.loc[1, "creatinine_n"] == 2
    assert features.loc[1, "heart_rate_max"] == heart_rate_max
    assert features.loc[1, "lactate_missing"] == 1.0 and np.isnan(features.loc[1, "lactate_mean"])
    assert features.loc[3, "lactate_missing"] == 0.0
    assert features.loc[4, "heart_rate_missing"] == 1.0
    assert features.loc[1, "is_female"] == 1.0 and features.loc[1, "age"] == 60


def test_notes_restricted_to_index_admission_and_window(fixture):
    source, tmp = fixture
    cohort_path = tmp / "cohort.parquet"
    extract_cohort(source, SQL / "cohort.sql", cohort_path, tmp / "q_cohort.json", "paper", 48, None, 0)
    discharge, radiology = tmp / "ds.parquet", tmp / "rr.parquet"
    extract_notes(source, SQL / "cohort.sql", SQL / "notes_discharge.sql", cohort_path, discharge, tmp / "q_discharge.json", "discharge", "paper", 48, True)
    extract_notes(source, SQL / "cohort.sql", SQL / "notes_radiology.sql", cohort_path, radiology, tmp / "q_radiology.json", "radiology", "paper", 48, True)
    assert sorted(pd.read_parquet(discharge)["note_id"]) == ["1-DS-1", "3-DS-1"]
    assert sorted(pd.read_parquet(radiology)["note_id"]) == ["1-RR-1", "1-RR-2"]


def test_early_window_has_no_discharge_summary(fixture):
    source, tmp = fixture
    cohort_path = tmp / "cohort.parquet"
    extract_cohort(source, SQL / "cohort.sql", cohort_path, tmp / "q_cohort.json", "early", 48, None, 0)
    out = tmp / "ds.parquet"
    extract_notes(source, SQL / "cohort.sql", SQL / "notes_discharge.sql", cohort_path, out, tmp / "q_discharge.json", "discharge", "early", 48, True)
    assert pd.read_parquet(out).empty


def test_cxr_links_latest_frontal_study_inside_window(fixture):
    source, tmp = fixture
    cohort_path = tmp / "cohort.parquet"
    extract_cohort(source, SQL / "cohort.sql", cohort_path, tmp / "q_cohort.json", "paper", 48, None, 0)
    out = tmp / "cxr.parquet"
    extract_cxr(source, SQL / "cxr.sql", cohort_path, out, tmp / "q_cxr.json")
    linked = pd.read_parquet(out)
    assert linked["dicom_id"].tolist() == ["d2"]
    assert linked["study_datetime"].iloc[0] == pd.Timestamp("2150-01-05 09:30:00")
    assert linked["path"].iloc[0] == "files/p1/p1/s12/d2.jpg"


def test_cxr_path_follows_physionet_layout():
    assert cxr_image_path(10000032, 50414267, "abc") == "files/p10/p10000032/s50414267/abc.jpg"


def test_missing_folder_is_reported_by_name(tmp_path):
    source = LocalSource(tmp_path)
    with pytest.raises(MissingSourceError, match="admissions.csv.gz"):
        source.query(read_sql(SQL / "cohort.sql"), {"window": "paper", "early_hours": 48})


def test_sampling_is_seeded_and_bounded():
    cohort = pd.DataFrame({"subject_id": np.arange(100)[::-1]})
    first = sample_patients(cohort, 10, seed=3)
    assert len(first) == 10 and first.equals(sample_patients(cohort, 10, seed=3))
    assert not first.equals(sample_patients(cohort, 10, seed=4))
    assert len(sample_patients(cohort, 1000, seed=3)) == 100


def test_table_names_are_canonical_and_retargetable():
    sql = read_sql(SQL / "cohort.sql")
    assert referenced_datasets(sql) == {"hosp", "icu"}
    moved = retarget_datasets(sql, {"hosp": "my-proj.hosp_copy"})
    assert "my-proj.hosp_copy.admissions" in moved.replace("`", "")
    assert "physionet-data" not in to_duckdb(sql)


def test_inconsistent_times_are_named_and_mimic_lags_are_allowed():
    from mmnar.data.extract import inconsistent_times

    t = pd.Timestamp
    base = dict(admittime=t("2150-01-01 10:00"), dischtime=t("2150-01-10"), intime=t("2150-01-01 09:30"),
                outtime=t("2150-01-10 20:00"), window_start=t("2150-01-01 10:00"), window_end=t("2150-01-10"))
    cases = [
        ({}, ""),                                                                   # ED lag and late outtime
        ({"dischtime": t("2149-12-30")}, "dischtime before admittime"),
        ({"outtime": t("2150-01-01 08:00")}, "ICU outtime before intime"),
        ({"intime": t("2150-03-01"), "outtime": t("2150-03-02")}, "ICU stay outside its admission"),
        ({"intime": t("2149-12-25")}, "ICU intime over 24 h before admittime"),
        ({"window_end": t("2149-12-31")}, "window end before window start"),
        ({"intime": pd.NaT}, "missing admission or ICU time"),
    ]
    frame = pd.DataFrame([base | change for change, _ in cases])
    assert inconsistent_times(frame).tolist() == [reason for _, reason in cases]


def test_blank_and_zero_filled_notes_are_not_observations(tmp_path):
    from mmnar.data.extract import extract_notes
    from mmnar.data.quality import QualityReport

    class Notes:
        rejected_rows = []

        def query(self, sql, params):
            return pd.DataFrame({"subject_id": [1, 2, 3, 4], "note_id": ["1-DS-1", "2-DS-1", "3-DS-1", "4-DS-1"],
                                 "charttime": pd.Timestamp("2150-01-01"),
                                 "text": ["Discharge summary.", "  \n\t ", None, "Disch\x00\x00\x00"]})

    cohort = tmp_path / "cohort.parquet"
    pd.DataFrame({"subject_id": [1, 2, 3, 4]}).to_parquet(cohort)
    extract_notes(Notes(), SQL / "cohort.sql", SQL / "notes_discharge.sql", cohort, tmp_path / "n.parquet",
                  tmp_path / "q.json", "discharge", "paper", 48, True)
    assert pd.read_parquet(tmp_path / "n.parquet")["note_id"].tolist() == ["1-DS-1"]
    report = QualityReport.read(tmp_path / "q.json")
    assert [(i["item_id"], i["reason"]) for i in report.items] == [
        ("2-DS-1", "blank text"), ("3-DS-1", "blank text"), ("4-DS-1", "NUL bytes in text (damaged file)")]
    assert report.n_items == 4
