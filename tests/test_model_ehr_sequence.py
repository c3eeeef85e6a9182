import numpy as np
import pytest
import torch

from mmnar.models.base import InputSpec, ModelInputs, SeriesBatch, SeriesShape
from mmnar.models.registry import get

N_STEPS, N_FEATURES = 12, 5
LSTM_SPEC, TRANSFORMER_SPEC = SPECS = get("lstm"), get("transformer")
BY_NAME = {spec.name: spec for spec in SPECS}


def _spec() -> InputSpec:
    return InputSpec(modalities=("S", "I", "T", "R"), vector_dims={"I": 6, "T": 4, "R": 3},
                     series={"S": SeriesShape(N_STEPS, N_FEATURES, np.zeros(N_FEATURES, dtype=np.float32))}, n_outputs=3)


def _model(name: str, **params):
    torch.manual_seed(0)
    spec = BY_NAME[name]
    return spec.build(_spec(), spec.resolve({"hidden_dim": 16, **({"n_heads": 2} if name == "transformer" else {}), **params}))


def _series(batch: int, seed: int = 0, p_observed: float = 0.3) -> SeriesBatch:
    generator = torch.Generator().manual_seed(seed)
    values = torch.randn(batch, N_STEPS, N_FEATURES, generator=generator)
    mask = (torch.rand(batch, N_STEPS, N_FEATURES, generator=generator) < p_observed).float()
    delta_t = torch.randint(0, N_STEPS, (batch, N_STEPS, N_FEATURES), generator=generator).float() * (1 - mask)
    return SeriesBatch(values, mask, delta_t)


def _inputs(series: SeriesBatch, seed: int = 0) -> ModelInputs:
    batch = series.values.shape[0]
    generator = torch.Generator().manual_seed(seed + 1)
    vectors = {m: torch.randn(batch, d, generator=generator) for m, d in _spec().vector_dims.items()}
    return ModelInputs(torch.ones(batch, 4), vectors, {"S": series})


def _logits(model, series: SeriesBatch, seed: int = 0) -> torch.Tensor:
    with torch.no_grad():
        return model(_inputs(series, seed)).logits


def test_specs_names_labels_and_carebench_defaults():
    assert LSTM_SPEC.module == TRANSFORMER_SPEC.module == "mmnar.models.ehr_sequence"
    assert (LSTM_SPEC.name, LSTM_SPEC.label) == ("lstm", "LSTM (EHR time series)")
    assert (TRANSFORMER_SPEC.name, TRANSFORMER_SPEC.label) == ("transformer", "Transformer (EHR time series)")
    assert LSTM_SPEC.defaults() == {"hidden_dim": 64, "n_layers": 1, "dropout": 0.2}
    assert TRANSFORMER_SPEC.defaults() == {"hidden_dim": 64, "n_heads": 4, "n_layers": 1, "dropout": 0.2}


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_spec_reads_only_s_as_sequence_and_resolves(spec):
    assert spec.reads(("S", "I", "T", "R", "X"), spec.defaults()) == {"S": "sequence"}
    assert spec.resolve({"n_layers": 2})["n_layers"] == 2
    schema = spec.schema()
    assert set(schema["properties"]) == set(spec.params) and schema["additionalProperties"] is False
    with pytest.raises(KeyError):
        spec.resolve({"hiden_dim": 8})


@pytest.mark.parametrize("name", sorted(BY_NAME))
@pytest.mark.parametrize("n_layers", [1, 2])
def test_output_shape(name, n_layers):
    output = _model(name, n_layers=n_layers)(_inputs(_series(7)))
    assert output.logits.shape == (7, 3) and torch.isfinite(output.logits).all()
    assert output.aux_terms == {}


@pytest.mark.parametrize("name", sorted(BY_NAME))
@pytest.mark.parametrize("channel", ["values", "mask", "delta_t"])
def test_each_series_channel_changes_the_output(name, channel):
    model = _model(name).eval()
    series = _series(6)
    changed = SeriesBatch(series.values.clone(), series.mask.clone(), series.delta_t.clone())
    if channel == "values":
        changed.values[:, :, 0] += 2.0
    elif channel == "mask":
        changed.mask[:] = 1 - changed.mask
    else:
        changed.delta_t[:] = N_STEPS - changed.delta_t
    assert not torch.allclose(_logits(model, series), _logits(model, changed), atol=1e-4)


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_vectors_are_not_read_and_patients_without_s_share_one_prediction(name):
    model = _model(name).eval()
    hours = torch.arange(N_STEPS, dtype=torch.float32).view(1, N_STEPS, 1).expand(3, N_STEPS, N_FEATURES).clone()
    unobserved = SeriesBatch(torch.zeros(3, N_STEPS, N_FEATURES), torch.zeros(3, N_STEPS, N_FEATURES), hours)
    logits = _logits(model, unobserved, seed=0)
    assert torch.equal(logits, _logits(model, unobserved, seed=5))
    assert torch.allclose(logits, logits[:1].expand_as(logits), atol=1e-6)
