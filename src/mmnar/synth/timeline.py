"""Admissions and ICU stays that encode the drawn outcomes so the cohort SQL can recover them.

Per cohort patient: optional earlier admissions that are not index-eligible (0 or 2 ICU stays, or
one ICU stay at age 17), the index admission (first one at age ≥ 18 with exactly one ICU stay), a
readmission at +1..29 days if the readmission event happened (with an ICU stay if the ICU event
happened too), otherwise an ICU admission at +31..87 days if only the ICU event happened, and
unrelated admissions more than 120 days later. Decoy patients — minors and adults who never have a
single-ICU-stay admission — sit next to them and never enter the cohort.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmnar.synth.causal_model import ADMISSION_TYPES
from mmnar.synth.mimic_schema import ANCHOR_YEAR_GROUPS

DAY = 86_400
HOUR = 3_600
EPOCH = np.datetime64("1970-01-01T00:00:00", "s")

CAREUNITS = [
    "Medical Intensive Care Unit (MICU)", "Surgical Intensive Care Unit (SICU)",
    "Cardiac Vascular Intensive Care Unit (CVICU)", "Medical/Surgical Intensive Care Unit (MICU/SICU)",
    "Coronary Care Unit (CCU)", "Trauma SICU (TSICU)", "Neuro Surgical Intensive Care Unit (Neuro SICU)",
]
ADMISSION_LOCATION = {
    "EW EMER.": ["EMERGENCY ROOM", "EMERGENCY ROOM", "WALK-IN/SELF REFERRAL"],
    "URGENT": ["TRANSFER FROM HOSPITAL", "EMERGENCY ROOM"],
    "DIRECT EMER.": ["PHYSICIAN REFERRAL", "CLINIC REFERRAL"],
    "ELECTIVE": ["PHYSICIAN REFERRAL"],
    "SURGICAL SAME DAY ADMISSION": ["PHYSICIAN REFERRAL", "PROCEDURE SITE"],
    "OBSERVATION ADMIT": ["EMERGENCY ROOM", "PHYSICIAN REFERRAL"],
}
DISCHARGE_LOCATIONS = ["HOME", "HOME HEALTH CARE", "SKILLED NURSING FACILITY", "REHAB", "CHRONIC/LONG TERM ACUTE CARE", "HOSPICE", "AGAINST ADVICE", ""]
RACES = ["WHITE", "BLACK/AFRICAN AMERICAN", "HISPANIC/LATINO - PUERTO RICAN", "ASIAN", "OTHER", "UNKNOWN", "WHITE - OTHER EUROPEAN", "BLACK/CAPE VERDEAN"]
RACE_WEIGHTS = [0.62, 0.15, 0.05, 0.04, 0.04, 0.05, 0.03, 0.02]
MARITAL = ["MARRIED", "SINGLE", "WIDOWED", "DIVORCED", ""]
OTHER_TYPE_WEIGHTS = [0.40, 0.15, 0.08, 0.15, 0.10, 0.12]
MINOR_SHARE, INELIGIBLE_ADULT_SHARE = 0.04, 0.03


@dataclass
class Timeline:
    """MIMIC-shaped frames (times as datetime64[s]) plus the bookkeeping later modules need.

    `admissions.role` is one of prior, index, readmit, icu_followup, later, decoy; `latent` is the
    patient's latent state (decoys get one too so their rows look alike).
    """

    patients: pd.DataFrame
    admissions: pd.DataFrame
    icustays: pd.DataFrame


def _year_start(year: int) -> int:
    return int((np.datetime64(f"{year}-01-01T00:00:00", "s") - EPOCH).astype(int))


class _Builder:
    """Accumulates admission and ICU-stay rows for one patient after another."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.admissions: list[dict] = []
        self.stays: list[dict] = []

    def los_days(self, n_icu: int, latent: float) -> float:
        rng = self.rng
        if n_icu == 0:
            return min(1 + rng.gamma(2, 1.2), 20)
        return min(3 + rng.gamma(2, 1.5) + 1.5 * max(latent, 0) + 2 * (n_icu - 1), 40)

    def admission(self, patient: dict, admit: int, los_days: float, n_icu: int, role: str,
                  admission_type: str | None = None, died: bool = False) -> dict:
        """Add one admission (admit in epoch seconds, minute resolution) and its ICU stays."""
        rng = self.rng
        admit -= admit % 60
        disch = admit + int(los_days * DAY) // 60 * 60
        admission_type = admission_type or str(rng.choice(ADMISSION_TYPES, p=OTHER_TYPE_WEIGHTS))
        location = str(rng.choice(ADMISSION_LOCATION[admission_type]))
        from_ed = location == "EMERGENCY ROOM"
        sick = patient["latent"] > 0.8
        discharge_location = "DIED" if died else str(rng.choice(
            DISCHARGE_LOCATIONS, p=[0.2, 0.25, 0.3, 0.1, 0.05, 0.02, 0.02, 0.06] if sick else [0.4, 0.3, 0.1, 0.05, 0.02, 0.01, 0.02, 0.1]))
        row = {
            "key": len(self.admissions), "subject_id": patient["subject_id"], "admit": admit, "disch": disch,
            "death": disch if died else None, "admission_type": admission_type,
            "admit_provider_id": "P" + "".join(rng.choice(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 5)),
            "admission_location": location, "discharge_location": discharge_location,
            "insurance": patient["insurance"], "language": patient["language"],
            "marital_status": patient["marital_status"], "race": patient["race"],
            "edreg": admit - int(rng.uniform(2, 8) * HOUR) // 60 * 60 if from_ed else None,
            "edout": admit + int(rng.uniform(0, 1) * HOUR) // 60 * 60 if from_ed else None,
            "hospital_expire_flag": int(died), "role": role, "latent": patient["latent"],
        }
        self.admissions.append(row)
        for intime, outtime in self._stay_times(admit, disch, n_icu, died):
            unit = str(rng.choice(CAREUNITS))
            self.stays.append({
                "key": len(self.stays), "admission_key": row["key"], "subject_id": patient["subject_id"],
                "first_careunit": unit, "last_careunit": unit if rng.random() < 0.85 else str(rng.choice(CAREUNITS)),
                "intime": intime, "outtime": outtime, "role": role, "latent": patient["latent"],
            })
        return row

    def _stay_times(self, admit: int, disch: int, n_icu: int, died: bool) -> list[tuple[int, int]]:
        """ICU stays strictly inside the admission; one stay starts within two days of admission."""
        rng = self.rng
        span = disch - admit
        if n_icu == 1:
            intime = admit + int(rng.uniform(HOUR, min(0.3 * span, 2 * DAY)))
            latest_out = disch - HOUR
            outtime = disch if died and rng.random() < 0.7 else min(intime + int(rng.uniform(1, 6) * DAY), latest_out)
            return [(intime, outtime)]
        if n_icu == 2:
            return [
                (admit + int(rng.uniform(HOUR, 0.1 * span)), admit + int(rng.uniform(0.25, 0.4) * span)),
                (admit + int(rng.uniform(0.5, 0.6) * span), admit + int(rng.uniform(0.7, 0.9) * span)),
            ]
        return []


def _patient_attributes(rng: np.random.Generator, subject_id: int, latent: float, gender: str, age: int) -> dict:
    return {
        "subject_id": subject_id, "latent": latent, "gender": gender,
        "insurance": "Medicare" if age >= 65 and rng.random() < 0.85 else str(rng.choice(["Other", "Medicaid", "Other"])),
        "language": "ENGLISH" if rng.random() < 0.92 else "?",
        "marital_status": str(rng.choice(MARITAL, p=[0.4, 0.3, 0.15, 0.1, 0.05])),
        "race": str(rng.choice(RACES, p=RACE_WEIGHTS)),
    }


def _cohort_patient(builder: _Builder, rng: np.random.Generator, patient: dict, person: pd.Series) -> tuple[int, int, int | None]:
    """Admissions of one index-eligible patient; returns (anchor_age, anchor_year, dod in epoch seconds or None)."""
    age = int(person.age_at_index)
    years_after_anchor = age - 17 if person.adulthood_edge else int(min(rng.integers(0, 4), age - 18))
    anchor_age = age - years_after_anchor
    anchor_year = int(rng.integers(2110, 2181))
    index_admit = _year_start(anchor_year + years_after_anchor) + int(rng.uniform(0, 330) * DAY)

    if person.adulthood_edge:  # an ICU stay at 17: one stay but not an adult yet
        minor_admit = _year_start(anchor_year) + int(rng.uniform(0, 300) * DAY)
        builder.admission(patient, minor_admit, builder.los_days(1, person.latent), 1, "prior")
    else:
        cursor = index_admit
        for _ in range(rng.choice([0, 1, 2], p=[0.5, 0.33, 0.17])):
            n_icu = 2 if rng.random() < 0.3 else 0
            los = builder.los_days(n_icu, person.latent)
            disch = cursor - int(rng.uniform(20, 500) * DAY)
            cursor = disch - int(los * DAY)
            builder.admission(patient, cursor, los, n_icu, "prior")

    index = builder.admission(patient, index_admit, builder.los_days(1, person.latent), 1, "index",
                              admission_type=person.admission_type, died=bool(person.died_inhosp))
    if person.died_inhosp:
        return anchor_age, anchor_year, index["disch"]
    last_disch = index["disch"]
    if person.readmit_event:
        n_icu = int(person.icu_event)
        row = builder.admission(patient, index["disch"] + int(rng.uniform(1, 29) * DAY), builder.los_days(n_icu, person.latent), n_icu, "readmit")
        last_disch = row["disch"]
    elif person.icu_event:
        row = builder.admission(patient, index["disch"] + int(rng.uniform(31, 87) * DAY), builder.los_days(1, person.latent), 1, "icu_followup")
        last_disch = row["disch"]
    cursor = index["disch"] + 120 * DAY
    for _ in range(rng.choice([0, 1, 2], p=[0.45, 0.35, 0.2])):
        n_icu = int(rng.choice([0, 1, 2], p=[0.55, 0.3, 0.15]))
        row = builder.admission(patient, cursor + int(rng.uniform(1, 480) * DAY), builder.los_days(n_icu, person.latent), n_icu, "later")
        cursor = last_disch = row["disch"]
    return anchor_age, anchor_year, None if rng.random() > 0.12 else last_disch + int(rng.uniform(30, 700) * DAY)


def _decoy_patient(builder: _Builder, rng: np.random.Generator, patient: dict, minor: bool) -> tuple[int, int, None]:
    """Minors (every admission before 18, one ICU stay each) or adults with no single-stay admission."""
    anchor_year = int(rng.integers(2110, 2181))
    cursor = _year_start(anchor_year) + int(rng.uniform(0, 200) * DAY)
    for _ in range(rng.integers(1, 3) if minor else rng.integers(1, 4)):
        n_icu = 1 if minor else int(rng.choice([0, 2]))
        los = builder.los_days(n_icu, patient["latent"])
        row = builder.admission(patient, cursor, los, n_icu, "decoy")
        cursor = row["disch"] + int(rng.uniform(5, 60 if minor else 400) * DAY)
    anchor_age = int(rng.integers(1, 16)) if minor else int(rng.integers(25, 86))
    return anchor_age, anchor_year, None


def _as_datetime(seconds: pd.Series) -> np.ndarray:
    values = seconds.astype("float64").to_numpy()
    out = np.full(values.shape, np.datetime64("NaT"), dtype="datetime64[s]")
    known = ~np.isnan(values)
    out[known] = EPOCH + values[known].astype("int64").astype("timedelta64[s]")
    return out


def _unique_ids(rng: np.random.Generator, base: int, n: int) -> np.ndarray:
    """Distinct ids in [base, base + 10^7) in random order, so id order says nothing about time."""
    return base + rng.choice(9_999_999, size=n, replace=False)


def build_timeline(rng: np.random.Generator, cohort: pd.DataFrame) -> tuple[Timeline, np.ndarray]:
    """Render the cohort (plus decoys) as admissions/ICU stays; returns the timeline and cohort subject_ids."""
    n_cohort = len(cohort)
    n_minor = max(2, round(MINOR_SHARE * n_cohort))
    n_ineligible = max(2, round(INELIGIBLE_ADULT_SHARE * n_cohort))
    n_total = n_cohort + n_minor + n_ineligible
    subject_ids = 10_000_000 + np.sort(rng.choice(9_999_999, size=n_total, replace=False))
    kinds = np.array(["cohort"] * n_cohort + ["minor"] * n_minor + ["ineligible"] * n_ineligible)
    order = rng.permutation(n_total)  # cohort and decoys interleave in subject_id order
    subject_of = dict(zip(order, subject_ids))

    builder = _Builder(rng)
    patients = []
    for position in range(n_total):
        subject_id = int(subject_of[position])
        if kinds[position] == "cohort":
            person = cohort.iloc[position]
            patient = _patient_attributes(rng, subject_id, float(person.latent), person.gender, int(person.age_at_index))
            anchor_age, anchor_year, dod = _cohort_patient(builder, rng, patient, person)
        else:
            gender = "M" if rng.random() < 0.5 else "F"
            patient = _patient_attributes(rng, subject_id, float(rng.standard_normal()), gender, 40)
            anchor_age, anchor_year, dod = _decoy_patient(builder, rng, patient, kinds[position] == "minor")
        patients.append({
            "subject_id": subject_id, "gender": patient["gender"], "anchor_age": anchor_age,
            "anchor_year": anchor_year, "anchor_year_group": str(rng.choice(ANCHOR_YEAR_GROUPS)), "dod_s": dod,
        })

    admissions = pd.DataFrame(builder.admissions)
    admissions["hadm_id"] = _unique_ids(rng, 20_000_000, len(admissions))
    for src, dst in [("admit", "admittime"), ("disch", "dischtime"), ("death", "deathtime"), ("edreg", "edregtime"), ("edout", "edouttime")]:
        admissions[dst] = _as_datetime(admissions[src])
    stays = pd.DataFrame(builder.stays)
    stays["hadm_id"] = admissions["hadm_id"].to_numpy()[stays["admission_key"].to_numpy()]
    stays["stay_id"] = _unique_ids(rng, 30_000_000, len(stays))
    stays["intime"], stays["outtime"] = _as_datetime(stays["intime"]), _as_datetime(stays["outtime"])
    stays["los"] = (stays["outtime"] - stays["intime"]).dt.total_seconds() / DAY
    patients = pd.DataFrame(patients)
    patients["dod"] = _as_datetime(patients["dod_s"])

    cohort_subjects = np.array([subject_of[p] for p in range(n_cohort)], dtype=np.int64)
    return Timeline(patients=patients, admissions=admissions, icustays=stays), cohort_subjects
