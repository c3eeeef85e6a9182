"""Every feature group extracted from the real MIMIC-IV demo, checked against values read off the raw rows by hand.

Patient 10032725, index admission 20611640 (admitted 2143-03-22 04:59 through the ED, ICU
06:42, discharged 2143-03-25 13:00 to hospice). The values below come from `zcat | grep` of the
demo's admissions, icustays, prescriptions, procedures_icd and drgcodes rows of that patient.
"""

import pandas as pd
import pytest

from mmnar.data import extract, feature_groups
from mmnar.data.sources.local import LocalSource
from mmnar.modalities.structured import encode_group
from workflow_runner import REPO

DEMO = REPO.parent / "shared" / "data" / "mimic-iv-demo-2.2"
SQL = REPO / "rules" / "sql"
PATIENT = 10032725

pytestmark = pytest.mark.skipif(not (DEMO / "hosp" / "admissions.csv.gz").exists(),
                                reason=f"MIMIC-IV demo not found at {DEMO}")


@pytest.fixture(scope="module", params=["paper", "early"])
def demo_groups(request, tmp_path_factory):
    """Window → raw group frames indexed by subject_id, for every group with its own SQL."""
    out = tmp_path_factory.mktemp(f"demo_{request.param}")
    source = LocalSource(DEMO)
    extract.extract_cohort(source, SQL / "cohort.sql", out / "cohort.parquet", out / "q.json", request.param, 48, None, 0)
    frames = {}
    for group in feature_groups.groups():
        if group.sql:
            extract.extract_feature_group(source, SQL / "cohort.sql", SQL / group.sql, out / "cohort.parquet",
                                          out / f"{group.name}.parquet", out / f"q_{group.name}.json",
                                          group.name, request.param, 48)
            frames[group.name] = pd.read_parquet(out / f"{group.name}.parquet")
    cohort = pd.read_parquet(out / "cohort.parquet")
    return request.param, cohort, frames


def test_one_row_per_cohort_patient_in_cohort_order(demo_groups):
    _, cohort, frames = demo_groups
    for name, frame in frames.items():
        assert frame["subject_id"].tolist() == cohort["subject_id"].tolist(), name
        group = feature_groups.get(name)
        encoded = encode_group(frame, group).drop(columns="subject_id")
        unknown = encoded.columns[encoded.isna().any()]
        assert set(unknown) <= set(group.nullable), (name, list(unknown))   # only declared columns may be unknown


def test_admission_group_by_hand(demo_groups):
    window, _, frames = demo_groups
    row = frames["admission"].set_index("subject_id").loc[PATIENT]
    assert (row["admission_type"], row["admission_location"], row["insurance"], row["language"],
            row["marital_status"]) == ("EW EMER.", "EMERGENCY ROOM", "Other", "ENGLISH", "SINGLE")
    assert row["arrived_via_ed"] == 1
    # paper: to discharge 03-25 13:00 = 80 h 01 min; early: to ICU intime + 48 h = 03-24 06:42 = 49 h 43 min
    expected_hours = 80 + 1 / 60 if window == "paper" else 49 + 43 / 60
    assert row["hours_in_hospital_at_prediction"] == pytest.approx(expected_hours)
    assert row["hours_admission_to_icu"] == pytest.approx(1 + 43 / 60)
    # One earlier admission (25177949: 2143-02-17, through the ED, no ICU stay), discharged 03-16 17:15.
    assert (row["n_admissions_1y"], row["n_ed_visits_1y"], row["n_icu_stays_1y"]) == (1, 1, 0)
    assert row["days_since_last_discharge"] == pytest.approx(5 + (11 * 60 + 44) / 1440)


def test_medication_group_by_hand(demo_groups):
    window, _, frames = demo_groups
    row = frames["medications"].set_index("subject_id").loc[PATIENT]
    # 44 orders (26 drugs) in the admission; 37 (23 drugs) start between ICU intime and +48 h.
    # Insulin x2 on 03-22; opioids: hydromorphone x3, methadone x2, oxycodone x1 (the last
    # hydromorphone on 03-25 is outside the early window); phenylephrine x1; the only heparin is a
    # line flush (not an anticoagulant); no antibiotic.
    expected = {"paper": (44, 26, 0, 2, 6, 1, 0), "early": (37, 23, 0, 2, 5, 1, 0)}[window]
    assert tuple(row[["n_medication_orders", "n_distinct_drugs", "n_anticoagulant_orders", "n_insulin_orders",
                      "n_opioid_orders", "n_vasopressor_orders", "n_antibiotic_orders"]]) == expected


def test_discharge_time_groups_by_hand(demo_groups):
    _, _, frames = demo_groups
    procedures = frames["procedures"].set_index("subject_id").loc[PATIENT]
    assert (procedures["n_procedures"], procedures["n_distinct_procedures"]) == (3, 3)   # 9604, 3893, 9671
    drg = frames["drg"].set_index("subject_id").loc[PATIENT]   # APR 041 severity 4, mortality 4; HCFA 054
    assert tuple(drg[["apr_drg_severity", "apr_drg_mortality", "has_apr_drg", "has_hcfa_drg"]]) == (4, 4, 1, 1)
    assert frames["discharge"].set_index("subject_id").loc[PATIENT, "discharge_location"] == "HOSPICE"
