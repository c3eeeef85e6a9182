"""The synthetic source: PhysioNet layout, determinism, and labels/δ recoverable by the cohort rules."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from PIL import Image

from mmnar.synth import generate
from mmnar.synth.causal_model import ceilings, draw_cohort

DEMO = Path("/work/shared/data/mimic-iv-demo-2.2")
MIMIC = Path("mimiciv/3.1")
NOTE = Path("mimic-iv-note/2.2/note")
CXR = Path("mimic-cxr-jpg/2.1.0")
SHARED_TABLES = ["hosp/patients", "hosp/admissions", "hosp/labevents", "hosp/d_labitems",
                 "icu/icustays", "icu/chartevents", "icu/d_items"]
NOTE_HEADER = "note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text"
CXR_HEADER = ("dicom_id,subject_id,study_id,PerformedProcedureStepDescription,ViewPosition,Rows,Columns,"
              "StudyDate,StudyTime,ProcedureCodeSequence_CodeMeaning,ViewCodeSequence_CodeMeaning,"
              "PatientOrientationCodeSequence_CodeMeaning")
N = 60


def _header(path: Path) -> str:
    with gzip.open(path, "rt") as handle:
        return handle.readline().rstrip("\n")


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    generate(out, n_patients=N, seed=3, mechanism="mnar", direct_effect=1.0, image_size=32)
    return out


@pytest.fixture(scope="module")
def tables(release: Path) -> dict[str, pd.DataFrame]:
    hosp, icu = release / MIMIC / "hosp", release / MIMIC / "icu"
    admissions = pd.read_csv(hosp / "admissions.csv.gz", parse_dates=["admittime", "dischtime"])
    patients = pd.read_csv(hosp / "patients.csv.gz")
    admissions = admissions.merge(patients, on="subject_id")
    admissions["age"] = admissions["anchor_age"] + admissions["admittime"].dt.year - admissions["anchor_year"]
    return {
        "patients": patients,
        "admissions": admissions,
        "icustays": pd.read_csv(icu / "icustays.csv.gz", parse_dates=["intime", "outtime"]),
        "labevents": pd.read_csv(hosp / "labevents.csv.gz", parse_dates=["charttime"]),
        "discharge": pd.read_csv(release / NOTE / "discharge.csv.gz"),
        "radiology": pd.read_csv(release / NOTE / "radiology.csv.gz", parse_dates=["charttime"]),
        "cxr": pd.read_csv(release / CXR / "mimic-cxr-2.0.0-metadata.csv.gz"),
        "truth": pd.read_parquet(release / "ground_truth.parquet"),
    }


@pytest.fixture(scope="module")
def index_admissions(tables) -> pd.DataFrame:
    """The cohort rule: first admission (by admittime) at age ≥ 18 with exactly one ICU stay."""
    adm, stays = tables["admissions"], tables["icustays"]
    adm = adm.assign(n_icu=adm["hadm_id"].map(stays.groupby("hadm_id").size()).fillna(0))
    eligible = adm[(adm["age"] >= 18) & (adm["n_icu"] == 1)]
    return eligible.sort_values("admittime").groupby("subject_id").head(1).set_index("subject_id")


@pytest.mark.skipif(not DEMO.exists(), reason="MIMIC-IV demo headers not available")
@pytest.mark.parametrize("table", SHARED_TABLES)
def test_headers_match_mimic_iv_demo(release, table):
    assert _header(release / MIMIC / f"{table}.csv.gz") == _header(DEMO / f"{table}.csv.gz")


def test_note_and_cxr_layout(release, tables):
    for name in ("discharge", "radiology"):
        assert _header(release / NOTE / f"{name}.csv.gz") == NOTE_HEADER
    assert _header(release / CXR / "mimic-cxr-2.0.0-metadata.csv.gz") == CXR_HEADER
    cxr = tables["cxr"]
    assert cxr["dicom_id"].str.len().eq(44).all()
    row = cxr.iloc[0]
    image = release / CXR / "files" / f"p{str(row.subject_id)[:2]}" / f"p{row.subject_id}" / f"s{row.study_id}" / f"{row.dicom_id}.jpg"
    with Image.open(image) as img:
        assert img.mode == "L" and img.size == (32, 32)
    assert len(list((release / CXR / "files").rglob("*.jpg"))) == len(cxr)
    assert set(cxr["ViewPosition"]) >= {"AP", "PA"} and set(cxr["ViewPosition"]) & {"LL", "LATERAL"}
    assert tables["discharge"]["note_id"].str.fullmatch(r"\d{8}-DS-\d+").all()
    assert tables["radiology"]["hadm_id"].isna().any()


def test_same_seed_gives_identical_bytes(release, tmp_path):
    generate(tmp_path, n_patients=N, seed=3, mechanism="mnar", direct_effect=1.0, image_size=32)
    produced = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert produced == sorted(p.relative_to(release) for p in release.rglob("*") if p.is_file())
    for relative in produced:
        assert (tmp_path / relative).read_bytes() == (release / relative).read_bytes(), relative


def test_dates_use_mimic_formats(release):
    with gzip.open(release / MIMIC / "hosp/admissions.csv.gz", "rt") as handle:
        admissions = pd.read_csv(io.StringIO(handle.read()), dtype=str, keep_default_na=False)
    assert admissions["admittime"].str.fullmatch(r"2[01]\d\d-\d\d-\d\d \d\d:\d\d:00").all()
    patients = pd.read_csv(release / MIMIC / "hosp/patients.csv.gz", dtype=str, keep_default_na=False)
    assert patients["dod"].str.fullmatch(r"(\d{4}-\d\d-\d\d)?").all() and patients["dod"].ne("").any()


def test_index_admission_and_labels_follow_the_cohort_rules(tables, index_admissions):
    truth = tables["truth"].set_index("subject_id")
    assert set(index_admissions.index) == set(truth.index)
    assert (index_admissions.loc[truth.index, "hadm_id"] == truth["index_hadm_id"]).all()

    adm, stays = tables["admissions"], tables["icustays"]
    disch = adm["subject_id"].map(index_admissions["dischtime"])
    readmitted = adm[(adm["admittime"] > disch) & (adm["admittime"] <= disch + pd.Timedelta(days=30))]["subject_id"]
    stay_disch = stays["subject_id"].map(index_admissions["dischtime"])
    icu_later = stays[(stays["intime"] > stay_disch) & (stays["intime"] <= stay_disch + pd.Timedelta(days=90))]["subject_id"]
    died = index_admissions.loc[truth.index, "hospital_expire_flag"].to_numpy().astype(bool)
    recomputed = pd.DataFrame({
        "readmit_30d": np.where(died, np.nan, truth.index.isin(readmitted)),
        "icu_90d": np.where(died, np.nan, truth.index.isin(icu_later)),
        "mortality_inhosp": died.astype(float),
    }, index=truth.index)
    pd.testing.assert_frame_equal(recomputed, truth[recomputed.columns], check_dtype=False)


def test_observed_modalities_match_the_intended_delta(tables, index_admissions):
    truth = tables["truth"].set_index("subject_id")
    window = index_admissions[["admittime", "dischtime"]]

    def inside(frame: pd.DataFrame, time: pd.Series) -> pd.Index:
        start, end = frame["subject_id"].map(window["admittime"]), frame["subject_id"].map(window["dischtime"])
        return pd.Index(frame.loc[(time >= start) & (time <= end), "subject_id"].unique())

    cxr = tables["cxr"]
    study_time = cxr["StudyTime"].astype(int).astype(str).str.zfill(6)
    study_datetime = pd.to_datetime(cxr["StudyDate"].astype(str) + study_time, format="%Y%m%d%H%M%S")
    frontal = cxr["ViewPosition"].isin(["AP", "PA"])
    observed = {
        "I": inside(cxr[frontal], study_datetime[frontal]),
        "T": pd.Index(tables["discharge"].loc[tables["discharge"]["hadm_id"].isin(truth["index_hadm_id"]), "subject_id"]),
        "R": inside(tables["radiology"], tables["radiology"]["charttime"]),
    }
    for modality, subjects in observed.items():
        assert (truth.index.isin(subjects).astype(int) == truth[f"true_delta_{modality}"]).all(), modality


def test_realism_cases_the_sql_must_survive(tables, index_admissions):
    patients, adm, labs = tables["patients"], tables["admissions"], tables["labevents"]
    assert (patients["anchor_age"] < 18).any()
    n_icu = adm["hadm_id"].map(tables["icustays"].groupby("hadm_id").size()).fillna(0)
    assert {0, 2} <= set(n_icu.astype(int))
    assert labs["hadm_id"].isna().any()
    start = labs["subject_id"].map(index_admissions["admittime"])
    end = labs["subject_id"].map(index_admissions["dischtime"])
    in_window = (labs["charttime"] >= start) & (labs["charttime"] <= end)
    assert (in_window & labs["hadm_id"].isna()).any() and (labs["charttime"] < start).any()
    assert tables["discharge"]["text"].str.contains("___").all()


def test_mnar_delta_tracks_latent_and_mcar_does_not():
    rng_seed = 11
    mnar = draw_cohort(np.random.default_rng(rng_seed), 5000, "mnar", 1.0)
    mcar = draw_cohort(np.random.default_rng(rng_seed), 5000, "mcar", 1.0)
    for modality in "IR":
        assert np.corrcoef(mnar[f"true_delta_{modality}"], mnar["latent"])[0, 1] > 0.3
        assert abs(np.corrcoef(mcar[f"true_delta_{modality}"], mcar["latent"])[0, 1]) < 0.05
    assert np.corrcoef(mnar["true_delta_T"], mnar["latent"])[0, 1] < -0.15


def test_outcome_prevalences_are_plausible():
    cohort = draw_cohort(np.random.default_rng(5), 20000, "mar", 1.0)
    survivors = cohort[~cohort["died_inhosp"]]
    assert 0.09 < cohort["died_inhosp"].mean() < 0.13
    assert 0.14 < survivors["readmit_event"].mean() < 0.20
    assert 0.07 < survivors["icu_event"].mean() < 0.13


def test_unknown_mechanism_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="mechanism"):
        generate(tmp_path, n_patients=5, seed=0, mechanism="random", direct_effect=0.0)


def cohort_and_ceilings(mechanism, direct_effect, hidden_strength, n=20000, seed=2):
    cohort = draw_cohort(np.random.default_rng(seed), n, mechanism, direct_effect, hidden_strength,
                         np.random.default_rng(seed + 100))
    args = (cohort, mechanism, direct_effect, hidden_strength, cohort.attrs["intercepts"])
    return cohort, ceilings(*args), ceilings(*args, use_delta=False)


def realised_auc(cohort, task, probabilities):
    died = cohort["died_inhosp"].to_numpy()
    if task == "mortality_inhosp":
        return roc_auc_score(died, probabilities)
    events = cohort["readmit_event" if task == "readmit_30d" else "icu_event"].to_numpy()
    return roc_auc_score(events[~died], probabilities[~died])


def test_without_a_hidden_component_the_recorded_ceiling_is_the_truth():
    cohort, recorded, _ = cohort_and_ceilings("mnar", 1.0, 0.0, n=500)
    for task in recorded:
        np.testing.assert_allclose(recorded[task], cohort[f"p_{task}"], rtol=1e-9)


def test_delta_adds_to_the_ceiling_only_under_mnar_with_a_hidden_component():
    _, mcar_recorded, mcar_blind = cohort_and_ceilings("mcar", 0.0, 1.0, n=3000)
    for task in mcar_recorded:   # δ independent of u and no direct effect: δ says nothing more
        np.testing.assert_allclose(mcar_recorded[task], mcar_blind[task], rtol=1e-9)
    cohort, recorded, blind = cohort_and_ceilings("mnar", 0.0, 1.0)
    for task in recorded:
        oracle = realised_auc(cohort, task, cohort[f"p_{task}"].to_numpy())
        with_delta, without = realised_auc(cohort, task, recorded[task]), realised_auc(cohort, task, blind[task])
        assert oracle > with_delta > without, (task, oracle, with_delta, without)
    # The hidden component is recorded nowhere but through δ.
    assert abs(np.corrcoef(cohort["hidden"], cohort["latent"])[0, 1]) < 0.03
    assert np.corrcoef(cohort["hidden"], cohort["true_delta_I"])[0, 1] > 0.2


def test_ceilings_are_calibrated():
    cohort, recorded, blind = cohort_and_ceilings("mnar", 1.0, 1.0)
    for ceiling in (recorded, blind):   # law of total expectation, over the same patients
        assert ceiling["mortality_inhosp"].mean() == pytest.approx(cohort["p_mortality_inhosp"].mean(), abs=0.004)
        survivors = 1 - cohort["p_mortality_inhosp"].to_numpy()
        for task in ("readmit_30d", "icu_90d"):
            truth = np.average(cohort[f"p_{task}"], weights=survivors)
            assert np.average(ceiling[task], weights=1 - ceiling["mortality_inhosp"]) == pytest.approx(truth, abs=0.01)
