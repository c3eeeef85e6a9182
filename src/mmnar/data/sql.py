"""The cohort SQL is written once, in BigQuery dialect; every other engine gets a sqlglot translation.

Tables are always referenced by their canonical BigQuery names
(``physionet-data.mimiciv_3_1_hosp.admissions``); backends map those datasets to where the data
really is. Query parameters use BigQuery's ``@name`` syntax.
"""

from __future__ import annotations

from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

CANONICAL_PROJECT = "physionet-data"
CANONICAL_DATASETS = {
    "hosp": "mimiciv_3_1_hosp",
    "icu": "mimiciv_3_1_icu",
    "note": "mimiciv_note",
    "cxr": "mimic_cxr_jpg",
}
"""Short name → canonical BigQuery dataset. ``cxr`` has no BigQuery copy: it is always read locally."""


def read_sql(path: str | Path) -> str:
    return Path(path).read_text()


def parse_bigquery(sql: str) -> exp.Expression:
    """Parse one BigQuery statement, failing loudly instead of guessing on anything unparseable."""
    return sqlglot.parse_one(sql, read="bigquery", error_level=ErrorLevel.RAISE)


def referenced_datasets(sql: str) -> set[str]:
    """Short names (``hosp``, ``icu``, …) of the canonical datasets a statement reads."""
    by_dataset = {v: k for k, v in CANONICAL_DATASETS.items()}
    found = set()
    for table in parse_bigquery(sql).find_all(exp.Table):
        if table.catalog == CANONICAL_PROJECT and table.db in by_dataset:
            found.add(by_dataset[table.db])
    return found


def referenced_tables(sql: str) -> list[tuple[str, str]]:
    """(short dataset name, table) of every canonical table a statement reads, sorted."""
    by_dataset = {v: k for k, v in CANONICAL_DATASETS.items()}
    return sorted({(by_dataset[t.db], t.name) for t in parse_bigquery(sql).find_all(exp.Table)
                   if t.catalog == CANONICAL_PROJECT and t.db in by_dataset})


def retarget_datasets(sql: str, dataset_map: dict[str, str]) -> str:
    """Rewrite canonical ``physionet-data.<dataset>`` references to ``project.dataset`` targets.

    ``dataset_map`` maps a short name (``hosp``) to ``"project.dataset"``; unmapped datasets keep
    their canonical name. Returns BigQuery SQL.
    """
    tree = parse_bigquery(sql)
    by_dataset = {v: k for k, v in CANONICAL_DATASETS.items()}
    for table in tree.find_all(exp.Table):
        short = by_dataset.get(table.db) if table.catalog == CANONICAL_PROJECT else None
        if short in dataset_map:
            project, dataset = dataset_map[short].split(".", 1)
            table.set("catalog", exp.to_identifier(project))
            table.set("db", exp.to_identifier(dataset))
    return tree.sql(dialect="bigquery", unsupported_level=ErrorLevel.RAISE)


def to_duckdb(sql: str) -> str:
    """Translate BigQuery SQL to DuckDB; canonical tables become ``<dataset>.<table>`` views.

    Raises ``sqlglot.errors.UnsupportedError`` on constructs DuckDB cannot express.
    """
    tree = parse_bigquery(sql)
    for table in tree.find_all(exp.Table):
        if table.catalog == CANONICAL_PROJECT:
            table.set("catalog", None)
    return tree.sql(dialect="duckdb", unsupported_level=ErrorLevel.RAISE)


def with_sampled_cohort(sql: str, cohort_sql: str) -> str:
    """Prepend ``cohort`` as the first CTE of ``sql``: the cohort query restricted to ``@subject_ids``.

    Extraction queries then run as one statement on any engine, so on BigQuery only aggregated
    rows leave the server and no scratch table is needed.
    """
    tree = parse_bigquery(sql)
    sampled = parse_bigquery(
        f"SELECT index_cohort.* FROM ({cohort_sql.strip().rstrip(';')}) AS index_cohort "
        "JOIN UNNEST(@subject_ids) AS sampled_subject_id "
        "ON sampled_subject_id = index_cohort.subject_id"
    )
    cohort_cte = exp.CTE(this=sampled, alias=exp.TableAlias(this=exp.to_identifier("cohort")))
    with_key = "with_" if "with_" in tree.arg_types else "with"  # renamed in sqlglot 26
    existing = tree.args.get(with_key)
    ctes = [cohort_cte] + (list(existing.expressions) if existing else [])
    tree.set(with_key, exp.With(expressions=ctes))
    return tree.sql(dialect="bigquery", unsupported_level=ErrorLevel.RAISE)
