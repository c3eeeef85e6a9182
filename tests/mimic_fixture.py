"""A hand-written MIMIC-IV layout of a few patients whose correct cohort and labels are known."""

from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

PATIENTS = [
    # subject_id, gender, anchor_age, anchor_year, anchor_year_group, dod
    (1, "F", 60, 2150, "2011 - 2013", None),
    (2, "M", 15, 2150, "2011 - 2013", None),      # minor at every admission: never in the cohort
    (3, "M", 70, 2150, "2011 - 2013", "2150-01-05"),
    (4, "F", 17, 2150, "2011 - 2013", None),      # minor first, adult at the second admission
    (5, "M", 50, 2150, "2011 - 2013", None),      # first admission has two ICU stays: not eligible
]
ADMISSIONS = [
    # subject_id, hadm_id, admittime, dischtime, deathtime, admission_type, hospital_expire_flag
    (1, 101, "2150-01-01 10:00:00", "2150-01-10 12:00:00", None, "EW EMER.", 0),
    (1, 102, "2150-02-09 11:00:00", "2150-02-12 12:00:00", None, "URGENT", 0),     # day 29.96: readmission
    (2, 201, "2150-03-01 10:00:00", "2150-03-05 10:00:00", None, "EW EMER.", 0),
    (3, 301, "2150-01-01 08:00:00", "2150-01-05 09:00:00", "2150-01-05 09:00:00", "EW EMER.", 1),
    (4, 401, "2150-01-01 08:00:00", "2150-01-03 09:00:00", None, "ELECTIVE", 0),
    (4, 402, "2151-06-01 08:00:00", "2151-06-09 09:00:00", None, "ELECTIVE", 0),
    (4, 403, "2151-07-10 10:00:00", "2151-07-11 10:00:00", None, "ELECTIVE", 0),    # day 31: not a readmission
    (5, 501, "2150-01-01 08:00:00", "2150-01-09 09:00:00", None, "EW EMER.", 0),
    (5, 502, "2150-05-01 08:00:00", "2150-05-09 09:00:00", None, "EW EMER.", 0),
]
ICUSTAYS = [
    # subject_id, hadm_id, stay_id, intime, outtime
    (1, 101, 1001, "2150-01-02 00:00:00", "2150-01-04 00:00:00"),
    (1, 102, 1002, "2150-02-09 12:00:00", "2150-02-10 12:00:00"),   # ICU within 90 days of index
    (2, 201, 2001, "2150-03-01 12:00:00", "2150-03-02 12:00:00"),
    (3, 301, 3001, "2150-01-01 09:00:00", "2150-01-05 09:00:00"),
    (4, 401, 4001, "2150-01-01 09:00:00", "2150-01-02 09:00:00"),
    (4, 402, 4002, "2151-06-01 09:00:00", "2151-06-05 09:00:00"),
    (5, 501, 5001, "2150-01-01 09:00:00", "2150-01-02 09:00:00"),
    (5, 501, 5002, "2150-01-05 09:00:00", "2150-01-06 09:00:00"),
    (5, 502, 5003, "2150-05-01 09:00:00", "2150-05-03 09:00:00"),
]
LABEVENTS = [
    # labevent_id, subject_id, hadm_id, itemid, charttime, valuenum
    (1, 1, 101, 50912, "2150-01-02 06:00:00", 1.0),
    (2, 1, None, 50912, "2150-01-03 06:00:00", 3.0),    # no hadm_id, inside the window: counts
    (3, 1, None, 50912, "2150-01-20 06:00:00", 9.0),    # after discharge: ignored
    (4, 1, 102, 50912, "2150-02-10 06:00:00", 9.0),     # later admission: ignored
    (5, 3, 301, 50813, "2150-01-02 06:00:00", 4.0),
]
CHARTEVENTS = [
    # subject_id, hadm_id, stay_id, charttime, itemid, valuenum
    (1, 101, 1001, "2150-01-02 01:00:00", 220045, 80.0),
    (1, 101, 1001, "2150-01-03 01:00:00", 220045, 100.0),
    (1, 101, 1001, "2150-01-04 23:00:00", 220045, 150.0),   # after 48 h of ICU: outside 'early'
    (3, 301, 3001, "2150-01-02 01:00:00", 220045, 120.0),
]
DISCHARGE = [
    ("1-DS-1", 1, 101, "DS", 1, "2150-01-10 00:00:00", "2150-01-10 14:00:00", "Name: ___ discharged home"),
    ("1-DS-2", 1, 102, "DS", 1, "2150-02-12 00:00:00", "2150-02-12 14:00:00", "second admission"),
    ("3-DS-1", 3, 301, "DS", 1, "2150-01-05 00:00:00", "2150-01-05 14:00:00", "Patient expired"),
]
RADIOLOGY = [
    ("1-RR-1", 1, 101, "RR", 1, "2150-01-02 05:00:00", "2150-01-02 06:00:00", "CHEST: clear"),
    ("1-RR-2", 1, None, "RR", 2, "2150-01-05 05:00:00", "2150-01-05 06:00:00", "no hadm, in window"),
    ("1-RR-3", 1, None, "RR", 3, "2149-12-01 05:00:00", "2149-12-01 06:00:00", "before admission"),
]
CXR = [
    # dicom_id, subject_id, study_id, ViewPosition, StudyDate, StudyTime
    ("d1", 1, 11, "AP", 21500102, 101500.0),
    ("d2", 1, 12, "PA", 21500105, 93000.123),    # latest frontal in the paper window
    ("d3", 1, 12, "LATERAL", 21500106, 93000.0),  # lateral: never linked
    ("d4", 1, 13, "AP", 21500301, 93000.0),      # after discharge
    ("d5", 3, 31, "AP", 21491201, 120000.0),     # before admission
]


def _write(path: Path, columns: list[str], rows: list[tuple]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as handle:
        pd.DataFrame(rows, columns=columns).to_csv(handle, index=False)


def write_fixture(root: Path) -> dict[str, Path]:
    """Write the fixture; returns the folders in the shape of the ``local`` config keys."""
    mimiciv, note, cxr = root / "mimiciv", root / "note_root", root / "cxr_root"
    _write(mimiciv / "hosp/patients.csv.gz",
           ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"], PATIENTS)
    _write(mimiciv / "hosp/admissions.csv.gz",
           ["subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type",
            "hospital_expire_flag", "race"], [row + ("WHITE",) for row in ADMISSIONS])
    _write(mimiciv / "icu/icustays.csv.gz", ["subject_id", "hadm_id", "stay_id", "intime", "outtime"], ICUSTAYS)
    _write(mimiciv / "hosp/labevents.csv.gz",
           ["labevent_id", "subject_id", "hadm_id", "itemid", "charttime", "valuenum"], LABEVENTS)
    _write(mimiciv / "icu/chartevents.csv.gz",
           ["subject_id", "hadm_id", "stay_id", "charttime", "itemid", "valuenum"], CHARTEVENTS)
    note_columns = ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]
    _write(note / "note/discharge.csv.gz", note_columns, DISCHARGE)
    _write(note / "note/radiology.csv.gz", note_columns, RADIOLOGY)
    _write(cxr / "mimic-cxr-2.0.0-metadata.csv.gz",
           ["dicom_id", "subject_id", "study_id", "ViewPosition", "StudyDate", "StudyTime"], CXR)
    (cxr / "files").mkdir(parents=True, exist_ok=True)
    return {"mimiciv": mimiciv, "note": note, "cxr": cxr}
