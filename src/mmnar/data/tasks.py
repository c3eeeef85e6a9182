"""Task registry: every prediction target, declared once.

A task names the cohort column its label comes from, its type (which fixes the number of model
outputs and the loss), the rule that leaves its label undefined (NaN, never a guessed 0) and its
display name. The cohort SQL computes the labels (docs/method.md, outcomes); everything downstream
(heads, losses, metrics, tables) iterates over this registry.
"""

from __future__ import annotations

from dataclasses import dataclass

BINARY = "binary"
MULTILABEL = "multilabel"
MULTICLASS = "multiclass"
TASK_TYPES = (BINARY, MULTILABEL, MULTICLASS)


@dataclass(frozen=True)
class Task:
    name: str
    label: str
    type: str
    source: str
    undefined_when: str
    n_classes: int = 1
    """Labels of a multilabel task, classes of a multiclass task; 1 for a binary task."""

    @property
    def n_outputs(self) -> int:
        """Logits a model emits for this task."""
        return 1 if self.type == BINARY else self.n_classes


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
)

TASKS: dict[str, Task] = {task.name: task for task in _TASKS}
"""Registered tasks by name, in output order."""

TASK_NAMES: tuple[str, ...] = tuple(TASKS)
"""Task names in output order: the label columns of ``labels.parquet`` and the model's logits."""


def n_outputs() -> int:
    """Total logits over all tasks."""
    return sum(task.n_outputs for task in TASKS.values())
