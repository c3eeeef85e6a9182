"""The known causal mechanism: latent state → covariates, observation pattern δ, outcomes.

Everything the benchmark's oracle needs is decided here, before any table exists; the other
modules only render these draws as MIMIC rows.

The latent state has two components. ``latent`` (h, higher = sicker) shows in every recorded
table: labs, vitals, codes, orders, note wording, images. ``hidden`` (u) is what MNAR means
clinically — the clinician's judgement and the patient's social context — and is recorded
nowhere: under ``mnar`` it decides, with h, which modalities are observed, and (scaled by
``hidden_strength``) it moves every outcome. So δ is the only trace of u in the data, and a model
can gain from δ beyond the recorded contents only under ``mnar`` with ``hidden_strength > 0`` or
through the ``direct_effect`` of δ itself. Outcome and observation models are nonlinear (a convex
severity term and an h·u interaction), a form no model here shares by construction.

``ceilings`` gives the two references the tables read next to the models: the true probabilities
(the oracle, which knows u) and the best probabilities given what a model can recover — h, the
recorded covariates and δ — with u integrated over its posterior given δ (Gauss–Hermite
quadrature), with and without δ.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

MECHANISMS = ("mcar", "mar", "mnar")
OBSERVED_MODALITIES = ("I", "T", "R")
TASK_ORDER = ("mortality_inhosp", "readmit_30d", "icu_90d")
"""Post-discharge outcomes are defined among survivors, so mortality comes first."""

TARGET_PREVALENCE = {"readmit_30d": 0.17, "icu_90d": 0.10, "mortality_inhosp": 0.11}
"""Intercepts are calibrated so the expected label rate hits these whatever δ does (the
post-discharge ones among expected survivors, since their labels are masked after a death)."""

LATENT_SLOPE = {"readmit_30d": 0.8, "icu_90d": 1.0, "mortality_inhosp": 1.3}
CONVEX_SLOPE = {"readmit_30d": 0.15, "icu_90d": 0.2, "mortality_inhosp": 0.3}
"""Weight of max(h, 0)²: risk accelerates with severity."""
AGE_SLOPE = {"readmit_30d": 0.10, "icu_90d": 0.05, "mortality_inhosp": 0.25}
HIDDEN_SLOPE = {"readmit_30d": 0.9, "icu_90d": 0.8, "mortality_inhosp": 0.6}
"""Outcome logit per unit of u, times ``hidden_strength``."""
HIDDEN_INTERACTION = 0.3
"""Outcome logit per unit of h·u, times ``hidden_strength``: judgement matters more in the sicker."""
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
MNAR_LOGIT = {  # intercept, latent slope, convex slope, hidden slope (times hidden_strength):
    # sicker or judged-worse → more imaging, fewer finished summaries
    "I": (0.05, 1.0, 0.3, 1.2),
    "T": (1.60, -0.9, 0.0, -1.2),
    "R": (0.25, 1.0, 0.3, 1.0),
}

ADMISSION_TYPES = ["EW EMER.", "URGENT", "DIRECT EMER.", "ELECTIVE", "SURGICAL SAME DAY ADMISSION", "OBSERVATION ADMIT"]
EMERGENCY_TYPES = {"EW EMER.", "URGENT", "DIRECT EMER."}
ADULTHOOD_EDGE_SHARE = 0.03
"""Share of the cohort who had an ICU admission at 17 and become eligible on a later adult one."""
QUADRATURE_NODES = 48


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _calibrated_intercept(rest: np.ndarray, target: float, weights: np.ndarray) -> float:
    """Bisection for the intercept a with the weighted mean of sigmoid(a + rest) equal to target."""
    low, high = -20.0, 20.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if np.average(_sigmoid(mid + rest), weights=weights) < target else (low, mid)
    return (low + high) / 2


def _convex(latent: np.ndarray) -> np.ndarray:
    return np.clip(latent, 0, None) ** 2


def observation_probability(mechanism: str, latent: np.ndarray, hidden: np.ndarray, age_z: np.ndarray,
                            emergency: np.ndarray, hidden_strength: float) -> dict[str, np.ndarray]:
    """P(δ_m = 1) per modality; arrays broadcast (the ceilings evaluate it on a grid of u)."""
    shape = np.broadcast(latent, hidden, age_z, emergency).shape
    if mechanism == "mcar":
        return {m: np.full(shape, p) for m, p in MCAR_PROBABILITY.items()}
    if mechanism == "mar":
        return {m: np.broadcast_to(_sigmoid(a + b * age_z + c * emergency), shape) for m, (a, b, c) in MAR_LOGIT.items()}
    return {m: _sigmoid(a + b * latent + c * _convex(latent) + hidden_strength * d * hidden)
            for m, (a, b, c, d) in MNAR_LOGIT.items()}


def outcome_logit_rest(task: str, latent, hidden, age_z, hidden_strength: float) -> np.ndarray:
    """An outcome's logit without its intercept and without δ's direct effect; arrays broadcast."""
    return (LATENT_SLOPE[task] * latent + CONVEX_SLOPE[task] * _convex(latent) + AGE_SLOPE[task] * age_z
            + hidden_strength * (HIDDEN_SLOPE[task] * hidden + HIDDEN_INTERACTION * latent * hidden))


def direct_logit(task: str, delta_matrix: np.ndarray, direct_effect: float) -> np.ndarray:
    """The direct effect of the observation pattern on the outcome's logit, (N,)."""
    return direct_effect * (np.asarray(delta_matrix, dtype=float) @ np.array(DIRECT_EFFECT_WEIGHTS[task]))


def draw_cohort(rng: np.random.Generator, n_patients: int, mechanism: str, direct_effect: float,
                hidden_strength: float = 0.0, hidden_rng: np.random.Generator | None = None) -> pd.DataFrame:
    """One row per index-eligible patient: latent, hidden, covariates, δ, true probabilities, events.

    Post-discharge events are only realised for survivors (a patient who dies in hospital cannot be
    readmitted); the probabilities are still reported for everyone. ``hidden`` comes from its own
    generator, so the other draws do not depend on whether it is used. The calibrated intercepts
    are kept in ``cohort.attrs["intercepts"]`` for the ceilings.
    """
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {MECHANISMS}, got {mechanism!r}")
    latent = rng.standard_normal(n_patients)
    hidden = (hidden_rng or np.random.default_rng(rng.integers(2**63))).standard_normal(n_patients)
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

    observation = observation_probability(mechanism, latent, hidden, age_z, emergency, hidden_strength)
    delta = {m: (rng.random(n_patients) < observation[m]).astype(int) for m in OBSERVED_MODALITIES}
    delta_matrix = np.column_stack([delta[m] for m in OBSERVED_MODALITIES])

    cohort = pd.DataFrame({
        "latent": latent, "hidden": hidden, "age_at_index": age, "age_z": age_z, "emergency": emergency,
        "gender": gender, "admission_type": admission_type, "adulthood_edge": adulthood_edge,
        **{f"true_delta_{m}": delta[m] for m in OBSERVED_MODALITIES},
    })
    survival = np.ones(n_patients)
    intercepts = {}
    for task in TASK_ORDER:
        rest = (outcome_logit_rest(task, latent, hidden, age_z, hidden_strength)
                + direct_logit(task, delta_matrix, direct_effect))
        intercepts[task] = _calibrated_intercept(rest, TARGET_PREVALENCE[task], survival)
        cohort[f"p_{task}"] = _sigmoid(intercepts[task] + rest)
        if task == "mortality_inhosp":
            survival = 1 - cohort["p_mortality_inhosp"].to_numpy()

    died = rng.random(n_patients) < cohort["p_mortality_inhosp"].to_numpy()
    cohort["died_inhosp"] = died
    cohort["readmit_event"] = ~died & (rng.random(n_patients) < cohort["p_readmit_30d"].to_numpy())
    cohort["icu_event"] = ~died & (rng.random(n_patients) < cohort["p_icu_90d"].to_numpy())
    cohort.attrs["intercepts"] = intercepts
    return cohort


def _all_patterns() -> np.ndarray:
    """Every δ over the observed modalities, (2^M, M)."""
    n = len(OBSERVED_MODALITIES)
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)


def ceilings(cohort: pd.DataFrame, mechanism: str, direct_effect: float, hidden_strength: float,
             intercepts: Mapping[str, float], use_delta: bool = True) -> dict[str, np.ndarray]:
    """Best achievable probability per task given h, the recorded covariates and (``use_delta``) δ.

    u is integrated out on a Gauss–Hermite grid, weighted by its N(0, 1) prior and, with
    ``use_delta``, by the likelihood of the patient's δ given (h, u); without it, δ is summed out
    too. A post-discharge outcome is only defined for survivors, so its ceiling is
    E[p_t · (1 − p_death)] / E[1 − p_death] over the same posterior: surviving is itself evidence
    about u.
    """
    nodes, weights = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
    weights = weights / weights.sum()
    h, age_z, emergency = (cohort[c].to_numpy()[:, None] for c in ("latent", "age_z", "emergency"))
    u = nodes[None, :]
    observed = np.column_stack([cohort[f"true_delta_{m}"].to_numpy() for m in OBSERVED_MODALITIES]).astype(float)
    observation = observation_probability(mechanism, h, u, age_z, emergency, hidden_strength)
    patterns = [observed] if use_delta else list(_all_patterns())

    def pattern_weight(pattern):
        """P(δ = pattern | h, u) per patient and node, (N, K)."""
        pattern = np.broadcast_to(pattern, observed.shape)
        weight = np.ones_like(h * u)
        for k, m in enumerate(OBSERVED_MODALITIES):
            weight = weight * np.where(pattern[:, [k]] == 1, observation[m], 1 - observation[m])
        return weight

    def probability(task, pattern):
        """p_task given (h, u) and δ = pattern, (N, K)."""
        pattern = np.broadcast_to(pattern, observed.shape)
        rest = outcome_logit_rest(task, h, u, age_z, hidden_strength) + direct_logit(task, pattern, direct_effect)[:, None]
        return _sigmoid(intercepts[task] + rest)

    mortality = survivors = total = 0.0
    post_discharge = {task: 0.0 for task in TASK_ORDER[1:]}
    for pattern in patterns:
        w = weights[None, :] * pattern_weight(pattern)
        death = probability("mortality_inhosp", pattern)
        total = total + w.sum(axis=1)
        mortality = mortality + (w * death).sum(axis=1)
        survivors = survivors + (w * (1 - death)).sum(axis=1)
        for task in post_discharge:
            post_discharge[task] = post_discharge[task] + (w * (1 - death) * probability(task, pattern)).sum(axis=1)
    return {"mortality_inhosp": mortality / total, **{t: v / survivors for t, v in post_discharge.items()}}
