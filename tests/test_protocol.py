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
