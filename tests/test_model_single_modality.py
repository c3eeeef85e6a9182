"""Single-modality references: an MLP on one modality, blind to the others and to delta."""

import pytest
import torch

from mmnar.models.base import InputSpec, ModelInputs
from mmnar.models.registry import single_modality_reference
from mmnar.models.spec import VECTOR

MODALITIES = ("S", "I", "T", "R", "X")  # a fifth registered modality gets its reference too
DIMS = {"S": 9, "I": 7, "T": 6, "R": 5, "X": 3}
N_OUTPUTS = 3
INPUT_SPEC = InputSpec(MODALITIES, DIMS, {}, N_OUTPUTS)


def make_batch(seed=0, n=6):
    generator = torch.Generator().manual_seed(seed)
    delta = (torch.rand(n, len(MODALITIES), generator=generator) < 0.5).float()
    return ModelInputs(delta, {m: torch.randn(n, DIMS[m], generator=generator) for m in MODALITIES})


@pytest.mark.parametrize("modality", MODALITIES)
def test_spec_names_restriction_and_reads(modality):
    spec = single_modality_reference(modality)
    assert spec.name == f"{modality.lower()}_only"
    assert spec.label == f"{modality} only (patients with {modality})"
    assert spec.restrict_to == modality
    assert spec.reads(MODALITIES, spec.defaults()) == {modality: VECTOR}
    assert set(spec.schema()["properties"]) == {"hidden_dim", "dropout"}
    with pytest.raises(KeyError):
        spec.resolve({"lambda_unimodal": 1.0})


@pytest.mark.parametrize("modality", MODALITIES)
def test_output_depends_on_its_modality_only(modality):
    spec = single_modality_reference(modality)
    torch.manual_seed(0)
    model = spec.build(INPUT_SPEC, spec.resolve({"hidden_dim": 8})).eval()
    inputs, other = make_batch(0), make_batch(1)
    only_own = ModelInputs(other.delta, {m: inputs.vectors[m] if m == modality else other.vectors[m] for m in MODALITIES})
    with torch.no_grad():
        logits = model(inputs).logits
        assert logits.shape == (6, N_OUTPUTS)
        assert torch.equal(logits, model(only_own).logits)  # other modalities and delta changed
        assert torch.equal(logits, model(ModelInputs(inputs.delta, {modality: inputs.vectors[modality]})).logits)
        assert not torch.allclose(logits, model(other).logits)  # its own modality does matter
