"""MedFuse: an LSTM over the observed modality tokens in a fixed order, missing ones skipped."""

import numpy as np
import pytest
import torch

from mmnar.models.losses import masked_bce_with_logits
from mmnar.models.base import InputSpec, ModelInputs, SeriesBatch, SeriesShape
from mmnar.models.registry import get
from mmnar.models.spec import SEQUENCE, VECTOR

SPEC = get("medfuse")

MODALITIES = ("S", "I", "T", "R")
N_STEPS, N_FEATURES, N_OUTPUTS = 6, 4, 3
# Patterns (columns S, I, T, R): complete, S only, S+T (I skipped), none, no S, one of each.
DELTA = torch.tensor([[1, 1, 1, 1], [1, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 0, 1],
                      [1, 1, 0, 1], [0, 1, 0, 0]], dtype=torch.float32)


def input_spec(modalities=MODALITIES):
    return InputSpec(modalities, {m: 5 + k for k, m in enumerate(modalities) if m != "S"},
                     {"S": SeriesShape(N_STEPS, N_FEATURES, np.zeros(N_FEATURES))}, N_OUTPUTS)


def make_batch(delta=DELTA, modalities=MODALITIES, seed=0):
    generator = torch.Generator().manual_seed(seed)
    spec = input_spec(modalities)
    n = delta.shape[0]
    vectors = {m: torch.randn(n, spec.vector_dims[m], generator=generator) * delta[:, [k]]
               for k, m in enumerate(modalities) if m != "S"}
    has_s = delta[:, [0]].unsqueeze(-1)
    shape = (n, N_STEPS, N_FEATURES)
    mask = (torch.rand(shape, generator=generator) < 0.5).float() * has_s
    series = SeriesBatch(torch.randn(shape, generator=generator) * has_s, mask, torch.rand(shape, generator=generator) * 3)
    return ModelInputs(delta, vectors, {"S": series})


def make_model(seed=0, **overrides):
    torch.manual_seed(seed)
    return SPEC.build(input_spec(), SPEC.resolve({"hidden_dim": 8, **overrides})).eval()


def test_spec_resolves_and_has_a_schema():
    assert SPEC.resolve()["n_layers"] == 2  # MedFuse's 2-layer EHR LSTM
    assert set(SPEC.schema()["properties"]) == {"hidden_dim", "n_layers", "dropout", "lambda_unimodal"}
    with pytest.raises(KeyError):
        SPEC.resolve({"hiden_dim": 8})
    assert SPEC.reads(MODALITIES + ("X",), SPEC.defaults()) == {"S": SEQUENCE, "I": VECTOR, "T": VECTOR, "R": VECTOR, "X": VECTOR}


def test_shapes_and_a_fifth_modality():
    output = make_model()(make_batch())
    assert output.logits.shape == (len(DELTA), N_OUTPUTS) and torch.isfinite(output.logits).all()
    assert output.aux_terms == {} and output.extras == {}
    five = MODALITIES + ("X",)
    delta = torch.cat([DELTA, torch.ones(len(DELTA), 1)], dim=1)
    model = SPEC.build(input_spec(five), SPEC.resolve({"hidden_dim": 8})).eval()
    assert model(make_batch(delta, five)).logits.shape == (len(DELTA), N_OUTPUTS)


def test_missing_modality_content_does_not_change_the_output():
    model = make_model()
    inputs = make_batch()
    missing = DELTA == 0
    noisy = make_batch(seed=1)
    vectors = {m: torch.where(missing[:, [k]], noisy.vectors[m] + 3.0, inputs.vectors[m])
               for k, m in enumerate(MODALITIES) if m != "S"}
    no_s = missing[:, 0].view(-1, 1, 1)
    s, s_noisy = inputs.series["S"], noisy.series["S"]
    series = SeriesBatch(torch.where(no_s, s_noisy.values + 3.0, s.values), torch.where(no_s, 1.0, s.mask),
                         torch.where(no_s, s_noisy.delta_t, s.delta_t))
    changed = ModelInputs(DELTA, vectors, {"S": series})
    with torch.no_grad():
        assert torch.equal(model(inputs).logits, model(changed).logits)
        # The same change on observed modalities does move the output (the check above can fail).
        assert not torch.allclose(model(inputs).logits, model(ModelInputs(DELTA, noisy.vectors, noisy.series)).logits)


def run_fusion_lstm(model, sequence):
    """The fusion LSTM and classifier on one patient's ``(L, d)`` token sequence, unpacked."""
    _, (hidden, _) = model.fusion(sequence.unsqueeze(0))
    return model.classifier(hidden[-1, 0])


def test_each_patient_is_the_fusion_lstm_over_its_observed_tokens_in_order():
    model = make_model()
    inputs = make_batch()
    with torch.no_grad():
        logits = model(inputs).logits
        tokens = model.tokens(inputs)  # fusion order S, I, T, R equals the registry order here
        for i in range(len(DELTA)):
            observed = DELTA[i].bool()
            if observed.any():
                expected = run_fusion_lstm(model, tokens[i, observed])
            else:
                expected = model.classifier.bias  # a length-0 sequence ends in the zero initial state
            assert torch.allclose(logits[i], expected, atol=1e-6), i


def test_s_only_patient_is_a_length_one_sequence():
    model = make_model()
    inputs = make_batch()
    s_only = (DELTA == torch.tensor([1.0, 0, 0, 0])).all(dim=1)
    with torch.no_grad():
        token = model.tokens(inputs)[s_only][:, :1]  # (n, 1, d): the S token alone
        _, (hidden, _) = model.fusion(token)
        assert torch.allclose(model(inputs).logits[s_only], model.classifier(hidden[-1]), atol=1e-6)
        # Feeding zero tokens for the missing modalities instead is different: they are truly skipped.
        padded = torch.cat([token, torch.zeros(token.shape[0], 3, token.shape[2])], dim=1)
        _, (hidden_padded, _) = model.fusion(padded)
        assert not torch.allclose(model.classifier(hidden_padded[-1]), model.classifier(hidden[-1]), atol=1e-4)


def test_token_order_matters():
    model = make_model()
    tokens = torch.randn(5, 4, 8, generator=torch.Generator().manual_seed(3))
    observed = torch.ones(5, 4, dtype=torch.bool)
    with torch.no_grad():
        fused = model.fuse(tokens, observed)
        reversed_fused = model.fuse(tokens.flip(1), observed)
        assert not torch.allclose(fused, reversed_fused, atol=1e-4)
        # The set of tokens is the same, so an order-invariant pooling would agree.
        assert torch.allclose(tokens.sum(1), tokens.flip(1).sum(1))


def test_unimodal_terms_use_only_patients_with_the_modality():
    model = make_model(lambda_unimodal=0.5)
    inputs = make_batch()
    labels = torch.randint(0, 2, (len(DELTA), N_OUTPUTS), generator=torch.Generator().manual_seed(0)).float()
    output = model(inputs)
    terms = model.supervised_terms(output, labels, masked_bce_with_logits)
    assert set(terms) == {f"unimodal_{m}" for m in MODALITIES}
    flipped = torch.where(DELTA[:, [1]] == 0, 1 - labels, labels)  # change labels of patients without I
    changed = model.supervised_terms(output, flipped, masked_bce_with_logits)
    assert torch.equal(terms["unimodal_I"], changed["unimodal_I"])
    assert not torch.equal(terms["unimodal_S"], changed["unimodal_S"])
    assert model.supervised_terms(model(inputs, with_aux=False), labels, masked_bce_with_logits) == {}
    assert make_model().supervised_terms(make_model()(inputs), labels, masked_bce_with_logits) == {}
