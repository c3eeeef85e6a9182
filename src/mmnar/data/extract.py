"""Cohort and per-modality extraction: run the shared SQL, shape the results, write parquet."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.data.phenotypes import phenotype_labels
from mmnar.data.tasks import SQL_LABELS, TASKS
from mmnar.io import atomic_path
from mmnar.data.quality import QualityReport, add_rejected_rows
from mmnar.data.sources.local import TABLE_KIND
from mmnar.data.sql import read_sql, with_sampled_cohort

log = logging.getLogger(__name__)

COHORT_COLUMNS = [
    "subject_id", "hadm_id", "stay_id", "admittime", "dischtime", "intime", "outtime",
    "window_start", "window_end", "age", "gender", "race", "admission_type",
    "n_prior_admissions", *SQL_LABELS,
]
NOTE_COLUMNS = ["subject_id", "note_id", "charttime", "text"]
CXR_COLUMNS = ["subject_id", "study_id", "dicom_id", "study_datetime", "path"]
STATISTICS = ("mean", "min", "max", "n")


ICU_BEFORE_ADMISSION_TOLERANCE = pd.Timedelta(hours=24)
"""How long an ICU stay may begin before its hospital admission is registered (ED boarding: under an
hour in the MIMIC-IV demo); anything earlier is a damaged time, not a care pathway."""


def tables_of(kind: str) -> set[str]:
    return {table for table, table_kind in TABLE_KIND.items() if table_kind == kind}


def inconsistent_times(cohort: pd.DataFrame) -> pd.Series:
    """Why each index admission's times cannot be right ('' when they can), checked in order.

    An ICU ``outtime`` after ``dischtime`` is common in MIMIC (transfers, deaths, charting lag) and
    is allowed; a stay that does not overlap its admission at all is not.
    """
    times = ["admittime", "dischtime", "intime", "outtime", "window_start", "window_end"]
    checks = [
        (cohort[times].isna().any(axis=1), "missing admission or ICU time"),
        (cohort["dischtime"] < cohort["admittime"], "dischtime before admittime"),
        (cohort["outtime"] < cohort["intime"], "ICU outtime before intime"),
        ((cohort["intime"] > cohort["dischtime"]) | (cohort["outtime"] < cohort["admittime"]),
         "ICU stay outside its admission"),
        (cohort["intime"] < cohort["admittime"] - ICU_BEFORE_ADMISSION_TOLERANCE,
         "ICU intime over 24 h before admittime"),
        (cohort["window_end"] < cohort["window_start"], "window end before window start"),
    ]
    reason = pd.Series("", index=cohort.index)
    for failed, why in reversed(checks):
        reason = reason.mask(failed.fillna(False).astype(bool), why)
    return reason


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


def extract_cohort(source, cohort_sql: Path, out: Path, quality_out: Path, window: str, early_hours: int,
                   max_patients: int | None, seed: int) -> pd.DataFrame:
    """Index admissions with labels. Admissions whose times contradict each other are excluded (and
    reported), never relabelled: an inverted stay would otherwise flip its own labels."""
    cohort = source.query(read_sql(cohort_sql), window_params(window, early_hours))
    report = QualityReport("extract_cohort", "cohort", n_items=len(cohort))
    add_rejected_rows(report, source.rejected_rows, tables_of("cohort"), set(cohort["subject_id"]))
    report.n_items += report.n_bad
    reason = inconsistent_times(cohort)
    for row in cohort[reason != ""].itertuples():
        report.add("index admission", "admissions/icustays", row.hadm_id, row.subject_id, reason[row.Index])
    if (reason != "").any():
        log.warning("excluded %d index admissions with inconsistent times", int((reason != "").sum()))
    cohort = sample_patients(cohort[reason == ""], max_patients, seed)[COHORT_COLUMNS]
    for task in SQL_LABELS:
        cohort[task] = cohort[task].astype("float64")
    log.info("cohort: %d patients; label means %s", len(cohort),
             {t: round(float(cohort[t].mean()), 3) for t in SQL_LABELS})
    with atomic_path(out) as tmp:
        cohort.to_parquet(tmp, index=False)
    report.write(quality_out)
    return cohort


def query_for_cohort(source, sql_path: Path, cohort_sql: Path, cohort: pd.DataFrame,
                     window: str, early_hours: int) -> pd.DataFrame:
    """Run an extraction query over the sampled cohort, as one statement on the source engine."""
    sql = with_sampled_cohort(read_sql(sql_path), read_sql(cohort_sql))
    params = window_params(window, early_hours) | {"subject_ids": cohort["subject_id"].tolist()}
    return source.query(sql, params)


DEMOGRAPHIC_FEATURES = ("age", "is_female", "is_emergency", "n_prior_admissions")
"""The columns of ``static_features``: feature group ``demographics``."""


def static_features(cohort: pd.DataFrame) -> pd.DataFrame:
    """Admission-time covariates known at the start of every window (``DEMOGRAPHIC_FEATURES``)."""
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
                       out: Path, quality_out: Path, window: str, early_hours: int) -> None:
    """Aggregated vitals and labs. A row whose value cannot be parsed is skipped and reported; the
    share counts every skipped row of a cohort patient against the measurements used."""
    cohort = pd.read_parquet(cohort_path)
    long = query_for_cohort(source, structured_sql, cohort_sql, cohort, window, early_hours)
    report = QualityReport("extract_structured", "S", n_items=int(long["n"].sum() + long["n_nonfinite"].sum()))
    report.n_items += add_rejected_rows(report, source.rejected_rows, tables_of("S"), set(cohort["subject_id"]))
    for row in long[long["n_nonfinite"] > 0].itertuples():
        for _ in range(int(row.n_nonfinite)):
            report.add("measurement", "labevents/chartevents", f"{row.subject_id}/{row.feature}", row.subject_id,
                       "non-finite valuenum (inf or NaN)")
    long = long[long["n"] > 0]
    features = static_features(cohort).merge(pivot_measurements(long, cohort), on="subject_id")
    log.info("structured: %d patients x %d features", len(features), features.shape[1] - 1)
    with atomic_path(out) as tmp:
        features.to_parquet(tmp, index=False)
    report.write(quality_out)


def extract_feature_group(source, cohort_sql: Path, group_sql: Path, cohort_path: Path, out: Path,
                          quality_out: Path, group: str, window: str, early_hours: int) -> None:
    """One feature group of S (``mmnar.data.feature_groups``): one row per cohort patient, in cohort order.

    Values stay raw (text for categorical columns); encoding happens when S is assembled. Each
    cohort patient's record is one item of the quality report; a skipped source row of a cohort
    patient counts against it.
    """
    cohort = pd.read_parquet(cohort_path)
    frame = query_for_cohort(source, group_sql, cohort_sql, cohort, window, early_hours)
    if frame["subject_id"].duplicated().any():
        raise ValueError(f"{Path(group_sql).name} returned more than one row for a patient; it must aggregate")
    report = QualityReport(f"extract_features_{group}", "S", n_items=len(cohort))
    report.n_items += add_rejected_rows(report, source.rejected_rows, tables_of("S"), set(cohort["subject_id"]))
    frame = cohort[["subject_id"]].merge(frame, on="subject_id", how="left")
    log.info("feature group %s: %d patients x %d columns", group, len(frame), frame.shape[1] - 1)
    with atomic_path(out) as tmp:
        frame.to_parquet(tmp, index=False)
    report.write(quality_out)


def extract_phenotype_labels(source, cohort_sql: Path, codes_sql: Path, cohort_path: Path, out: Path,
                             window: str, early_hours: int) -> pd.DataFrame:
    """``phenotype_25``'s label columns per cohort patient, in cohort order: 1 where a code of the index
    admission falls in the phenotype, 0 where none does, NaN (undefined) where the admission has no
    diagnosis code at all: an uncoded stay is unknown, not healthy."""
    cohort = pd.read_parquet(cohort_path)
    codes = query_for_cohort(source, codes_sql, cohort_sql, cohort, window, early_hours)
    labels = phenotype_labels(codes, cohort["hadm_id"]).to_numpy(copy=True)
    labels[~cohort["hadm_id"].isin(codes["hadm_id"]).to_numpy()] = np.nan
    frame = pd.DataFrame(labels, columns=list(TASKS["phenotype_25"].label_columns))
    frame.insert(0, "subject_id", cohort["subject_id"].to_numpy())
    log.info("phenotype_25: %d patients, %d without codes; prevalence %s", len(frame), int(np.isnan(labels[:, 0]).sum()),
             {c.split(".", 1)[1]: round(float(np.nanmean(frame[c])), 3) for c in frame.columns[1:]})
    with atomic_path(out) as tmp:
        frame.to_parquet(tmp, index=False)
    return frame


def blank_text(text: pd.Series) -> pd.Series:
    """Missing, empty or whitespace-only text: such a note is not an observation of the modality."""
    return text.isna() | text.astype("string").str.strip().eq("").fillna(True)


def extract_notes(source, cohort_sql: Path, notes_sql: Path, cohort_path: Path, out: Path, quality_out: Path,
                  kind: str, window: str, early_hours: int, available: bool) -> None:
    """Notes inside the window; an empty table when no note folder or dataset is configured.

    Decoding policy: a note whose bytes are not valid UTF-8 (or whose row cannot be parsed) is
    skipped whole and reported by ``note_id``, never repaired with replacement characters: a
    damaged download is not a note the clinician wrote. Blank notes are dropped and reported too.
    """
    cohort = pd.read_parquet(cohort_path)
    modality = TABLE_KIND[kind]
    report = QualityReport(f"extract_notes_{kind}", modality)
    if available:
        notes = query_for_cohort(source, notes_sql, cohort_sql, cohort, window, early_hours)[NOTE_COLUMNS]
        report.n_items += add_rejected_rows(report, source.rejected_rows, tables_of(modality),
                                            set(cohort["subject_id"]))
    else:
        notes = pd.DataFrame({c: pd.Series(dtype="object") for c in NOTE_COLUMNS})
    report.n_items += len(notes)
    blank = blank_text(notes["text"]).to_numpy(dtype=bool)
    # NUL characters are what a zero-filled block of a damaged download decodes to; no note has them.
    zeroed = notes["text"].astype("string").str.contains("\x00", regex=False).fillna(False).to_numpy(dtype=bool)
    for row, reason in [*((r, "blank text") for r in notes[blank].itertuples()),
                        *((r, "NUL bytes in text (damaged file)") for r in notes[zeroed & ~blank].itertuples())]:
        report.add(f"{kind} note", kind, row.note_id, row.subject_id, reason)
    notes = notes[~(blank | zeroed)].reset_index(drop=True)
    log.info("%s: %d notes for %d patients (%d blank, %d damaged dropped)", Path(out).stem, len(notes),
             notes["subject_id"].nunique(), int(blank.sum()), int((zeroed & ~blank).sum()))
    with atomic_path(out) as tmp:
        notes.to_parquet(tmp, index=False)
    report.write(quality_out)


def cxr_image_path(subject_id: int, study_id: int, dicom_id: str) -> str:
    """MIMIC-CXR-JPG file path, relative to the dataset folder."""
    subject = str(int(subject_id))
    return f"files/p{subject[:2]}/p{subject}/s{int(study_id)}/{dicom_id}.jpg"


def extract_cxr(cxr_source, cxr_sql: Path, cohort_path: Path, out: Path, quality_out: Path) -> None:
    """Latest frontal study per stay inside the window; empty when no CXR folder is configured.

    Damaged metadata rows are reported here; the images themselves are checked when embedded.
    """
    cohort = pd.read_parquet(cohort_path)
    report = QualityReport("extract_cxr", "I")
    if cxr_source is None:
        linked = pd.DataFrame({c: pd.Series(dtype="object") for c in CXR_COLUMNS})
    else:
        linked = cxr_source.query(read_sql(cxr_sql), frames={"cohort": cohort})
        report.n_items += add_rejected_rows(report, cxr_source.rejected_rows, tables_of("I"),
                                            set(cohort["subject_id"]))
        linked["path"] = [cxr_image_path(s, st, d) for s, st, d in
                          zip(linked["subject_id"], linked["study_id"], linked["dicom_id"])]
        linked = linked[CXR_COLUMNS]
    log.info("cxr: %d patients with a frontal study in the window", len(linked))
    with atomic_path(out) as tmp:
        linked.to_parquet(tmp, index=False)
    report.write(quality_out)
