"""Damaged and inconsistent inputs: skipped, counted and reported by id, never by content.

Every stage that reads raw items (rows of the MIMIC tables, notes, images) writes one report of
what it had to leave out and why, plus how many items of that kind it read. The reports are
merged into ``results/data_quality.csv`` (one row per item) and a summary per kind; the run stops
before training only when the share of bad items of one kind exceeds
``quality.max_bad_fraction``. Reports hold MIMIC ids, file names and reasons: never text.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from mmnar.io import atomic_path

COHORT = "cohort"
"""Kind of a bad index admission; every other kind is the modality a bad item takes away from."""

ITEM_COLUMNS = ["kind", "stage", "item_kind", "source_file", "item_id", "subject_id", "reason", "counted"]
SUMMARY_COLUMNS = ["kind", "n_items", "n_bad", "bad_fraction", "max_bad_fraction", "exceeded"]


class DataQualityError(RuntimeError):
    """Too many bad items of one kind: the data are damaged beyond what skipping can absorb."""


@dataclass
class QualityReport:
    """What one stage left out. ``n_items``: items of ``kind`` it read (good and bad, cohort only).

    ``counted`` marks items of cohort patients, which count towards the limit; damaged rows of
    patients outside the cohort are listed too, but cost this run nothing.
    """

    stage: str
    kind: str
    n_items: int = 0
    items: list[dict] = field(default_factory=list)

    def add(self, item_kind: str, source_file: str, item_id: str, subject_id: int | None,
            reason: str, counted: bool = True) -> None:
        self.items.append({"kind": self.kind, "stage": self.stage, "item_kind": item_kind,
                           "source_file": str(source_file), "item_id": str(item_id),
                           "subject_id": None if subject_id is None else int(subject_id),
                           "reason": reason, "counted": bool(counted)})

    @property
    def n_bad(self) -> int:
        return sum(item["counted"] for item in self.items)

    def write(self, path: str | Path) -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: str | Path) -> QualityReport:
        return cls(**json.loads(Path(path).read_text()))


def add_rejected_rows(report: QualityReport, rejected_rows, tables_of_kind: set[str],
                      cohort_subjects: set[int]) -> int:
    """Copy a source's skipped rows of ``tables_of_kind`` into ``report``; return how many count."""
    counted = 0
    for row in rejected_rows:
        if row.table not in tables_of_kind:
            continue
        in_cohort = row.subject_id in cohort_subjects
        report.add(f"{row.table} row", row.source_file, row.item_id, row.subject_id,
                   f"unreadable at line {row.line}: {row.reason}", counted=in_cohort)
        counted += in_cohort
    return counted


def summarise(reports: list[QualityReport], max_bad_fraction: float,
              modalities: tuple[str, ...] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per reported item, one row per kind with counts, share and whether it is over the limit).

    Kinds: the cohort, then ``modalities`` (a row even when nothing was reported), then any other kind reported.
    """
    items = pd.DataFrame([item for report in reports for item in report.items], columns=ITEM_COLUMNS)
    items["subject_id"] = items["subject_id"].astype("Int64")
    rows = []
    kinds = dict.fromkeys([COHORT, *modalities, *(report.kind for report in reports)])
    for kind in kinds:
        of_kind = [report for report in reports if report.kind == kind]
        n_items = sum(report.n_items for report in of_kind)
        n_bad = sum(report.n_bad for report in of_kind)
        fraction = n_bad / n_items if n_items else 0.0
        rows.append({"kind": kind, "n_items": n_items, "n_bad": n_bad, "bad_fraction": fraction,
                     "max_bad_fraction": max_bad_fraction, "exceeded": fraction > max_bad_fraction})
    return items.sort_values(["kind", "stage", "item_id"], kind="stable"), pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def write_data_quality(report_paths: list[str | Path], items_csv: str | Path, summary_csv: str | Path,
                       max_bad_fraction: float, modalities: tuple[str, ...] = ()) -> pd.DataFrame:
    items, summary = summarise([QualityReport.read(p) for p in report_paths], max_bad_fraction, modalities)
    with atomic_path(items_csv) as tmp:
        items.to_csv(tmp, index=False)
    with atomic_path(summary_csv) as tmp:
        summary.to_csv(tmp, index=False)
    return summary


def check_limits(summary_csv: str | Path, items_csv: str | Path) -> None:
    """Stop with one line naming the kind, the count and the report when a share is over the limit."""
    summary = pd.read_csv(summary_csv)
    for row in summary[summary["exceeded"]].itertuples():
        raise DataQualityError(
            f"data quality: {row.n_bad} of {row.n_items} {row.kind} items ({row.bad_fraction:.1%}) are "
            f"unreadable or inconsistent, over quality.max_bad_fraction = {row.max_bad_fraction}; "
            f"see {items_csv}")
