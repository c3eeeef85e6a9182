"""Where the MIMIC tables come from: local PhysioNet folders (DuckDB) or BigQuery.

Every source answers ``query(bigquery_sql, params) -> DataFrame``; nothing downstream knows which
one ran.
"""

from __future__ import annotations

from pathlib import Path

from mmnar.data.sources.local import LocalSource


def synthetic_layout(root: str | Path) -> dict[str, Path]:
    """Folders of the synthetic cohort, in the same shape as ``local`` config keys."""
    root = Path(root)
    return {
        "mimiciv": root / "mimiciv" / "3.1",
        "note": root / "mimic-iv-note" / "2.2",
        "cxr": root / "mimic-cxr-jpg" / "2.1.0",
    }


def local_folders(config: dict) -> dict[str, Path | None]:
    """The PhysioNet folders this run reads locally (with the BigQuery source, only ``cxr`` is
    read from here: the images are not in BigQuery)."""
    if config["source"] == "synthetic":
        return synthetic_layout(config["synthetic"]["out_dir"])
    local = config.get("local") or {}
    return {key: Path(local[key]) if local.get(key) else None for key in ("mimiciv", "note", "cxr")}


def open_source(config: dict):
    """The query engine for the configured source."""
    if config["source"] == "bigquery":
        from mmnar.data.sources.bigquery import BigQuerySource

        return BigQuerySource.from_config(config)
    folders = local_folders(config)
    return LocalSource(folders["mimiciv"], folders["note"], folders["cxr"])


def cxr_source(config: dict) -> LocalSource | None:
    """Chest X-rays are never in BigQuery: their metadata is always read from a local folder."""
    folder = local_folders(config)["cxr"]
    return LocalSource(mimiciv=Path("."), cxr=folder) if folder else None


def notes_available(config: dict) -> bool:
    """Whether this run has MIMIC-IV-Note; without it every T and R bit is 0."""
    if config["source"] == "bigquery":
        return bool(config["bigquery"].get("datasets", {}).get("note", "physionet-data.mimiciv_note"))
    return local_folders(config)["note"] is not None
