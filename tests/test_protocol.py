"""The model protocol, checked for every binary model of the book against its mathematics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import autoregressive as ar
from helpers import CHI2_999, all_binary, chi_square, codes, randomize

MODELS = {
    "FVSBN": ar.FVSBN,
    "IndependentBernoulli": ar.IndependentBernoulli,
    "NADE": lambda n: ar.NADE(n, hidden=6, block=4),  # blocks that do not divide n
    "MADE": lambda n: ar.MADE(n, (40, 40)),  # natural order, two hidden layers
}
SCALE = {"MADE": 0.3}  # weights of N(0, 1) through two layers of 40 give logits of ±100


@pytest.fixture(params=sorted(MODELS))
def make(request):
    def build(n: int, seed: int = 0, scale: float = 1.0):
        scale = scale * SCALE.get(request.param, 1.0)
        return randomize(MODELS[request.param](n), seed=seed, scale=scale).eval()
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
        if isinstance(model, ar.IndependentBernoulli):
            assert grad is None  # its logits ignore x altogether
            continue
        assert grad is not None and torch.all(grad[0, i:] == 0), f"logit {i} sees x_j, j >= {i}"
        if isinstance(model, ar.MADE):  # only some of the past reaches a MADE output, along
            continue  # the paths of its masks and through active units (tested in test_made)
        if i > 0:  # and the past does reach it (random weights: no exact zeros)
            assert torch.all(grad[0, :i] != 0), f"logit {i} ignores some x_j, j < {i}"


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
def test_temperature_divides_every_logit(make, temperature):
    # Sampling at temperature T draws each x_i from σ(logit_i(x_<i) / T): compare the sampled
    # frequencies of all 2^n images with the product of those tempered conditionals.
    n, draws = 3, 40_000
    model = make(n, seed=6, scale=0.2)  # moderate logits: every image is drawn often enough
    images = all_binary(n)
    p = torch.sigmoid(model.logits(images).double() / temperature)
    exact = torch.where(images == 1, p, 1 - p).prod(dim=1).detach()
    x = model.sample(draws, seed=1, temperature=temperature)
    observed = torch.bincount(codes(x), minlength=2**n).double()
    assert chi_square(observed, exact * draws) < CHI2_999[2**n - 1]


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
    with pytest.raises(TypeError, match="torch.Tensor"):
        model.sample(2, x=[[0, 1, 0, 1], [1, 1, 0, 0]], mask=torch.ones(4, dtype=torch.bool))


def test_a_generator_must_be_a_torch_generator(make):
    model = make(4)
    for bad in (5, "seed", torch.zeros(1)):
        with pytest.raises(TypeError, match="generator must be a torch.Generator"):
            model.sample(3, generator=bad)


def test_sizes_and_seeds_may_be_numpy_integers(make):
    model = make(np.int64(5))
    assert type(model.n) is int and model.n == 5
    a = model.sample(np.int32(4), seed=np.int64(3))
    assert torch.equal(a, model.sample(4, seed=3))
    for bad in (np.float32(4.0), np.bool_(True), 4.0):
        with pytest.raises(ValueError, match="num must be a positive int"):
            model.sample(bad)


def test_a_double_precision_model_takes_any_binary_input(make):
    model = make(5).double()
    x = all_binary(5)  # float32 input, converted to the model's dtype
    assert model.log_prob(x).dtype == torch.float64
    assert abs(model.log_prob(x).exp().sum().item() - 1) < 1e-12
    assert model.sample(3, seed=0).dtype == torch.float64


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


# ---------------------------------------------------------------------------------------------
# Draws at the edges: tiny temperatures, the top of the CDF


TINY = [1e-3, 1e-30, 1e-39, 1e-45, 1e-300]  # below ~1e-38, logit / T overflows float32


def test_a_tiny_temperature_samples_the_most_probable_value(make):
    model = make(8, seed=2)
    for temperature in TINY:
        x = model.sample(20, seed=3, temperature=temperature)
        modes = (model.conditionals(x) > 0.5).to(x.dtype)  # p(x_i = 1 | x_<i) at the draw
        assert torch.equal(x, modes), f"T = {temperature}"


def test_a_tiny_temperature_leaves_an_even_conditional_even():
    # logit 0 is p = 1/2 at every temperature: both values, not 0/0 = NaN read as "0".
    model = ar.FVSBN(1)
    u = torch.rand(4000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for temperature in TINY:
        ones = model._draw(torch.zeros(4000), u, temperature).mean().item()
        assert 0.45 < ones < 0.55, f"T = {temperature}"
    for temperature in TINY[1:]:  # and the slightest preference is followed
        assert model._draw(torch.full((5,), 1e-3), u[:5], temperature).eq(1).all()
        assert model._draw(torch.full((5,), -1e-3), u[:5], temperature).eq(0).all()


def test_a_tiny_temperature_draws_the_mode_of_a_categorical():
    model = ar.SoftmaxNADE(1, 3, hidden=2)
    logits = torch.tensor([[1.0, 3.0, 2.0], [-5.0, -4.0, -4.5], [0.3, 0.1, 0.2]])
    u = torch.tensor([0.01, 0.5, 0.99], dtype=torch.float64)
    for temperature in TINY:
        assert model._draw(logits, u, temperature).tolist() == [1, 1, 0], f"T = {temperature}"


def test_greedy_categorical_samples_at_a_tiny_temperature():
    model = randomize(ar.SoftmaxNADE(6, 4, hidden=5), seed=1)
    for temperature in TINY:
        x = model.sample(10, seed=0, temperature=temperature)
        assert torch.equal(x, model.conditionals(x).argmax(dim=-1)), f"T = {temperature}"


def test_a_category_of_probability_zero_is_never_drawn():
    # The last category's probability is exactly 0 (exp(-1e4) underflows even in float64).
    # With u just below 1, a float32 CDF that stops short of 1 would run past the others.
    model = ar.SoftmaxNADE(1, 5, hidden=2)
    logits = torch.randn(2000, 5, generator=torch.Generator().manual_seed(0)) * 3
    logits[:, -1] = -1e4
    top = torch.full((2000,), 1 - 2**-24, dtype=torch.float64)  # the largest float32 uniform
    drawn = model._draw(logits, top, 1.0)
    assert not (drawn == 4).any()
    logits[:, 0] = -1e4  # and none at the bottom of the CDF, u = 0
    assert (model._draw(logits, torch.zeros(2000, dtype=torch.float64), 1.0) == 1).all()
