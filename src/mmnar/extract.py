"""Cohort and per-modality extraction: run the shared SQL, shape the results, write parquet."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar import TASKS
from mmnar.io import atomic_path
from mmnar.sql import read_sql, with_sampled_cohort

log = logging.getLogger(__name__)

COHORT_COLUMNS = [
    "subject_id", "hadm_id", "stay_id", "admittime", "dischtime", "intime", "outtime",
    "window_start", "window_end", "age", "gender", "race", "admission_type",
    "n_prior_admissions", *TASKS,
]
NOTE_COLUMNS = ["subject_id", "note_id", "charttime", "text"]
CXR_COLUMNS = ["subject_id", "study_id", "dicom_id", "study_datetime", "path"]
STATISTICS = ("mean", "min", "max", "n")


def window_params(window: str, early_hours: int) -> dict:
    return {"window": window, "early_hours": int(early_hours)}


def sample_patients(cohort: pd.DataFrame, max_patients: int | None, seed: int) -> pd.DataFrame:
    """Up to ``max_patients`` index admissions, drawn reproducibly from the id-sorted cohort.

    Sampling happens here rather than in SQL because the engines share no hash function that
    would give the same sample on both.
    """
    cohort = cohort.sort_values("subject_id").reset_index(drop=True)
    if max_patients is None or len(cohort) <= max_patients:
        return cohort
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(cohort), size=max_patients, replace=False))
    return cohort.iloc[keep].reset_index(drop=True)


def extract_cohort(source, cohort_sql: Path, out: Path, window: str, early_hours: int,
                   max_patients: int | None, seed: int) -> pd.DataFrame:
    cohort = source.query(read_sql(cohort_sql), window_params(window, early_hours))
    cohort = sample_patients(cohort, max_patients, seed)[COHORT_COLUMNS]
    for task in TASKS:
        cohort[task] = cohort[task].astype("float64")
    log.info("cohort: %d patients; label rates %s", len(cohort),
             {t: round(float(cohort[t].mean()), 3) for t in TASKS})
    with atomic_path(out) as tmp:
        cohort.to_parquet(tmp, index=False)
    return cohort


def query_for_cohort(source, sql_path: Path, cohort_sql: Path, cohort: pd.DataFrame,
                     window: str, early_hours: int) -> pd.DataFrame:
    """Run an extraction query over the sampled cohort, as one statement on the source engine."""
    sql = with_sampled_cohort(read_sql(sql_path), read_sql(cohort_sql))
    params = window_params(window, early_hours) | {"subject_ids": cohort["subject_id"].tolist()}
    return source.query(sql, params)


def static_features(cohort: pd.DataFrame) -> pd.DataFrame:
    """Admission-time covariates known at the start of every window."""
    return pd.DataFrame({
        "subject_id": cohort["subject_id"].to_numpy(),
        "age": cohort["age"].astype(float).to_numpy(),
        "is_female": (cohort["gender"] == "F").astype(float).to_numpy(),
        "is_emergency": cohort["admission_type"].fillna("").str.contains("EMER|URGENT").astype(float).to_numpy(),
        "n_prior_admissions": cohort["n_prior_admissions"].astype(float).to_numpy(),
    })


def pivot_measurements(long: pd.DataFrame, cohort: pd.DataFrame) -> pd.DataFrame:
    """Wide table: ``<feature>_<stat>`` per patient, NaN plus a ``<feature>_missing`` flag when unmeasured."""
    wide = long.pivot(index="subject_id", columns="feature", values=list(STATISTICS))
    wide = wide.reindex(cohort["subject_id"].to_numpy())
    features = sorted(long["feature"].unique())
    columns = {}
    for feature in features:
        for stat in STATISTICS:
            values = wide[(stat, feature)].astype(float)
            columns[f"{feature}_{stat}"] = values.fillna(0.0) if stat == "n" else values
        columns[f"{feature}_missing"] = wide[("n", feature)].isna().astype(float)
    frame = pd.DataFrame(columns)
    frame.index.name = "subject_id"
    return frame.reset_index()


def extract_structured(source, cohort_sql: Path, structured_sql: Path, cohort_path: Path,
                       out: Path, window: str, early_hours: int) -> None:
    cohort = pd.read_parquet(cohort_path)
    long = query_for_cohort(source, structured_sql, cohort_sql, cohort, window, early_hours)
    features = static_features(cohort).merge(pivot_measurements(long, cohort), on="subject_id")
    log.info("structured: %d patients x %d features", len(features), features.shape[1] - 1)
    with atomic_path(out) as tmp:
        features.to_parquet(tmp, index=False)


def extract_notes(source, cohort_sql: Path, notes_sql: Path, cohort_path: Path, out: Path,
                  window: str, early_hours: int, available: bool) -> None:
    """Notes inside the window; an empty table when no note folder or dataset is configured."""
    cohort = pd.read_parquet(cohort_path)
    if available:
        notes = query_for_cohort(source, notes_sql, cohort_sql, cohort, window, early_hours)[NOTE_COLUMNS]
    else:
        notes = pd.DataFrame({c: pd.Series(dtype="object") for c in NOTE_COLUMNS})
    log.info("%s: %d notes for %d patients", Path(out).stem, len(notes), notes["subject_id"].nunique())
    with atomic_path(out) as tmp:
        notes.to_parquet(tmp, index=False)


def cxr_image_path(subject_id: int, study_id: int, dicom_id: str) -> str:
    """MIMIC-CXR-JPG file path, relative to the dataset folder."""
    subject = str(int(subject_id))
    return f"files/p{subject[:2]}/p{subject}/s{int(study_id)}/{dicom_id}.jpg"


def extract_cxr(cxr_source, cxr_sql: Path, cohort_path: Path, out: Path) -> None:
    """Latest frontal study per stay inside the window; empty when no CXR folder is configured."""
    cohort = pd.read_parquet(cohort_path)
    if cxr_source is None:
        linked = pd.DataFrame({c: pd.Series(dtype="object") for c in CXR_COLUMNS})
    else:
        linked = cxr_source.query(read_sql(cxr_sql), frames={"cohort": cohort})
        linked["path"] = [cxr_image_path(s, st, d) for s, st, d in
                          zip(linked["subject_id"], linked["study_id"], linked["dicom_id"])]
        linked = linked[CXR_COLUMNS]
    log.info("cxr: %d patients with a frontal study in the window", len(linked))
    with atomic_path(out) as tmp:
        linked.to_parquet(tmp, index=False)
