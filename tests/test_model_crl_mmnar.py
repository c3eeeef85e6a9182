"""CRL-MMNAR's ablation mechanisms: no pattern term inside the paper's model, random MAR masking for reconstruction."""

import torch

from mmnar.models.registry import get
from model_batches import batch, input_spec


def built(name, **overrides):
    spec = get(name)
    params = spec.resolve({"hidden_dim": 16, "n_heads": 2, "dropout": 0.0, **overrides})
    reads = spec.reads(("S", "I", "T", "R"), params)
    return spec.build(input_spec(reads), params), reads


def test_only_the_offsets_variant_learns_a_pattern_term_inside_the_model():
    for name in ("crl_mmnar", "mmnar_fusion"):
        model, _ = built(name)
        assert model.pattern_offset is None, name
        assert not any("pattern_offset" in key for key in model.state_dict()), name
    model, _ = built("crl_mmnar_offsets")
    assert model.pattern_offset.weight.shape == (16, 3)


def test_reconstruction_masks_observed_modalities_at_random_while_training():
    torch.manual_seed(0)
    model, reads = built("crl_mmnar", mask_rate=1e-6)
    inputs = batch(reads)
    model.train()
    aux = model(inputs).aux_terms
    assert all(aux[f"rec_{m}"] == 0 for m in "SITR")          # nothing drawn: nothing reconstructed
    model.eval()
    aux = model(inputs).aux_terms                             # validation: every observed modality in turn
    assert all(aux[f"rec_{m}"] > 0 for m in "SITR")


def test_mask_rate_one_reconstructs_every_observed_modality_as_evaluation_does():
    model, reads = built("crl_mmnar", mask_rate=1.0)
    inputs = batch(reads)
    model.train()
    training = model(inputs).aux_terms
    model.eval()
    evaluation = model(inputs).aux_terms
    for m in "SITR":
        assert torch.allclose(training[f"rec_{m}"], evaluation[f"rec_{m}"])
