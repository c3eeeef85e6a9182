"""The synthetic coding tables: MIMIC-IV layout and code formats, links to admissions, latent signal."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mmnar.synth import generate
from mmnar.synth import mimic_schema as schema

DEMO = Path("/work/shared/data/mimic-iv-demo-2.2")
HOSP = Path("mimiciv/3.1/hosp")
ARGS = dict(n_patients=300, seed=5, mechanism="mnar", direct_effect=1.0, image_size=16)
HEADERS = {
    "diagnoses_icd": "subject_id,hadm_id,seq_num,icd_code,icd_version",
    "d_icd_diagnoses": "icd_code,icd_version,long_title",
    "procedures_icd": "subject_id,hadm_id,seq_num,chartdate,icd_code,icd_version",
    "d_icd_procedures": "icd_code,icd_version,long_title",
    "drgcodes": "subject_id,hadm_id,drg_type,drg_code,description,drg_severity,drg_mortality",
    "prescriptions": (
        "subject_id,hadm_id,pharmacy_id,poe_id,poe_seq,order_provider_id,starttime,stoptime,drug_type,drug,"
        "formulary_drug_cd,gsn,ndc,prod_strength,form_rx,dose_val_rx,dose_unit_rx,form_val_disp,form_unit_disp,"
        "doses_per_24_hrs,route"
    ),
}
LINKED = ["diagnoses_icd", "procedures_icd", "drgcodes", "prescriptions"]
ICD10 = r"[A-Z][0-9A-Z]{2,6}"
ICD9_DIAGNOSIS = r"V\d{2,4}|E\d{3,4}|\d{3,5}"
VASOPRESSORS = {"Norepinephrine", "Vasopressin", "Phenylephrine", "EPINEPHrine"}


def _header(path: Path) -> str:
    with gzip.open(path, "rt") as handle:
        return handle.readline().rstrip("\n")


def _read(release: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(release / HOSP / f"{name}.csv.gz", dtype={"icd_code": str, "drg_code": str}, keep_default_na=False,
                       na_values={"drg_severity": [""], "drg_mortality": [""]})


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth_coding")
    generate(out, **ARGS)
    return out


@pytest.fixture(scope="module")
def tables(release: Path) -> dict[str, pd.DataFrame]:
    frames = {name: _read(release, name) for name in HEADERS}
    frames["admissions"] = pd.read_csv(release / HOSP / "admissions.csv.gz", parse_dates=["admittime", "dischtime"])
    frames["truth"] = pd.read_parquet(release / "ground_truth.parquet")
    return frames


@pytest.mark.parametrize("name", list(HEADERS))
def test_headers_are_mimic_iv_column_orders(release, name):
    assert _header(release / HOSP / f"{name}.csv.gz") == HEADERS[name]
    if DEMO.exists():
        assert _header(release / HOSP / f"{name}.csv.gz") == _header(DEMO / "hosp" / f"{name}.csv.gz")


def test_column_lists_in_schema_match_the_headers():
    for name in HEADERS:
        assert ",".join(getattr(schema, f"{name.upper()}_COLUMNS")) == HEADERS[name]


@pytest.mark.parametrize("name", LINKED)
def test_rows_link_to_admissions(tables, name):
    frame, adm = tables[name], tables["admissions"]
    assert len(frame) > 0
    assert frame["hadm_id"].isin(adm["hadm_id"]).all()
    subject_of = adm.set_index("hadm_id")["subject_id"]
    assert (frame["hadm_id"].map(subject_of) == frame["subject_id"]).all()


def test_every_admission_is_coded_in_one_icd_version(tables):
    dx, proc, adm = tables["diagnoses_icd"], tables["procedures_icd"], tables["admissions"]
    assert set(dx["hadm_id"]) == set(adm["hadm_id"])
    version = dx.groupby("hadm_id")["icd_version"].agg(["nunique", "first"])
    assert version["nunique"].eq(1).all() and set(version["first"]) == {9, 10}
    assert (proc["icd_version"] == proc["hadm_id"].map(version["first"])).all()
    assert not dx.duplicated(["hadm_id", "icd_code"]).any()
    seq = dx.groupby("hadm_id")["seq_num"].agg(["min", "max", "size"])
    assert seq["min"].eq(1).all() and (seq["max"] == seq["size"]).all() and seq["size"].le(39).all()


def test_code_formats_and_dictionaries(tables):
    dx, proc = tables["diagnoses_icd"], tables["procedures_icd"]
    nine, ten = dx["icd_version"] == 9, dx["icd_version"] == 10
    assert dx.loc[ten, "icd_code"].str.fullmatch(ICD10).all()
    assert dx.loc[nine, "icd_code"].str.fullmatch(ICD9_DIAGNOSIS).all()
    assert not dx["icd_code"].str.contains(".", regex=False).any()
    assert proc.loc[proc["icd_version"] == 10, "icd_code"].str.fullmatch(r"[0-9A-HJ-NP-Z]{7}").all()
    assert proc.loc[proc["icd_version"] == 9, "icd_code"].str.fullmatch(r"\d{2,4}").all()
    for table, dictionary in [(dx, "d_icd_diagnoses"), (proc, "d_icd_procedures")]:
        known = tables[dictionary]
        assert not known.duplicated(["icd_code", "icd_version"]).any() and known["long_title"].ne("").all()
        pairs = pd.MultiIndex.from_frame(known[["icd_code", "icd_version"]])
        assert pd.MultiIndex.from_frame(table[["icd_code", "icd_version"]]).isin(pairs).all()


def test_procedure_dates_fall_inside_the_admission(tables):
    proc, adm = tables["procedures_icd"], tables["admissions"].set_index("hadm_id")
    assert proc["chartdate"].str.fullmatch(r"\d{4}-\d\d-\d\d").all()
    date = pd.to_datetime(proc["chartdate"])
    assert (date >= proc["hadm_id"].map(adm["admittime"]).dt.normalize()).all()
    assert (date <= proc["hadm_id"].map(adm["dischtime"])).all()


def test_drg_rows(tables):
    drg, adm = tables["drgcodes"], tables["admissions"]
    assert set(drg["drg_type"]) == {"HCFA", "APR"}
    hcfa, apr = drg[drg["drg_type"] == "HCFA"], drg[drg["drg_type"] == "APR"]
    assert set(hcfa["hadm_id"]) == set(adm["hadm_id"]) and not hcfa["hadm_id"].duplicated().any()
    assert not apr["hadm_id"].duplicated().any() and 0.8 < len(apr) / len(hcfa) < 0.97
    assert drg["drg_code"].str.fullmatch(r"\d{3}").all()
    assert drg["description"].eq(drg["description"].str.upper()).all()
    assert hcfa[["drg_severity", "drg_mortality"]].isna().all().all()
    for column in ("drg_severity", "drg_mortality"):
        assert apr[column].isin([1, 2, 3, 4]).all()


def test_prescriptions_start_inside_the_admission(tables):
    rx, adm = tables["prescriptions"], tables["admissions"].set_index("hadm_id")
    start = pd.to_datetime(rx["starttime"])
    assert (start >= rx["hadm_id"].map(adm["admittime"])).all()
    assert (start <= rx["hadm_id"].map(adm["dischtime"])).all()
    stop = pd.to_datetime(rx["stoptime"].replace("", None))
    assert 0.01 < stop.isna().mean() < 0.1 and (stop.dropna() > start[stop.notna()]).all()
    assert rx["drug_type"].eq("MAIN").all() and rx["route"].ne("").all()
    assert not rx["pharmacy_id"].duplicated().any()
    assert set(rx["drug"]) <= {d[0] for d in schema.DRUGS} and "Sodium Chloride 0.9%  Flush" in set(rx["drug"])


def test_index_admission_codes_track_the_latent(tables):
    truth = tables["truth"].set_index("index_hadm_id")
    n_codes = tables["diagnoses_icd"].groupby("hadm_id").size().reindex(truth.index)
    rx = tables["prescriptions"]
    vasopressor = rx[rx["drug"].isin(VASOPRESSORS)].groupby("hadm_id").size().reindex(truth.index).fillna(0) > 0
    assert np.corrcoef(n_codes, truth["latent"])[0, 1] > 0.25
    assert np.corrcoef(vasopressor, truth["latent"])[0, 1] > 0.25
    apr = tables["drgcodes"].query("drg_type == 'APR'").set_index("hadm_id")["drg_severity"].reindex(truth.index).dropna()
    assert np.corrcoef(apr, truth.loc[apr.index, "latent"])[0, 1] > 0.3
    # informative but far from revealing the latent
    assert np.corrcoef(n_codes, truth["latent"])[0, 1] < 0.8


def test_same_seed_gives_identical_coding_files(release, tmp_path):
    generate(tmp_path, **ARGS)
    for name in HEADERS:
        relative = HOSP / f"{name}.csv.gz"
        assert (tmp_path / relative).read_bytes() == (release / relative).read_bytes(), name
