"""DrFuse: logit pooling, JSD, orthogonality, masked disease-aware attention, ranking loss, contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mmnar.models.losses import masked_bce_with_logits
from mmnar.models import drfuse
from mmnar.models.base import InputSpec, ModelInputs, SeriesBatch, SeriesShape
from mmnar.models.registry import get
from mmnar.models.spec import SEQUENCE, VECTOR

MODALITIES = ("S", "I", "T", "R")
N_STEPS, N_FEATURES, N_TASKS = 8, 3, 3
VECTOR_DIMS = {"I": 6, "T": 5, "R": 5}
SPEC = get("drfuse")


def make_spec(modalities=MODALITIES) -> InputSpec:
    return InputSpec(modalities=modalities, vector_dims={m: VECTOR_DIMS.get(m, 4) for m in modalities if m != "S"},
                     series={"S": SeriesShape(N_STEPS, N_FEATURES, np.zeros(N_FEATURES))}, n_outputs=N_TASKS)


def make_inputs(batch: int, seed: int = 0, modalities=MODALITIES, delta: torch.Tensor | None = None) -> ModelInputs:
    generator = torch.Generator().manual_seed(seed)
    if delta is None:
        delta = (torch.rand(batch, len(modalities), generator=generator) < 0.7).float()
    observed = {m: delta[:, k] > 0.5 for k, m in enumerate(modalities)}
    vectors = {m: torch.randn(batch, VECTOR_DIMS.get(m, 4), generator=generator) * observed[m].unsqueeze(1)
               for m in modalities if m != "S"}
    mask = (torch.rand(batch, N_STEPS, N_FEATURES, generator=generator) < 0.5).float() * observed["S"].view(-1, 1, 1)
    series = SeriesBatch(torch.randn(batch, N_STEPS, N_FEATURES, generator=generator), mask,
                         torch.rand(batch, N_STEPS, N_FEATURES, generator=generator) * N_STEPS)
    return ModelInputs(delta, vectors, {"S": series})


def make_model(seed: int = 0, modalities=MODALITIES, **overrides) -> drfuse.DrFuse:
    torch.manual_seed(seed)
    return SPEC.build(make_spec(modalities), SPEC.resolve(overrides))


def training_loss(model, inputs, labels) -> torch.Tensor:
    params = SPEC.resolve()
    output = model(inputs)
    terms = {**output.aux_terms, **model.supervised_terms(output, labels, masked_bce_with_logits)}
    weighted = sum(params[f"lambda_{name.split('_', 1)[0]}"] * value for name, value in terms.items())
    return masked_bce_with_logits(output.logits, labels).sum() + weighted


def test_logit_pool_is_the_logit_of_the_mean_probability():
    torch.manual_seed(0)
    a, b = torch.randn(5, 7) * 3, torch.randn(5, 7) * 3
    both = torch.ones(5, 2, dtype=torch.bool)
    pooled = drfuse.logit_pool(torch.stack([a, b], dim=1), both)
    torch.testing.assert_close(pooled, torch.logit((torch.sigmoid(a) + torch.sigmoid(b)) / 2), atol=1e-5, rtol=1e-5)
    closed_form = torch.log((2 * torch.exp(a + b) + torch.exp(a) + torch.exp(b)) / (2 + torch.exp(a) + torch.exp(b)))
    torch.testing.assert_close(pooled, closed_form, atol=1e-5, rtol=1e-5)


def test_logit_pool_uses_only_observed_modalities():
    torch.manual_seed(0)
    logits = torch.randn(4, 3, 6)
    observed = torch.tensor([[True, True, False], [True, False, False], [False, False, False], [True, True, True]])
    pooled = drfuse.logit_pool(logits, observed)
    torch.testing.assert_close(pooled[0], torch.logit(torch.sigmoid(logits[0, :2]).mean(dim=0)), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(pooled[1], logits[1, 0], atol=1e-5, rtol=1e-5)  # Eq. 3: the only one observed
    assert torch.equal(pooled[2], torch.zeros(6))
    torch.testing.assert_close(pooled[3], torch.logit(torch.sigmoid(logits[3]).mean(dim=0)), atol=1e-5, rtol=1e-5)
    changed = logits.clone()
    changed[0, 2] += 10.0
    assert torch.equal(drfuse.logit_pool(changed, observed)[0], pooled[0])


def test_jsd_is_zero_for_identical_and_matches_eq1_for_different():
    torch.manual_seed(0)
    a = torch.randn(6, 5)
    both = torch.ones(6, 2, dtype=torch.bool)
    assert torch.allclose(drfuse.jensen_shannon(torch.stack([a, a], dim=1), both), torch.zeros(6), atol=1e-6)
    b = torch.randn(6, 5)
    divergence = drfuse.jensen_shannon(torch.stack([a, b], dim=1), both)
    assert (divergence > 1e-4).all()
    p, q = torch.sigmoid(a), torch.sigmoid(b)
    m = (p + q) / 2

    def kl(x, y):
        return (x * torch.log(x / y) + (1 - x) * torch.log((1 - x) / (1 - y))).sum(dim=-1)

    torch.testing.assert_close(divergence, 0.5 * (kl(p, m) + kl(q, m)), atol=1e-5, rtol=1e-5)
    one_observed = torch.tensor([[True, False]] * 6)
    assert torch.allclose(drfuse.jensen_shannon(torch.stack([a, b], dim=1), one_observed), torch.zeros(6), atol=1e-6)


def test_orthogonality_is_zero_for_orthogonal_and_one_for_parallel():
    shared = torch.tensor([[[1.0, 0.0, 0.0]], [[0.0, 2.0, 0.0]]])
    observed = torch.ones(2, 1, dtype=torch.bool)
    orthogonal = torch.tensor([[[0.0, 3.0, 0.0]], [[0.0, 0.0, -1.0]]])
    assert torch.allclose(drfuse.orthogonality(shared, orthogonal, observed), torch.zeros(1))
    assert torch.allclose(drfuse.orthogonality(shared, -shared, observed), torch.ones(1))
    only_first = torch.tensor([[True], [False]])
    mixed = torch.stack([orthogonal[0], -shared[1]])
    assert torch.allclose(drfuse.orthogonality(shared, mixed, only_first), torch.zeros(1))


def test_ranking_loss_zero_when_ordering_holds_positive_when_violated():
    losses = torch.tensor([[[0.1, 0.5, 0.9]]])  # row 0 predicts best, row 2 worst
    usable = torch.ones(1, 1, 3, dtype=torch.bool)
    consistent = torch.tensor([[[0.6, 0.3, 0.1]]])
    assert drfuse.attention_ranking_loss(consistent, losses, usable) == 0
    violated = torch.tensor([[[0.1, 0.3, 0.6]]])
    loss = drfuse.attention_ranking_loss(violated, losses, usable)
    torch.testing.assert_close(loss, torch.tensor((0.2 + 0.5 + 0.3) / 3))  # mean over the violated pairs
    assert drfuse.attention_ranking_loss(consistent, losses, usable, margin=0.5) > 0
    assert drfuse.attention_ranking_loss(violated, losses, torch.tensor([[[True, False, False]]])) == 0


def test_shapes_terms_and_their_weights():
    model = make_model()
    inputs = make_inputs(12)
    output = model(inputs)
    n_rows = len(MODALITIES) + 1
    assert output.logits.shape == (12, N_TASKS)
    assert output.extras["aux_logits"].shape == (12, n_rows, N_TASKS)
    assert output.extras["attention"].shape == (12, N_TASKS, n_rows)
    torch.testing.assert_close(output.extras["attention"].sum(dim=-1), torch.ones(12, N_TASKS))
    labels = torch.randint(0, 2, (12, N_TASKS)).float()
    supervised = model.supervised_terms(output, labels, masked_bce_with_logits)
    assert set(output.aux_terms) == {"jsd_shared", *(f"orth_{m}" for m in MODALITIES)}
    assert set(supervised) == {"rank_attention", "aux_shared", *(f"aux_{m}" for m in MODALITIES)}
    for name, value in {**output.aux_terms, **supervised}.items():
        assert value.ndim == 0 and torch.isfinite(value), name
        assert f"lambda_{name.split('_', 1)[0]}" in SPEC.params
    plain = model(inputs, with_aux=False)
    assert plain.aux_terms == {} and plain.extras == {}


def test_attention_gives_no_weight_to_missing_and_ignores_their_content():
    model = make_model().eval()
    delta = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], dtype=torch.float32)
    inputs = make_inputs(4, delta=delta)
    output = model(inputs)
    attention = output.extras["attention"]
    for k in range(len(MODALITIES)):
        missing = delta[:, k] == 0
        assert torch.equal(attention[missing, :, k], torch.zeros(int(missing.sum()), N_TASKS))
    assert torch.equal(attention[3, :, -1], torch.ones(N_TASKS))  # nothing observed: h^sh = 0 alone
    changed = make_inputs(4, seed=1, delta=delta)  # new content everywhere, masks follow delta
    for m, x in changed.vectors.items():
        k = MODALITIES.index(m)
        changed.vectors[m] = torch.where(delta[:, k : k + 1] > 0, inputs.vectors[m], x + 5.0)
    s_observed = (delta[:, 0] > 0).view(-1, 1, 1)
    series, new = inputs.series["S"], changed.series["S"]
    changed.series["S"] = SeriesBatch(torch.where(s_observed, series.values, new.values + 3.0),
                                      series.mask, torch.where(s_observed, series.delta_t, new.delta_t))
    # ``changed`` now differs from ``inputs`` only in the missing modalities' content.
    again = model(changed)
    labels = torch.tensor([[1.0, 0.0, float("nan")], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(again.logits, output.logits, atol=1e-6, rtol=0)
    for name, value in output.aux_terms.items():
        torch.testing.assert_close(again.aux_terms[name], value, atol=1e-6, rtol=0)
    before = model.supervised_terms(output, labels, masked_bce_with_logits)
    after = model.supervised_terms(again, labels, masked_bce_with_logits)
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, atol=1e-6, rtol=0)
    observed_changed = ModelInputs(delta, {**inputs.vectors, "I": inputs.vectors["I"] + 1.0}, inputs.series)
    assert not torch.allclose(model(observed_changed).logits[2], output.logits[2])  # the check can see a change


def test_reads_sequence_for_s_and_builds_for_a_fifth_modality():
    assert SPEC.reads(MODALITIES, SPEC.resolve()) == {"S": SEQUENCE, "I": VECTOR, "T": VECTOR, "R": VECTOR}
    five = (*MODALITIES, "X")
    model = make_model(modalities=five)
    output = model(make_inputs(6, modalities=five))
    assert output.logits.shape == (6, N_TASKS) and "orth_X" in output.aux_terms
    assert output.extras["attention"].shape == (6, N_TASKS, 6)


def test_spec_resolve_and_schema():
    params = SPEC.resolve({"lambda_rank": 0.5})
    assert params["lambda_rank"] == 0.5 and params["lambda_jsd"] == 1.0 and params["hidden_dim"] == 64
    with pytest.raises(KeyError):
        SPEC.resolve({"lambda_unknown": 1.0})
    schema = SPEC.schema()
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(SPEC.params)
    assert schema["properties"]["rank_margin"]["default"] == 0.0
    assert SPEC.name == "drfuse" and SPEC.label == "DrFuse (Yao et al., AAAI 2024)"
