import numpy as np
import pytest
import torch

from mmnar.models.losses import masked_bce_with_logits
from mmnar.models.base import InputSpec, ModelInputs, SeriesBatch, SeriesShape
from mmnar.models.registry import get

N_STEPS, N_FEATURES = 12, 5
MEAN = np.linspace(-1.0, 1.0, N_FEATURES).astype(np.float32)
SPEC = get("grud")


def _spec() -> InputSpec:
    return InputSpec(modalities=("S", "I", "T", "R"), vector_dims={"I": 6, "T": 4, "R": 3},
                     series={"S": SeriesShape(N_STEPS, N_FEATURES, MEAN)}, n_outputs=3)


def _model(**params):
    torch.manual_seed(0)
    return SPEC.build(_spec(), SPEC.resolve({"hidden_dim": 16, **params}))


def _series(batch: int, seed: int = 0, p_observed: float = 0.3) -> SeriesBatch:
    """Forward-filled values (0 = median before the first measurement), mask and hours since last."""
    generator = torch.Generator().manual_seed(seed)
    raw = torch.randn(batch, N_STEPS, N_FEATURES, generator=generator)
    mask = (torch.rand(batch, N_STEPS, N_FEATURES, generator=generator) < p_observed).float()
    values, delta_t = torch.zeros_like(raw), torch.zeros_like(raw)
    last, since = torch.zeros(batch, N_FEATURES), torch.zeros(batch, N_FEATURES)
    for t in range(N_STEPS):
        last = torch.where(mask[:, t] > 0, raw[:, t], last)
        since = torch.where(mask[:, t] > 0, torch.zeros_like(since), since + (t > 0))
        values[:, t], delta_t[:, t] = last, since
    return SeriesBatch(values, mask, delta_t)


def _inputs(series: SeriesBatch, s_observed: torch.Tensor | None = None, seed: int = 0) -> ModelInputs:
    batch = series.values.shape[0]
    generator = torch.Generator().manual_seed(seed + 1)
    delta = torch.ones(batch, 4)
    if s_observed is not None:
        delta[:, 0] = s_observed.float()
    vectors = {m: torch.randn(batch, d, generator=generator) for m, d in _spec().vector_dims.items()}
    return ModelInputs(delta, vectors, {"S": series})


def _unobserved(batch: int) -> SeriesBatch:
    """What a patient without S receives: median values, mask 0, hours since the horizon start."""
    hours = torch.arange(N_STEPS, dtype=torch.float32).view(1, N_STEPS, 1).expand(batch, N_STEPS, N_FEATURES)
    return SeriesBatch(torch.zeros(batch, N_STEPS, N_FEATURES), torch.zeros(batch, N_STEPS, N_FEATURES), hours.clone())


def _single_step(values, mask, delta_t) -> SeriesBatch:
    return SeriesBatch(*(torch.as_tensor(a, dtype=torch.float32).view(-1, 1, N_FEATURES) for a in (values, mask, delta_t)))


def test_spec_reads_only_s_as_sequence_and_resolves():
    assert (SPEC.name, SPEC.label) == ("grud", "GRU-D (Che et al., 2018)")
    assert SPEC.reads(("S", "I", "T", "R", "X"), SPEC.defaults()) == {"S": "sequence"}
    assert SPEC.resolve({"hidden_dim": 8})["hidden_dim"] == 8
    schema = SPEC.schema()
    assert set(schema["properties"]) == {"hidden_dim", "dropout"} and schema["additionalProperties"] is False
    with pytest.raises(KeyError):
        SPEC.resolve({"hiden_dim": 8})


def test_output_shape_and_empirical_mean_buffer():
    model = _model()
    assert torch.equal(model.x_mean, torch.from_numpy(MEAN))
    assert "x_mean" in dict(model.named_buffers()) and "x_mean" not in dict(model.named_parameters())
    output = model(_inputs(_series(7)))
    assert output.logits.shape == (7, 3) and torch.isfinite(output.logits).all()
    assert output.aux_terms == {}


def test_decayed_input_is_x_where_measured_last_value_at_zero_gap_and_mean_at_long_gaps():
    model = _model()
    with torch.no_grad():
        model.input_decay_weight.fill_(0.5)
        model.input_decay_bias.zero_()
    x_last = torch.full((N_FEATURES,), 3.0)
    gaps = [0.0, 1.0, 12.0, 120.0, 1e5]
    unmeasured = model.decayed_input(_single_step(x_last.expand(len(gaps), -1), torch.zeros(len(gaps), N_FEATURES),
                                                  torch.tensor(gaps).unsqueeze(1).expand(-1, N_FEATURES))).squeeze(1)
    distance_to_mean = (unmeasured - torch.from_numpy(MEAN)).abs()
    assert torch.equal(unmeasured[0], x_last)  # Δt = 0, mask 0: the last observation
    assert (distance_to_mean[1:] < distance_to_mean[:-1]).all()  # monotone towards the mean
    assert torch.allclose(unmeasured[-1], torch.from_numpy(MEAN), atol=1e-5)
    measured = model.decayed_input(_single_step(x_last.expand(len(gaps), -1), torch.ones(len(gaps), N_FEATURES),
                                                torch.tensor(gaps).unsqueeze(1).expand(-1, N_FEATURES))).squeeze(1)
    assert torch.equal(measured, x_last.expand(len(gaps), -1))  # mask 1: the value itself, whatever Δt


def test_input_decay_is_per_feature():
    model = _model()
    with torch.no_grad():
        model.input_decay_weight.copy_(torch.tensor([0.0, 1.0, 1.0, 1.0, 1.0]))
        model.input_decay_bias.zero_()
    x_hat = model.decayed_input(_single_step(torch.full((N_FEATURES,), 3.0), torch.zeros(N_FEATURES),
                                             torch.full((N_FEATURES,), 1e5))).flatten()
    assert x_hat[0] == 3.0  # zero decay rate: stays at the last value (diagonal W_γx)
    assert torch.allclose(x_hat[1:], torch.from_numpy(MEAN[1:]), atol=1e-5)


def test_hidden_decay_goes_to_zero_as_the_gap_grows():
    model = _model()
    with torch.no_grad():
        model.hidden_decay.weight.fill_(0.1)
        model.hidden_decay.bias.zero_()
    gaps = torch.tensor([0.0, 1.0, 12.0, 120.0, 1e4])
    gamma_h = model.hidden_decay_factor(_single_step(torch.zeros(len(gaps), N_FEATURES), torch.zeros(len(gaps), N_FEATURES),
                                                     gaps.unsqueeze(1).expand(-1, N_FEATURES))).squeeze(1)
    assert torch.equal(gamma_h[0], torch.ones_like(gamma_h[0]))
    assert (gamma_h[1:] < gamma_h[:-1]).all()
    assert gamma_h[-1].max() < 1e-6


@pytest.mark.parametrize("decay_weight, history_matters", [(0.1, False), (0.0, True)])
def test_a_long_gap_before_the_last_step_erases_the_history(decay_weight, history_matters):
    """Hidden decay acts inside the recurrence: with γ_h ≈ 0 at the last step, h_T forgets earlier steps."""
    model = _model().eval()
    with torch.no_grad():
        model.hidden_decay.weight.fill_(decay_weight)
        model.hidden_decay.bias.zero_()
    series, other = _series(4, seed=0), _series(4, seed=1)
    for s in (series, other):  # the same last step: nothing measured for a very long time
        s.values[:, -1], s.mask[:, -1], s.delta_t[:, -1] = 1.0, 0.0, 1e5
    with torch.no_grad():
        same = torch.allclose(model.encode(series), model.encode(other), atol=1e-5)
    assert same is not history_matters


def test_mask_is_fed_to_the_gates():
    """With γ_x = 1 and δ = 0, x̂ = x whatever the mask, so the mask can only act through V m."""
    model = _model().eval()
    with torch.no_grad():
        model.input_decay_weight.zero_()
        model.input_decay_bias.zero_()
    series = _series(4)
    series.delta_t.zero_()
    flipped = SeriesBatch(series.values, 1 - series.mask, series.delta_t)
    with torch.no_grad():
        assert torch.equal(model.decayed_input(series), model.decayed_input(flipped))
        assert not torch.allclose(model.encode(series), model.encode(flipped), atol=1e-4)


def test_gradient_reaches_every_parameter():
    model = _model()
    labels = torch.randint(0, 2, (16, 3)).float()
    masked_bce_with_logits(model(_inputs(_series(16))).logits, labels).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_vectors_are_not_read_and_patients_without_s_share_one_prediction():
    model = _model().eval()
    series = _unobserved(3)
    inputs = _inputs(series, s_observed=torch.zeros(3, dtype=torch.bool), seed=0)
    changed = _inputs(series, s_observed=torch.zeros(3, dtype=torch.bool), seed=5)
    with torch.no_grad():
        logits = model(inputs).logits
        assert torch.equal(logits, model(changed).logits)
        assert torch.allclose(logits, logits[:1].expand_as(logits))
        assert not torch.allclose(logits, model(_inputs(_series(3))).logits, atol=1e-4)
