import numpy as np
import pytest
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from mmnar.metrics import expected_calibration_error, task_metrics


def test_task_metrics_match_sklearn_on_defined_labels():
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(float)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)
    y_with_nan = y.copy()
    y_with_nan[:20] = np.nan
    metrics = task_metrics(y_with_nan, p)
    assert metrics["auc"] == pytest.approx(roc_auc_score(y[20:], p[20:]))
    assert metrics["auprc"] == pytest.approx(average_precision_score(y[20:], p[20:]))
    assert metrics["brier"] == pytest.approx(brier_score_loss(y[20:], p[20:]))


def test_single_class_gives_nan_ranking_metrics():
    metrics = task_metrics(np.array([1.0, 1.0, np.nan]), np.array([0.2, 0.9, 0.5]))
    assert np.isnan(metrics["auc"]) and np.isnan(metrics["auprc"])
    assert metrics["brier"] == pytest.approx((0.64 + 0.01) / 2)


def test_expected_calibration_error_by_hand():
    y = np.array([0, 1, 1, 1, np.nan])
    p = np.array([0.05, 0.15, 0.95, 1.0, 0.5])
    # bins: [0,0.1): y=0 p=0.05 -> gap 0.05*1; [0.1,0.2): y=1 p=0.15 -> 0.85; [0.9,1]: mean y 1, mean p 0.975 -> 0.025*2
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx((0.05 + 0.85 + 0.05) / 4)
    assert expected_calibration_error(np.array([1.0, 0.0]), np.array([0.5, 0.5]), n_bins=2) == pytest.approx(0.0)
