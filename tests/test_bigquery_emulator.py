"""The real BigQuery client against a local emulator: same cohort, labels and features as the local path.

The emulator (bqemulator, its own venv built by .ci/bqemulator/install.sh) is loaded with a small
synthetic MIMIC; every extraction then runs once through ``source: local`` (DuckDB) and once
through ``source: bigquery`` and the parquet outputs must agree row for row.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from mmnar.data import extract, feature_groups
from mmnar.data.sources import open_source, synthetic_layout
from mmnar.data.sources.bigquery import BigQueryConfigError, BigQuerySource, preflight
from mmnar.synth import generate

pytestmark = pytest.mark.workflow

ROOT = Path(__file__).resolve().parents[1]
SQL = ROOT / "rules" / "sql"
HELPER = ROOT / ".ci" / "bqemulator"
VENV = Path(os.environ.get("MMNAR_BQEMULATOR_VENV", ROOT / ".ci-venvs" / "bqemulator"))  # as .ci/run builds it


def _helper():
    spec = importlib.util.spec_from_file_location("bqemulator_helper", HELPER / "emulator.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


emulator = _helper()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    generate(root, n_patients=150, seed=11, mechanism="mnar", direct_effect=1.0, image_size=16)
    return synthetic_layout(root)


@pytest.fixture(scope="module")
def bigquery_config(synthetic, tmp_path_factory):
    """A running emulator holding the synthetic tables, as a ``source: bigquery`` config."""
    subprocess.run([str(HELPER / "install.sh"), str(VENV)], check=True)
    log = tmp_path_factory.mktemp("bqemulator") / "server.log"
    process, endpoint = emulator.start(VENV, log)
    try:
        datasets = emulator.load_physionet(endpoint, synthetic["mimiciv"], synthetic["note"])
        yield {"source": "bigquery", "bigquery": {
            "project": emulator.PROJECT, "datasets": datasets, "api_endpoint": endpoint, "anonymous": True,
            "cache_dir": str(tmp_path_factory.mktemp("bigquery-cache"))}}
    finally:
        emulator.stop(process.pid)


def run_extraction(source, out: Path, window: str) -> dict[str, pd.DataFrame]:
    cohort = out / "cohort.parquet"
    extract.extract_cohort(source, SQL / "cohort.sql", cohort, out / "q_cohort.json", window, 48, max_patients=120, seed=3)
    extract.extract_structured(source, SQL / "cohort.sql", SQL / "structured.sql", cohort,
                               out / "structured.parquet", out / "q_s.json", window, 48)
    for group in feature_groups.groups():
        if group.sql:
            extract.extract_feature_group(source, SQL / "cohort.sql", SQL / group.sql, cohort,
                                          out / f"features_{group.name}.parquet", out / f"q_{group.name}.json",
                                          group.name, window, 48)
    for kind in ("discharge", "radiology"):
        extract.extract_notes(source, SQL / "cohort.sql", SQL / f"notes_{kind}.sql", cohort,
                              out / f"notes_{kind}.parquet", out / f"q_{kind}.json", kind, window, 48,
                              available=True)
    return {path.stem: pd.read_parquet(path) for path in sorted(out.glob("*.parquet"))}


def assert_same_rows(local: pd.DataFrame, remote: pd.DataFrame, name: str) -> None:
    key = [c for c in ("subject_id", "note_id") if c in local.columns]
    local, remote = (f.sort_values(key).reset_index(drop=True) for f in (local, remote))
    for column in local.columns:  # timestamps must come back as the same type, not only equal values
        if pd.api.types.is_datetime64_any_dtype(local[column]):
            assert remote[column].dtype == local[column].dtype, (name, column)
    pd.testing.assert_frame_equal(local, remote, check_dtype=False, obj=name)


@pytest.mark.parametrize("window", ["paper", "early"])
def test_bigquery_emulator_matches_local(synthetic, bigquery_config, tmp_path, window):
    local = run_extraction(open_source({"source": "synthetic", "synthetic": {
        "out_dir": synthetic["mimiciv"].parents[1]}}), tmp_path / "local", window)
    source = open_source(bigquery_config)
    assert isinstance(source, BigQuerySource)
    remote = run_extraction(source, tmp_path / "bigquery", window)
    groups = {f"features_{g.name}" for g in feature_groups.groups() if g.sql}
    assert set(local) == set(remote) == {"cohort", "structured", "notes_discharge", "notes_radiology"} | groups
    assert all(len(local[name]) == 120 for name in groups)
    assert len(local["cohort"]) == 120 and len(local["structured"]) == 120
    assert len(local["notes_radiology"]) > 0
    assert (len(local["notes_discharge"]) > 0) == (window == "paper")
    for name in local:
        assert_same_rows(local[name], remote[name], name)


def test_bigquery_emulator_rerun_reads_the_cache(bigquery_config, tmp_path, caplog):
    source = open_source(bigquery_config)
    run_extraction(source, tmp_path / "first", "paper")
    calls = []
    source.client.query = lambda *args, **kwargs: calls.append(args)  # any new query would land here
    with caplog.at_level(logging.INFO, logger="mmnar.data.sources.bigquery"):
        run_extraction(source, tmp_path / "again", "paper")
    assert calls == []
    assert caplog.text.count("cache hit") == 4 + sum(1 for g in feature_groups.groups() if g.sql)


def test_bigquery_emulator_preflight(bigquery_config):
    preflight(bigquery_config)
    block = bigquery_config["bigquery"]
    datasets = {**block["datasets"], "icu": "test-project.no_such"}
    missing = {**bigquery_config, "bigquery": {**block, "datasets": datasets}}
    with pytest.raises(BigQueryConfigError, match=r"test-project.no_such \(bigquery.datasets.icu\) does not exist"):
        preflight(missing)
