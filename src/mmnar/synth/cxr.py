"""Chest X-ray studies (MIMIC-CXR-JPG metadata + JPG files) whose opacities grow with the latent.

δ_I = 1 means at least one frontal (AP/PA) study inside the index admission; studies outside it,
lateral views next to the frontal ones, and lateral-only studies inside the admission of some
δ_I = 0 patients are there so the linkage rule (frontal, inside the window, latest) is exercised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from mmnar.synth.timeline import DAY, Timeline

VIEW_MEANING = {"AP": "antero-posterior", "PA": "postero-anterior", "LATERAL": "lateral", "LL": "left lateral"}
ORIENTATION = {"AP": "Recumbent", "PA": "Erect", "LATERAL": "Erect", "LL": "Recumbent"}
PROCEDURE = {"AP": "CHEST (PORTABLE AP)", "PA": "CHEST (PA AND LAT)"}


def _study_times(rng: np.random.Generator, timeline: Timeline, delta_image: pd.Series) -> pd.DataFrame:
    """One row per study: subject, datetime, whether it has a frontal view, latent."""
    adm = timeline.admissions
    index = adm[adm["role"].eq("index")].reset_index(drop=True)
    observed = index["subject_id"].map(delta_image).fillna(0).to_numpy().astype(bool)
    span = (index["dischtime"] - index["admittime"]).to_numpy()

    n_inside = np.where(observed, 1 + rng.binomial(2, 0.3, len(index)), (rng.random(len(index)) < 0.15).astype(int))
    inside = index.loc[index.index.repeat(n_inside)]
    inside_span = span[index.index.repeat(n_inside)]
    inside_times = inside["admittime"].to_numpy() + (rng.uniform(0.03, 0.97, len(inside)) * inside_span.astype("int64")).astype("timedelta64[s]")

    before = index[rng.random(len(index)) < 0.35]
    before_times = before["admittime"].to_numpy() - (rng.uniform(1, 400, len(before)) * DAY).astype("timedelta64[s]")
    survivors = index[index["hospital_expire_flag"].eq(0)]
    after = survivors[rng.random(len(survivors)) < 0.35]
    after_times = after["dischtime"].to_numpy() + (rng.uniform(1, 400, len(after)) * DAY).astype("timedelta64[s]")

    parts = [inside, before, after]
    return pd.DataFrame({
        "subject_id": np.concatenate([p["subject_id"].to_numpy() for p in parts]),
        "study_datetime": np.concatenate([inside_times, before_times, after_times]).astype("datetime64[s]"),
        "has_frontal": np.concatenate([observed[index.index.repeat(n_inside)], np.ones(len(before) + len(after), bool)]),
        "latent": np.concatenate([p["latent"].to_numpy() for p in parts]),
    })


def _dicoms(rng: np.random.Generator, studies: pd.DataFrame) -> pd.DataFrame:
    """Images per study: a frontal view (AP for portable, PA otherwise) and maybe a lateral one."""
    n = len(studies)
    frontal = np.where(rng.random(n) < 0.65, "AP", "PA")
    lateral = np.where(frontal == "AP", "LL", "LATERAL")
    with_lateral = rng.random(n) < np.where(frontal == "PA", 0.6, 0.15)
    has_frontal = studies["has_frontal"].to_numpy()
    frontal_rows = studies[has_frontal].assign(ViewPosition=frontal[has_frontal])
    lateral_mask = with_lateral | ~has_frontal
    lateral_rows = studies[lateral_mask].assign(ViewPosition=lateral[lateral_mask])
    dicoms = pd.concat([frontal_rows, lateral_rows]).sort_values(["study_id", "ViewPosition"], kind="stable", ignore_index=True)
    procedure_of_study = pd.Series(np.where(frontal == "AP", PROCEDURE["AP"], PROCEDURE["PA"]), index=studies["study_id"])
    dicoms["procedure"] = dicoms["study_id"].map(procedure_of_study)
    words = rng.integers(0, 2**32, size=(len(dicoms), 5), dtype=np.uint64)
    dicoms["dicom_id"] = ["-".join(f"{w:08x}" for w in row) for row in words.tolist()]
    return dicoms


def render_cxr(rng: np.random.Generator, severity: float, view: str, size: int) -> np.ndarray:
    """A toy radiograph: bright mediastinum, dark lung fields, haze and opacity blobs that grow with severity."""
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    body = np.exp(-(((x / 0.9) ** 2 + (y / 0.98) ** 2) ** 4))
    if view in ("AP", "PA"):
        lung_centers = [(-0.38, -0.05), (0.38, -0.05)]
        lungs = sum(np.exp(-((((x - cx) / 0.27) ** 2 + ((y - cy) / 0.55) ** 2) ** 3)) for cx, cy in lung_centers)
        spine = np.exp(-(x / 0.12) ** 2)
    else:
        lung_centers = [(0.0, -0.05)]
        lungs = np.exp(-((((x + 0.05) / 0.5) ** 2 + ((y + 0.05) / 0.6) ** 2) ** 3))
        spine = np.exp(-((x - 0.62) / 0.1) ** 2)
    image = 30 + 150 * body - 90 * lungs + 50 * spine * body
    sick = min(max(severity, 0.0), 3.0)
    image += 10 * sick * lungs  # diffuse haze (edema) on top of the focal opacities
    for _ in range(rng.poisson(0.5 + 1.2 * sick)):
        cx, cy = lung_centers[rng.integers(len(lung_centers))]
        bx, by = cx + rng.normal(0, 0.12), cy + rng.normal(0, 0.25)
        radius = 0.07 + 0.03 * sick + 0.04 * rng.random()
        image += (20 + 12 * sick) * np.exp(-((x - bx) ** 2 + (y - by) ** 2) / (2 * radius**2))
    image += rng.normal(0, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def build_cxr(rng: np.random.Generator, timeline: Timeline, delta_image: pd.Series, cxr_root: Path, image_size: int) -> pd.DataFrame:
    """Write the JPGs under `cxr_root/files/...` and return mimic-cxr-2.0.0-metadata rows."""
    studies = _study_times(rng, timeline, delta_image)
    studies["study_id"] = 50_000_000 + rng.choice(9_999_999, size=len(studies), replace=False)
    dicoms = _dicoms(rng, studies)
    seconds = dicoms["study_datetime"].to_numpy().astype("datetime64[s]")
    day = seconds.astype("datetime64[D]")
    clock = (seconds - day).astype("int64")
    milliseconds = rng.integers(0, 1000, len(dicoms)) / 1000
    dicoms["StudyDate"] = pd.Series(np.datetime_as_string(day, unit="D")).str.replace("-", "").astype(int).to_numpy()
    dicoms["StudyTime"] = np.round(clock // 3600 * 10_000 + clock % 3600 // 60 * 100 + clock % 60 + milliseconds, 3)
    dicoms["PerformedProcedureStepDescription"] = dicoms["procedure"]
    dicoms["ProcedureCodeSequence_CodeMeaning"] = dicoms["procedure"]
    dicoms["ViewCodeSequence_CodeMeaning"] = dicoms["ViewPosition"].map(VIEW_MEANING)
    dicoms["PatientOrientationCodeSequence_CodeMeaning"] = dicoms["ViewPosition"].map(ORIENTATION)
    dicoms["Rows"] = dicoms["Columns"] = image_size

    severity = dicoms["latent"].to_numpy() + rng.normal(0, 0.3, len(dicoms))
    for row, sev in zip(dicoms.itertuples(), severity.tolist()):
        folder = cxr_root / "files" / f"p{str(row.subject_id)[:2]}" / f"p{row.subject_id}" / f"s{row.study_id}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(render_cxr(rng, sev, row.ViewPosition, image_size)).save(folder / f"{row.dicom_id}.jpg", quality=90)
    return dicoms
