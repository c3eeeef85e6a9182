import pytest
import torch

from mmnar import MODALITIES, TASKS
from mmnar.models import MODEL_BUILDERS, build_model
from mmnar.models.components import pattern_index

DIMS = {"S": 7, "I": 5, "T": 6, "R": 4}


def _batch(n=6, seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = {m: torch.randn(n, d, generator=generator) for m, d in DIMS.items()}
    delta = torch.tensor([[1, 1, 1, 1], [1, 0, 1, 1], [1, 0, 0, 0], [1, 1, 0, 1], [1, 0, 1, 0], [1, 1, 1, 0]], dtype=torch.uint8)[:n]
    return inputs, delta


@pytest.mark.parametrize("name", sorted(MODEL_BUILDERS))
def test_every_model_returns_task_logits(name):
    torch.manual_seed(0)
    inputs, delta = _batch()
    output = build_model(name, DIMS, {"hidden_dim": 8, "n_heads": 2})(inputs, delta)
    assert output.logits.shape == (6, len(TASKS))
    assert torch.isfinite(output.logits).all()
    assert all(torch.isfinite(v) for v in output.aux_terms.values())


def test_loss_terms_per_model():
    inputs, delta = _batch()
    terms = {name: set(build_model(name, DIMS, {"hidden_dim": 8, "n_heads": 2})(inputs, delta).aux_terms) for name in MODEL_BUILDERS}
    assert terms["basic_concat"] == set()
    assert terms["mmnar_fusion"] == {"miss"}
    assert terms["crl_mmnar"] == {"miss"} | {f"rec_{m}" for m in MODALITIES} | {f"cont_{m}" for m in MODALITIES}


def test_unknown_model_and_unknown_param_are_rejected():
    with pytest.raises(KeyError):
        build_model("nope", DIMS, {})
    with pytest.raises(KeyError):
        build_model("crl_mmnar", DIMS, {"hiden_dim": 8})


def test_gating_zeroes_missing_and_scales_observed_by_sigmoid():
    torch.manual_seed(0)
    model = build_model("crl_mmnar", DIMS, {"hidden_dim": 8, "n_heads": 2})
    tokens = torch.randn(2, 4, 8)
    z = torch.randn(2, 8)
    observed = torch.tensor([[True, False, True, False], [True, True, False, True]])
    gated = model.gate(tokens, z, observed)
    expected_gate = torch.sigmoid(model.gates(z)).view(2, 4, 8)
    assert torch.equal(gated[~observed], torch.zeros_like(gated[~observed]))
    assert torch.allclose(gated[observed], (expected_gate * tokens)[observed])


@pytest.mark.parametrize("name", ["crl_mmnar", "mmnar_fusion"])
def test_missing_modality_inputs_do_not_change_representation(name):
    torch.manual_seed(0)
    model = build_model(name, DIMS, {"hidden_dim": 8, "n_heads": 2}).eval()
    inputs, delta = _batch()
    changed = dict(inputs)
    changed["I"] = inputs["I"] + 100 * (1 - delta[:, 1:2].float())  # only patients without an image
    with torch.no_grad():
        assert torch.allclose(model.represent(inputs, delta), model.represent(changed, delta), atol=1e-6)
        assert torch.allclose(model(inputs, delta).logits, model(changed, delta).logits, atol=1e-6)
        # sanity check that the perturbation is not vacuous: observed inputs do matter
        changed["T"] = inputs["T"] + 100
        assert not torch.allclose(model.represent(inputs, delta), model.represent(changed, delta), atol=1e-3)


def test_attention_ignores_masked_tokens_and_survives_an_empty_token_set():
    torch.manual_seed(0)
    model = build_model("crl_mmnar", DIMS, {"hidden_dim": 8, "n_heads": 2}).eval()
    gated = torch.randn(2, 4, 8)
    observed = torch.tensor([[True, False, True, False], [False, False, False, False]])
    altered = gated.clone()
    altered[0, [1, 3]] = 50.0
    with torch.no_grad():
        h, h_altered = model.fuse(gated, observed), model.fuse(altered, observed)
    assert torch.allclose(h[0], h_altered[0], atol=1e-6)
    assert torch.equal(h[1], torch.zeros(8))


def test_reconstruction_target_is_detached_but_reconstructor_learns():
    torch.manual_seed(0)
    model = build_model("crl_mmnar", DIMS, {"hidden_dim": 8, "n_heads": 2, "dropout": 0.0})
    inputs, delta = _batch()
    inputs["S"].requires_grad_(True)
    only_S_input = {m: x.detach() if m != "S" else x for m, x in inputs.items()}
    # Reconstructing S draws no gradient into S's own projection through the target ...
    model(only_S_input, delta).aux_terms["rec_S"].backward()
    assert inputs["S"].grad is None or torch.count_nonzero(inputs["S"].grad) == 0
    assert model.reconstructors.weight_out.grad.abs().sum() > 0


def test_pattern_offsets_start_at_zero_and_shift_logits_per_pattern():
    torch.manual_seed(0)
    model = build_model("crl_mmnar", DIMS, {"hidden_dim": 8, "n_heads": 2}).eval()
    inputs, delta = _batch()
    assert torch.count_nonzero(model.pattern_offset.weight) == 0
    with torch.no_grad():
        before = model(inputs, delta, with_aux=False).logits
        model.pattern_offset.weight[pattern_index(delta[2:3])] = torch.tensor([1.0, 2.0, 3.0])
        after = model(inputs, delta, with_aux=False).logits
    assert torch.allclose(after[2] - before[2], torch.tensor([1.0, 2.0, 3.0]))
    assert torch.allclose(after[[0, 1, 3, 4, 5]], before[[0, 1, 3, 4, 5]])


def test_pattern_index_reads_delta_as_binary_with_S_high():
    delta = torch.tensor([[1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 1]])
    assert pattern_index(delta).tolist() == [8, 15, 1]
