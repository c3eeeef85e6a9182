"""Read MIMIC files in the PhysioNet layout with DuckDB, through the same SQL as BigQuery."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import duckdb
import pandas as pd

from mmnar.sql import CANONICAL_DATASETS, parse_bigquery, referenced_datasets, to_duckdb
from sqlglot import exp

log = logging.getLogger(__name__)

CXR_METADATA_FILE = "mimic-cxr-2.0.0-metadata.csv.gz"

COLUMN_TYPES = {
    "subject_id": "BIGINT", "hadm_id": "BIGINT", "stay_id": "BIGINT", "itemid": "INTEGER",
    "study_id": "BIGINT", "dicom_id": "VARCHAR", "note_id": "VARCHAR", "note_type": "VARCHAR",
    "note_seq": "INTEGER", "text": "VARCHAR", "value": "VARCHAR", "valuenum": "DOUBLE",
    "admittime": "TIMESTAMP", "dischtime": "TIMESTAMP", "deathtime": "TIMESTAMP",
    "intime": "TIMESTAMP", "outtime": "TIMESTAMP", "charttime": "TIMESTAMP",
    "storetime": "TIMESTAMP", "dod": "DATE", "anchor_age": "INTEGER", "anchor_year": "INTEGER",
    "hospital_expire_flag": "INTEGER", "StudyDate": "INTEGER", "StudyTime": "DOUBLE",
    "ViewPosition": "VARCHAR",
}
"""Types pinned for the columns the SQL relies on, so DuckDB never guesses from a sample
(an early run of empty ``hadm_id`` values would otherwise make it text)."""


class MissingSourceError(FileNotFoundError):
    """A configured folder lacks a file the query needs."""


def _csv_header(path: Path) -> list[str]:
    with gzip.open(path, "rt") as handle:
        return handle.readline().rstrip("\n").split(",")


class LocalSource:
    """DuckDB over local PhysioNet folders.

    ``mimiciv`` holds ``hosp/`` and ``icu/``; ``note`` holds ``note/`` (optional); ``cxr`` holds the
    MIMIC-CXR-JPG metadata CSV and ``files/`` (optional).
    """

    def __init__(self, mimiciv: str | Path, note: str | Path | None = None,
                 cxr: str | Path | None = None, threads: int | None = None):
        self.folders = {
            "hosp": Path(mimiciv) / "hosp",
            "icu": Path(mimiciv) / "icu",
            "note": Path(note) / "note" if note else None,
            "cxr": Path(cxr) if cxr else None,
        }
        self.threads = threads

    def has(self, dataset: str) -> bool:
        return self.folders.get(dataset) is not None

    def table_file(self, dataset: str, table: str) -> Path:
        folder = self.folders[dataset]
        if folder is None:
            raise MissingSourceError(f"no folder configured for the '{dataset}' data")
        name = CXR_METADATA_FILE if dataset == "cxr" else f"{table}.csv.gz"
        path = folder / name
        if not path.exists():
            raise MissingSourceError(f"{path} not found (expected PhysioNet layout)")
        return path

    def _register(self, con: duckdb.DuckDBPyConnection, sql: str) -> None:
        """Create a view for each canonical table the statement reads, and nothing more."""
        tree = parse_bigquery(sql)
        for dataset in sorted(referenced_datasets(sql)):
            schema = CANONICAL_DATASETS[dataset]
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            tables = {t.name for t in tree.find_all(exp.Table) if t.db == schema}
            for table in sorted(tables):
                path = self.table_file(dataset, table)
                types = {c: COLUMN_TYPES[c] for c in _csv_header(path) if c in COLUMN_TYPES}
                type_sql = ", ".join(f"'{c}': '{t}'" for c, t in types.items())
                con.execute(
                    f'CREATE OR REPLACE VIEW "{schema}"."{table}" AS SELECT * FROM read_csv('
                    f"'{path.as_posix()}', header = true, types = {{{type_sql}}})"
                )

    def query(self, sql: str, params: dict | None = None,
              frames: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """Run one BigQuery-dialect statement; ``@name`` parameters come from ``params``.

        ``frames`` registers in-memory tables under plain names (the sampled ``cohort`` for CXR
        linkage, whose metadata exists only locally).
        """
        con = duckdb.connect()
        try:
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            for name, frame in (frames or {}).items():
                con.register(name, frame)
            self._register(con, sql)
            translated = to_duckdb(sql)
            log.debug("DuckDB SQL:\n%s", translated)
            return con.execute(translated, params or {}).df()
        finally:
            con.close()
