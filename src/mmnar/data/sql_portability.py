"""Reject SQL constructs that do not mean the same on BigQuery and on DuckDB (via sqlglot).

The cohort SQL is written once and run on both engines, so a construct that sqlglot translates
without complaint but with a different meaning would silently make the two cohorts differ. The
traps seen so far: ``EXTRACT(DAYOFWEEK …)`` (and ``WEEK``) count days differently, DuckDB has no
``ARRAY_AGG(… LIMIT n)`` nor ``FARM_FINGERPRINT``, hashes and random numbers differ by engine,
approximate aggregates are engine-specific, and a function sqlglot does not know is passed
through untranslated.
"""

from __future__ import annotations

from pathlib import Path

from sqlglot import exp
from sqlglot.errors import UnsupportedError

from mmnar.data.sql import parse_bigquery, read_sql, referenced_datasets, to_duckdb, with_sampled_cohort

NOT_PORTABLE = {
    "FARM_FINGERPRINT has no DuckDB equivalent": (exp.FarmFingerprint,),
    "hash functions and their output types differ by engine": (
        exp.MD5, exp.MD5Digest, exp.SHA, exp.SHA2, exp.SHA1Digest, exp.SHA2Digest, exp.StandardHash,
        exp.CityHash64),
    "random values differ by engine and run": (exp.Rand, exp.Uuid),
    "approximate aggregates differ by engine": (
        exp.ApproxDistinct, exp.ApproxQuantile, exp.ApproxQuantiles, exp.ApproxTopK, exp.ApproxTopSum),
    "the current time makes results depend on when they ran": (
        exp.CurrentDate, exp.CurrentDatetime, exp.CurrentTimestamp),
}
ENGINE_SPECIFIC = {cls: reason for reason, classes in NOT_PORTABLE.items() for cls in classes}
WEEKDAY_PARTS = {"DAYOFWEEK", "DOW", "WEEK"}
"""Date parts numbered differently: BigQuery's DAYOFWEEK is 1 = Sunday, DuckDB's 0 = Sunday;
BigQuery's WEEK starts on Sunday (or the given weekday), DuckDB's on Monday (ISO)."""


def problems(sql: str) -> list[str]:
    """Why ``sql`` (one BigQuery statement) would not mean the same on DuckDB; empty when portable."""
    found = []
    for node in parse_bigquery(sql).walk():
        reason = ENGINE_SPECIFIC.get(type(node))
        if reason:
            found.append(f"{node.sql(dialect='bigquery')}: {reason}")
        elif isinstance(node, exp.Anonymous):
            found.append(f"{node.name}(): a function sqlglot does not know is passed through untranslated")
        elif isinstance(node, exp.Extract) and (isinstance(node.this, exp.WeekStart)
                                                or node.name.upper() in WEEKDAY_PARTS):
            found.append(f"{node.sql(dialect='bigquery')}: week and weekday numbering differ by engine")
        elif isinstance(node, exp.ArrayAgg) and node.find(exp.Limit):
            found.append(f"{node.sql(dialect='bigquery')}: DuckDB has no ARRAY_AGG(... LIMIT n)")
    try:
        to_duckdb(sql)
    except UnsupportedError as error:
        found.append(f"sqlglot cannot translate it to DuckDB: {error}")
    return found


def reads_sampled_cohort(sql: str) -> bool:
    return any(table.name == "cohort" and not table.db for table in parse_bigquery(sql).find_all(exp.Table))


def shared_statements(sql_dir: str | Path) -> dict[str, str]:
    """Every statement the workflow runs: each ``*.sql`` file, and each extraction query composed
    with the sampled cohort the way ``mmnar.data.extract`` sends it (CXR linkage runs locally only)."""
    sql_dir = Path(sql_dir)
    files = {path.name: read_sql(path) for path in sorted(sql_dir.glob("*.sql"))}
    cohort = files["cohort.sql"]
    composed = {f"{name} + cohort": with_sampled_cohort(text, cohort) for name, text in files.items()
                if reads_sampled_cohort(text) and "cxr" not in referenced_datasets(text)}
    return files | composed


def check_sql_dir(sql_dir: str | Path) -> dict[str, list[str]]:
    """Non-portable constructs per statement, only for statements that have some."""
    results = {name: problems(sql) for name, sql in shared_statements(sql_dir).items()}
    return {name: found for name, found in results.items() if found}
