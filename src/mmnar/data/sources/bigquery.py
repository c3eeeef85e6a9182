"""Run the shared cohort SQL on Google BigQuery (``physionet-data`` or a copy), cached as parquet.

The SQL is the same BigQuery-dialect text the local DuckDB source translates; here it only gets its
canonical dataset names retargeted. Every query is dry-run first so its scan size is logged and
checked against ``bigquery.maximum_bytes_billed`` before any money is spent, and its result is
kept in ``bigquery.cache_dir`` under a hash of the SQL and parameters, so a rerun reads the file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from mmnar.errors import ConfigError
from mmnar.io import atomic_path
from mmnar.data.sql import CANONICAL_DATASETS, CANONICAL_PROJECT, parse_bigquery, retarget_datasets

log = logging.getLogger(__name__)

DEFAULT_DATASETS = {short: f"{CANONICAL_PROJECT}.{CANONICAL_DATASETS[short]}" for short in ("hosp", "icu", "note")}
PHYSIONET_LINK_HELP = (
    "link your Google account to PhysioNet (physionet.org > Account > Cloud), then request access on "
    "https://physionet.org/content/mimiciv/ with 'Request access using Google BigQuery'"
)
ADC_HELP = "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS"


class BigQueryConfigError(ConfigError):
    """A one-line, user-facing reason why the BigQuery source cannot run (shown at workflow start)."""


class BytesLimitError(BigQueryConfigError):
    """A query would scan more than ``bigquery.maximum_bytes_billed`` allows."""


@dataclass(frozen=True)
class BigQuerySettings:
    """The ``bigquery:`` config block, with the defaults the schema documents."""

    project: str | None = None
    location: str = "US"
    datasets: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DATASETS))
    maximum_bytes_billed: int = 50_000_000_000
    api_endpoint: str | None = None
    anonymous: bool = False
    cache_dir: str = "data/bigquery"

    @classmethod
    def from_config(cls, config: dict) -> BigQuerySettings:
        block = dict(config.get("bigquery") or {})
        merged = DEFAULT_DATASETS | (block.get("datasets") or {})
        block["datasets"] = {short: name for short, name in merged.items() if name}  # note: null = no notes
        unknown = set(block) - set(cls.__dataclass_fields__)
        if unknown:
            raise BigQueryConfigError(f"unknown bigquery config key(s): {', '.join(sorted(unknown))}")
        for short, name in block["datasets"].items():
            if len(name.split(".")) != 2:
                raise BigQueryConfigError(f"bigquery.datasets.{short} must be 'project.dataset', got {name!r}")
        return cls(**{k: v for k, v in block.items() if v is not None})


def _one_line(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__


def _client(settings: BigQuerySettings):
    """A ``bigquery.Client`` on Application Default Credentials (anonymous only for emulators)."""
    try:
        import google.auth
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.auth.exceptions import DefaultCredentialsError
        from google.cloud import bigquery
    except ImportError as error:
        raise BigQueryConfigError(
            f"source: bigquery needs google-cloud-bigquery ({error.name} is missing): "
            "pip install 'mmnar-pipeline[bigquery]'"
        ) from None
    project = settings.project
    if settings.anonymous:
        credentials = AnonymousCredentials()
    else:
        try:
            credentials, adc_project = google.auth.default(scopes=["https://www.googleapis.com/auth/bigquery"])
        except DefaultCredentialsError:
            raise BigQueryConfigError(f"no Google Cloud credentials found: {ADC_HELP}") from None
        project = project or adc_project
    if not project:
        raise BigQueryConfigError(
            "no billing project: set bigquery.project to the Google Cloud project that pays for the queries"
        )
    options = ClientOptions(api_endpoint=settings.api_endpoint) if settings.api_endpoint else None
    return bigquery.Client(project=project, credentials=credentials, location=settings.location,
                           client_options=options)


def query_parameters(params: dict | None) -> list:
    """Typed BigQuery parameters from Python values: str, int, float, or a list of ints."""
    from google.cloud import bigquery

    typed = []
    for name, value in sorted((params or {}).items()):
        if isinstance(value, bool):
            typed.append(bigquery.ScalarQueryParameter(name, "BOOL", value))
        elif isinstance(value, str):
            typed.append(bigquery.ScalarQueryParameter(name, "STRING", value))
        elif isinstance(value, numbers.Integral):
            typed.append(bigquery.ScalarQueryParameter(name, "INT64", int(value)))
        elif isinstance(value, numbers.Real):
            typed.append(bigquery.ScalarQueryParameter(name, "FLOAT64", float(value)))
        elif isinstance(value, (list, tuple)) and all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                                      for v in value):
            typed.append(bigquery.ArrayQueryParameter(name, "INT64", [int(v) for v in value]))
        else:
            raise TypeError(f"query parameter @{name}: unsupported value type {type(value).__name__}")
    return typed


def without_comments(sql: str) -> str:
    """The statement without its comments: editing one then reuses the cache, and emulators that
    bind ``@name`` by text do not trip over a parameter mentioned in a comment."""
    return parse_bigquery(sql).sql(dialect="bigquery", comments=False)


def cache_key(sql: str, params: dict | None, datasets: dict[str, str]) -> str:
    """sha256 of what determines a result: the retargeted SQL, its parameters and the datasets."""
    def plain(value):
        return [int(v) for v in value] if isinstance(value, (list, tuple)) else value

    payload = json.dumps({"sql": sql, "params": {k: plain(v) for k, v in sorted((params or {}).items())},
                          "datasets": dict(sorted(datasets.items()))}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def check_scan_size(bytes_processed: int | None, limit: int) -> None:
    """Log a dry run's estimate and stop before running a query the byte limit would refuse."""
    if bytes_processed is None:
        log.info("BigQuery dry run gave no byte estimate; BigQuery still enforces the limit")
        return
    log.info("BigQuery dry run: query will scan %.3f GB (bigquery.maximum_bytes_billed = %.3f GB)",
             bytes_processed / 1e9, limit / 1e9)
    if bytes_processed > limit:
        raise BytesLimitError(
            f"query would scan {bytes_processed:,} bytes, over bigquery.maximum_bytes_billed = {limit:,}; "
            "raise that setting to run it"
        )


class BigQuerySource:
    """``query(bigquery_sql, params) -> DataFrame`` against BigQuery, like ``LocalSource``.

    Tables in BigQuery are typed, so no row is ever skipped as unparseable: ``rejected_rows`` stays empty.
    """

    def __init__(self, settings: BigQuerySettings, client=None):
        self.settings = settings
        self._client = client
        self.rejected_rows: list = []

    @classmethod
    def from_config(cls, config: dict) -> BigQuerySource:
        return cls(BigQuerySettings.from_config(config))

    @property
    def client(self):
        if self._client is None:
            self._client = _client(self.settings)
        return self._client

    def query(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        """Run one canonical-name BigQuery statement, or read its cached result."""
        sql = retarget_datasets(without_comments(sql), self.settings.datasets)
        path = Path(self.settings.cache_dir) / f"{cache_key(sql, params, self.settings.datasets)}.parquet"
        if path.exists():
            log.info("BigQuery cache hit, not querying: %s", path)
            return pd.read_parquet(path)
        table = self._run(sql, query_parameters(params))
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        log.info("BigQuery result: %d rows cached in %s", table.num_rows, path)
        return pd.read_parquet(path)

    def _run(self, sql: str, parameters: list):
        """Dry-run (log and check the scan size), then run with the limit enforced server-side too."""
        from google.api_core.exceptions import GoogleAPICallError
        from google.cloud import bigquery

        limit = int(self.settings.maximum_bytes_billed)
        dry = self.client.query(sql, job_config=bigquery.QueryJobConfig(
            dry_run=True, use_query_cache=False, query_parameters=parameters))
        check_scan_size(dry.total_bytes_processed, limit)
        job = self.client.query(sql, job_config=bigquery.QueryJobConfig(
            query_parameters=parameters, maximum_bytes_billed=limit))
        try:
            rows = job.result()
        except GoogleAPICallError as error:
            if "bytesBilledLimitExceeded" in str(error) or "bytes billed" in str(error).lower():
                raise BytesLimitError(
                    f"BigQuery refused the query: over bigquery.maximum_bytes_billed = {limit:,} ({_one_line(error)})"
                ) from None
            raise
        # The Storage Read API is only reachable on Google's own endpoint; elsewhere read REST pages.
        return rows.to_arrow(create_bqstorage_client=self.settings.api_endpoint is None)


def preflight(config: dict) -> None:
    """Fail before any job starts, in one line, on credentials, billing project or dataset access."""
    from google.api_core.exceptions import Forbidden, GoogleAPICallError, NotFound
    from google.auth.exceptions import GoogleAuthError

    settings = BigQuerySettings.from_config(config)
    client = _client(settings)
    for short, name in sorted(settings.datasets.items()):
        setting = f"bigquery.datasets.{short}"
        try:
            dataset = client.get_dataset(name)
        except GoogleAuthError as error:
            raise BigQueryConfigError(f"Google Cloud credentials rejected ({_one_line(error)}): {ADC_HELP}") from None
        except Forbidden:
            if name.split(".", 1)[0] == CANONICAL_PROJECT:
                raise BigQueryConfigError(f"no access to {name} ({setting}): {PHYSIONET_LINK_HELP}") from None
            raise BigQueryConfigError(
                f"no access to {name} ({setting}): ask its owner for BigQuery Data Viewer") from None
        except NotFound:
            raise BigQueryConfigError(f"dataset {name} ({setting}) does not exist") from None
        except GoogleAPICallError as error:
            raise BigQueryConfigError(f"cannot read dataset {name} ({setting}): {_one_line(error)}") from None
        if dataset.location and dataset.location.upper() != settings.location.upper():
            raise BigQueryConfigError(
                f"dataset {name} is in {dataset.location} but bigquery.location is {settings.location}"
            )
    try:
        from google.cloud import bigquery

        client.query("SELECT 1", job_config=bigquery.QueryJobConfig(dry_run=True))
    except Forbidden as error:
        raise BigQueryConfigError(
            f"cannot run queries in billing project {client.project} (bigquery.project): enable the BigQuery "
            f"API there and grant yourself BigQuery Job User ({_one_line(error)})"
        ) from None
    except GoogleAPICallError as error:
        raise BigQueryConfigError(
            f"cannot run queries in billing project {client.project} (bigquery.project): {_one_line(error)}"
        ) from None
