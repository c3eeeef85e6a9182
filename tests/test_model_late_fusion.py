"""Late fusion: the fused probability is the mean of the observed modalities' predicted probabilities."""

import pytest
import torch

from mmnar.models.losses import masked_bce_with_logits
from mmnar.models.base import InputSpec, ModelInputs
from mmnar.models.registry import get
from mmnar.models.spec import VECTOR

SPEC = get("late_fusion")

MODALITIES = ("S", "I", "T", "R")
DIMS = {"S": 9, "I": 7, "T": 6, "R": 5}
N_OUTPUTS = 3
DELTA = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 0, 1],
                      [1, 1, 0, 1], [0, 0, 0, 0]], dtype=torch.float32)
INPUT_SPEC = InputSpec(MODALITIES, DIMS, {}, N_OUTPUTS)


def make_batch(seed=0, delta=DELTA):
    generator = torch.Generator().manual_seed(seed)
    return ModelInputs(delta, {m: torch.randn(len(delta), DIMS[m], generator=generator) * delta[:, [k]]
                               for k, m in enumerate(MODALITIES)})


def make_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return SPEC.build(INPUT_SPEC, SPEC.resolve({"hidden_dim": 8, **overrides})).eval()


def test_spec_resolves_and_has_a_schema():
    assert set(SPEC.schema()["properties"]) == {"hidden_dim", "dropout", "lambda_unimodal"}
    with pytest.raises(KeyError):
        SPEC.resolve({"n_heads": 2})
    assert SPEC.reads(MODALITIES, SPEC.defaults()) == {m: VECTOR for m in MODALITIES}


def test_shapes():
    output = make_model()(make_batch())
    assert output.logits.shape == (len(DELTA), N_OUTPUTS) and torch.isfinite(output.logits).all()
    assert output.extras["modality_logits"].shape == (len(MODALITIES), len(DELTA), N_OUTPUTS)
    assert make_model()(make_batch(), with_aux=False).extras == {}


def test_fused_probability_is_the_mean_of_observed_modality_probabilities():
    model = make_model()
    inputs = make_batch()
    with torch.no_grad():
        fused = torch.sigmoid(model(inputs).logits)
        probabilities = torch.sigmoid(model.modality_logits(inputs))  # (M, B, n_outputs)
    for i in range(len(DELTA)):
        observed = DELTA[i].bool()
        if observed.any():
            assert torch.allclose(fused[i], probabilities[observed, i].mean(dim=0), atol=1e-6), i


def test_extreme_logits_stay_finite_and_exact():
    model = make_model()
    observed = torch.tensor([[True, True, False, False]])
    logits = torch.tensor([[[40.0, -40.0, 0.0]], [[-40.0, -40.0, 0.0]], [[0.0, 0.0, 0.0]], [[9.0, 9.0, 9.0]]])
    fused = model.fuse(logits, observed)
    # mean(p) = 1/2 for (40, -40); mean of two e^-40 probabilities is e^-40 (logit -40).
    assert torch.allclose(fused, torch.tensor([[0.0, -40.0, 0.0]]), atol=1e-4)


def test_patients_without_any_modality_get_the_learned_constant():
    model = make_model()
    with torch.no_grad():
        model.no_modality_logit.copy_(torch.tensor([-2.0, 0.5, 1.0]))
        logits = model(make_batch()).logits
    empty = DELTA.sum(dim=1) == 0
    assert torch.equal(logits[empty], model.no_modality_logit.expand(int(empty.sum()), -1))
    assert not torch.allclose(logits[~empty], model.no_modality_logit)


def test_missing_modality_content_does_not_change_the_output():
    model = make_model()
    inputs, noisy = make_batch(), make_batch(seed=1, delta=torch.ones_like(DELTA))
    missing = DELTA == 0
    changed = ModelInputs(DELTA, {m: torch.where(missing[:, [k]], noisy.vectors[m] + 3.0, inputs.vectors[m])
                                  for k, m in enumerate(MODALITIES)})
    with torch.no_grad():
        assert torch.equal(model(inputs).logits, model(changed).logits)
        assert not torch.allclose(model(inputs).logits, model(ModelInputs(DELTA, noisy.vectors)).logits)


def test_unimodal_terms_use_only_patients_with_the_modality():
    model = make_model()
    output = model(make_batch())
    labels = torch.randint(0, 2, (len(DELTA), N_OUTPUTS), generator=torch.Generator().manual_seed(0)).float()
    terms = model.supervised_terms(output, labels, masked_bce_with_logits)
    assert set(terms) == {f"unimodal_{m}" for m in MODALITIES}
    flipped = torch.where(DELTA[:, [1]] == 0, 1 - labels, labels)  # change labels of patients without I
    changed = model.supervised_terms(output, flipped, masked_bce_with_logits)
    assert torch.equal(terms["unimodal_I"], changed["unimodal_I"])
    assert not torch.equal(terms["unimodal_S"], changed["unimodal_S"])
    expected_i = masked_bce_with_logits(output.extras["modality_logits"][1][DELTA[:, 1] > 0], labels[DELTA[:, 1] > 0]).sum()
    assert torch.allclose(terms["unimodal_I"], expected_i)


def test_patients_without_any_modality_train_the_learned_constant():
    model = SPEC.build(INPUT_SPEC, SPEC.resolve({"hidden_dim": 8, "dropout": 0.0}))
    labels = torch.randint(0, 2, (len(DELTA), N_OUTPUTS), generator=torch.Generator().manual_seed(0)).float()
    masked_bce_with_logits(model(make_batch()).logits, labels).sum().backward()
    assert model.no_modality_logit.grad is not None and model.no_modality_logit.grad.abs().sum() > 0
