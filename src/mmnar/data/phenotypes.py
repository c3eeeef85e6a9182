"""The 25 acute and chronic phenotypes of the MIMIC-III benchmark, as per-admission 0/1 labels.

Harutyunyan et al. (2019), "Multitask learning and benchmarking with clinical time series data",
label an ICU stay with 25 HCUP CCS single-level categories; MedFuse and CareBench reuse them on
MIMIC-IV. MIMIC-IV codes diagnoses in ICD-9-CM until Sep 2015 and ICD-10-CM after, so the mapping
in ``phenotype_25.csv`` has both (source and derivation: ``phenotype_25.md`` beside it):

* ICD-9-CM: the benchmark's own ``mimic3benchmark/resources/hcup_ccs_2015_definitions.yaml``
  (github.com/YerevaNN/mimic3-benchmarks @ ea0314c7), the 25 categories with
  ``use_in_benchmark: True``.
* ICD-10-CM: AHRQ HCUP "CCS for ICD-10-CM" single-level file ``ccs_dx_icd10cm_2019_1.csv``
  (v2019.1, the last release), restricted to the same 25 CCS category numbers.

Codes match exactly (no dots, upper case) and only within their own ICD version: the same string
can be a different disease in the other version.
"""

from __future__ import annotations

import functools
import importlib.resources
from collections.abc import Iterable

import numpy as np
import pandas as pd

# (slug, CCS category name as in the benchmark, kind), in the benchmark's order: names sorted.
_PHENOTYPES = (
    ("acute_renal_failure", "Acute and unspecified renal failure", "acute"),
    ("acute_cerebrovascular_disease", "Acute cerebrovascular disease", "acute"),
    ("acute_myocardial_infarction", "Acute myocardial infarction", "acute"),
    ("cardiac_dysrhythmias", "Cardiac dysrhythmias", "chronic"),
    ("chronic_kidney_disease", "Chronic kidney disease", "chronic"),
    ("copd_bronchiectasis", "Chronic obstructive pulmonary disease and bronchiectasis",
     "chronic"),
    ("complications_of_care", "Complications of surgical procedures or medical care", "acute"),
    ("conduction_disorders", "Conduction disorders", "chronic"),
    ("congestive_heart_failure", "Congestive heart failure; nonhypertensive", "acute"),
    ("coronary_atherosclerosis", "Coronary atherosclerosis and other heart disease", "chronic"),
    ("diabetes_with_complications", "Diabetes mellitus with complications", "chronic"),
    ("diabetes_without_complication", "Diabetes mellitus without complication", "chronic"),
    ("lipid_disorders", "Disorders of lipid metabolism", "chronic"),
    ("essential_hypertension", "Essential hypertension", "chronic"),
    ("fluid_electrolyte_disorders", "Fluid and electrolyte disorders", "acute"),
    ("gastrointestinal_hemorrhage", "Gastrointestinal hemorrhage", "acute"),
    ("hypertension_with_complications",
     "Hypertension with complications and secondary hypertension", "chronic"),
    ("other_liver_diseases", "Other liver diseases", "acute"),
    ("other_lower_respiratory_disease", "Other lower respiratory disease", "acute"),
    ("other_upper_respiratory_disease", "Other upper respiratory disease", "acute"),
    ("pleurisy_pneumothorax_collapse", "Pleurisy; pneumothorax; pulmonary collapse", "acute"),
    ("pneumonia", "Pneumonia (except that caused by tuberculosis or sexually transmitted disease)",
     "acute"),
    ("respiratory_failure", "Respiratory failure; insufficiency; arrest (adult)", "acute"),
    ("septicemia", "Septicemia (except in labor)", "acute"),
    ("shock", "Shock", "acute"),
)

PHENOTYPES: tuple[str, ...] = tuple(slug for slug, _, _ in _PHENOTYPES)
"""Phenotype slugs in the benchmark's label order (its listfile columns: category names sorted)."""
LABELS: dict[str, str] = {slug: label for slug, label, _ in _PHENOTYPES}
"""Slug -> CCS category name, spelled as in the benchmark."""
KINDS: dict[str, str] = {slug: kind for slug, _, kind in _PHENOTYPES}
"""Slug -> 'acute' or 'chronic', as the benchmark types them."""


@functools.cache
def load_mapping() -> pd.DataFrame:
    """The (phenotype, label, kind, icd_version, icd_code, ccs) table; cached: do not mutate it."""
    path = importlib.resources.files("mmnar").joinpath("data").joinpath("phenotype_25.csv")
    with path.open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype={"icd_code": str, "icd_version": "int64"})


def phenotype_labels(diagnoses: pd.DataFrame, hadm_ids: Iterable) -> pd.DataFrame:
    """0/1 phenotype labels, one row per requested ``hadm_id`` (order and repeats kept).

    ``diagnoses`` holds hosp/diagnoses_icd rows (hadm_id, icd_code, icd_version). A phenotype is 1.0
    when any of the admission's codes maps to it; an admission without mapped codes (or without
    rows) is all 0.0. One merge, no loop over rows: MIMIC-IV has ~5 million diagnosis rows.
    """
    wanted = pd.Index(list(hadm_ids), name="hadm_id")
    unique = wanted.unique()
    rows = diagnoses.loc[diagnoses["hadm_id"].isin(unique), ["hadm_id", "icd_code", "icd_version"]]
    codes = pd.DataFrame({
        "hadm_id": rows["hadm_id"].to_numpy(),
        "icd_code": rows["icd_code"].astype(str).str.strip().str.upper().to_numpy(),
        "icd_version": pd.to_numeric(rows["icd_version"], errors="coerce").to_numpy(),
    }).dropna(subset=["icd_version"]).astype({"icd_version": "int64"})
    mapping = load_mapping()[["icd_version", "icd_code", "phenotype"]]
    hits = codes.merge(mapping, on=["icd_version", "icd_code"])
    values = np.zeros((len(unique), len(PHENOTYPES)))
    row = unique.get_indexer(hits["hadm_id"])
    values[row, pd.Index(PHENOTYPES).get_indexer(hits["phenotype"])] = 1.0
    return pd.DataFrame(values, index=unique, columns=list(PHENOTYPES)).reindex(wanted)
