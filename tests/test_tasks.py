"""The task registry: label and prediction columns per type, the run's tasks, and each type's metrics and loss."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from mmnar.data.phenotypes import PHENOTYPES
from mmnar.data.tasks import (DEFAULT_TASKS, LOS_CLASSES, TASKS, binary_task_names, run_tasks, task_blocks,
                              tasks_in)
from mmnar.metrics import multiclass_metrics, multilabel_metrics
from mmnar.training.estimators import normalise_classes
from mmnar.training.trainer import prediction_loss, probabilities

ALL = run_tasks(TASKS)


def test_columns_follow_each_tasks_type():
    assert DEFAULT_TASKS == ("readmit_30d", "icu_90d", "mortality_inhosp")
    readmit, phenotypes, los = TASKS["readmit_30d"], TASKS["phenotype_25"], TASKS["los_remaining"]
    assert readmit.label_columns == ("readmit_30d",) and readmit.prediction_columns == ("p_readmit_30d",)
    assert phenotypes.n_outputs == len(phenotypes.label_columns) == 25
    assert phenotypes.label_columns[0] == f"phenotype_25.{PHENOTYPES[0]}"
    assert los.label_columns == ("los_remaining",) and los.n_outputs == 7 == len(LOS_CLASSES)
    assert los.prediction_columns[0] == "p_los_remaining.2-3d"


def test_the_runs_tasks_come_from_the_label_columns_in_registry_order():
    columns = ["subject_id", "los_remaining", "mortality_inhosp", *TASKS["phenotype_25"].label_columns, "pattern_id"]
    assert [t.name for t in tasks_in(columns)] == ["mortality_inhosp", "phenotype_25", "los_remaining"]
    assert binary_task_names(columns) == ["mortality_inhosp"]
    assert [t.name for t in tasks_in(columns[:-3])] == ["mortality_inhosp", "los_remaining"]  # phenotypes incomplete
    assert [t.name for t in run_tasks(["los_remaining", "readmit_30d"])] == ["readmit_30d", "los_remaining"]
    with pytest.raises(KeyError, match="unknown tasks"):
        run_tasks(["readmission"])


def test_task_blocks_split_labels_and_predictions_per_task():
    tasks = run_tasks(["icu_90d", "phenotype_25", "los_remaining"])
    labels = np.arange(3 * 27).reshape(3, 27)                 # 1 + 25 + 1 label columns
    predictions = np.arange(3 * 33).reshape(3, 33)            # 1 + 25 + 7 outputs
    blocks = list(task_blocks(tasks, labels, predictions))
    assert [(t.name, y.shape[1], p.shape[1]) for t, y, p in blocks] == [
        ("icu_90d", 1, 1), ("phenotype_25", 25, 25), ("los_remaining", 1, 7)]
    assert blocks[2][1][0, 0] == 26 and blocks[2][2][0, 0] == 26


def test_multiclass_metrics_on_a_hand_computed_case():
    # true classes 0, 1, 2, 2; called (argmax) 0, 2, 2, 1
    y = np.array([0, 1, 2, 2, np.nan])
    p = np.array([[0.8, 0.1, 0.1], [0.1, 0.2, 0.7], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [1, 0, 0]])
    metrics = multiclass_metrics(y, p)
    assert metrics["accuracy"] == 0.5                         # the undefined fifth patient is left out
    # per-class F1: class 0 1.0; class 1: tp 0, fp 1, fn 1 -> 0; class 2: tp 1, fp 1, fn 1 -> 0.5
    assert metrics["macro_f1"] == pytest.approx((1.0 + 0.0 + 0.5) / 3)
    # quadratic weights w_ij = (i-j)^2 / 4: observed disagreement (0 + 1/4 + 0 + 1/4) / 4 = 1/8; expected
    # from the marginals (true 1,1,2; called 1,1,2): sum_ij w_ij r_i c_j / 16 = (2.25 + 0.75 + 2.5) / 16
    assert metrics["kappa"] == pytest.approx(1 - (1 / 8) / (5.5 / 16))
    assert metrics["kappa"] == pytest.approx(cohen_kappa_score([0, 1, 2, 2], [0, 2, 2, 1], weights="quadratic"))
    one_vs_rest = [roc_auc_score(np.array([0, 1, 2, 2]) == k, p[:4, k]) for k in range(3)]
    assert metrics["macro_auc"] == pytest.approx(np.mean(one_vs_rest))


def test_multilabel_metrics_average_the_labels_that_have_both_classes():
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, np.nan], [0, 0, 1.0]])
    p = np.array([[0.9, 0.2, 0.3], [0.1, 0.3, 0.6], [0.6, 0.1, 0.5], [0.7, 0.2, 0.9]])
    metrics = multilabel_metrics(y, p)
    # label 0: positives 0.9, 0.6 vs negatives 0.1, 0.7 -> 3 of 4 pairs ordered; labels 1 and 2 have one class
    assert metrics["macro_auc"] == 0.75


def test_each_type_gets_its_loss_and_probabilities():
    tasks = run_tasks(["mortality_inhosp", "los_remaining"])
    logits = torch.tensor([[0.3, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 2.0], [-0.2, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0]])
    labels = torch.tensor([[1.0, 6.0], [0.0, float("nan")]])
    loss = prediction_loss(logits, labels, tasks=tasks)
    assert loss[0] == pytest.approx(float(torch.nn.functional.binary_cross_entropy_with_logits(
        logits[:, 0], labels[:, 0])))
    assert loss[1] == pytest.approx(float(torch.nn.functional.cross_entropy(logits[:1, 1:], torch.tensor([6]))))
    p = probabilities(logits, tasks)
    assert p[:, 1:].sum(dim=1).allclose(torch.ones(2)) and p[0, 0] == pytest.approx(float(torch.sigmoid(logits[0, 0])))


def test_one_vs_rest_class_probabilities_are_normalised_per_multiclass_task():
    tasks = run_tasks(["readmit_30d", "los_remaining"])
    p = np.column_stack([np.full(2, 0.3), np.tile([0.2, 0.2, 0.1, 0.1, 0.1, 0.1, 0.2], (2, 1))])
    out = normalise_classes(p.copy(), tasks)
    assert out[:, 0].tolist() == [0.3, 0.3] and np.allclose(out[:, 1:].sum(axis=1), 1)
    assert out[0, 1] == pytest.approx(0.2)
