"""labevents and chartevents whose values shift with the latent state.

Each patient gets a persistent per-item offset plus per-measurement noise, so the structured
modality carries the latent signal the way real labs do: noisily. Lactate is drawn more often for
sick patients (informative missingness); about 10 % of blood draws lose their hadm_id, and draws
before admission or after discharge are kept so the SQL has to window by time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mmnar.synth.timeline import DAY, EPOCH, Timeline


@dataclass(frozen=True)
class Measure:
    """How one item's value depends on the latent: value = center + scale·z (or center·e^(scale·z))."""

    itemid: int
    uom: str
    center: float
    scale: float
    latent_slope: float
    decimals: int
    log_scale: bool = False
    panel: str = ""
    ref_range: tuple[float, float] = (np.nan, np.nan)


LABS = [
    Measure(50912, "mg/dL", 1.0, 0.35, 0.6, 1, True, "chem", (0.5, 1.2)),
    Measure(51006, "mg/dL", 18, 0.40, 0.6, 0, True, "chem", (6, 20)),
    Measure(50983, "mEq/L", 139, 3.5, -0.4, 0, False, "chem", (133, 145)),
    Measure(50971, "mEq/L", 4.2, 0.5, 0.4, 1, False, "chem", (3.3, 5.1)),
    Measure(50931, "mg/dL", 120, 0.30, 0.4, 0, True, "chem", (70, 100)),
    Measure(50882, "mEq/L", 25, 3.5, -0.5, 0, False, "chem", (22, 32)),
    Measure(50902, "mEq/L", 103, 4.0, 0.2, 0, False, "chem", (96, 108)),
    Measure(51222, "g/dL", 11.8, 1.7, -0.5, 1, False, "cbc", (11.2, 15.7)),
    Measure(51221, "%", 35.5, 5.0, -0.5, 1, False, "cbc", (34, 45)),
    Measure(51301, "K/uL", 9.0, 0.40, 0.6, 1, True, "cbc", (4, 10)),
    Measure(51265, "K/uL", 230, 75, -0.4, 0, False, "cbc", (150, 400)),
    Measure(50813, "mmol/L", 1.5, 0.40, 0.8, 1, True, "blood_gas", (0.5, 2)),
    Measure(50885, "mg/dL", 0.7, 0.60, 0.5, 1, True, "liver", (0, 1.5)),
]
VITALS = [
    Measure(220045, "bpm", 85, 14, 0.7, 0),
    Measure(220179, "mmHg", 120, 16, -0.5, 0),
    Measure(220180, "mmHg", 65, 10, -0.4, 0),
    Measure(220181, "mmHg", 0, 0, 0, 0),  # derived from systolic and diastolic below
    Measure(220210, "insp/min", 18, 4, 0.7, 0),
    Measure(220277, "%", 97, 2.2, -0.7, 0),
    Measure(223761, "°F", 98.6, 0.9, 0.5, 1),
    Measure(220739, "", 4, 1.5, 0, 0),
    Measure(223900, "", 5, 2.2, 0, 0),
    Measure(223901, "", 6, 1.8, 0, 0),
]
MALE_HEMOGLOBIN_SHIFT = {51222: 1.8, 51221: 5.0}
MALE_REF_RANGE = {51222: (13.7, 17.5), 51221: (40, 51)}


def _values(spec: Measure, z: np.ndarray) -> np.ndarray:
    raw = spec.center * np.exp(spec.scale * z) if spec.log_scale else spec.center + spec.scale * z
    return np.round(np.clip(raw, 10.0 ** -spec.decimals, None), spec.decimals)


def _as_text(values: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    text = np.where(decimals == 0, np.char.mod("%.0f", values), np.char.mod("%.1f", values))
    return np.where(np.isnan(values), "", text).astype(object)


def _at_random_fraction(rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Minute-resolution times strictly inside [start, end] (datetime64[s])."""
    span = (end - start).astype("int64")
    offset = (rng.uniform(0.02, 0.98, len(span)) * span).astype("int64")
    seconds = (start - EPOCH).astype("int64") + offset
    return EPOCH + (seconds - seconds % 60 + 60).astype("timedelta64[s]")


def _subject_effects(rng: np.random.Generator, subjects: np.ndarray, n_items: int) -> dict[int, np.ndarray]:
    """A persistent per-patient, per-item offset (patients differ beyond the latent)."""
    unique = np.unique(subjects)
    effects = rng.standard_normal((len(unique), n_items))
    return dict(zip(unique.tolist(), effects))


def _lab_draws(rng: np.random.Generator, timeline: Timeline) -> pd.DataFrame:
    """Blood-draw events: inside every admission, plus unlinked ones around the index admission."""
    adm = timeline.admissions
    per_admission = np.where(adm["role"] == "index", 2 + rng.binomial(2, 0.5, len(adm)), 1 + rng.binomial(1, 0.5, len(adm)))
    inside = adm.loc[adm.index.repeat(per_admission)]
    inside_times = _at_random_fraction(rng, inside["admittime"].to_numpy(), inside["dischtime"].to_numpy())
    hadm = inside["hadm_id"].astype("Int64").mask(rng.random(len(inside)) < 0.10)

    index = adm[adm["role"] == "index"]
    before = index.loc[index.index.repeat(rng.binomial(2, 0.35, len(index)))]
    before_times = before["admittime"].to_numpy() - (rng.uniform(3, 60, len(before)) * DAY).astype("timedelta64[s]")
    survivors = index[index["hospital_expire_flag"] == 0]
    after = survivors.loc[survivors.index.repeat(rng.binomial(2, 0.35, len(survivors)))]
    after_times = after["dischtime"].to_numpy() + (rng.uniform(3, 60, len(after)) * DAY).astype("timedelta64[s]")

    return pd.DataFrame({
        "subject_id": np.concatenate([inside["subject_id"], before["subject_id"], after["subject_id"]]),
        "hadm_id": pd.array(np.concatenate([hadm.to_numpy(), np.full(len(before) + len(after), pd.NA)]), dtype="Int64"),
        "charttime": np.concatenate([inside_times, before_times, after_times]).astype("datetime64[m]").astype("datetime64[s]"),
        "latent": np.concatenate([inside["latent"], before["latent"], after["latent"]]),
    })


def build_labevents(rng: np.random.Generator, timeline: Timeline) -> pd.DataFrame:
    """One row per measured (draw, item); columns as in hosp/labevents."""
    draws = _lab_draws(rng, timeline)
    male = timeline.patients.set_index("subject_id")["gender"].eq("M")
    subjects = draws["subject_id"].to_numpy()
    effects = _subject_effects(rng, subjects, len(LABS))
    subject_effect = np.stack([effects[s] for s in subjects.tolist()])
    latent = draws["latent"].to_numpy()
    is_male = male.reindex(subjects).to_numpy()

    patient_latent = timeline.admissions.groupby("subject_id")["latent"].first()
    lactate_patient = dict(zip(patient_latent.index.tolist(),
                               rng.random(len(patient_latent)) < 1 / (1 + np.exp(0.3 - 1.5 * patient_latent.to_numpy()))))
    n = len(draws)
    panel_drawn = {"chem": rng.random(n) < 0.97, "cbc": rng.random(n) < 0.90,
                   "blood_gas": np.array([lactate_patient[s] for s in subjects.tolist()]) & (rng.random(n) < 0.7),
                   "liver": rng.random(n) < 0.35}
    specimen_ids = 10_000_000 + rng.choice(89_999_999, size=(n, len(panel_drawn)), replace=False)
    panel_column = {panel: k for k, panel in enumerate(panel_drawn)}
    priority = np.where(rng.random(n) < 0.55, "STAT", "ROUTINE")

    frames = []
    for k, spec in enumerate(LABS):
        z = spec.latent_slope * latent + 0.6 * subject_effect[:, k] + 0.5 * rng.standard_normal(n)
        values = _values(spec, z + np.where(is_male, MALE_HEMOGLOBIN_SHIFT.get(spec.itemid, 0) / spec.scale, 0))
        low = np.where(is_male, MALE_REF_RANGE.get(spec.itemid, spec.ref_range)[0], spec.ref_range[0])
        high = np.where(is_male, MALE_REF_RANGE.get(spec.itemid, spec.ref_range)[1], spec.ref_range[1])
        rows = panel_drawn[spec.panel]
        frames.append(pd.DataFrame({
            "subject_id": subjects[rows], "hadm_id": draws["hadm_id"].to_numpy()[rows],
            "specimen_id": specimen_ids[rows, panel_column[spec.panel]], "itemid": spec.itemid,
            "charttime": draws["charttime"].to_numpy()[rows], "valuenum": values[rows],
            "decimals": spec.decimals, "valueuom": spec.uom, "ref_range_lower": low[rows], "ref_range_upper": high[rows],
            "priority": "" if spec.panel == "blood_gas" else priority[rows],
        }))
    labs = pd.concat(frames, ignore_index=True).sort_values(["subject_id", "charttime", "itemid"], kind="stable", ignore_index=True)
    labs["hadm_id"] = labs["hadm_id"].astype("Int64")
    labs["labevent_id"] = np.arange(1, len(labs) + 1)
    labs["order_provider_id"] = ""
    labs["storetime"] = labs["charttime"] + pd.to_timedelta(rng.integers(20, 180, len(labs)), unit="min")
    outside = (labs["valuenum"] < labs["ref_range_lower"]) | (labs["valuenum"] > labs["ref_range_upper"])
    labs["flag"] = np.where(outside, "abnormal", "")
    labs["value"] = _as_text(labs["valuenum"].to_numpy(), labs["decimals"].to_numpy())
    for bound in ("ref_range_lower", "ref_range_upper"):  # "22", "0.5" as in the release, not "22.0"
        labs[bound] = np.char.mod("%g", labs[bound].to_numpy()).astype(object)
    labs["comments"] = ""
    return labs


def build_chartevents(rng: np.random.Generator, timeline: Timeline) -> pd.DataFrame:
    """Vital signs and GCS at a few time points of every ICU stay; columns as in icu/chartevents."""
    stays = timeline.icustays
    per_stay = np.where(stays["role"] == "index", rng.integers(3, 7, len(stays)), 2)
    points = stays.loc[stays.index.repeat(per_stay)].reset_index(drop=True)
    times = _at_random_fraction(rng, points["intime"].to_numpy(), points["outtime"].to_numpy())
    n = len(points)
    latent = points["latent"].to_numpy()
    subjects = points["subject_id"].to_numpy()
    effects = _subject_effects(rng, subjects, len(VITALS))
    subject_effect = np.stack([effects[s] for s in subjects.tolist()])

    values = np.empty((n, len(VITALS)))
    for k, spec in enumerate(VITALS):
        z = spec.latent_slope * latent + 0.6 * subject_effect[:, k] + 0.5 * rng.standard_normal(n)
        values[:, k] = _values(spec, z)
    values[:, 3] = np.round((values[:, 1] + 2 * values[:, 2]) / 3)
    values[:, 5] = np.minimum(values[:, 5], 100)
    impairment = np.clip(0.9 * latent + 0.5 * subject_effect[:, 7] + 0.4 * rng.standard_normal(n) - 0.3, 0, None)
    for k, spec in enumerate(VITALS[7:], start=7):
        values[:, k] = np.clip(np.round(spec.center - spec.scale * impairment), 1, spec.center)

    measured = np.ones((n, len(VITALS)), dtype=bool)
    measured[:, 6] = rng.random(n) < 0.6
    measured[:, 7:] = (rng.random(n) < 0.35)[:, None]
    point_of, item_of = np.nonzero(measured)
    charts = pd.DataFrame({
        "subject_id": subjects[point_of], "hadm_id": points["hadm_id"].to_numpy()[point_of],
        "stay_id": points["stay_id"].to_numpy()[point_of],
        "caregiver_id": rng.integers(10_000, 99_999, len(point_of)),
        "charttime": times[point_of], "itemid": np.array([v.itemid for v in VITALS])[item_of],
        "valuenum": values[point_of, item_of], "valueuom": np.array([v.uom for v in VITALS], dtype=object)[item_of],
        "decimals": np.array([v.decimals for v in VITALS])[item_of], "warning": 0,
    }).sort_values(["subject_id", "charttime", "itemid"], kind="stable", ignore_index=True)
    charts["storetime"] = charts["charttime"] + pd.to_timedelta(rng.integers(1, 30, len(charts)), unit="min")
    charts["value"] = _as_text(charts["valuenum"].to_numpy(), charts["decimals"].to_numpy())
    return charts
