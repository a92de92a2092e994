"""Softmax NADE: K-way conditionals, checked against the mathematics like the binary models."""

from __future__ import annotations

import itertools

import pytest
import torch

import autoregressive as ar
from autoregressive.base import Autoregressive
from autoregressive.softmax_nade import reference_logits
from helpers import CHI2_999, assert_same_draws, chi_square, randomize


def all_values(n: int, levels: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(levels), repeat=n)))


def index_of(x: torch.Tensor, levels: int) -> torch.Tensor:
    weights = levels ** torch.arange(x.shape[1] - 1, -1, -1)
    return (x * weights).sum(dim=1)


def model(n=5, levels=3, hidden=4, seed=0, scale=1.0, reference=True):
    m = ar.SoftmaxNADE(n, levels, hidden=hidden, reference=reference)
    return randomize(m, seed=seed, scale=scale).eval()


CODINGS = pytest.mark.parametrize("reference", [True, False])


@CODINGS
@pytest.mark.parametrize("n, levels", [(1, 4), (5, 3), (8, 2)])
def test_probabilities_sum_to_one(n, levels, reference):
    with torch.no_grad():
        m = model(n, levels, reference=reference)
        total = m.log_prob(all_values(n, levels)).double().exp().sum()
    assert abs(total.item() - 1) < 1e-5


@CODINGS
def test_conditionals_are_softmaxes_that_match_the_formula(reference):
    m = model(6, 4, reference=reference)
    x = torch.randint(0, 4, (10, 6), generator=torch.Generator().manual_seed(0))
    p = m.conditionals(x)
    torch.testing.assert_close(p.sum(dim=-1), torch.ones(10, 6))
    torch.testing.assert_close(m.logits(x), reference_logits(m, x), rtol=1e-5, atol=1e-5)


def test_completion_of_the_first_dimension_samples_the_exact_conditional():
    n, levels, draws = 2, 3, 30_000
    m = model(n, levels, seed=8, scale=0.5)
    given = torch.full((draws, n), 2)
    x = m.sample(x=given, mask=torch.tensor([True, False]), seed=5)
    observed = torch.bincount(x[:, 1], minlength=levels).double()
    exact = m.conditionals(torch.tensor([[2, 0]]))[0, 1].double().detach()
    assert chi_square(observed, exact * draws) < 13.816  # chi-square, 2 degrees of freedom, 0.1%


def test_a_category_of_probability_zero_is_never_drawn():
    m = ar.SoftmaxNADE(1, 3, hidden=2)
    logits = torch.tensor([[-1e4, 0.0, 0.0]])  # p(0) underflows to exactly 0
    assert m._draw(logits.expand(3, 3), torch.tensor([0.0, 0.25, 0.999], dtype=torch.float64), 1.0).tolist() == [1, 1, 2]


def test_with_two_levels_it_is_the_bernoulli_nade():
    binary = randomize(ar.NADE(7, hidden=5), seed=1).double()
    soft = ar.SoftmaxNADE(7, 2, hidden=5).double()
    assert soft.num_parameters() == binary.num_parameters()
    with torch.no_grad():  # category 1's weights are the binary model's; category 0 has none
        soft.W[:, 0], soft.V[:, 0], soft.b[:, 0] = binary.W, binary.V, binary.b
        soft.c.copy_(binary.c)
    x = all_values(7, 2)
    exact = dict(rtol=1e-12, atol=1e-12)  # float64: equal up to the order of additions
    torch.testing.assert_close(soft.log_prob(x), binary.log_prob(x.double()), **exact)
    torch.testing.assert_close(soft.logits(x)[..., 1], binary.logits(x.double()), **exact)
    assert torch.equal(soft.logits(x)[..., 0], torch.zeros(2**7, 7))


def test_without_a_reference_two_levels_contain_the_bernoulli_nade():
    binary = randomize(ar.NADE(7, hidden=5), seed=1)
    soft = ar.SoftmaxNADE(7, 2, hidden=5, reference=False)
    with torch.no_grad():  # category 0's weights at zero; category 1 is the binary model
        soft.W.zero_(), soft.V.zero_(), soft.b.zero_()
        soft.W[:, 1], soft.V[:, 1], soft.b[:, 1] = binary.W, binary.V, binary.b
        soft.c.copy_(binary.c)
    x = all_values(7, 2)
    torch.testing.assert_close(soft.log_prob(x), binary.log_prob(x.float()), rtol=1e-5, atol=1e-5)


def test_with_two_levels_it_starts_from_the_bernoulli_nades_weights():
    torch.manual_seed(3)
    binary = ar.NADE(7, hidden=5)
    torch.manual_seed(3)
    soft = ar.SoftmaxNADE(7, 2, hidden=5)
    for name in ("W", "V", "b"):
        assert torch.equal(getattr(soft, name)[:, 0], getattr(binary, name)), name
    assert torch.equal(soft.c, binary.c)


def test_category_zero_adds_nothing_to_the_hidden_units():
    m = model(5, 3)
    x = torch.tensor([[0, 0, 0, 0, 0], [0, 2, 0, 0, 1]])
    logits = m.logits(x)  # before any nonzero value every conditional sees h = σ(c)
    z = torch.sigmoid(m.c) @ m.V.transpose(1, 2) + m.b  # (n, K-1): logits 1..K-1 at h = σ(c)
    torch.testing.assert_close(logits[0, :, 1:], z)
    torch.testing.assert_close(logits[1, :2, 1:], z[:2])


@CODINGS
def test_logit_i_is_bit_identical_whatever_x_i_is(reference):
    m = model(12, 4, hidden=6, scale=3.0, reference=reference)
    x = torch.randint(0, 4, (20, 12), generator=torch.Generator().manual_seed(9))
    base = m.logits(x)
    for i in range(12):
        for k in range(4):
            changed = x.clone()
            changed[:, i] = k
            assert torch.equal(m.logits(changed)[:, : i + 1], base[:, : i + 1]), (i, k)


@CODINGS
def test_conditional_i_depends_only_on_earlier_dimensions(reference):
    m = model(6, 3, reference=reference)
    x = torch.randint(1, 3, (1, 6), generator=torch.Generator().manual_seed(2))  # no zeros
    shift = 1 if reference else 0
    logits = m.logits(x)
    for i in range(6):
        (grad,) = torch.autograd.grad(logits[0, i].sum(), m.W, retain_graph=True)
        assert torch.all(grad[i:] == 0), f"conditional {i} uses some x_j, j >= {i}"
        if i > 0:  # each earlier dimension reaches it, through the row its value selects
            assert all(grad[j, x[0, j] - shift].abs().sum() > 0 for j in range(i))


@CODINGS
def test_changing_later_dimensions_leaves_earlier_conditionals_unchanged(reference):
    m = model(7, 3, reference=reference)
    x = torch.randint(0, 3, (50, 7), generator=torch.Generator().manual_seed(4))
    other = torch.randint(0, 3, (50, 7), generator=torch.Generator().manual_seed(5))
    for i in range(7):
        changed = torch.cat([x[:, :i], other[:, i:]], dim=1)
        assert torch.equal(m.logits(changed)[:, : i + 1], m.logits(x)[:, : i + 1]), i


@CODINGS
def test_sample_frequencies_match_exact_probabilities(reference):
    n, levels, draws = 2, 3, 40_000
    m = model(n, levels, seed=3, scale=0.5, reference=reference)
    observed = torch.bincount(index_of(m.sample(draws, seed=1), levels), minlength=levels**n)
    exact = m.log_prob(all_values(n, levels)).double().exp().detach()
    assert chi_square(observed.double(), exact * draws) < CHI2_999[levels**n - 1]


def test_temperature_divides_every_logit():
    n, levels, draws, temperature = 2, 3, 40_000, 2.0
    m = model(n, levels, seed=4, scale=0.5)
    values = all_values(n, levels)
    p = torch.softmax(m.logits(values).double() / temperature, dim=-1)
    exact = p.gather(-1, values[..., None]).squeeze(-1).prod(dim=1).detach()
    x = m.sample(draws, seed=2, temperature=temperature)
    observed = torch.bincount(index_of(x, levels), minlength=levels**n).double()
    assert chi_square(observed, exact * draws) < CHI2_999[levels**n - 1]


def test_completion_keeps_observed_values_and_samples_the_rest():
    m = model(8, 4)
    given = torch.randint(0, 4, (30, 8), generator=torch.Generator().manual_seed(5))
    mask = torch.rand(30, 8, generator=torch.Generator().manual_seed(6)) < 0.5
    x = m.sample(x=given, mask=mask, seed=3)
    assert torch.equal(x[mask], given[mask]) and x.min() >= 0 and x.max() < 4


class PlainSamplingSoftmaxNADE(ar.SoftmaxNADE):
    _logit_at = Autoregressive._logit_at


@CODINGS
def test_incremental_sampler_equals_the_plain_one(reference):
    # in float64, where the two routes' rounding never flips a draw (see assert_same_draws)
    fast = model(9, 3, seed=7, scale=0.5, reference=reference).double()
    plain = PlainSamplingSoftmaxNADE(9, 3, hidden=4, reference=reference).double()
    plain.load_state_dict(fast.state_dict())
    assert_same_draws(fast.sample(50, seed=4), plain.sample(50, seed=4), torch.float64)


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (torch.full((2, 5), 3), ValueError, "0..2"),
        (torch.full((2, 5), -1), ValueError, "0..2"),
        (torch.zeros(2, 5), ValueError, "integer"),
        (torch.full((2, 5), float("nan")), ValueError, "integer"),
        (torch.zeros(2, 4, dtype=torch.long), ValueError, "shape"),
        ([[0, 1, 2, 0, 1]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(bad, error, words):
    with pytest.raises(error, match=words):
        model(5, 3).log_prob(bad)


def test_sizes_and_checkpoints(tmp_path):
    n, k, h = 784, 16, 100
    assert ar.SoftmaxNADE(n, k, hidden=h).num_parameters() == 2 * n * (k - 1) * h + n * (k - 1) + h
    full = ar.SoftmaxNADE(n, k, hidden=h, reference=False).num_parameters()
    assert full == 2 * n * k * h + n * k + h
    for kwargs in ({"levels": 1}, {"levels": 2, "hidden": 0}, {"levels": 2, "reference": 1}):
        with pytest.raises(ValueError):
            ar.SoftmaxNADE(5, **kwargs)
    for reference in (True, False):
        m = model(4, 3, reference=reference)
        ar.save(m, tmp_path / "m.pt")
        loaded = ar.load(tmp_path / "m.pt")
        assert loaded.config() == {"n": 4, "levels": 3, "hidden": 4, "reference": reference}
        x = all_values(4, 3)
        assert torch.equal(loaded.log_prob(x), m.log_prob(x))
        for name, p in m.state_dict().items():
            assert torch.equal(loaded.state_dict()[name], p), name


def test_hidden_may_be_a_numpy_integer():
    import numpy as np
    assert ar.SoftmaxNADE(4, 3, hidden=np.int64(4)).hidden == 4
