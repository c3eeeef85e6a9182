"""Read MIMIC files in the PhysioNet layout with DuckDB, through the same SQL as BigQuery."""

from __future__ import annotations

import csv
import gzip
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from mmnar.data.sql import CANONICAL_DATASETS, parse_bigquery, referenced_datasets, to_duckdb
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
    "edregtime": "TIMESTAMP", "edouttime": "TIMESTAMP", "starttime": "TIMESTAMP", "stoptime": "TIMESTAMP",
    "chartdate": "DATE", "seq_num": "INTEGER", "icd_code": "VARCHAR", "icd_version": "INTEGER",
    "drg_type": "VARCHAR", "drg_code": "VARCHAR", "drg_severity": "INTEGER", "drg_mortality": "INTEGER",
    "drug": "VARCHAR", "admission_type": "VARCHAR", "admission_location": "VARCHAR",
    "discharge_location": "VARCHAR", "insurance": "VARCHAR", "language": "VARCHAR", "marital_status": "VARCHAR",
}
"""Types pinned for the columns the SQL relies on, so DuckDB never guesses from a sample
(an early run of empty ``hadm_id`` values would otherwise make it text)."""


class MissingSourceError(FileNotFoundError):
    """A configured folder lacks a file the query needs."""


class SourceReadError(RuntimeError):
    """A source file could not be read; the message names the file and line, never the row's content."""


TABLE_KIND = {
    "admissions": "cohort", "patients": "cohort", "icustays": "cohort",
    "labevents": "S", "chartevents": "S", "diagnoses_icd": "S", "procedures_icd": "S", "drgcodes": "S",
    "prescriptions": "S", "discharge": "T", "radiology": "R", "metadata": "I",
}
"""Which modality (or the cohort) a damaged row of each table takes away from."""

ITEM_ID_COLUMNS = {
    "admissions": ("hadm_id",), "patients": ("subject_id",), "icustays": ("stay_id",),
    "labevents": ("labevent_id",), "chartevents": ("stay_id", "itemid", "charttime"),
    "diagnoses_icd": ("hadm_id", "seq_num"), "procedures_icd": ("hadm_id", "seq_num"),
    "drgcodes": ("hadm_id", "drg_type"), "prescriptions": ("pharmacy_id",),
    "discharge": ("note_id",), "radiology": ("note_id",), "metadata": ("dicom_id",),
}
"""The stable id a damaged row is reported by (MIMIC's own keys; chartevents has none, so a triple)."""

ID_PATTERNS = {
    "note_id": re.compile(r"^\d+-[A-Z]{2,3}-\d+$"),
    "dicom_id": re.compile(r"^[0-9A-Fa-f]{4,}(-[0-9A-Fa-f]+)*$"),
    "charttime": re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$"),
    "drg_type": re.compile(r"^[A-Z]{2,4}$"),
}
"""What a MIMIC id looks like; numeric ids are digits. A field of a mangled row that does not look
like an id is never reported (it may be a fragment of a note)."""
_SQL_ERRORS = (duckdb.BinderException, duckdb.ParserException, duckdb.CatalogException)


@dataclass(frozen=True)
class RejectedRow:
    """A row DuckDB could not parse and skipped, identified by file, line and MIMIC id only."""

    table: str
    source_file: str
    line: int
    item_id: str
    subject_id: int | None
    reason: str


def csv_header(path: Path) -> list[str]:
    """Column names of a gzipped CSV; undecodable bytes cannot stop a read of the header."""
    try:
        with gzip.open(path, "rb") as handle:
            first = handle.readline()
    except (OSError, EOFError) as error:
        raise SourceReadError(f"{path}: not a readable gzip file ({type(error).__name__})") from None
    return first.decode("utf-8", errors="replace").rstrip("\r\n").split(",")


def _row_ids(csv_line: str, header: list[str], table: str, line: int) -> tuple[str, int | None]:
    """(item id, subject id) parsed from the id columns of a rejected line; the rest is never kept."""
    try:
        fields = next(csv.reader(io.StringIO(csv_line)), [])
    except csv.Error:
        fields = []
    value = dict(zip(header, fields)).get
    columns = ITEM_ID_COLUMNS.get(table, ())
    parts = [value(column) or "" for column in columns]
    looks_right = all(ID_PATTERNS[c].match(p) if c in ID_PATTERNS else p.isdigit() for c, p in zip(columns, parts))
    item_id = "/".join(parts) if parts and looks_right else f"line {line}"
    subject = value("subject_id") or ""
    return item_id, int(subject) if subject.isdigit() and len(subject) <= 12 else None


def source_error(error: duckdb.Error, files: list[Path]) -> SourceReadError:
    """A DuckDB error reduced to what can be shown anywhere: the file, the line, the kind of problem.

    DuckDB quotes the offending CSV row (a whole note, with ids and dates) in its messages; under
    the PhysioNet DUA that must not reach a console or a log, so nothing of the message is kept
    but the line number and the file name.
    """
    message = str(error)
    line = re.search(r"Line: (\d+)", message)
    named = [str(f) for f in files if f.name in message] or [str(f) for f in files]
    where = named[0] if len(named) == 1 else f"one of {', '.join(named)}"
    at_line = f" at line {line.group(1)}" if line else ""
    hint = ": truncated download or not a gzipped CSV? check it against SHA256SUMS.txt" \
        if isinstance(error, duckdb.IOException) else ""
    return SourceReadError(f"{where}: unreadable{at_line} ({type(error).__name__}; the row's content is not "
                           f"shown, PhysioNet DUA){hint}")


class LocalSource:
    """DuckDB over local PhysioNet folders.

    ``mimiciv`` holds ``hosp/`` and ``icu/``; ``note`` holds ``note/`` (optional); ``cxr`` holds the
    MIMIC-CXR-JPG metadata CSV and ``files/`` (optional).

    A row that cannot be parsed (invalid UTF-8, a non-numeric number, a bad timestamp, a wrong
    field count) is skipped by DuckDB's ``ignore_errors`` and recorded in ``rejected_rows`` by file,
    line and id, so one damaged row never stops a run of millions and never passes unseen.
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
        self.rejected_rows: list[RejectedRow] = []

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

    def _register(self, con: duckdb.DuckDBPyConnection, sql: str, files: dict[str, tuple[str, list[str]]]) -> None:
        """Create a view for each canonical table the statement reads, and nothing more.

        Fills ``files``: file path → (table, header), for the files behind the views.
        """
        tree = parse_bigquery(sql)
        for dataset in sorted(referenced_datasets(sql)):
            schema = CANONICAL_DATASETS[dataset]
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            tables = {t.name for t in tree.find_all(exp.Table) if t.db == schema}
            for table in sorted(tables):
                path = self.table_file(dataset, table)
                header = csv_header(path)
                files[path.as_posix()] = (table, header)
                types = {c: COLUMN_TYPES[c] for c in header if c in COLUMN_TYPES}
                type_sql = ", ".join(f"'{c}': '{t}'" for c, t in types.items())
                con.execute(
                    f'CREATE OR REPLACE VIEW "{schema}"."{table}" AS SELECT * FROM read_csv('
                    f"'{path.as_posix()}', header = true, delim = ',', quote = '\"', escape = '\"', "
                    f"types = {{{type_sql}}}, ignore_errors = true, store_rejects = true)"
                )

    def _collect_rejects(self, con: duckdb.DuckDBPyConnection, files: dict[str, tuple[str, list[str]]]) -> None:
        """Record the rows the last statement skipped (each once, however often a view was scanned)."""
        try:
            rejects = con.execute(
                "SELECT DISTINCT s.file_path, e.line, e.column_name, e.error_type, e.csv_line "
                "FROM reject_errors AS e JOIN reject_scans AS s USING (scan_id, file_id) "
                "ORDER BY s.file_path, e.line"
            ).fetchall()
        except duckdb.CatalogException:  # no CSV was scanned
            return
        seen = {(r.source_file, r.line) for r in self.rejected_rows}
        for file_path, line, column, error_type, csv_line in rejects:
            if (file_path, int(line)) in seen or file_path not in files:
                continue
            seen.add((file_path, int(line)))
            table, header = files[file_path]
            item_id, subject_id = _row_ids(csv_line or "", header, table, int(line))
            reason = f"{str(error_type).lower()} in column {column}" if column else str(error_type).lower()
            self.rejected_rows.append(RejectedRow(table, file_path, int(line), item_id, subject_id, reason))
            log.warning("skipped unreadable row: %s line %d (%s, %s)", file_path, line, item_id, reason)

    def query(self, sql: str, params: dict | None = None,
              frames: dict[str, pd.DataFrame] | None = None) -> pd.DataFrame:
        """Run one BigQuery-dialect statement; ``@name`` parameters come from ``params``.

        ``frames`` registers in-memory tables under plain names (the sampled ``cohort`` for CXR
        linkage, whose metadata exists only locally). Skipped rows land in ``rejected_rows``.
        """
        con = duckdb.connect()
        files: dict[str, tuple[str, list[str]]] = {}
        try:
            if self.threads:
                con.execute(f"SET threads = {int(self.threads)}")
            for name, frame in (frames or {}).items():
                con.register(name, frame)
            self._register(con, sql, files)
            translated = to_duckdb(sql)
            log.debug("DuckDB SQL:\n%s", translated)
            result = con.execute(translated, params or {}).df()
            self._collect_rejects(con, files)
            return result
        except _SQL_ERRORS:
            raise  # about the SQL text, never about data
        except duckdb.Error as error:
            raise source_error(error, [Path(f) for f in files]) from None
        finally:
            con.close()
