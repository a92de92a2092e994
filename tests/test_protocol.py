"""The model protocol, checked for every binary model of the book against its mathematics."""

from __future__ import annotations

import pytest
import torch

import autoregressive as ar
from helpers import CHI2_999, all_binary, chi_square, codes, randomize

MODELS = {
    "FVSBN": ar.FVSBN,
    "IndependentBernoulli": ar.IndependentBernoulli,
    "NADE": lambda n: ar.NADE(n, hidden=6, block=4),  # blocks that do not divide n
}


@pytest.fixture(params=sorted(MODELS))
def make(request):
    def build(n: int, seed: int = 0):
        return randomize(MODELS[request.param](n), seed=seed).eval()
    return build


# ---------------------------------------------------------------------------------------------
# Exact likelihood


@pytest.mark.parametrize("n", [1, 5, 12])
def test_probabilities_sum_to_one(make, n):
    model = make(n)
    with torch.no_grad():
        total = model.log_prob(all_binary(n)).double().exp().sum()
    assert abs(total.item() - 1.0) < 1e-5


def test_log_prob_is_the_chain_rule_of_the_conditionals(make):
    model = make(6)
    x = all_binary(6)
    p = model.conditionals(x)
    by_hand = torch.where(x == 1, p, 1 - p).log().sum(dim=1)
    torch.testing.assert_close(model.log_prob(x), by_hand, rtol=1e-5, atol=1e-5)


def test_conditional_i_depends_only_on_earlier_dimensions(make):
    n = 9
    model = make(n)
    x = torch.bernoulli(torch.full((1, n), 0.5), generator=torch.Generator().manual_seed(1))
    x.requires_grad_(True)
    for i in range(n):
        (grad,) = torch.autograd.grad(model.logits(x)[0, i], x, allow_unused=True)
        if grad is not None:  # None: the logit does not depend on x at all
            assert torch.all(grad[0, i:] == 0), f"logit {i} depends on x_j for some j >= {i}"


# ---------------------------------------------------------------------------------------------
# Sampling


def test_sample_frequencies_match_exact_probabilities(make):
    n, draws = 3, 40_000
    model = make(n, seed=3)
    x = model.sample(draws, seed=0)
    observed = torch.bincount(codes(x), minlength=2**n).double()
    expected = model.log_prob(all_binary(n)).double().exp().detach() * draws
    assert chi_square(observed, expected) < CHI2_999[2**n - 1]


def test_completion_samples_the_exact_conditional(make):
    # Observe x_1 = 1, sample x_2, x_3: frequencies must follow p(x_2, x_3 | x_1 = 1).
    n, draws = 3, 40_000
    model = make(n, seed=4)
    given = torch.tensor([[1.0, 0.0, 0.0]]).expand(draws, n)
    mask = torch.tensor([True, False, False])
    x = model.sample(x=given, mask=mask, seed=1)
    assert torch.all(x[:, 0] == 1)
    observed = torch.bincount(codes(x[:, 1:]), minlength=4).double()
    joint = model.log_prob(all_binary(n)).double().exp().detach()[4:]  # rows with x_1 = 1
    expected = joint / joint.sum() * draws
    assert chi_square(observed, expected) < CHI2_999[3]


def test_completion_never_changes_observed_values(make):
    n = 20
    model = make(n)
    generator = torch.Generator().manual_seed(5)
    given = torch.bernoulli(torch.full((50, n), 0.5), generator=generator)
    mask = torch.rand(50, n, generator=generator) < 0.5
    x = model.sample(x=given, mask=mask, seed=2)
    assert torch.equal(x[mask], given[mask])
    assert set(x.unique().tolist()) <= {0.0, 1.0}


def test_same_seed_same_samples_and_generator_agrees(make):
    model = make(10)
    a = model.sample(30, seed=7)
    b = model.sample(30, seed=7)
    c = model.sample(30, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and torch.equal(a, c)
    assert not torch.equal(a, model.sample(30, seed=8))


@pytest.mark.parametrize("temperature", [0.25, 0.5, 2.0])
def test_temperature_divides_the_logits(make, temperature):
    # x_1 has no parents, so its sampled frequency must be σ(logit_1 / T).
    draws = 40_000
    model = make(4, seed=6)
    p = torch.sigmoid(model.logits(torch.zeros(1, 4))[0, 0] / temperature).item()
    frequency = model.sample(draws, seed=0, temperature=temperature)[:, 0].mean().item()
    assert abs(frequency - p) < 4 * (p * (1 - p) / draws) ** 0.5 + 1e-9


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (torch.zeros(4, 6), ValueError, "shape"),
        (torch.zeros(5), ValueError, "shape"),
        (torch.full((2, 5), 0.5), ValueError, "binary"),
        (torch.full((2, 5), 2.0), ValueError, "binary"),
        (torch.tensor([[0.0, 1.0, float("nan"), 0.0, 1.0]]), ValueError, "NaN"),
        ([[0, 1, 0, 1, 0]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(make, bad, error, words):
    model = make(5)
    with pytest.raises(error, match=words):
        model.log_prob(bad)
    with pytest.raises(error, match=words):
        model.conditionals(bad)


def test_bad_sampling_arguments_are_refused(make):
    model = make(4)
    for temperature in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="temperature"):
            model.sample(3, temperature=temperature)
    with pytest.raises(ValueError, match="seed or a generator"):
        model.sample(3, seed=1, generator=torch.Generator())
    with pytest.raises(ValueError, match="num"):
        model.sample(0)
    with pytest.raises(ValueError, match="both x"):
        model.sample(x=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="bool"):
        model.sample(x=torch.zeros(2, 4), mask=torch.ones(4))
    with pytest.raises(ValueError, match="binary"):
        model.sample(x=torch.full((2, 4), 0.5), mask=torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask must have shape"):
        model.sample(x=torch.zeros(2, 4), mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="disagrees"):
        model.sample(5, x=torch.zeros(2, 4), mask=torch.ones(4, dtype=torch.bool))


def test_constructor_refuses_a_bad_dimension(make):
    for model in MODELS.values():
        for n in (0, -3, 2.5, True):
            with pytest.raises(ValueError, match="positive int"):
                model(n)


# ---------------------------------------------------------------------------------------------
# Checkpoints


def test_save_and_load_round_trip(make, tmp_path):
    model = make(7, seed=9)
    ar.save(model, tmp_path / "model.pt")
    loaded = ar.load(tmp_path / "model.pt")
    assert type(loaded) is type(model) and loaded.n == 7
    x = all_binary(7)
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))
