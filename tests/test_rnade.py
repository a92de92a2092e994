"""RNADE: densities that integrate to one, the autoregressive property, safe numerics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import autoregressive as ar
from autoregressive.base import Autoregressive
from autoregressive.rnade import reference_log_prob
from helpers import randomize


def model(n=2, components=3, hidden=6, seed=0, scale=0.5, **kwargs):
    return randomize(ar.RNADE(n, components=components, hidden=hidden, **kwargs), seed=seed,
                     scale=scale).eval()


def test_each_conditional_integrates_to_one():
    m = model(4)
    grid = torch.linspace(-20, 20, 4001)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    for i in range(4):
        mass = m.conditional_density(x, i, grid).sum(dim=1) * (grid[1] - grid[0])
        torch.testing.assert_close(mass, torch.ones(5), atol=1e-4, rtol=0)


def test_a_two_dimensional_density_integrates_to_one():
    m = model(2, seed=1)
    g = torch.linspace(-15, 15, 601)
    grid = torch.cartesian_prod(g, g)
    mass = m.log_prob(grid).exp().sum() * (g[1] - g[0]) ** 2
    assert abs(mass.item() - 1) < 1e-3


def test_log_prob_is_the_sum_of_the_conditional_densities():
    m = model(3, seed=2)
    x = torch.randn(4, 3, generator=torch.Generator().manual_seed(1))
    by_dimension = sum(m.conditional_density(x, i, x[:, i])[range(4), range(4)].log() for i in range(3))
    torch.testing.assert_close(m.log_prob(x), by_dimension, rtol=1e-5, atol=1e-5)


def test_one_component_is_a_gaussian_and_equal_weights_are_equal():
    m = model(3, components=1, seed=3)
    x = torch.randn(6, 3, generator=torch.Generator().manual_seed(2))
    mix = m.conditionals(x)
    normal = torch.distributions.Normal(mix["means"][..., 0], mix["stds"][..., 0])
    torch.testing.assert_close(m.log_prob(x), normal.log_prob(x).sum(dim=1), rtol=1e-5, atol=1e-5)
    equal = model(3, components=4, mixture_weights="equal")
    torch.testing.assert_close(equal.conditionals(x)["weights"], torch.full((6, 3, 4), 0.25))


def test_parameters_of_conditional_i_depend_only_on_earlier_dimensions():
    m = model(5, seed=4)
    x = torch.randn(1, 5, generator=torch.Generator().manual_seed(3), requires_grad=True)
    params = m.logits(x)  # (1, n, 3, K)
    for i in range(5):
        (grad,) = torch.autograd.grad(params[0, i].sum(), x, retain_graph=True)
        assert torch.all(grad[0, i:] == 0)
        assert torch.all(grad[0, :i] != 0)


def test_samples_follow_the_model_cdf():
    m = model(1, components=3, seed=5, scale=1.0)
    draws = 20_000
    x = m.sample(draws, seed=0)[:, 0].double().sort().values
    mix = {k: v[0, 0].double() for k, v in m.conditionals(torch.zeros(1, 1)).items()}
    cdf = (mix["weights"] * 0.5 * (1 + torch.erf((x[:, None] - mix["means"]) / (mix["stds"] * math.sqrt(2))))).sum(1)
    empirical = torch.arange(1, draws + 1, dtype=torch.float64) / draws
    ks = (cdf - empirical).abs().max().item()
    assert ks < 1.95 / math.sqrt(draws)  # Kolmogorov–Smirnov, 0.1% level


def test_incremental_sampler_equals_the_plain_one_and_completion_keeps_values():
    class Plain(ar.RNADE):
        _logit_at = Autoregressive._logit_at

    fast = model(6, seed=6)
    plain = Plain(6, components=3, hidden=6)
    plain.load_state_dict(fast.state_dict())
    torch.testing.assert_close(fast.sample(20, seed=1), plain.sample(20, seed=1))
    given = torch.randn(10, 6, generator=torch.Generator().manual_seed(4))
    mask = torch.arange(6) < 3
    completed = fast.sample(x=given, mask=mask, seed=2)
    assert torch.equal(completed[:, :3], given[:, :3]) and not torch.equal(completed, given)


def test_temperature_scales_the_spread():
    m = model(1, components=1, seed=7)
    wide, narrow = m.sample(20_000, seed=0, temperature=1.0), m.sample(20_000, seed=0, temperature=0.5)
    assert abs(narrow.std().item() / wide.std().item() - 0.5) < 1e-3  # same draws, half the spread


@pytest.mark.parametrize("weights", ["learnt", "equal"])
def test_log_prob_equals_the_reference_built_from_torch_distributions(weights):
    m = model(5, seed=9, mixture_weights=weights)
    x = torch.randn(7, 5, generator=torch.Generator().manual_seed(5)) * 3
    torch.testing.assert_close(m.log_prob(x), reference_log_prob(m, x), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("scale", [0.5, 5.0])  # 5.0: weights like trained ones, |W| > 1
def test_extreme_inputs_give_finite_values_and_gradients(scale):
    m = model(3, seed=8, scale=scale)
    x = torch.tensor([[1e30, -1e30, 0.0], [1e-30, 3.0e38, -3.0e38], [0.0, 0.0, 0.0]])
    log_p = m.log_prob(x)
    assert torch.isfinite(m.sample(4, seed=0)).all()
    assert not torch.isnan(log_p).any() and torch.isfinite(log_p).all()
    log_p.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (torch.tensor([[0.0, float("nan")]]), ValueError, "NaN"),
        (torch.tensor([[0.0, float("inf")]]), ValueError, "infinite"),
        (torch.tensor([[0.0, 1e300]], dtype=torch.float64), ValueError, "infinite"),  # inf in float32
        (torch.zeros(2, 2, dtype=torch.long), ValueError, "floating-point"),
        (torch.zeros(2, 3), ValueError, "shape"),
        ([[0.0, 1.0]], TypeError, "torch.Tensor"),
    ],
)
def test_bad_input_is_refused(bad, error, words):
    with pytest.raises(error, match=words):
        model(2).log_prob(bad)


def test_bad_settings_and_checkpoints(tmp_path):
    with pytest.raises(ValueError, match="mixture_weights"):
        ar.RNADE(3, mixture_weights="uniform")
    with pytest.raises(ValueError, match="components"):
        ar.RNADE(3, components=0)
    m = model(3, mixture_weights="equal")
    learnt = model(3, mixture_weights="learnt")
    assert learnt.num_parameters() - m.num_parameters() == 3 * 3 * (6 + 1)  # unused weight outputs
    ar.save(m, tmp_path / "r.pt")
    loaded = ar.load(tmp_path / "r.pt")
    assert loaded.config() == m.config()
    x = torch.randn(4, 3)
    assert torch.equal(loaded.log_prob(x), m.log_prob(x))


def test_evaluation_of_a_density_has_no_bits_per_dimension():
    result = ar.evaluate(model(2), torch.randn(10, 2))
    assert result.bits_per_dim is None and "bits/dim" not in str(result)


def test_a_component_of_weight_zero_is_never_drawn():
    # Component K-1 has weight exactly 0; with the component's uniform just below 1 a float32
    # CDF that stops short of 1 would run past the others into it. Means 0, 10, 20, ... and
    # tiny spreads tell from each draw which component it came from.
    m, rows, K = ar.RNADE(1, components=5), 2000, 5
    params = torch.zeros(rows, 3, K)
    params[:, 0] = torch.randn(rows, K, generator=torch.Generator().manual_seed(0)) * 3
    params[:, 0, -1] = -1e4
    params[:, 1] = 10.0 * torch.arange(K)
    params[:, 2] = -7.0
    u = torch.stack([torch.full((rows,), 1 - 2**-24), torch.full((rows,), 0.5)], dim=1).double()
    component = (m._draw(params, u, 1.0) / 10).round()
    assert not (component == K - 1).any()


def test_conditional_density_refuses_a_bad_index_or_grid():
    m, x = model(3), torch.zeros(2, 3)
    grid = torch.linspace(-2, 2, 5)
    for i in (1.0, 1.5, True, "1", 3, -1):
        with pytest.raises(ValueError, match=r"i must be an int in 0\.\.2"):
            m.conditional_density(x, i, grid)
    with pytest.raises(TypeError, match="grid must be a torch.Tensor"):
        m.conditional_density(x, 1, [-1.0, 0.0, 1.0])
    for bad in (torch.zeros(2, 3), torch.arange(5)):
        with pytest.raises(ValueError, match="grid must be a 1-D floating-point tensor"):
            m.conditional_density(x, 1, bad)
    torch.testing.assert_close(m.conditional_density(x, np.int64(1), grid),
                               m.conditional_density(x, 1, grid))


def test_sizes_may_be_numpy_integers(tmp_path):
    m = ar.RNADE(np.int64(3), components=np.int32(2), hidden=np.int16(4))
    assert m.config() == {"n": 3, "components": 2, "hidden": 4, "mixture_weights": "learnt"}
    assert all(type(v) is int for k, v in m.config().items() if k != "mixture_weights")
    ar.save(m, tmp_path / "r.pt")  # a checkpoint holds plain ints, which load accepts
    assert ar.load(tmp_path / "r.pt").config() == m.config()
