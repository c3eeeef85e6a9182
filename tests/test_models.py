"""Every registered torch model against the contract, and CRL-MMNAR's own mechanisms.

The scikit-learn references (estimator models) have no network; their contract is
tests/test_model_sklearn_references.py."""

import pytest
import torch

from mmnar.data.tasks import DEFAULT_RUN, n_outputs
from mmnar.models.spec import TORCH, VECTOR, all_vectors
from mmnar.models.components import pattern_index
from mmnar.models.registry import build_model, get, specs
from mmnar.training.trainer import prediction_loss, weighted_terms
from model_batches import DIMS, MODALITIES, batch, input_spec

SMALL = {"hidden_dim": 8, "n_heads": 2}
TORCH_MODELS = sorted(name for name, spec in specs().items() if spec.kind == TORCH)
"""The network contract below is the torch models'; estimator models have their own test file."""


def small_params(name):
    spec = get(name)
    return spec.resolve({k: v for k, v in SMALL.items() if k in spec.params})


def built(name, modalities=MODALITIES, dims=DIMS):
    params = small_params(name)
    reads = get(name).reads(modalities, params)
    torch.manual_seed(0)
    return get(name).build(input_spec(reads, modalities, dims), params), reads, params


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_every_model_returns_task_logits_and_weighted_terms(name):
    model, reads, params = built(name)
    inputs = batch(reads)
    output = model(inputs, with_aux=True)
    assert output.logits.shape == (6, n_outputs(DEFAULT_RUN)) and torch.isfinite(output.logits).all()
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, float("nan"), 0.0]] * 3)
    terms = dict(output.aux_terms)
    if hasattr(model, "supervised_terms"):
        terms.update(model.supervised_terms(output, labels, prediction_loss))
    assert all(torch.isfinite(v) for v in weighted_terms(terms, params).values())  # every term has its weight
    assert not model(inputs, with_aux=False).aux_terms


@pytest.mark.parametrize("name", sorted(set(TORCH_MODELS) - {"basic_concat"}))
def test_missing_vector_content_never_reaches_the_output(name):
    """Only the concatenation baseline (no δ, by design) could tell a missing modality's zeros from other values."""
    model, reads, _ = built(name)
    model.eval()
    inputs = batch(reads)
    changed = batch(reads)
    for k, m in enumerate(MODALITIES):
        if reads.get(m) == VECTOR:
            missing = inputs.delta[:, k] == 0
            changed.vectors[m][missing] = 100.0
    restrict_to = get(name).restrict_to  # a single-modality reference is only read where its modality is present
    rows = inputs.delta[:, MODALITIES.index(restrict_to)] == 1 if restrict_to else slice(None)
    with torch.no_grad():
        assert torch.allclose(model(inputs, with_aux=False).logits[rows], model(changed, with_aux=False).logits[rows], atol=1e-5)


@pytest.mark.parametrize("name", sorted(n for n in TORCH_MODELS if specs()[n].reads is all_vectors or n in ("crl_mmnar", "late_fusion")))
def test_models_over_all_modalities_read_a_fifth_one(name):
    modalities, dims = (*MODALITIES, "D"), {**DIMS, "D": 3}
    model, reads, _ = built(name, modalities, dims)
    assert "D" in reads
    delta = [[1, 1, 1, 1, 1], [1, 0, 1, 1, 0], [1, 0, 0, 0, 1]]
    inputs = batch(reads, n=3, delta=delta, dims=dims)
    model.eval()
    with torch.no_grad():
        before = model(inputs, with_aux=False).logits
        inputs.vectors["D"][0] += 5.0
        assert model(inputs, with_aux=False).logits.shape == (3, n_outputs(DEFAULT_RUN))
        assert not torch.allclose(before[0], model(inputs, with_aux=False).logits[0])


def test_unknown_model_and_unknown_param_are_rejected():
    with pytest.raises(KeyError):
        get("nope")
    with pytest.raises(KeyError, match="hiden_dim"):
        build_model("crl_mmnar", input_spec(all_vectors(MODALITIES, {})), {"hiden_dim": 8})


def test_crl_mmnar_loss_terms_and_its_ablation():
    terms = {}
    for name in ("basic_concat", "mmnar_fusion", "crl_mmnar"):
        model, reads, _ = built(name)
        terms[name] = set(model(batch(reads)).aux_terms)
    assert terms["basic_concat"] == set()
    assert terms["mmnar_fusion"] == {"miss"}
    assert terms["crl_mmnar"] == {"miss"} | {f"rec_{m}" for m in MODALITIES} | {f"cont_{m}" for m in MODALITIES}


def test_crl_mmnar_recurrent_option_reads_the_series_of_S():
    spec = get("crl_mmnar")
    params = spec.resolve({**SMALL, "structured_encoder": "recurrent"})
    reads = spec.reads(MODALITIES, params)
    assert reads == {"S": "sequence", "I": "vector", "T": "vector", "R": "vector"}
    model = spec.build(input_spec(reads), params).eval()
    inputs = batch(reads)
    with torch.no_grad():
        before = model(inputs, with_aux=False).logits
        inputs.series["S"].values[0] += 3.0
        assert not torch.allclose(before[0], model(inputs, with_aux=False).logits[0])


def test_gating_zeroes_missing_and_scales_observed_by_sigmoid():
    model, _, _ = built("crl_mmnar")
    tokens, z = torch.randn(2, 4, 8), torch.randn(2, 8)
    observed = torch.tensor([[True, False, True, False], [True, True, False, True]])
    gated = model.gate(tokens, z, observed)
    expected_gate = torch.sigmoid(model.gates(z)).view(2, 4, 8)
    assert torch.equal(gated[~observed], torch.zeros_like(gated[~observed]))
    assert torch.allclose(gated[observed], (expected_gate * tokens)[observed])


def test_attention_ignores_masked_tokens_and_survives_an_empty_token_set():
    model, _, _ = built("crl_mmnar")
    model.eval()
    gated = torch.randn(2, 4, 8)
    observed = torch.tensor([[True, False, True, False], [False, False, False, False]])
    altered = gated.clone()
    altered[0, [1, 3]] = 50.0
    with torch.no_grad():
        h, h_altered = model.fuse(gated, observed), model.fuse(altered, observed)
    assert torch.allclose(h[0], h_altered[0], atol=1e-6)
    assert torch.equal(h[1], torch.zeros(8))


def test_reconstruction_target_is_detached_but_reconstructor_learns():
    spec = get("crl_mmnar")
    params = spec.resolve({**SMALL, "dropout": 0.0})
    reads = spec.reads(MODALITIES, params)
    torch.manual_seed(0)
    model = spec.build(input_spec(reads), params)
    inputs = batch(reads)
    inputs.vectors["S"].requires_grad_(True)
    # Reconstructing S draws no gradient into S's own projection through the target ...
    model(inputs).aux_terms["rec_S"].backward()
    assert inputs.vectors["S"].grad is None or torch.count_nonzero(inputs.vectors["S"].grad) == 0
    assert model.reconstructors.weight_out.grad.abs().sum() > 0


def test_pattern_offsets_start_at_zero_and_shift_logits_per_pattern():
    model, reads, _ = built("crl_mmnar_offsets")
    model.eval()
    inputs = batch(reads)
    assert torch.count_nonzero(model.pattern_offset.weight) == 0
    with torch.no_grad():
        before = model(inputs, with_aux=False).logits
        model.pattern_offset.weight[pattern_index(inputs.delta[2:3])] = torch.tensor([1.0, 2.0, 3.0])
        after = model(inputs, with_aux=False).logits
    assert torch.allclose(after[2] - before[2], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.allclose(after[[0, 1, 3, 4, 5]], before[[0, 1, 3, 4, 5]])


def test_pattern_index_is_the_registry_encoding_with_S_as_bit_0():
    delta = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 1], [1, 0, 1, 0, 1]][:3])
    assert pattern_index(delta).tolist() == [1, 15, 8]


@pytest.mark.parametrize("name", TORCH_MODELS)
def test_a_few_adam_steps_lower_every_models_training_loss(name):
    """The trainer's objective (task loss + each term times its lambda) on one toy batch."""
    spec = get(name)
    params = spec.resolve({**{k: v for k, v in SMALL.items() if k in spec.params}, "dropout": 0.0})
    reads = spec.reads(MODALITIES, params)
    torch.manual_seed(0)
    model = spec.build(input_spec(reads), params)
    inputs = batch(reads)
    labels = torch.randint(0, 2, (6, n_outputs(DEFAULT_RUN)), generator=torch.Generator().manual_seed(1)).float()
    labels[1, 0] = float("nan")

    def loss():
        output = model(inputs)
        terms = dict(output.aux_terms)
        if hasattr(model, "supervised_terms"):
            terms.update(model.supervised_terms(output, labels, prediction_loss))
        return prediction_loss(output.logits, labels).sum() + sum(weighted_terms(terms, params).values())

    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = loss().item()
    for _ in range(20):
        optimiser.zero_grad()
        loss().backward()
        optimiser.step()
    assert loss().item() < 0.9 * before
