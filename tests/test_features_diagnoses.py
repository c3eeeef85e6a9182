"""Diagnosis features (rules/sql/features_diagnoses.sql): code counts and the Charlson comorbidity
categories and index of the index admission, on hand-made fixtures and on the real MIMIC-IV demo,
against values worked out by hand from the raw diagnoses_icd rows."""

from pathlib import Path

import pandas as pd
import pytest

from mimic_fixture import _write, write_fixture
from mmnar.data.extract import extract_cohort, query_for_cohort
from mmnar.data.sources.local import LocalSource

SQL = Path(__file__).resolve().parents[1] / "rules" / "sql"
DEMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "mimic-iv-demo-2.2"

CATEGORIES = [
    "charlson_myocardial_infarction", "charlson_congestive_heart_failure",
    "charlson_peripheral_vascular_disease", "charlson_cerebrovascular_disease", "charlson_dementia",
    "charlson_chronic_pulmonary_disease", "charlson_rheumatic_disease", "charlson_peptic_ulcer_disease",
    "charlson_mild_liver_disease", "charlson_diabetes_without_cc", "charlson_diabetes_with_cc",
    "charlson_paraplegia", "charlson_renal_disease", "charlson_malignant_cancer",
    "charlson_severe_liver_disease", "charlson_metastatic_solid_tumor", "charlson_aids",
]
COLUMNS = ["subject_id", "n_diagnoses", "n_distinct_diagnoses", *CATEGORIES, "charlson_comorbidity_index"]
DIAGNOSES_COLUMNS = ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"]

DIAGNOSES = [
    # subject_id, hadm_id, seq_num, icd_code, icd_version
    # Patient 1, index admission 101 (ICD-9): CHF 1 + diabetes with cc 2 (250.40 outweighs 250.00)
    # + metastatic 6 (198.x outweighs the colon primary 153.9) = 9. 428.0 is billed twice.
    (1, 101, 1, "4280", 9), (1, 101, 2, "25040", 9), (1, 101, 3, "25000", 9),
    (1, 101, 4, "1977", 9), (1, 101, 5, "1539", 9), (1, 101, 6, "4280", 9),
    (1, 102, 1, "042", 9), (1, 102, 2, "I214", 10),         # the later admission 102: not counted
    # Patient 3, admission 301 (ICD-10): MI 1 + severe liver 3 (K72.90 outweighs cirrhosis K74.60)
    # = 4. V42.00XA is a motorcycle accident in ICD-10, not the ICD-9 V42.0 kidney transplant.
    (3, 301, 1, "I214", 10), (3, 301, 2, "K7460", 10), (3, 301, 3, "K7290", 10), (3, 301, 4, "V4200XA", 10),
    # Patient 4: no code on the index admission 402; the minor admission 401 has one, not counted.
    (4, 401, 1, "I509", 10),
    # Patient 5, admission 502 (ICD-9): PVD 1 (093.0, a leading zero) + renal 2 (V42.0) = 3.
    (5, 501, 1, "B20", 10),                                  # two ICU stays: not the index
    (5, 502, 1, "0930", 9), (5, 502, 2, "V420", 9),
    # Patient 2 is never in the cohort.
    (2, 201, 1, "B20", 10),
]

EXPECTED = {  # subject_id -> (n_diagnoses, n_distinct_diagnoses, categories flagged 1, index)
    1: (6, 5, {"charlson_congestive_heart_failure", "charlson_diabetes_without_cc", "charlson_diabetes_with_cc",
               "charlson_metastatic_solid_tumor", "charlson_malignant_cancer"}, 9),
    3: (4, 4, {"charlson_myocardial_infarction", "charlson_mild_liver_disease",
               "charlson_severe_liver_disease"}, 4),
    4: (0, 0, set(), 0),
    5: (2, 2, {"charlson_peripheral_vascular_disease", "charlson_renal_disease"}, 3),
}

ONE_CODE_PER_CATEGORY = [
    # category, Charlson weight, an ICD-9-CM code, an ICD-10 code (dot-less, as MIMIC stores them)
    ("charlson_myocardial_infarction", 1, "41071", "I252"),
    ("charlson_congestive_heart_failure", 1, "4254", "I110"),
    ("charlson_peripheral_vascular_disease", 1, "4439", "I739"),
    ("charlson_cerebrovascular_disease", 1, "36234", "I639"),
    ("charlson_dementia", 1, "3312", "G309"),
    ("charlson_chronic_pulmonary_disease", 1, "4168", "J449"),
    ("charlson_rheumatic_disease", 1, "7140", "M0579"),
    ("charlson_peptic_ulcer_disease", 1, "5310", "K259"),
    ("charlson_mild_liver_disease", 1, "07054", "K7030"),
    ("charlson_diabetes_without_cc", 1, "25000", "E119"),
    ("charlson_diabetes_with_cc", 2, "25060", "E1122"),
    ("charlson_paraplegia", 2, "3441", "G8220"),
    ("charlson_renal_disease", 2, "5859", "N186"),
    ("charlson_malignant_cancer", 2, "1958", "C349"),
    ("charlson_severe_liver_disease", 3, "4560", "I8501"),
    ("charlson_metastatic_solid_tumor", 6, "1985", "C787"),
    ("charlson_aids", 6, "042", "B20"),
]
NO_CATEGORY = [("514", 9), ("40390", 9), ("V1042", 9), ("E8700", 9), ("I8510", 10), ("E0865", 10),
               ("V4200XA", 10), ("Z950", 10), ("I509", 9), ("C7B8", 10), ("C7A8", 10), ("C4A9", 10)]
"""Codes just outside the lists: 514 and 403.90 (not in the ICD-9 lists), a history-of-cancer V code,
an ICD-9 E code, ICD-10-CM codes Quan's ICD-10 lists do not name (I85.10, E08.65), an ICD-10 code
whose text is an ICD-9 renal code, a pacemaker (Z95.0 is not Z95.8), an ICD-10 CHF code read as
ICD-9, and the ICD-10-CM-only categories C7B, C7A and C4A, whose text sorts inside the ranges
C77-C80 and C45-C58 but which are not in them."""


def features(source: LocalSource, tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The paper-window cohort and the diagnosis features of its patients."""
    cohort = extract_cohort(source, SQL / "cohort.sql", tmp_path / "cohort.parquet", tmp_path / "q.json",
                            "paper", 48, None, 0)
    out = query_for_cohort(source, SQL / "features_diagnoses.sql", SQL / "cohort.sql", cohort, "paper", 48)
    return cohort, out


@pytest.fixture(scope="module")
def fixture_features(tmp_path_factory):
    root = tmp_path_factory.mktemp("diagnoses")
    folders = write_fixture(root / "mimic")
    _write(folders["mimiciv"] / "hosp/diagnoses_icd.csv.gz", DIAGNOSES_COLUMNS, DIAGNOSES)
    source = LocalSource(folders["mimiciv"])
    return features(source, root)


@pytest.fixture(scope="module")
def one_code_features(tmp_path_factory):
    """One patient per (category, ICD version) with that single code, and one with near misses."""
    root = tmp_path_factory.mktemp("one_code")
    codes = [[(icd9, 9)] for _, _, icd9, _ in ONE_CODE_PER_CATEGORY]
    codes += [[(icd10, 10)] for _, _, _, icd10 in ONE_CODE_PER_CATEGORY]
    codes.append(NO_CATEGORY)
    subjects = range(1, len(codes) + 1)
    mimiciv = root / "mimiciv"
    _write(mimiciv / "hosp/patients.csv.gz",
           ["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"],
           [(s, "F", 60, 2150, "2011 - 2013", None) for s in subjects])
    _write(mimiciv / "hosp/admissions.csv.gz",
           ["subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "admission_type",
            "hospital_expire_flag", "race"],
           [(s, 100 * s, "2150-01-01 10:00:00", "2150-01-10 12:00:00", None, "EW EMER.", 0, "WHITE")
            for s in subjects])
    _write(mimiciv / "icu/icustays.csv.gz", ["subject_id", "hadm_id", "stay_id", "intime", "outtime"],
           [(s, 100 * s, 1000 * s, "2150-01-02 00:00:00", "2150-01-04 00:00:00") for s in subjects])
    _write(mimiciv / "hosp/diagnoses_icd.csv.gz", DIAGNOSES_COLUMNS,
           [(s, 100 * s, seq, code, version) for s, patient in zip(subjects, codes)
            for seq, (code, version) in enumerate(patient, start=1)])
    return features(LocalSource(mimiciv), root)[1].set_index("subject_id")


def test_output_columns_are_exactly_the_named_features(fixture_features):
    cohort, out = fixture_features
    assert list(out.columns) == COLUMNS
    assert sorted(out["subject_id"]) == sorted(cohort["subject_id"]) == [1, 3, 4, 5]
    assert all(str(out[c].dtype) == "int64" for c in COLUMNS[1:])


@pytest.mark.parametrize("subject_id", sorted(EXPECTED))
def test_fixture_counts_categories_and_index(fixture_features, subject_id):
    n, n_distinct, flagged, index = EXPECTED[subject_id]
    row = fixture_features[1].set_index("subject_id").loc[subject_id]
    assert row["n_diagnoses"] == n and row["n_distinct_diagnoses"] == n_distinct
    assert {c for c in CATEGORIES if row[c] == 1} == flagged
    assert set(row[CATEGORIES].unique()) <= {0, 1}
    assert row["charlson_comorbidity_index"] == index


def test_each_category_alone_carries_its_weight(one_code_features):
    out = one_code_features
    assert list(out.columns) == COLUMNS[1:]
    n = len(ONE_CODE_PER_CATEGORY)
    for i, (category, weight, icd9, icd10) in enumerate(ONE_CODE_PER_CATEGORY):
        for subject, code in ((i + 1, icd9), (n + i + 1, icd10)):
            row = out.loc[subject]
            assert {c for c in CATEGORIES if row[c] == 1} == {category}, code
            assert row["charlson_comorbidity_index"] == weight, code
    misses = out.loc[2 * n + 1]
    assert misses["n_diagnoses"] == len(NO_CATEGORY)
    assert misses[CATEGORIES].sum() == 0 and misses["charlson_comorbidity_index"] == 0


DEMO_EXPECTED = {
    # subject_id: (index hadm_id, n_diagnoses, categories flagged 1, index), worked out from the raw
    # diagnoses_icd rows of the index admission.
    #
    # 10032725, hadm 20611640 (ICD-9, 14 codes): 198.3, 197.0, 198.7, 196.8 -> metastatic (6);
    # 431 and 438.20 -> cerebrovascular (1); 250.00 -> diabetes without cc (1). No primary in
    # 140-195.8/200-208 (V10.42 is a history code), 348.5/707.x/272.0/401.9/V66.7 match nothing;
    # 438.20 is a late effect of stroke, not Quan's hemiplegia (334.1, 342-343, 344.x). 6+1+1 = 8.
    # Her second admission 25177949 (23 codes, also metastatic) is not counted.
    10032725: (20611640, 14, {"charlson_metastatic_solid_tumor", "charlson_cerebrovascular_disease",
                              "charlson_diabetes_without_cc"}, 8),
    # 10038081, hadm 20755971 (ICD-9, 38 codes): 557.9 -> PVD (1); 493.90 -> chronic pulmonary (1);
    # 571.5 -> mild liver, 456.1 and 572.3 -> severe liver (3, mild not added); 250.02 -> diabetes
    # without cc (1); 585.9 -> renal (2). 403.90 (not 403.x1), 584.9, 518.81, 514, 537.0 and the
    # rest match nothing. 1+1+3+1+2 = 8.
    10038081: (20755971, 38, {"charlson_peripheral_vascular_disease", "charlson_chronic_pulmonary_disease",
                              "charlson_mild_liver_disease", "charlson_severe_liver_disease",
                              "charlson_diabetes_without_cc", "charlson_renal_disease"}, 8),
    # 10014354, hadm 22741225 (ICD-10, 16 codes): I69.354 -> cerebrovascular (1); C91.10 (CLL) ->
    # malignancy (2); G81.94 -> hemiplegia (2); J44.9 -> chronic pulmonary (1). E08.65 (diabetes
    # due to an underlying condition) is not in Quan's E10-E14 lists; Z95.0 (pacemaker) is not
    # Z95.8/Z95.9. 1+2+2+1 = 6. The 431 codes of his other admissions are not counted.
    10014354: (22741225, 16, {"charlson_cerebrovascular_disease", "charlson_malignant_cancer",
                              "charlson_paraplegia", "charlson_chronic_pulmonary_disease"}, 6),
}


@pytest.fixture(scope="module")
def demo_features(tmp_path_factory):
    cohort, out = features(LocalSource(DEMO), tmp_path_factory.mktemp("demo"))
    return cohort.set_index("subject_id"), out.set_index("subject_id")


@pytest.mark.skipif(not (DEMO / "hosp" / "diagnoses_icd.csv.gz").exists(),
                    reason=f"MIMIC-IV demo not found at {DEMO}")
@pytest.mark.parametrize("subject_id", sorted(DEMO_EXPECTED))
def test_demo_patients_match_hand_computed_charlson(demo_features, subject_id):
    cohort, out = demo_features
    hadm_id, n, flagged, index = DEMO_EXPECTED[subject_id]
    assert cohort.loc[subject_id, "hadm_id"] == hadm_id
    row = out.loc[subject_id]
    assert row["n_diagnoses"] == n and row["n_distinct_diagnoses"] == n
    assert {c for c in CATEGORIES if row[c] == 1} == flagged
    assert row["charlson_comorbidity_index"] == index


@pytest.mark.skipif(not (DEMO / "hosp" / "diagnoses_icd.csv.gz").exists(),
                    reason=f"MIMIC-IV demo not found at {DEMO}")
def test_demo_has_one_row_per_cohort_patient(demo_features):
    cohort, out = demo_features
    assert list(out.columns) == COLUMNS[1:]
    assert sorted(out.index) == sorted(cohort.index)
    assert (out["n_diagnoses"] >= out["n_distinct_diagnoses"]).all()
