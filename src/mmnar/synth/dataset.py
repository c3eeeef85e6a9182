"""`generate`: write a synthetic MIMIC-IV / -Note / -CXR-JPG release plus its ground truth.

The `local` source reads the output exactly as it reads a PhysioNet download, so the synthetic
default exercises the same SQL; `ground_truth.parquet` (outside the MIMIC layout) holds the oracle.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.io import atomic_path
from mmnar.synth import mimic_schema as schema
from mmnar.synth.causal_model import OBSERVED_MODALITIES, ceilings, draw_cohort
from mmnar.synth.coding import build_coding
from mmnar.synth.csvgz import format_date, format_datetime, write_csv_gz
from mmnar.synth.cxr import build_cxr
from mmnar.synth.measurements import build_chartevents, build_labevents
from mmnar.synth.notes import build_discharge_notes, build_radiology_notes
from mmnar.synth.timeline import Timeline, build_timeline

MIMICIV_DIR = Path("mimiciv/3.1")
NOTE_DIR = Path("mimic-iv-note/2.2/note")
CXR_DIR = Path("mimic-cxr-jpg/2.1.0")
GROUND_TRUTH = "ground_truth.parquet"


def _shuffled(rng: np.random.Generator, frame: pd.DataFrame) -> pd.DataFrame:
    """Real releases are not sorted by time; shuffling keeps the SQL from relying on row order."""
    return frame.iloc[rng.permutation(len(frame))]


def _with_text_times(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    return frame.assign(**{c: format_datetime(frame[c].to_numpy()) for c in columns})


def _age_at_admission(timeline: Timeline) -> pd.Series:
    """MIMIC's rule: anchor_age + year(admittime) - anchor_year, indexed by hadm_id."""
    adm = timeline.admissions.merge(timeline.patients[["subject_id", "anchor_age", "anchor_year"]], on="subject_id")
    age = adm["anchor_age"] + adm["admittime"].dt.year - adm["anchor_year"]
    return pd.Series(age.to_numpy(), index=adm["hadm_id"].to_numpy())


def _ground_truth(cohort: pd.DataFrame, timeline: Timeline, recorded: dict, recorded_no_delta: dict) -> pd.DataFrame:
    """Oracle and ceilings per cohort patient; realised labels are NaN after an in-hospital death (masked).

    ``p_<task>``: the true probability (knows the hidden component); ``p_recorded_<task>``: the best
    probability given the latent severity, the recorded covariates and δ; ``p_recorded_no_delta_<task>``:
    the same without δ.
    """
    index_adm = timeline.admissions[timeline.admissions["role"].eq("index")].set_index("subject_id")
    index_stay = timeline.icustays[timeline.icustays["role"].eq("index")].set_index("subject_id")
    died = cohort["died_inhosp"].to_numpy()
    truth = pd.DataFrame({
        "subject_id": cohort["subject_id"].to_numpy(),
        "latent": cohort["latent"].to_numpy(),
        "hidden": cohort["hidden"].to_numpy(),
        **{f"p_{t}": cohort[f"p_{t}"].to_numpy() for t in TASKS},
        **{f"p_recorded_{t}": recorded[t] for t in TASKS},
        **{f"p_recorded_no_delta_{t}": recorded_no_delta[t] for t in TASKS},
        "index_hadm_id": index_adm.loc[cohort["subject_id"], "hadm_id"].to_numpy(),
        "index_stay_id": index_stay.loc[cohort["subject_id"], "stay_id"].to_numpy(),
        **{f"true_delta_{m}": cohort[f"true_delta_{m}"].to_numpy().astype("int8") for m in OBSERVED_MODALITIES},
        "readmit_30d": np.where(died, np.nan, cohort["readmit_event"].astype(float)),
        "icu_90d": np.where(died, np.nan, cohort["icu_event"].astype(float)),
        "mortality_inhosp": died.astype(float),
    })
    return truth.sort_values("subject_id", ignore_index=True)


def _write_coding(rng: np.random.Generator, timeline: Timeline, hosp: Path) -> None:
    """diagnoses_icd, procedures_icd, drgcodes, prescriptions and the ICD dictionaries, from their own stream."""
    coding = build_coding(rng, timeline)
    procedures = coding.procedures_icd.assign(chartdate=format_date(coding.procedures_icd["chartdate"].to_numpy()))
    prescriptions = _with_text_times(coding.prescriptions, ["starttime", "stoptime"])
    for frame, name, columns in [
        (coding.diagnoses_icd, "diagnoses_icd", schema.DIAGNOSES_ICD_COLUMNS),
        (procedures, "procedures_icd", schema.PROCEDURES_ICD_COLUMNS),
        (coding.drgcodes, "drgcodes", schema.DRGCODES_COLUMNS),
        (prescriptions, "prescriptions", schema.PRESCRIPTIONS_COLUMNS),
    ]:
        write_csv_gz(_shuffled(rng, frame), hosp / f"{name}.csv.gz", columns)
    write_csv_gz(coding.d_icd_diagnoses, hosp / "d_icd_diagnoses.csv.gz", schema.D_ICD_DIAGNOSES_COLUMNS)
    write_csv_gz(coding.d_icd_procedures, hosp / "d_icd_procedures.csv.gz", schema.D_ICD_PROCEDURES_COLUMNS)


TASKS = ("readmit_30d", "icu_90d", "mortality_inhosp")


def generate(out_dir: Path, n_patients: int, seed: int, mechanism: str, direct_effect: float,
             hidden_strength: float = 0.0, image_size: int = 64) -> None:
    """Write the PhysioNet layout for `n_patients` index-eligible patients (plus a few decoys).

    Byte-identical for identical arguments. Decoys (minors, adults with no admission holding
    exactly one ICU stay) add about 7 % extra patients that the cohort SQL must drop.
    """
    out_dir = Path(out_dir)
    # Children 0-7 feed the original tables, 8 the coding tables, 9 the hidden component: spawning
    # more children leaves the earlier ones unchanged (spawn keys (0,)..(9,)).
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(10)]
    cohort = draw_cohort(streams[0], n_patients, mechanism, direct_effect, hidden_strength, streams[9])
    intercepts = cohort.attrs["intercepts"]
    recorded = ceilings(cohort, mechanism, direct_effect, hidden_strength, intercepts)
    recorded_no_delta = ceilings(cohort, mechanism, direct_effect, hidden_strength, intercepts, use_delta=False)
    timeline, cohort["subject_id"] = build_timeline(streams[1], cohort)
    delta = {m: cohort.set_index("subject_id")[f"true_delta_{m}"] for m in OBSERVED_MODALITIES}

    labs = build_labevents(streams[2], timeline)
    charts = build_chartevents(streams[3], timeline)
    discharge = build_discharge_notes(streams[4], timeline, _age_at_admission(timeline), delta["T"])
    radiology = build_radiology_notes(streams[5], timeline, delta["R"])
    cxr_root = out_dir / CXR_DIR
    shutil.rmtree(cxr_root / "files", ignore_errors=True)
    cxr = build_cxr(streams[6], timeline, delta["I"], cxr_root, image_size)

    order_rng = streams[7]
    hosp, icu = out_dir / MIMICIV_DIR / "hosp", out_dir / MIMICIV_DIR / "icu"
    patients = timeline.patients.assign(dod=format_date(timeline.patients["dod"].to_numpy()))
    write_csv_gz(_shuffled(order_rng, patients), hosp / "patients.csv.gz", schema.PATIENTS_COLUMNS)
    admissions = _with_text_times(timeline.admissions, ["admittime", "dischtime", "deathtime", "edregtime", "edouttime"])
    write_csv_gz(_shuffled(order_rng, admissions), hosp / "admissions.csv.gz", schema.ADMISSIONS_COLUMNS)
    write_csv_gz(_with_text_times(labs, ["charttime", "storetime"]), hosp / "labevents.csv.gz", schema.LABEVENTS_COLUMNS)
    write_csv_gz(pd.DataFrame(schema.D_LABITEMS_ROWS, columns=schema.D_LABITEMS_COLUMNS), hosp / "d_labitems.csv.gz", schema.D_LABITEMS_COLUMNS)
    stays = _with_text_times(timeline.icustays, ["intime", "outtime"])
    write_csv_gz(_shuffled(order_rng, stays), icu / "icustays.csv.gz", schema.ICUSTAYS_COLUMNS)
    write_csv_gz(_with_text_times(charts, ["charttime", "storetime"]), icu / "chartevents.csv.gz", schema.CHARTEVENTS_COLUMNS)
    write_csv_gz(pd.DataFrame(schema.D_ITEMS_ROWS, columns=schema.D_ITEMS_COLUMNS), icu / "d_items.csv.gz", schema.D_ITEMS_COLUMNS)
    for notes, name in [(discharge, "discharge.csv.gz"), (radiology, "radiology.csv.gz")]:
        write_csv_gz(_with_text_times(notes, ["charttime", "storetime"]), out_dir / NOTE_DIR / name, schema.NOTE_COLUMNS)
    write_csv_gz(cxr, cxr_root / "mimic-cxr-2.0.0-metadata.csv.gz", schema.CXR_METADATA_COLUMNS)
    _write_coding(streams[8], timeline, hosp)

    with atomic_path(out_dir / GROUND_TRUTH) as tmp:
        _ground_truth(cohort, timeline, recorded, recorded_no_delta).to_parquet(tmp, index=False)
