import math

import pytest
import torch
import torch.nn.functional as F

from mmnar.models.losses import (
    delta_autoencoder_bce,
    masked_bce_with_logits,
    masked_info_nce,
    masked_reconstruction_mse,
    total_loss,
)


def _bce(logit: float, y: float) -> float:
    p = 1 / (1 + math.exp(-logit))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def test_masked_bce_ignores_nan_labels_per_task():
    logits = torch.tensor([[0.5, -1.0], [2.0, 0.3], [-0.7, 1.5]])
    labels = torch.tensor([[1.0, float("nan")], [0.0, 1.0], [float("nan"), float("nan")]])
    loss = masked_bce_with_logits(logits, labels)
    expected_task0 = (_bce(0.5, 1) + _bce(2.0, 0)) / 2
    expected_task1 = _bce(0.3, 1)
    assert loss.tolist() == pytest.approx([expected_task0, expected_task1], rel=1e-6)


def test_masked_bce_gradient_is_finite_and_zero_for_undefined_labels():
    logits = torch.zeros(2, 1, requires_grad=True)
    masked_bce_with_logits(logits, torch.tensor([[1.0], [float("nan")]])).sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[1, 0] == 0


def test_task_without_any_label_gives_zero_not_nan():
    loss = masked_bce_with_logits(torch.zeros(2, 1), torch.full((2, 1), float("nan")))
    assert loss.item() == 0.0


def test_focal_loss_matches_formula_and_reduces_to_bce_at_gamma_zero():
    logits, labels = torch.tensor([[1.2], [-0.4]]), torch.tensor([[1.0], [1.0]])
    p = torch.sigmoid(logits).squeeze(1)
    expected = (-(1 - p) ** 2 * torch.log(p)).mean()
    assert masked_bce_with_logits(logits, labels, focal_gamma=2.0).item() == pytest.approx(expected.item(), rel=1e-5)
    assert masked_bce_with_logits(logits, labels, focal_gamma=0.0).item() == pytest.approx(
        (_bce(1.2, 1) + _bce(-0.4, 1)) / 2, rel=1e-6
    )


def test_delta_autoencoder_bce_is_mean_elementwise_bce():
    logits = torch.tensor([[2.0, -1.0], [0.0, 3.0]])
    delta = torch.tensor([[1, 0], [0, 1]], dtype=torch.uint8)
    expected = (_bce(2.0, 1) + _bce(-1.0, 0) + _bce(0.0, 0) + _bce(3.0, 1)) / 4
    assert delta_autoencoder_bce(logits, delta).item() == pytest.approx(expected, rel=1e-6)


def test_reconstruction_mse_averages_squared_norm_over_selected_rows_only():
    target = torch.tensor([[1.0, 2.0], [0.0, 0.0], [3.0, 3.0]])
    reconstruction = torch.tensor([[0.0, 0.0], [10.0, 10.0], [3.0, 2.0]])
    mask = torch.tensor([True, False, True])
    assert masked_reconstruction_mse(target, reconstruction, mask).item() == pytest.approx((5.0 + 1.0) / 2)
    assert masked_reconstruction_mse(target, reconstruction, torch.zeros(3, dtype=torch.bool)).item() == 0.0


def test_info_nce_equals_cross_entropy_of_similarity_matrix_on_selected_rows():
    torch.manual_seed(0)
    anchors, candidates = torch.randn(5, 3), torch.randn(5, 3)
    mask = torch.tensor([True, False, True, True, False])
    tau = 0.5
    a, c = anchors[mask], candidates[mask]
    similarity = torch.tensor(
        [[F.cosine_similarity(a[i], c[j], dim=0).item() / tau for j in range(3)] for i in range(3)]
    )
    expected = F.cross_entropy(similarity, torch.arange(3))
    assert masked_info_nce(anchors, candidates, mask, tau).item() == pytest.approx(expected.item(), rel=1e-5)


def test_info_nce_batched_over_modalities_matches_single_calls():
    torch.manual_seed(1)
    anchors, candidates = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    mask = torch.rand(2, 6) > 0.3
    mask[:, :2] = True
    batched = masked_info_nce(anchors, candidates, mask, 0.1)
    single = [masked_info_nce(anchors[k], candidates[k], mask[k], 0.1).item() for k in range(2)]
    assert batched.tolist() == pytest.approx(single, rel=1e-5)


def test_info_nce_is_zero_with_fewer_than_two_rows_and_gradients_stay_finite():
    anchors = torch.randn(4, 3, requires_grad=True)
    loss = masked_info_nce(anchors, torch.randn(4, 3), torch.tensor([False, True, False, False]), 0.1)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(anchors.grad).all()


def test_total_loss_weights_each_term():
    aux = {"miss": torch.tensor(1.0), "rec_S": torch.tensor(2.0), "rec_I": torch.tensor(3.0), "cont_S": torch.tensor(4.0)}
    pred = torch.tensor([1.0, 2.0, 3.0])
    total = total_loss(aux, pred, lambda_miss=0.5, lambda_rec=0.1, lambda_cont=0.01, lambda_pred=[1.0, 2.0, 0.0])
    assert total.item() == pytest.approx(0.5 + 0.1 * 5 + 0.01 * 4 + 1 + 4)
    with pytest.raises(KeyError):
        total_loss({"bogus": torch.tensor(1.0)}, pred, 1, 1, 1, [1, 1, 1])
