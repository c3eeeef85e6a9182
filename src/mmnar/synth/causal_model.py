"""The known causal mechanism: latent health → covariates, observation pattern δ, outcomes.

Everything the benchmark's oracle needs is decided here, before any table exists; the other
modules only render these draws as MIMIC rows. Higher latent = sicker.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MECHANISMS = ("mcar", "mar", "mnar")
OBSERVED_MODALITIES = ("I", "T", "R")

TARGET_PREVALENCE = {"readmit_30d": 0.17, "icu_90d": 0.10, "mortality_inhosp": 0.11}
"""Intercepts are calibrated so the expected label rate hits these whatever δ does (the
post-discharge ones among expected survivors, since their labels are masked after a death)."""

LATENT_SLOPE = {"readmit_30d": 0.8, "icu_90d": 1.0, "mortality_inhosp": 1.3}
AGE_SLOPE = {"readmit_30d": 0.10, "icu_90d": 0.05, "mortality_inhosp": 0.25}
DIRECT_EFFECT_WEIGHTS = {
    # (I, T, R): an imaged patient is watched more closely, a written discharge summary means an
    # organised hand-over; direct_effect scales these on the logit scale.
    "readmit_30d": (0.3, -0.6, 0.3),
    "icu_90d": (0.5, -0.4, 0.4),
    "mortality_inhosp": (0.6, -0.5, 0.4),
}

MCAR_PROBABILITY = {"I": 0.55, "T": 0.80, "R": 0.60}
MAR_LOGIT = {  # intercept, age_z slope, emergency-admission slope
    "I": (-0.40, 0.5, 1.0),
    "T": (1.80, -0.6, -0.6),
    "R": (-0.20, 0.4, 1.0),
}
MNAR_LOGIT = {  # intercept, latent slope: sicker → more imaging, fewer finished summaries
    "I": (0.25, 1.3),
    "T": (1.60, -0.9),
    "R": (0.45, 1.3),
}

ADMISSION_TYPES = ["EW EMER.", "URGENT", "DIRECT EMER.", "ELECTIVE", "SURGICAL SAME DAY ADMISSION", "OBSERVATION ADMIT"]
EMERGENCY_TYPES = {"EW EMER.", "URGENT", "DIRECT EMER."}
ADULTHOOD_EDGE_SHARE = 0.03
"""Share of the cohort who had an ICU admission at 17 and become eligible on a later adult one."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrated_intercept(rest: np.ndarray, target: float, weights: np.ndarray) -> float:
    """Bisection for the intercept a with the weighted mean of sigmoid(a + rest) equal to target."""
    low, high = -20.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if np.average(_sigmoid(mid + rest), weights=weights) < target else (low, mid)
    return (low + high) / 2


def _observation_probability(mechanism: str, latent: np.ndarray, age_z: np.ndarray, emergency: np.ndarray) -> dict[str, np.ndarray]:
    if mechanism == "mcar":
        return {m: np.full(latent.shape, p) for m, p in MCAR_PROBABILITY.items()}
    if mechanism == "mar":
        return {m: _sigmoid(a + b * age_z + c * emergency) for m, (a, b, c) in MAR_LOGIT.items()}
    return {m: _sigmoid(a + b * latent) for m, (a, b) in MNAR_LOGIT.items()}


def draw_cohort(rng: np.random.Generator, n_patients: int, mechanism: str, direct_effect: float) -> pd.DataFrame:
    """One row per index-eligible patient: latent, covariates, δ, true probabilities, realised events.

    Post-discharge events are only realised for survivors (a patient who dies in hospital cannot be
    readmitted); the probabilities are still reported for everyone.
    """
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {MECHANISMS}, got {mechanism!r}")
    latent = rng.standard_normal(n_patients)
    adulthood_edge = rng.random(n_patients) < ADULTHOOD_EDGE_SHARE
    age = np.clip(np.round(rng.normal(63 + 4 * latent, 16)), 18, 91).astype(int)
    age = np.where(adulthood_edge, 18 + rng.integers(0, 3, n_patients), age)
    age_z = (age - 63) / 16
    gender = np.where(rng.random(n_patients) < 0.55, "M", "F")
    type_weights = np.array([0.45, 0.15, 0.08, 0.12, 0.10, 0.10])
    sick_shift = np.outer(np.clip(latent, 0, None), [0.3, 0.1, 0.1, -0.2, -0.15, -0.15])
    type_probability = np.clip(type_weights + sick_shift, 0.01, None)
    type_probability /= type_probability.sum(axis=1, keepdims=True)
    type_index = (type_probability.cumsum(axis=1) < rng.random((n_patients, 1))).sum(axis=1)
    admission_type = np.array(ADMISSION_TYPES)[type_index]
    emergency = np.isin(admission_type, list(EMERGENCY_TYPES)).astype(float)

    observation = _observation_probability(mechanism, latent, age_z, emergency)
    delta = {m: (rng.random(n_patients) < observation[m]).astype(int) for m in OBSERVED_MODALITIES}
    delta_matrix = np.column_stack([delta[m] for m in OBSERVED_MODALITIES])

    cohort = pd.DataFrame({
        "latent": latent, "age_at_index": age, "gender": gender, "admission_type": admission_type,
        "adulthood_edge": adulthood_edge,
        **{f"true_delta_{m}": delta[m] for m in OBSERVED_MODALITIES},
    })
    survival = np.ones(n_patients)
    for task in ("mortality_inhosp", "readmit_30d", "icu_90d"):  # post-discharge rates are among survivors
        rest = (LATENT_SLOPE[task] * latent + AGE_SLOPE[task] * age_z
                + direct_effect * delta_matrix @ np.array(DIRECT_EFFECT_WEIGHTS[task]))
        cohort[f"p_{task}"] = _sigmoid(_calibrated_intercept(rest, TARGET_PREVALENCE[task], survival) + rest)
        if task == "mortality_inhosp":
            survival = 1 - cohort["p_mortality_inhosp"].to_numpy()

    died = rng.random(n_patients) < cohort["p_mortality_inhosp"].to_numpy()
    cohort["died_inhosp"] = died
    cohort["readmit_event"] = ~died & (rng.random(n_patients) < cohort["p_readmit_30d"].to_numpy())
    cohort["icu_event"] = ~died & (rng.random(n_patients) < cohort["p_icu_90d"].to_numpy())
    return cohort
