"""The shared SQL must mean the same on BigQuery and DuckDB: no construct the guard knows to differ."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmnar.data.sql_portability import check_sql_dir, problems, shared_statements

SQL_DIR = Path(__file__).resolve().parents[1] / "rules" / "sql"


def test_bigquery_shared_sql_is_portable():
    statements = shared_statements(SQL_DIR)
    assert {"cohort.sql", "structured.sql + cohort", "notes_discharge.sql + cohort"} <= set(statements)
    assert "cxr.sql + cohort" not in statements  # CXR linkage never runs on BigQuery
    assert check_sql_dir(SQL_DIR) == {}


@pytest.mark.parametrize(("sql", "reason"), [
    ("SELECT EXTRACT(DAYOFWEEK FROM admittime) FROM t", "weekday numbering"),
    ("SELECT EXTRACT(WEEK(MONDAY) FROM admittime) FROM t", "weekday numbering"),
    ("SELECT ARRAY_AGG(x ORDER BY y LIMIT 3) FROM t", "ARRAY_AGG(... LIMIT n)"),
    ("SELECT FARM_FINGERPRINT(CAST(subject_id AS STRING)) FROM t", "FARM_FINGERPRINT"),
    ("SELECT TO_HEX(SHA256(CAST(subject_id AS STRING))) FROM t", "hash functions"),
    ("SELECT * FROM t WHERE RAND() < 0.1", "random values"),
    ("SELECT APPROX_QUANTILES(valuenum, 4) FROM t", "approximate aggregates"),
    ("SELECT DATE_DIFF(CURRENT_DATE(), dod, DAY) FROM t", "current time"),
    ("SELECT MY_UDF(x) FROM t", "passed through untranslated"),
])
def test_bigquery_guard_rejects_known_traps(sql, reason):
    assert any(reason in found for found in problems(sql)), problems(sql)


def test_bigquery_guard_accepts_portable_constructs():
    sql = ("SELECT COUNTIF(a > 1), LEAST(x, y), DIV(a, 2), EXTRACT(YEAR FROM t.d), "
           "DATETIME_ADD(t.d, INTERVAL 30 DAY) FROM t "
           "QUALIFY ROW_NUMBER() OVER (PARTITION BY a ORDER BY d) = 1")
    assert problems(sql) == []
