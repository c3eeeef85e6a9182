"""BigQuery source without a server: one-line config errors, the byte guard, typed parameters, the cache."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pandas as pd
import pyarrow as pa
import pytest
from google.api_core.exceptions import BadRequest, Forbidden, NotFound
from google.auth.exceptions import DefaultCredentialsError

from mmnar.data.sources import bigquery as bq
from mmnar.data.sources.bigquery import BigQueryConfigError, BigQuerySettings, BigQuerySource, BytesLimitError

SQL = "SELECT subject_id FROM `physionet-data.mimiciv_3_1_hosp.patients` WHERE anchor_age >= @age"


class FakeJob:
    def __init__(self, bytes_processed=None, rows=None, error=None):
        self.total_bytes_processed = bytes_processed
        self._rows, self._error = rows, error

    def result(self):
        if self._error:
            raise self._error
        return SimpleNamespace(to_arrow=lambda create_bqstorage_client: self._rows)


class FakeClient:
    """Records every query; dry runs report ``dry_bytes``, real runs return ``table`` or raise ``error``."""

    project = "billing-project"

    def __init__(self, dry_bytes=1_000, table=None, error=None, datasets=None):
        self.dry_bytes, self.error, self.datasets = dry_bytes, error, datasets or {}
        self.table = table if table is not None else pa.table({"subject_id": [1, 2]})
        self.queries = []

    def query(self, sql, job_config):
        self.queries.append((sql, job_config))
        if job_config.dry_run:
            return FakeJob(self.dry_bytes)
        return FakeJob(rows=self.table, error=self.error)

    def get_dataset(self, name):
        outcome = self.datasets.get(name, SimpleNamespace(location="US"))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def source(tmp_path, client, **settings):
    return BigQuerySource(BigQuerySettings(project="p", cache_dir=str(tmp_path), **settings), client=client)


def config(**block):
    return {"source": "bigquery", "bigquery": {"project": "billing-project"} | block}


def test_bigquery_query_retargets_datasets_and_types_parameters(tmp_path):
    client = FakeClient()
    frame = source(tmp_path, client, datasets={"hosp": "mirror.hosp_copy"}).query(SQL, {"age": 18})
    assert frame["subject_id"].tolist() == [1, 2]
    sql, job_config = client.queries[-1]
    assert "`mirror.hosp_copy.patients`" in sql and "physionet-data" not in sql
    (param,) = job_config.query_parameters
    assert (param.name, param.type_, param.value) == ("age", "INT64", 18)
    assert job_config.maximum_bytes_billed == 50_000_000_000


def test_bigquery_parameter_types():
    typed = {p.name: p for p in bq.query_parameters(
        {"window": "paper", "hours": 48, "ratio": 0.5, "flag": True, "ids": [3, 1]})}
    assert typed["window"].type_ == "STRING" and typed["hours"].type_ == "INT64"
    assert typed["ratio"].type_ == "FLOAT64" and typed["flag"].type_ == "BOOL"
    assert typed["ids"].array_type == "INT64" and typed["ids"].values == [3, 1]
    with pytest.raises(TypeError, match="@bad"):
        bq.query_parameters({"bad": {"a": 1}})


def test_bigquery_cache_hit_skips_the_query(tmp_path, caplog):
    client = FakeClient()
    first = source(tmp_path, client).query(SQL, {"age": 18})
    with caplog.at_level(logging.INFO, logger="mmnar.data.sources.bigquery"):
        again = source(tmp_path, client).query("-- a comment does not change the result\n" + SQL, {"age": 18})
    assert len(client.queries) == 2  # one dry run and one run, both from the first call
    assert "cache hit" in caplog.text
    pd.testing.assert_frame_equal(first, again)
    source(tmp_path, client).query(SQL, {"age": 65})
    assert len(client.queries) == 4


def test_bigquery_cache_key_covers_sql_params_and_datasets():
    datasets = {"hosp": "a.b"}
    key = bq.cache_key("SELECT 1", {"x": 1, "ids": [1, 2]}, datasets)
    assert key == bq.cache_key("SELECT 1", {"ids": [1, 2], "x": 1}, datasets)
    assert key != bq.cache_key("SELECT 2", {"x": 1, "ids": [1, 2]}, datasets)
    assert key != bq.cache_key("SELECT 1", {"x": 1, "ids": [2, 1]}, datasets)
    assert key != bq.cache_key("SELECT 1", {"x": 1, "ids": [1, 2]}, {"hosp": "a.c"})


def test_bigquery_dry_run_over_the_limit_stops_before_running(tmp_path, caplog):
    client = FakeClient(dry_bytes=2_000_000)
    with caplog.at_level(logging.INFO), pytest.raises(BytesLimitError, match="bigquery.maximum_bytes_billed") as error:
        source(tmp_path, client, maximum_bytes_billed=1_000_000).query(SQL, {"age": 18})
    assert "\n" not in str(error.value)
    assert [c.dry_run for _, c in client.queries] == [True]  # nothing billed
    assert "0.002 GB" in caplog.text  # the estimate is logged before the check
    assert not list(tmp_path.iterdir())


def test_bigquery_server_side_byte_limit_names_the_setting(tmp_path):
    refused = BadRequest("Query exceeded limit for bytes billed: 1000000. 10485760 or higher required.")
    with pytest.raises(BytesLimitError, match="bigquery.maximum_bytes_billed = 1,000,000"):
        source(tmp_path, FakeClient(dry_bytes=None, error=refused),
               maximum_bytes_billed=1_000_000).query(SQL, {"age": 18})


def test_bigquery_missing_credentials(monkeypatch):
    def no_credentials(scopes=None):
        raise DefaultCredentialsError("Your default credentials were not found.\nSee the docs.")

    monkeypatch.setattr("google.auth.default", no_credentials)
    with pytest.raises(BigQueryConfigError,
                       match="no Google Cloud credentials found: run `gcloud auth application-default login`"):
        bq.preflight(config())


def test_bigquery_missing_billing_project(monkeypatch):
    monkeypatch.setattr("google.auth.default", lambda scopes=None: (object(), None))
    with pytest.raises(BigQueryConfigError, match="no billing project: set bigquery.project"):
        bq.preflight({"source": "bigquery", "bigquery": {}})


@pytest.mark.parametrize(("dataset", "error", "message"), [
    ("physionet-data.mimiciv_3_1_hosp", Forbidden("Access Denied"),
     r"no access to physionet-data.mimiciv_3_1_hosp \(bigquery.datasets.hosp\): link your Google account to PhysioNet"),
    ("physionet-data.mimiciv_note", NotFound("Not found"),
     r"dataset physionet-data.mimiciv_note \(bigquery.datasets.note\) does not exist"),
])
def test_bigquery_dataset_errors(monkeypatch, dataset, error, message):
    monkeypatch.setattr(bq, "_client", lambda settings: FakeClient(datasets={dataset: error}))
    with pytest.raises(BigQueryConfigError, match=message) as raised:
        bq.preflight(config())
    assert "\n" not in str(raised.value)


def test_bigquery_dataset_in_another_location(monkeypatch):
    elsewhere = {"physionet-data.mimiciv_3_1_icu": SimpleNamespace(location="EU")}
    monkeypatch.setattr(bq, "_client", lambda settings: FakeClient(datasets=elsewhere))
    with pytest.raises(BigQueryConfigError, match="is in EU but bigquery.location is US"):
        bq.preflight(config())


def test_bigquery_preflight_passes_and_checks_every_dataset(monkeypatch):
    client = FakeClient()
    seen = []
    original = client.get_dataset
    client.get_dataset = lambda name: seen.append(name) or original(name)
    monkeypatch.setattr(bq, "_client", lambda settings: client)
    bq.preflight(config())
    assert sorted(seen) == sorted(bq.DEFAULT_DATASETS.values())


def test_bigquery_settings_defaults_and_unknown_keys():
    settings = BigQuerySettings.from_config(config(datasets={"note": "mine.notes"}, api_endpoint=None))
    assert settings.datasets == bq.DEFAULT_DATASETS | {"note": "mine.notes"}
    assert (settings.location, settings.cache_dir, settings.api_endpoint) == ("US", "data/bigquery", None)
    assert "note" not in BigQuerySettings.from_config(config(datasets={"note": None})).datasets
    with pytest.raises(BigQueryConfigError, match="unknown bigquery config key"):
        BigQuerySettings.from_config(config(maximum_bytes=1))
    with pytest.raises(BigQueryConfigError, match=r"bigquery.datasets.hosp must be 'project.dataset'"):
        BigQuerySettings.from_config(config(datasets={"hosp": "mimiciv_3_1_hosp"}))
