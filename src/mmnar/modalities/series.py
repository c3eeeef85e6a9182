"""Structured EHR (S) as an hourly time series: the ``sequence`` form of S, binned inside SQL.

``rules/sql/structured_series.sql`` returns one row per (patient, hourly bin, feature) holding the
mean and count of the finite values in the bin; here that becomes an ``.npz`` of

- ``subject_id`` ``(N,)`` int64: the patients with at least one finite measurement in the horizon
  (in id order);
- ``values`` ``(N, T, F)`` float32: the bin means, NaN where a bin holds no measurement;
- ``features`` ``(F,)`` str: the feature names in the order of the SQL's ``item_features`` list
  (every listed feature, measured or not);
- ``hours`` ``(T,)`` float64: each bin's start in hours from the anchor, ``0 … T-1`` for the
  ``early`` window (anchored at the ICU intime) and ``-T … -1`` for ``paper`` (anchored at the end of
  the window).

NaN stays NaN: imputation and scaling use training-split statistics (:mod:`mmnar.model_input.series`).
Patients without a row are unmeasured in the horizon; :func:`align_series` gives them all-NaN rows.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sqlglot import exp

from mmnar.data.extract import window_params
from mmnar.data.sql import parse_bigquery, read_sql, with_sampled_cohort
from mmnar.io import atomic_path

log = logging.getLogger(__name__)

SERIES_KEYS = ("subject_id", "values", "features", "hours")


def item_features(sql: str) -> list[tuple[str, int, str]]:
    """``(source, itemid, feature)`` triples of a statement's ``item_features`` CTE, in listed order."""
    tree = parse_bigquery(sql)
    cte = next((c for c in tree.find_all(exp.CTE) if c.alias_or_name == "item_features"), None)
    if cte is None:
        raise ValueError("the statement has no item_features CTE")

    def rows(node: exp.Expression) -> list[tuple]:
        if isinstance(node, exp.Union):
            return rows(node.left) + rows(node.right)
        if isinstance(node, exp.Subquery):
            return rows(node.this)
        if not isinstance(node, exp.Select) or len(node.expressions) != 3:
            raise ValueError(f"item_features must be a UNION ALL of 3-column SELECTs, got: {node.sql()}")
        literals = [e.unalias() for e in node.expressions]
        if not all(isinstance(e, exp.Literal) for e in literals):
            raise ValueError(f"item_features rows must be literals, got: {node.sql()}")
        source, itemid, feature = (e.to_py() for e in literals)
        return [(str(source), int(itemid), str(feature))]

    return rows(cte.this)


def feature_names(sql: str) -> list[str]:
    """The distinct feature names of ``item_features``, in order of first listing."""
    return list(dict.fromkeys(feature for _, _, feature in item_features(sql)))


def bin_hours(window: str, horizon_hours: int) -> np.ndarray:
    """Bin starts in hours from the anchor (see the header of ``structured_series.sql``)."""
    steps = np.arange(horizon_hours, dtype=np.float64)
    return steps if window == "early" else steps - horizon_hours


def series_arrays(long: pd.DataFrame, features: list[str], horizon_hours: int) -> tuple[np.ndarray, np.ndarray]:
    """``(subject_id, values)`` from the SQL's long rows; bins without a finite value stay NaN."""
    long = long[long["n"] > 0]
    unknown = sorted(set(long["feature"]) - set(features))
    if unknown:
        raise ValueError(f"series rows for features not in item_features: {unknown}")
    bins = long["bin"].to_numpy(dtype=np.int64)
    if len(bins) and (bins.min() < 0 or bins.max() >= horizon_hours):
        raise ValueError(f"series bins outside 0..{horizon_hours - 1}: {bins.min()}..{bins.max()}")
    subject_ids, rows = np.unique(long["subject_id"].to_numpy(dtype=np.int64), return_inverse=True)
    columns = pd.Index(features).get_indexer(long["feature"])
    values = np.full((len(subject_ids), horizon_hours, len(features)), np.nan, dtype=np.float32)
    values[rows, bins, columns] = long["mean"].to_numpy(dtype=np.float64)
    return subject_ids, values


def write_series(out_npz: str | os.PathLike, subject_ids: np.ndarray, values: np.ndarray,
                 features: list[str], hours: np.ndarray) -> None:
    with atomic_path(out_npz) as tmp:
        np.savez_compressed(tmp, subject_id=np.asarray(subject_ids, dtype=np.int64),
                            values=np.asarray(values, dtype=np.float32),
                            features=np.asarray(features, dtype=str), hours=np.asarray(hours, dtype=np.float64))


def extract_structured_series(source, cohort_sql: Path, series_sql: Path, cohort_path: Path,
                              out_npz: Path, window: str, early_hours: int,
                              horizon_hours: int) -> dict[str, np.ndarray]:
    """Hourly vitals and labs over ``horizon_hours`` of each cohort patient's window, as an ``.npz``.

    Runs like :func:`mmnar.data.extract.extract_structured`: one statement on the source engine over
    the sampled cohort. Unreadable rows and non-finite values are the same ones ``extract_structured``
    reports (same tables, same window), so here they are only logged. Returns what it wrote.
    """
    if isinstance(horizon_hours, bool) or int(horizon_hours) != horizon_hours or horizon_hours < 1:
        raise ValueError(f"horizon_hours must be a positive whole number of hours, got {horizon_hours!r}")
    horizon_hours = int(horizon_hours)
    cohort = pd.read_parquet(cohort_path)
    series_text = read_sql(series_sql)
    sql = with_sampled_cohort(series_text, read_sql(cohort_sql))
    params = window_params(window, early_hours) | {"horizon_hours": horizon_hours,
                                                   "subject_ids": cohort["subject_id"].tolist()}
    long = source.query(sql, params)
    n_nonfinite = int(long["n_nonfinite"].sum())
    if n_nonfinite:
        log.warning("structured series: %d non-finite values (inf or NaN) left out", n_nonfinite)
    features = feature_names(series_text)
    subject_ids, values = series_arrays(long, features, horizon_hours)
    hours = bin_hours(window, horizon_hours)
    log.info("structured series: %d of %d patients measured, %d hourly bins x %d features, %.1f%% of cells observed",
             len(subject_ids), len(cohort), horizon_hours, len(features),
             100.0 * float(np.isfinite(values).mean()) if values.size else 0.0)
    write_series(out_npz, subject_ids, values, features, hours)
    return {"subject_id": subject_ids, "values": values, "features": np.asarray(features, dtype=str), "hours": hours}


def load_series(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of an ``extract_structured_series`` output, shapes checked."""
    with np.load(path, allow_pickle=False) as data:
        missing = [key for key in SERIES_KEYS if key not in data.files]
        if missing:
            raise ValueError(f"{path}: not a structured series file (missing {missing})")
        series = {key: data[key] for key in SERIES_KEYS}
    n, t, f = series["values"].shape if series["values"].ndim == 3 else (None, None, None)
    if n is None or series["subject_id"].shape != (n,) or series["hours"].shape != (t,) \
            or series["features"].shape != (f,):
        raise ValueError(f"{path}: inconsistent shapes {({k: v.shape for k, v in series.items()})}")
    series["subject_id"] = series["subject_id"].astype(np.int64)
    series["values"] = series["values"].astype(np.float32)
    return series


def align_series(series: dict[str, np.ndarray], subject_ids) -> np.ndarray:
    """``(len(subject_ids), T, F)`` float32 in the given (cohort) order; all NaN for a patient the
    series does not hold."""
    row_of = pd.Series(np.arange(len(series["subject_id"])), index=series["subject_id"])
    rows = row_of.reindex(np.asarray(subject_ids)).to_numpy()
    held = ~np.isnan(rows)
    _, t, f = series["values"].shape
    aligned = np.full((len(rows), t, f), np.nan, dtype=np.float32)
    aligned[held] = series["values"][rows[held].astype(np.int64)]
    return aligned
