"""Real downloads have damaged items: each is skipped and reported, δ follows, nothing else changes.

One clean and one damaged copy of the tiny synthetic cohort (PhysioNet layout) run through the
workflow up to the model inputs with ``source: local``; the damaged copy carries every case at once,
on different patients: a truncated JPEG, a JPEG of random bytes, invalid UTF-8 in a discharge note
early and late in the file, a blank note, a non-numeric and an infinite ``valuenum``, an admission discharged before
it began and an ICU stay outside its admission.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import damage
from mmnar.modalities.registry import names as modality_names
from mmnar.synth import generate
from mmnar.data.sources import synthetic_layout
from workflow_runner import REPO, TINY_CONFIG, snakemake, write_config

pytestmark = pytest.mark.workflow

TARGETS = ("data/model_input/delta.npy", "results/data_quality.csv")
FEATURES = ("creatinine", "bun", "sodium", "glucose", "hemoglobin")


def local_config(path: Path, folders: dict[str, Path], cache: Path, **quality) -> Path:
    return write_config(path, {
        "source": "local", "local": {key: str(value) for key, value in folders.items()},
        "embeddings": {"cache_dir": str(cache)},
        "quality": {"max_bad_fraction": 0.05, **quality}})


def model_input(workdir: Path) -> pd.DataFrame:
    """δ by subject id."""
    labels = pd.read_parquet(workdir / "data/model_input/labels.parquet")
    delta = np.load(workdir / "data/model_input/delta.npy")
    return pd.DataFrame(delta, columns=list(modality_names()), index=labels["subject_id"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    generate(root / "clean", n_patients=240, seed=7, mechanism="mnar", direct_effect=1.0, image_size=32)
    cache = root / "cache"
    clean = root / "run_clean"
    clean_config = local_config(root / "clean.yaml", synthetic_layout(root / "clean"), cache)
    snakemake(clean, "--cores", "2", *TARGETS, configs=(TINY_CONFIG, clean_config))

    shutil.copytree(root / "clean", root / "damaged")
    folders = synthetic_layout(root / "damaged")
    cohort = pd.read_parquet(clean / "data/cohort/cohort.parquet").set_index("subject_id")
    cxr = pd.read_parquet(clean / "data/cohort/cxr.parquet")
    discharge = pd.read_parquet(clean / "data/cohort/notes_discharge.parquet")
    radiology_ids = set(pd.read_parquet(clean / "data/cohort/notes_radiology.parquet")["subject_id"])
    # Patients with a single discharge summary, no image and no report: damage changes one bit only.
    single = discharge.groupby("subject_id").filter(lambda g: len(g) == 1)
    note_only = single[~single["subject_id"].isin(set(cxr["subject_id"]) | radiology_ids)]
    discharge_file = folders["note"] / "note" / "discharge.csv.gz"
    in_file_order = damage.first_fields_in_file_order(discharge_file, set(note_only["note_id"]))
    subject_of_note = note_only.set_index("note_id")["subject_id"]
    early_note, late_note, blank = in_file_order[0], in_file_order[-1], in_file_order[len(in_file_order) // 2]
    damage.invalid_utf8_in_note(discharge_file, early_note)
    damage.invalid_utf8_in_note(discharge_file, late_note)
    damage.blank_note(discharge_file, blank)

    truncated, random_bytes = cxr.iloc[0], cxr.iloc[1]
    image = folders["cxr"] / truncated["path"]
    image.write_bytes(image.read_bytes()[:100])
    (folders["cxr"] / random_bytes["path"]).write_bytes(np.random.default_rng(0).bytes(4000))

    used = set(subject_of_note) | set(cxr["subject_id"][:2])
    others = [s for s in cohort.index if s not in used]
    labs = pd.read_csv(folders["mimiciv"] / "hosp/labevents.csv.gz", usecols=["labevent_id", "subject_id", "itemid",
                                                                             "charttime", "valuenum"])
    labs = labs.join(cohort[["window_start", "window_end"]], on="subject_id", how="inner")
    charted = pd.to_datetime(labs["charttime"])
    window = labs[labs["subject_id"].isin(others) & (labs["itemid"] == 50912) & labs["valuenum"].notna()
                  & (charted >= labs["window_start"]) & (charted <= labs["window_end"])]
    lab_patient, infinite_patient = window["subject_id"].unique()[:2]
    inverted, icu_outside = [s for s in others if s not in (lab_patient, infinite_patient)][:2]
    infinite_lab = str(window.loc[window["subject_id"] == infinite_patient, "labevent_id"].iloc[0])
    damage.replace_field(folders["mimiciv"] / "hosp/labevents.csv.gz", infinite_lab, "valuenum", "inf")
    bad_lab = str(window["labevent_id"].iloc[0])
    damage.replace_field(folders["mimiciv"] / "hosp/labevents.csv.gz", bad_lab, "valuenum", "1.2 mg/dL")

    index = cohort.loc[inverted]
    damage.replace_field(folders["mimiciv"] / "hosp/admissions.csv.gz", f"{inverted},{index['hadm_id']}",
                         "dischtime", str(index["admittime"] - pd.Timedelta(days=2)))
    index = cohort.loc[icu_outside]
    moved = f"{icu_outside},{index['hadm_id']},{index['stay_id']}"
    damage.replace_field(folders["mimiciv"] / "icu/icustays.csv.gz", moved, "intime",
                         str(index["dischtime"] + pd.Timedelta(days=100)))
    damage.replace_field(folders["mimiciv"] / "icu/icustays.csv.gz", moved, "outtime",
                         str(index["dischtime"] + pd.Timedelta(days=103)))

    damaged = root / "run_damaged"
    result = snakemake(damaged, "--cores", "2", *TARGETS,
                       configs=(TINY_CONFIG, local_config(root / "damaged.yaml", folders, cache)))
    return {
        "root": root, "clean": clean, "damaged": damaged, "console": result.stdout + result.stderr,
        "folders": folders, "cache": cache, "clean_config": clean_config,
        "notes": {"early": (early_note, subject_of_note[early_note]), "late": (late_note, subject_of_note[late_note]),
                  "blank": (blank, subject_of_note[blank])},
        "images": {"truncated": truncated, "random": random_bytes},
        "lab": (bad_lab, lab_patient), "infinite": infinite_patient, "inverted": (inverted, cohort.loc[inverted, "hadm_id"]),
        "icu_outside": (icu_outside, cohort.loc[icu_outside, "hadm_id"]),
        "discharge_texts": discharge.set_index("note_id")["text"],
    }


def quality(runs) -> pd.DataFrame:
    return pd.read_csv(runs["damaged"] / "results/data_quality.csv", dtype={"item_id": str})


def reported(runs, item_id) -> pd.Series:
    rows = quality(runs)
    rows = rows[rows["item_id"] == str(item_id)]
    assert len(rows) == 1, f"{item_id} is not reported once in data_quality.csv"
    return rows.iloc[0]


def test_each_damaged_item_is_reported_by_id_and_reason(runs):
    for position in ("early", "late"):
        note_id, subject = runs["notes"][position]
        row = reported(runs, note_id)
        assert (row["kind"], row["subject_id"], row["counted"]) == ("T", subject, True)
        assert "invalid encoding" in row["reason"]
    assert reported(runs, runs["notes"]["blank"][0])["reason"] == "blank text"
    assert "OSError" in reported(runs, runs["images"]["truncated"]["dicom_id"])["reason"]
    assert "UnidentifiedImageError" in reported(runs, runs["images"]["random"]["dicom_id"])["reason"]
    lab = reported(runs, runs["lab"][0])
    assert (lab["kind"], lab["subject_id"]) == ("S", runs["lab"][1]) and "valuenum" in lab["reason"]
    assert reported(runs, runs["inverted"][1])["reason"] == "dischtime before admittime"
    assert reported(runs, runs["icu_outside"][1])["reason"] == "ICU stay outside its admission"
    infinite = reported(runs, f"{runs['infinite']}/creatinine")
    assert (infinite["kind"], infinite["reason"]) == ("S", "non-finite valuenum (inf or NaN)")
    assert len(quality(runs)) == 9
    summary = pd.read_csv(runs["damaged"] / "results/data_quality_summary.csv").set_index("kind")
    assert summary.loc["T", "n_bad"] == 3 and summary.loc["I", "n_bad"] == 2 and summary.loc["cohort", "n_bad"] == 2
    assert pd.read_csv(runs["clean"] / "results/data_quality.csv").empty


def test_delta_follows_the_damage_and_nothing_else_changes(runs):
    clean, damaged = model_input(runs["clean"]), model_input(runs["damaged"])
    excluded = {runs["inverted"][0], runs["icu_outside"][0]}
    assert set(clean.index) - set(damaged.index) == excluded and set(damaged.index) <= set(clean.index)
    expected = clean.drop(index=list(excluded)).copy()
    for _, subject in runs["notes"].values():
        assert expected.loc[subject, "T"] == 1
        expected.loc[subject, "T"] = 0
    for image in runs["images"].values():
        assert expected.loc[image["subject_id"], "I"] == 1
        expected.loc[image["subject_id"], "I"] = 0
    pd.testing.assert_frame_equal(damaged, expected)


def test_embeddings_of_undamaged_items_are_unchanged(runs):
    for modality in ("T", "R", "I"):
        clean = pd.read_parquet(runs["clean"] / f"data/embeddings/{modality}.parquet").set_index("subject_id")
        damaged = pd.read_parquet(runs["damaged"] / f"data/embeddings/{modality}.parquet").set_index("subject_id")
        pd.testing.assert_frame_equal(damaged, clean.loc[damaged.index])


def test_non_numeric_or_infinite_value_costs_only_that_measurement(runs):
    clean = pd.read_parquet(runs["clean"] / "data/cohort/structured.parquet").set_index("subject_id")
    damaged = pd.read_parquet(runs["damaged"] / "data/cohort/structured.parquet").set_index("subject_id")
    for patient in (runs["lab"][1], runs["infinite"]):
        assert damaged.loc[patient, "creatinine_n"] == clean.loc[patient, "creatinine_n"] - 1
        assert np.isfinite(damaged.loc[patient, ["creatinine_mean", "creatinine_min", "creatinine_max"]]).all()
    others = damaged.index.drop([runs["lab"][1], runs["infinite"]])
    pd.testing.assert_frame_equal(damaged.loc[others], clean.loc[others])


def test_cohort_labels_are_not_flipped_for_anyone(runs):
    clean = pd.read_parquet(runs["clean"] / "data/model_input/labels.parquet").set_index("subject_id")
    damaged = pd.read_parquet(runs["damaged"] / "data/model_input/labels.parquet").set_index("subject_id")
    tasks = ["readmit_30d", "icu_90d", "mortality_inhosp"]
    pd.testing.assert_frame_equal(damaged[tasks], clean.loc[damaged.index, tasks])


def test_no_note_text_in_console_logs_or_results(runs):
    texts = [runs["discharge_texts"][note_id] for note_id, _ in runs["notes"].values()]
    texts += runs["discharge_texts"].sample(20, random_state=0).tolist()
    fragments = {text[i:i + 24] for text in texts for i in range(0, len(text) - 24, 12)}
    fragments = {f for f in fragments if sum(c.isalpha() for c in f) >= 12}
    outputs = {"console": runs["console"]}
    for folder in ("logs", "results", ".snakemake/log"):
        for path in (runs["damaged"] / folder).rglob("*"):
            if path.is_file():
                outputs[str(path)] = path.read_bytes().decode("utf-8", errors="replace")
    leaks = [(name, f) for name, text in outputs.items() for f in fragments if f in text]
    assert not leaks, f"patient text outside the data folder: {leaks[:3]}"
    assert len(outputs) > 10


def test_over_the_limit_the_run_stops_before_training_with_one_line(runs):
    strict = local_config(runs["root"] / "strict.yaml", runs["folders"], runs["cache"], max_bad_fraction=0.001)
    result = snakemake(runs["damaged"], "--cores", "2", *TARGETS, configs=(TINY_CONFIG, strict), check=False)
    assert result.returncode != 0
    console = result.stdout + result.stderr
    assert "quality.max_bad_fraction = 0.001; see results/data_quality.csv" in console
    assert "3 of" in console or "2 of" in console
    assert (runs["damaged"] / "results/data_quality.csv").exists()
    log = (runs["damaged"] / "logs/build_delta.log").read_text()
    assert "DataQualityError" in log and "Traceback" in log


def test_a_truncated_cache_shard_is_set_aside_and_recomputed(runs):
    shards = sorted((runs["cache"]).rglob("shard-*.npz"))
    victim = shards[len(shards) // 2]
    victim.write_bytes(victim.read_bytes()[:200])
    before = {m: pd.read_parquet(runs["clean"] / f"data/embeddings/{m}.parquet") for m in ("T", "R", "I")}
    result = snakemake(runs["clean"], "--cores", "2", *TARGETS, "--forcerun", "embed_text", "embed_image",
                       configs=(TINY_CONFIG, runs["clean_config"]))
    assert victim.with_name(victim.name + ".corrupt").exists() and not victim.exists()
    assert str(victim) in result.stdout + result.stderr + "".join(
        p.read_text() for p in (runs["clean"] / "logs").glob("embed_*.log"))
    for modality, frame in before.items():
        pd.testing.assert_frame_equal(pd.read_parquet(runs["clean"] / f"data/embeddings/{modality}.parquet"), frame)


def test_kill_during_embedding_resumes_from_committed_shards(runs, tmp_path):
    """``kill -9`` mid-embedding; ``--unlock`` + ``--rerun-incomplete`` reuse every committed shard and
    give the same vectors as the uninterrupted run."""
    cache = tmp_path / "cache"
    config = local_config(tmp_path / "kill.yaml", synthetic_layout(runs["root"] / "clean"), cache)
    target = "data/embeddings/T.parquet"
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path / "run"),
               "--cores", "2", target, "--configfile", str(TINY_CONFIG), str(config)]
    env = os.environ | {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    process = subprocess.Popen(command, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(list(cache.rglob("shard-*.npz"))) < 3:
        assert process.poll() is None, "embedding finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    committed = len(list(cache.rglob("shard-*.npz")))
    n_notes = len(pd.read_parquet(tmp_path / "run/data/cohort/notes_discharge.parquet"))
    assert committed * 16 < n_notes, "nothing was left to resume"

    snakemake(tmp_path / "run", "--unlock", target, configs=(TINY_CONFIG, config))
    resumed = snakemake(tmp_path / "run", "--cores", "2", target, "--rerun-incomplete", configs=(TINY_CONFIG, config))
    log = (tmp_path / "run/logs/embed_text_T.log").read_text()
    assert f"{committed * 16} hits" in log, log[-2000:]
    assert resumed.returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / f"run/{target}"),
                                  pd.read_parquet(runs["clean"] / target))
