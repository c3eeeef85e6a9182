"""Feature groups of the structured modality S: what each group holds and when it becomes known.

S is the union of the groups a run selects. Each group is one entry here (its SQL file under
``rules/sql/``, its categorical columns with a fixed vocabulary, the numeric columns that may be
unknown) and declares *when* its values are known:

- ``stay``: recorded as it happens (vitals, labs, orders, the admission record, past utilisation);
  the SQL keeps only what lies inside the observation window or before it.
- ``discharge``: coded or decided when the patient leaves (ICD diagnoses and procedures, DRGs, the
  discharge location). Known at a discharge-time prediction, leakage at an early-window one.

A group may also *reveal* a task's label outright (``discharge_location = 'DIED'`` is in-hospital
mortality). The prediction time of a run is fixed by ``cohort.window`` (``paper``: discharge;
``early``: ``cohort.early_hours`` into the ICU stay) and every task reads the same S vector (one
multitask model), so a group reaches the models only if it is known at that time *and* reveals
none of the run's tasks. ``availability`` is the one place this rule is written; the config check,
the rules and the leakage audit all ask it.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmnar.data.tasks import DEFAULT_TASKS, TASKS

STAY = "stay"
DISCHARGE = "discharge"
KNOWN_AT = (STAY, DISCHARGE)
"""Moments a value can become known, in time order."""

PREDICTION_TIME = {"paper": DISCHARGE, "early": STAY}
"""When each ``cohort.window`` predicts: at discharge, or ``early_hours`` into the ICU stay."""
PREDICTION_MOMENT = {"paper": "at discharge", "early": "cohort.early_hours into the ICU stay"}

MISSING_LEVEL = "missing"
OTHER_LEVEL = "other"
BLANK_VALUES = ("", "?", "UNKNOWN", "UNABLE TO OBTAIN")
"""Categorical values that say nothing was recorded (MIMIC-IV 2.2 writes '?' for an unknown language)."""


@dataclass(frozen=True)
class Categorical:
    """A text column one-hot encoded over a fixed vocabulary, plus ``other`` and ``missing``.

    The vocabulary is the set of values MIMIC-IV documents for the column, fixed here rather than
    fitted, so the encoding sees no patient (no split can leak into it) and names the same columns
    on every source and every run. Values are compared upper-cased and trimmed.
    """

    column: str
    levels: tuple[str, ...]

    def feature_names(self) -> list[str]:
        return [f"{self.column}={level}" for level in (*self.levels, OTHER_LEVEL, MISSING_LEVEL)]


@dataclass(frozen=True)
class FeatureGroup:
    name: str
    label: str
    known_at: str
    sql: str | None
    """File under ``rules/sql/`` returning one row per cohort patient; None for the groups that the
    ``extract_structured`` stage writes (vitals and labs, demographics)."""
    doc: str
    categorical: tuple[Categorical, ...] = ()
    nullable: tuple[str, ...] = ()
    """Numeric columns that are NULL when unknown: each gets a ``<column>_missing`` indicator."""
    reveals: tuple[str, ...] = ()
    """Tasks whose label this group states outright."""


ADMISSION_TYPES = ("AMBULATORY OBSERVATION", "DIRECT EMER.", "DIRECT OBSERVATION", "ELECTIVE", "EU OBSERVATION",
                   "EW EMER.", "OBSERVATION ADMIT", "SURGICAL SAME DAY ADMISSION", "URGENT")
ADMISSION_LOCATIONS = ("AMBULATORY SURGERY TRANSFER", "CLINIC REFERRAL", "EMERGENCY ROOM",
                       "INFORMATION NOT AVAILABLE", "INTERNAL TRANSFER TO OR FROM PSYCH", "PACU",
                       "PHYSICIAN REFERRAL", "PROCEDURE SITE", "TRANSFER FROM HOSPITAL",
                       "TRANSFER FROM SKILLED NURSING FACILITY", "WALK-IN/SELF REFERRAL")
INSURANCES = ("MEDICAID", "MEDICARE", "PRIVATE", "NO CHARGE")  # "Other" falls in the other level
LANGUAGES = ("ENGLISH", "SPANISH", "CHINESE", "RUSSIAN", "PORTUGUESE", "HAITIAN", "VIETNAMESE")
MARITAL_STATUSES = ("MARRIED", "SINGLE", "WIDOWED", "DIVORCED")
DISCHARGE_LOCATIONS = ("HOME", "HOME HEALTH CARE", "SKILLED NURSING FACILITY", "REHAB", "CHRONIC/LONG TERM ACUTE CARE",
                       "HOSPICE", "AGAINST ADVICE", "ACUTE HOSPITAL", "ASSISTED LIVING", "HEALTHCARE FACILITY",
                       "OTHER FACILITY", "PSYCH FACILITY", "DIED")

REGISTRY: tuple[FeatureGroup, ...] = (
    FeatureGroup("demographics", "Demographics", STAY, None,
                 "age, sex, emergency admission, number of prior admissions (from the cohort table)"),
    FeatureGroup("vitals_labs", "Vitals and labs", STAY, None,
                 "23 vitals and labs in the window: mean, min, max, count and a missing flag (structured.sql)"),
    FeatureGroup("admission", "Admission and utilisation", STAY, "features_admission.sql",
                 "admission type and location, insurance, language, marital status, arrival through the ED, "
                 "hours in hospital up to the prediction time, hours from admission to ICU, admissions, ED "
                 "visits and ICU stays in the year before, days since the last discharge",
                 categorical=(Categorical("admission_type", ADMISSION_TYPES),
                              Categorical("admission_location", ADMISSION_LOCATIONS),
                              Categorical("insurance", INSURANCES), Categorical("language", LANGUAGES),
                              Categorical("marital_status", MARITAL_STATUSES)),
                 nullable=("days_since_last_discharge",)),
    FeatureGroup("medications", "Medications", STAY, "features_medications.sql",
                 "prescription orders started in the window: orders, distinct drugs, and orders of "
                 "anticoagulants, insulin, opioids, vasopressors and antibiotics"),
    FeatureGroup("diagnoses", "Diagnoses (ICD-9/10)", DISCHARGE, "features_diagnoses.sql",
                 "codes and distinct codes of the index admission, the 17 Charlson comorbidities (ICD-9/10 "
                 "coding of Quan et al. 2005) and the Charlson index (1987 weights, without the age points)",
                 reveals=("phenotype_25",)),
    FeatureGroup("procedures", "Procedures (ICD-9/10-PCS)", DISCHARGE, "features_procedures.sql",
                 "procedure codes and distinct codes of the index admission"),
    FeatureGroup("drg", "Diagnosis-related group", DISCHARGE, "features_drg.sql",
                 "APR-DRG severity and risk-of-mortality subclasses (1-4) and which DRG types were coded",
                 nullable=("apr_drg_severity", "apr_drg_mortality")),
    FeatureGroup("discharge", "Discharge disposition", DISCHARGE, "features_discharge.sql",
                 "discharge location (home, skilled nursing, hospice, ...)",
                 categorical=(Categorical("discharge_location", DISCHARGE_LOCATIONS),),
                 reveals=("mortality_inhosp",)),
)
"""Registered groups, in the order their columns appear in S."""


def groups() -> tuple[FeatureGroup, ...]:
    names = [g.name for g in REGISTRY]
    if len(set(names)) != len(names) or any(g.known_at not in KNOWN_AT for g in REGISTRY):
        raise ValueError(f"feature groups need unique names and known_at in {KNOWN_AT}: {names}")
    unknown = {t for g in REGISTRY for t in g.reveals} - set(TASKS)
    if unknown:
        raise ValueError(f"feature groups reveal unregistered tasks {sorted(unknown)}")
    return REGISTRY


def names() -> tuple[str, ...]:
    return tuple(g.name for g in groups())


def get(name: str) -> FeatureGroup:
    for group in groups():
        if group.name == name:
            return group
    raise KeyError(f"unknown feature group {name!r}; registered: {names()}")


def known_by(group: FeatureGroup, prediction_time: str) -> bool:
    return KNOWN_AT.index(group.known_at) <= KNOWN_AT.index(prediction_time)


def unavailable_reason(group: FeatureGroup, window: str, task: str) -> str:
    """Why ``group`` must not reach a prediction of ``task`` under ``window`` ('' when it may)."""
    prediction_time = PREDICTION_TIME[window]
    if not known_by(group, prediction_time):
        return f"known only at {group.known_at}, after window '{window}' predicts ({PREDICTION_MOMENT[window]})"
    if task in group.reveals:
        return f"states the label of {task}"
    return ""


def availability(window: str, tasks: tuple[str, ...] = DEFAULT_TASKS) -> dict[str, str]:
    """Group name → why it cannot reach a model of ``tasks`` under ``window`` ('' when it can).

    One multitask model reads one S vector, so a group reaches it only if every task may see it.
    """
    return {group.name: "; ".join(dict.fromkeys(reason for task in tasks
                                                if (reason := unavailable_reason(group, window, task))))
            for group in groups()}


def selected(requested: list[str] | None, window: str, tasks: tuple[str, ...] = DEFAULT_TASKS) -> tuple[str, ...]:
    """The groups of a run, in registry order: ``requested``, or every group the window allows."""
    if requested is None:
        return tuple(name for name, why in availability(window, tasks).items() if not why)
    return tuple(name for name in names() if name in requested)


def sql_groups(selection: tuple[str, ...]) -> tuple[str, ...]:
    """The selected groups that have an extraction query of their own."""
    return tuple(name for name in selection if get(name).sql)
