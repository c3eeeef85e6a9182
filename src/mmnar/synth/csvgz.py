"""Byte-reproducible `.csv.gz` output in PhysioNet's text conventions.

gzip headers carry a timestamp and a file name by default; both are pinned so that the same seed
gives the same bytes, which keeps Snakemake's checksums and the determinism test meaningful.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from mmnar.io import atomic_path


def format_datetime(times: np.ndarray) -> np.ndarray:
    """`datetime64` → MIMIC's `YYYY-MM-DD HH:MM:SS` strings; NaT becomes an empty field."""
    times = np.asarray(times, dtype="datetime64[s]")
    text = np.char.replace(np.datetime_as_string(times, unit="s"), "T", " ")
    return np.where(np.isnat(times), "", text).astype(object)


def format_date(times: np.ndarray) -> np.ndarray:
    """`datetime64` → `YYYY-MM-DD` (as in `patients.dod`); NaT becomes an empty field."""
    times = np.asarray(times, dtype="datetime64[s]")
    text = np.datetime_as_string(times.astype("datetime64[D]"), unit="D")
    return np.where(np.isnat(times), "", text).astype(object)


def write_csv_gz(frame: pd.DataFrame, path: Path, columns: list[str]) -> None:
    """Write exactly `columns`, in that order, as gzip with mtime 0 and no embedded name."""
    text = frame[columns].to_csv(index=False, lineterminator="\n")
    with atomic_path(path) as tmp:
        tmp.write_bytes(gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0))
