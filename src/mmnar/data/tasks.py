"""Task registry: every prediction target, declared once.

A task names its type (which fixes the number of model outputs, the loss and the metrics), where its
label comes from, the rule that leaves its label undefined (NaN, never a guessed 0), the prediction
window it needs, and its display name. A run predicts the tasks of ``config["tasks"]`` (default: the
paper's three); ``labels.parquet`` holds exactly their label columns, so every stage after it reads
the run's tasks from that file (:func:`tasks_in`) rather than from a second list.

Column names: a binary task's label is the column ``<task>`` (0/1) and its prediction ``p_<task>``; a
multi-label task has a 0/1 column ``<task>.<label>`` and a prediction ``p_<task>.<label>`` per label; a
multi-class task's label column ``<task>`` holds the class index and its prediction is one
probability column ``p_<task>.<class>`` per class.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from mmnar.data.phenotypes import PHENOTYPES
from mmnar.metrics import (BINARY_METRICS, MULTICLASS_METRICS, MULTILABEL_METRICS, multiclass_metrics,
                           multilabel_metrics, task_metrics)

BINARY = "binary"
MULTILABEL = "multilabel"
MULTICLASS = "multiclass"
METRICS_OF_TYPE = {BINARY: BINARY_METRICS, MULTILABEL: MULTILABEL_METRICS, MULTICLASS: MULTICLASS_METRICS}
"""What each task type is scored by, in table order."""


COHORT_SQL = "cohort.sql"
PHENOTYPE_STAGE = "extract_phenotype_labels"


@dataclass(frozen=True)
class Task:
    name: str
    label: str
    type: str
    source: str
    undefined_when: str
    classes: tuple[str, ...] = ()
    """Labels of a multi-label task, classes of a multi-class task (in logit order); empty for binary."""
    window: str | None = None
    """The ``cohort.window`` the task needs (None: any): its label or its inputs are only sound there."""
    default: bool = True
    """Whether the default run predicts it."""
    labelled_by: str = COHORT_SQL
    """Where its labels are computed: the cohort query, or a stage of their own."""

    @property
    def n_outputs(self) -> int:
        """Logits a model emits for this task."""
        return 1 if self.type == BINARY else len(self.classes)

    @property
    def label_columns(self) -> tuple[str, ...]:
        """Its columns of ``labels.parquet``."""
        return tuple(f"{self.name}.{c}" for c in self.classes) if self.type == MULTILABEL else (self.name,)

    @property
    def prediction_columns(self) -> tuple[str, ...]:
        """Its columns of a prediction file, one per logit."""
        return (f"p_{self.name}",) if self.type == BINARY else tuple(f"p_{self.name}.{c}" for c in self.classes)


LOS_CLASSES = ("2-3d", "3-4d", "4-5d", "5-6d", "6-7d", "7-14d", "14d+")
"""``los_remaining``'s classes: days from ICU admission to hospital discharge, for patients still in
hospital after the first 48 h (CareBench's bins; the first is 0-1 day of stay left)."""

_TASKS = (
    Task("readmit_30d", "30-day readmission", BINARY,
         "a new admission of the patient within 30 days of the index discharge (cohort.sql)",
         "the patient died during the index admission"),
    Task("icu_90d", "ICU admission within 90 days of discharge", BINARY,
         "an ICU stay starting within 90 days after the index discharge (cohort.sql)",
         "the patient died during the index admission"),
    Task("mortality_inhosp", "In-hospital mortality", BINARY,
         "hospital_expire_flag of the index admission (cohort.sql)",
         "never"),
    Task("phenotype_25", "25 acute and chronic phenotypes", MULTILABEL,
         "the index admission's ICD-9/ICD-10 diagnoses in the 25 HCUP CCS categories of the MIMIC-III "
         "benchmark (mmnar/data/phenotype_25.csv)",
         "the index admission has no diagnosis codes", classes=PHENOTYPES, window="early", default=False,
         labelled_by=PHENOTYPE_STAGE),
    Task("los_remaining", "Remaining length of stay (7 classes)", MULTICLASS,
         "days from ICU admission to hospital discharge, binned 2-3, 3-4, 4-5, 5-6, 6-7, 7-14, 14+ (cohort.sql)",
         "the patient left hospital or died within the first 48 h of the ICU stay",
         classes=LOS_CLASSES, window="early", default=False),
)

TASKS: dict[str, Task] = {task.name: task for task in _TASKS}
"""Registered tasks by name, in output order."""

DEFAULT_TASKS: tuple[str, ...] = tuple(task.name for task in _TASKS if task.default)
"""The tasks a run predicts unless ``config["tasks"]`` says otherwise: the paper's three."""

SQL_LABELS: tuple[str, ...] = tuple(c for task in _TASKS if task.labelled_by == COHORT_SQL for c in task.label_columns)
"""The label columns ``cohort.sql`` computes (every run's cohort holds them all)."""


def run_tasks(names: Iterable[str]) -> tuple[Task, ...]:
    """The named tasks in registry order (the order of every output)."""
    names = set(names)
    unknown = names - set(TASKS)
    if unknown:
        raise KeyError(f"unknown tasks {sorted(unknown)}; registered: {list(TASKS)}")
    return tuple(task for task in _TASKS if task.name in names)


def tasks_in(columns: Iterable[str]) -> tuple[Task, ...]:
    """The tasks whose label columns ``columns`` (of ``labels.parquet``) hold, in registry order."""
    present = set(columns)
    return tuple(task for task in _TASKS if set(task.label_columns) <= present)


def binary(tasks: Sequence[Task]) -> tuple[Task, ...]:
    """The binary tasks among ``tasks``: the ones the rectifier, calibration, fairness and the paired
    comparisons are defined for."""
    return tuple(task for task in tasks if task.type == BINARY)


def binary_task_names(columns: Iterable[str]) -> list[str]:
    """The binary tasks whose labels ``columns`` hold (the rectifier, calibration, fairness, paired
    comparisons and modality-scenario tables score these)."""
    return [task.name for task in binary(tasks_in(columns))]


def task_blocks(tasks: Sequence[Task], labels, predictions):
    """``(task, label block, prediction block)`` per task, from the run's label matrix (label columns in
    task order) and prediction matrix (one column per logit, in task order)."""
    col = out = 0
    for task in tasks:
        width = len(task.label_columns)
        yield task, labels[:, col:col + width], predictions[:, out:out + task.n_outputs]
        col += width
        out += task.n_outputs


def n_outputs(tasks: Sequence[Task]) -> int:
    """Total logits over ``tasks``."""
    return sum(task.n_outputs for task in tasks)


DEFAULT_RUN: tuple[Task, ...] = run_tasks(DEFAULT_TASKS)
"""The default run's tasks, for code that is handed no task list (unit tests, the paper's setting)."""


def metrics_of(task: Task, y, p) -> dict[str, float]:
    """The metrics of ``task``'s type on its label block ``y`` and prediction block ``p``."""
    if task.type == BINARY:
        return task_metrics(np.ravel(y), np.ravel(p))
    if task.type == MULTICLASS:
        return multiclass_metrics(np.ravel(y), p)
    return multilabel_metrics(y, p)


def task_auc(task: Task, y, p) -> float:
    """One discrimination number per task, for early stopping and tuning: AUC, or its macro average."""
    metrics = metrics_of(task, y, p)
    return metrics["auc"] if task.type == BINARY else metrics["macro_auc"]
