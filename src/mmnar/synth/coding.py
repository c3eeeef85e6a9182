"""Billing codes and medication orders for every admission, driven by the latent state.

Adds the hosp tables that comorbidity and medication features are computed from:
`diagnoses_icd` (Charlson categories present with probability sigmoid(a + b·latent), padded with
common non-Charlson codes), `procedures_icd`, `drgcodes` (one HCFA row, usually one APR row whose
severity and mortality grow with the latent) and `prescriptions` (sicker patients get more orders,
and more of them are vasopressors, antibiotics and insulin). Each admission is coded in one ICD
version, ICD-9 or ICD-10 with probability one half, as MIMIC-IV mixes both.

The signal is deliberately noisy (Bernoulli and Poisson draws around the latent), of the same order
as a single lab. Everything here draws from its own generator, so the other tables do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmnar.synth import mimic_schema as schema
from mmnar.synth.timeline import EPOCH, Timeline

# Charlson category → (a_c, b_c): the category is coded with probability sigmoid(a_c + b_c·latent).
CHARLSON_RISK: dict[str, tuple[float, float]] = {
    "myocardial_infarction": (-2.0, 0.8),
    "congestive_heart_failure": (-1.4, 0.9),
    "peripheral_vascular_disease": (-2.4, 0.7),
    "cerebrovascular_disease": (-2.2, 0.7),
    "dementia": (-2.6, 0.6),
    "chronic_pulmonary_disease": (-1.5, 0.7),
    "rheumatic_disease": (-2.9, 0.6),
    "peptic_ulcer_disease": (-2.9, 0.6),
    "mild_liver_disease": (-2.4, 0.8),
    "diabetes_without_cc": (-1.4, 0.6),
    "diabetes_with_cc": (-2.3, 0.9),
    "paraplegia": (-2.9, 0.7),
    "renal_disease": (-1.6, 0.9),
    "malignant_cancer": (-2.0, 0.7),
    "severe_liver_disease": (-3.0, 1.0),
    "metastatic_solid_tumor": (-2.8, 1.0),
    "aids": (-2.9, 0.6),
}
MAX_DIAGNOSES = 39
# Order class → (weight at latent 0, log-weight slope in the latent).
DRUG_CLASS_RISK: dict[str, tuple[float, float]] = {
    "anticoagulant": (0.12, 0.1),
    "flush": (0.12, 0.0),
    "insulin": (0.07, 0.4),
    "opioid": (0.10, 0.2),
    "vasopressor": (0.012, 1.2),
    "antibiotic": (0.09, 0.5),
    "other": (0.45, 0.0),
}
APR_SHARE = 0.9
STOP_MISSING_SHARE = 0.05


@dataclass
class CodingTables:
    """The four hosp tables (times as datetime64[s]) plus the two ICD dictionaries."""

    diagnoses_icd: pd.DataFrame
    procedures_icd: pd.DataFrame
    drgcodes: pd.DataFrame
    prescriptions: pd.DataFrame
    d_icd_diagnoses: pd.DataFrame
    d_icd_procedures: pd.DataFrame


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _sicker(latent: np.ndarray) -> np.ndarray:
    return np.maximum(latent, 0)


def _seq_within(groups: np.ndarray) -> np.ndarray:
    """1, 2, … within each run of equal consecutive values."""
    return pd.Series(groups).groupby(groups, sort=False).cumcount().to_numpy() + 1


def _random_time(rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Minute-resolution times uniform in [start, end] (both datetime64[s] at whole minutes)."""
    start_s = (start - EPOCH).astype("int64")
    span = (end - start).astype("int64")
    seconds = start_s + (rng.random(len(span)) * span).astype("int64")
    return EPOCH + (seconds - (seconds - start_s) % 60).astype("timedelta64[s]")


def draw_icd_versions(rng: np.random.Generator, timeline: Timeline) -> np.ndarray:
    """One ICD version (9 or 10) per admission, aligned with `timeline.admissions`."""
    return np.where(rng.random(len(timeline.admissions)) < 0.5, 9, 10)


def draw_charlson(rng: np.random.Generator, latent: np.ndarray) -> np.ndarray:
    """Boolean (admission × category) matrix in `CHARLSON_RISK` order, with the Charlson hierarchies."""
    names = list(CHARLSON_RISK)
    a = np.array([CHARLSON_RISK[c][0] for c in names])
    b = np.array([CHARLSON_RISK[c][1] for c in names])
    present = rng.random((len(latent), len(names))) < _sigmoid(a + b * latent[:, None])
    col = {c: k for k, c in enumerate(names)}
    present[:, col["diabetes_without_cc"]] &= ~present[:, col["diabetes_with_cc"]]
    present[:, col["mild_liver_disease"]] &= ~present[:, col["severe_liver_disease"]]
    present[:, col["malignant_cancer"]] |= present[:, col["metastatic_solid_tumor"]]
    return present


def build_diagnoses(rng: np.random.Generator, timeline: Timeline, versions: np.ndarray) -> pd.DataFrame:
    """hosp/diagnoses_icd: distinct codes per admission, seq_num 1..n in random order."""
    adm = timeline.admissions
    latent = adm["latent"].to_numpy(dtype=float)
    n_adm = len(adm)
    n_codes = np.minimum(1 + rng.poisson(6 + 3 * _sicker(latent)), MAX_DIAGNOSES)
    present = draw_charlson(rng, latent)
    which = rng.integers(0, 2, present.shape)

    rows_adm: list[np.ndarray] = []
    rows_code: list[np.ndarray] = []
    for k, category in enumerate(CHARLSON_RISK):
        for version in (9, 10):
            options = np.array(schema.CHARLSON_DIAGNOSES[category][version], dtype=object)
            hit = np.nonzero(present[:, k] & (versions == version))[0]
            rows_adm.append(hit)
            rows_code.append(options[which[hit, k] % len(options)])

    n_filler = np.maximum(n_codes - present.sum(axis=1), 0)
    filler_rank = np.argsort(rng.random((n_adm, len(schema.FILLER_DIAGNOSES[9]))), axis=1)
    for version in (9, 10):
        options = np.array(schema.FILLER_DIAGNOSES[version], dtype=object)
        n_here = np.where(versions == version, np.minimum(n_filler, len(options)), 0)
        take = np.arange(len(options))[None, :] < n_here[:, None]
        hit, slot = np.nonzero(take)
        rows_adm.append(hit)
        rows_code.append(options[filler_rank[hit, slot] % len(options)])

    position = np.concatenate(rows_adm)
    codes = np.concatenate(rows_code)
    order = np.lexsort((rng.random(len(position)), position))
    position, codes = position[order], codes[order]
    return pd.DataFrame({
        "subject_id": adm["subject_id"].to_numpy()[position],
        "hadm_id": adm["hadm_id"].to_numpy()[position],
        "seq_num": _seq_within(position),
        "icd_code": codes,
        "icd_version": versions[position],
    })


def build_procedures(rng: np.random.Generator, timeline: Timeline, versions: np.ndarray) -> pd.DataFrame:
    """hosp/procedures_icd: Poisson(1 + 1.5·max(latent, 0)) distinct codes, dated inside the admission."""
    adm = timeline.admissions
    latent = adm["latent"].to_numpy(dtype=float)
    n_options = len(schema.PROCEDURE_CODES[9])
    n_proc = np.minimum(rng.poisson(1 + 1.5 * _sicker(latent)), n_options)
    rank = np.argsort(rng.random((len(adm), n_options)), axis=1)
    position, slot = np.nonzero(np.arange(n_options)[None, :] < n_proc[:, None])
    table = np.array([schema.PROCEDURE_CODES[9], schema.PROCEDURE_CODES[10]], dtype=object)
    codes = table[(versions[position] == 10).astype(int), rank[position, slot]]
    start = adm["admittime"].to_numpy()[position]
    end = adm["dischtime"].to_numpy()[position]
    chartdate = _random_time(rng, start, end).astype("datetime64[D]").astype("datetime64[s]")
    frame = pd.DataFrame({
        "subject_id": adm["subject_id"].to_numpy()[position],
        "hadm_id": adm["hadm_id"].to_numpy()[position],
        "chartdate": chartdate,
        "icd_code": codes,
        "icd_version": versions[position],
        "position": position,
    }).sort_values(["position", "chartdate"], kind="stable", ignore_index=True)
    frame["seq_num"] = _seq_within(frame["position"].to_numpy())
    return frame.drop(columns="position")


def _pick_drg(rng: np.random.Generator, latent: np.ndarray, drgs: list[tuple[str, str, int]]) -> np.ndarray:
    """Index into `drgs` per admission; acute groups (acuity 1) grow likelier with the latent."""
    acuity = np.array([d[2] for d in drgs], dtype=float)
    weight = np.exp(0.6 * latent[:, None] * acuity[None, :])
    cumulative = np.cumsum(weight / weight.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((rng.random(len(latent))[:, None] > cumulative).sum(axis=1), len(drgs) - 1)


def build_drgcodes(rng: np.random.Generator, timeline: Timeline) -> pd.DataFrame:
    """hosp/drgcodes: one HCFA row per admission and an APR row (with severity/mortality) for 90 %."""
    adm = timeline.admissions
    latent = adm["latent"].to_numpy(dtype=float)
    n = len(adm)
    hcfa = _pick_drg(rng, latent, schema.HCFA_DRGS)
    apr = _pick_drg(rng, latent, schema.APR_DRGS)
    has_apr = rng.random(n) < APR_SHARE
    severity_score = 2.3 + 0.7 * latent + 0.7 * rng.standard_normal(n)
    severity = np.clip(np.round(severity_score), 1, 4).astype(int)
    mortality = np.clip(np.round(severity_score - 0.6 + 0.6 * rng.standard_normal(n)), 1, 4).astype(int)
    subjects, hadms = adm["subject_id"].to_numpy(), adm["hadm_id"].to_numpy()
    hcfa_rows = pd.DataFrame({
        "subject_id": subjects, "hadm_id": hadms, "drg_type": "HCFA",
        "drg_code": [schema.HCFA_DRGS[k][0] for k in hcfa],
        "description": [schema.HCFA_DRGS[k][1] for k in hcfa],
        "drg_severity": pd.array([pd.NA] * n, dtype="Int64"),
        "drg_mortality": pd.array([pd.NA] * n, dtype="Int64"),
    })
    apr_rows = pd.DataFrame({
        "subject_id": subjects[has_apr], "hadm_id": hadms[has_apr], "drg_type": "APR",
        "drg_code": [schema.APR_DRGS[k][0] for k in apr[has_apr]],
        "description": [schema.APR_DRGS[k][1] for k in apr[has_apr]],
        "drg_severity": pd.array(severity[has_apr], dtype="Int64"),
        "drg_mortality": pd.array(mortality[has_apr], dtype="Int64"),
    })
    return pd.concat([hcfa_rows, apr_rows], ignore_index=True)


def _provider_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    alphabet = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    chars = alphabet[rng.integers(0, len(alphabet), (n, 5))]
    return np.array(["P" + "".join(row) for row in chars], dtype=object)


def build_prescriptions(rng: np.random.Generator, timeline: Timeline) -> pd.DataFrame:
    """hosp/prescriptions: Poisson(10 + 6·max(latent, 0)) orders per admission, started inside it."""
    adm = timeline.admissions
    latent_adm = adm["latent"].to_numpy(dtype=float)
    n_orders = rng.poisson(10 + 6 * _sicker(latent_adm))
    position = np.repeat(np.arange(len(adm)), n_orders)
    n = len(position)
    latent = latent_adm[position]

    classes = list(DRUG_CLASS_RISK)
    base = np.array([DRUG_CLASS_RISK[c][0] for c in classes])
    slope = np.array([DRUG_CLASS_RISK[c][1] for c in classes])
    weight = base[None, :] * np.exp(slope[None, :] * latent[:, None])
    cumulative = np.cumsum(weight / weight.sum(axis=1, keepdims=True), axis=1)
    drug_class = np.minimum((rng.random(n)[:, None] > cumulative).sum(axis=1), len(classes) - 1)
    members = [np.array([k for k, d in enumerate(schema.DRUGS) if d[1] == c]) for c in classes]
    within = rng.random(n)
    drug = np.empty(n, dtype=int)
    for k, options in enumerate(members):
        rows = drug_class == k
        drug[rows] = options[(within[rows] * len(options)).astype(int)]

    start = _random_time(rng, adm["admittime"].to_numpy()[position], adm["dischtime"].to_numpy()[position])
    duration_min = np.maximum(rng.gamma(1.5, 24.0, n) * 60, 60).astype("int64")
    stop = start + duration_min.astype("timedelta64[m]").astype("timedelta64[s]")
    stop = np.where(rng.random(n) < STOP_MISSING_SHARE, np.datetime64("NaT"), stop).astype("datetime64[s]")
    providers = _provider_ids(rng, 400)
    provider = providers[rng.integers(0, len(providers), n)]
    pharmacy_id = 10_000_000 + rng.choice(89_999_999, size=n, replace=False)

    spec = pd.DataFrame(schema.DRUGS, columns=[
        "drug", "drug_class", "formulary_drug_cd", "prod_strength", "dose_val_rx", "dose_unit_rx",
        "form_val_disp", "form_unit_disp", "doses_per_24_hrs", "route"]).iloc[drug].reset_index(drop=True)
    frame = pd.DataFrame({
        "subject_id": adm["subject_id"].to_numpy()[position],
        "hadm_id": adm["hadm_id"].to_numpy()[position],
        "pharmacy_id": pharmacy_id,
        "order_provider_id": provider,
        "starttime": start,
        "stoptime": stop,
        "drug_type": "MAIN",
    })
    frame = pd.concat([frame, spec.drop(columns="drug_class")], axis=1)
    frame = frame.sort_values(["subject_id", "starttime", "pharmacy_id"], kind="stable", ignore_index=True)
    frame["poe_seq"] = _seq_within(frame["subject_id"].to_numpy())
    frame["poe_id"] = frame["subject_id"].astype(str) + "-" + frame["poe_seq"].astype(str)
    frame["form_rx"] = ""
    frame["gsn"] = ""
    frame["ndc"] = ""
    return frame


def dictionary_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """hosp/d_icd_diagnoses and hosp/d_icd_procedures, sorted by (icd_code, icd_version)."""
    frames = []
    for titles in (schema.D_ICD_DIAGNOSES_TITLES, schema.D_ICD_PROCEDURES_TITLES):
        rows = sorted((code, version, title) for (code, version), title in titles.items())
        frames.append(pd.DataFrame(rows, columns=["icd_code", "icd_version", "long_title"]))
    return frames[0], frames[1]


def build_coding(rng: np.random.Generator, timeline: Timeline) -> CodingTables:
    """All coding tables for every admission of `timeline`; the draw order is fixed (reproducible)."""
    versions = draw_icd_versions(rng, timeline)
    diagnoses = build_diagnoses(rng, timeline, versions)
    procedures = build_procedures(rng, timeline, versions)
    drgcodes = build_drgcodes(rng, timeline)
    prescriptions = build_prescriptions(rng, timeline)
    d_diagnoses, d_procedures = dictionary_frames()
    return CodingTables(diagnoses, procedures, drgcodes, prescriptions, d_diagnoses, d_procedures)
