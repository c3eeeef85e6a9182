"""The 25 benchmark phenotypes: the shipped mapping and the per-admission labels built from it."""

import pandas as pd
import pytest

from mmnar.data.phenotypes import KINDS, LABELS, PHENOTYPES, load_mapping, phenotype_labels

# Checked against the sources (src/mmnar/data/phenotype_25.md): the benchmark YAML for ICD-9,
# AHRQ ccs_dx_icd10cm_2019_1.csv for ICD-10.
KNOWN = [
    (9, "5849", "acute_renal_failure"),
    (9, "4280", "congestive_heart_failure"),
    (9, "0389", "septicemia"),
    (9, "25000", "diabetes_without_complication"),
    (9, "486", "pneumonia"),
    (10, "N179", "acute_renal_failure"),
    (10, "I509", "congestive_heart_failure"),
    (10, "A419", "septicemia"),
    (10, "E119", "diabetes_without_complication"),
    (10, "J189", "pneumonia"),
]


def test_twenty_five_phenotypes_in_benchmark_order():
    assert len(PHENOTYPES) == len(set(PHENOTYPES)) == 25
    assert set(LABELS) == set(KINDS) == set(PHENOTYPES)
    assert [LABELS[p] for p in PHENOTYPES] == sorted(LABELS.values())
    assert set(KINDS.values()) == {"acute", "chronic"}


def test_mapping_agrees_with_module_and_has_both_versions():
    mapping = load_mapping()
    assert list(mapping.columns) == ["phenotype", "label", "kind", "icd_version", "icd_code", "ccs"]
    assert not mapping.duplicated(["icd_version", "icd_code"]).any()
    assert mapping["icd_code"].str.fullmatch(r"[A-Z0-9]+").all()
    per = mapping.drop_duplicates("phenotype").set_index("phenotype")
    assert set(per.index) == set(PHENOTYPES)
    assert per["label"].to_dict() == LABELS and per["kind"].to_dict() == KINDS
    versions = mapping.groupby("phenotype")["icd_version"].agg(set)
    assert all(v == {9, 10} for v in versions)


@pytest.mark.parametrize("version,code,phenotype", KNOWN)
def test_known_code(version, code, phenotype):
    diagnoses = pd.DataFrame({"hadm_id": [1], "icd_code": [code], "icd_version": [version]})
    row = phenotype_labels(diagnoses, [1]).loc[1]
    assert row[phenotype] == 1.0 and row.sum() == 1.0


def test_labels_per_admission():
    diagnoses = pd.DataFrame({
        "hadm_id": [10, 10, 10, 20, 30, 40],
        "icd_code": [" 5849 ", "n179", "4280", "4280", "Z0000", "5849"],
        "icd_version": [9, 10, 9, 10, 10, 9],  # 20: an ICD-9 code given as ICD-10 maps to nothing
    })
    out = phenotype_labels(diagnoses, [30, 20, 10, 50, 10])
    assert list(out.index) == [30, 20, 10, 50, 10]  # order and repeats of the request
    assert list(out.columns) == list(PHENOTYPES)
    assert (out.dtypes == "float64").all()
    assert out.loc[[20, 30, 50]].to_numpy().sum() == 0.0  # 50 has no rows, 40 was not asked for
    first = out.iloc[2]
    assert first["acute_renal_failure"] == first["congestive_heart_failure"] == 1.0
    assert first.sum() == 2.0


def test_no_diagnoses_at_all():
    empty = pd.DataFrame({"hadm_id": pd.Series([], dtype="int64"), "icd_code": pd.Series([], dtype=str),
                          "icd_version": pd.Series([], dtype="int64")})
    out = phenotype_labels(empty, [1, 2])
    assert out.shape == (2, 25) and out.to_numpy().sum() == 0.0
