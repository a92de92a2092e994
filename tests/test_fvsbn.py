"""FVSBN: the masked layer equals the per-pixel formula, the parameter count, the fast sampler,
and the convex solver reaches the optimum of the penalised likelihood."""

from __future__ import annotations

import math

import pytest
import torch

import autoregressive as ar
from autoregressive.base import BinaryAutoregressive
from autoregressive.fvsbn import fit_convex, reference_logits
from helpers import all_binary, assert_same_draws, randomize


def test_masked_layer_equals_the_per_pixel_reference():
    model = randomize(ar.FVSBN(30), seed=1)  # masked-out weights are random too
    x = torch.bernoulli(torch.full((16, 30), 0.5),
                        generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.logits(x), reference_logits(model, x),
                               rtol=1e-5, atol=1e-5)


def test_first_pixel_is_a_single_parameter():
    model = randomize(ar.FVSBN(5), seed=2)
    logits = model.logits(all_binary(5))[:, 0]
    assert torch.all(logits == model.linear.bias[0])


def test_parameter_count_is_n_times_n_plus_one_over_two():
    for n in (1, 2, 10, 784):
        assert ar.FVSBN(n).num_parameters() == n * (n + 1) // 2
    assert ar.FVSBN(784).num_parameters() == 307_720


def test_worked_example():
    # The chapter's four-pixel model:
    # p(X1=0, X2=1, X3=1, X4=0) = (1 − x̂1) · x̂2 · x̂3 · (1 − x̂4)
    model = ar.FVSBN(4)
    with torch.no_grad():
        model.linear.bias.copy_(torch.tensor([-0.4, 0.2, 0.1, -0.3]))
        model.linear.weight.copy_(torch.tensor([
            [0.0, 0.0, 0.0, 0.0], [1.5, 0.0, 0.0, 0.0],
            [-0.7, 2.0, 0.0, 0.0], [0.4, -1.2, 0.9, 0.0]]))

    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    x1, x2, x3, x4 = 0, 1, 1, 0
    xhat1 = sigmoid(-0.4)
    xhat2 = sigmoid(0.2 + 1.5 * x1)
    xhat3 = sigmoid(0.1 - 0.7 * x1 + 2.0 * x2)
    xhat4 = sigmoid(-0.3 + 0.4 * x1 - 1.2 * x2 + 0.9 * x3)
    by_hand = (1 - xhat1) * xhat2 * xhat3 * (1 - xhat4)
    x = torch.tensor([[x1, x2, x3, x4]], dtype=torch.float32)
    assert math.isclose(model.log_prob(x).exp().item(), by_hand, rel_tol=1e-6)
    assert round(by_hand, 6) == 0.189349  # the figure the chapter prints


class PlainSamplingFVSBN(ar.FVSBN):
    """FVSBN sampled the slow way: the whole network once per pixel."""

    _logit_at = BinaryAutoregressive._logit_at


def test_incremental_sampler_equals_the_plain_one():
    # in float64, where the two routes' rounding never flips a draw (see assert_same_draws)
    fast = randomize(ar.FVSBN(40), seed=4, scale=0.3).double()
    plain = PlainSamplingFVSBN(40).double()
    plain.load_state_dict(fast.state_dict())
    assert_same_draws(fast.sample(64, seed=11), plain.sample(64, seed=11), torch.float64)
    given = torch.bernoulli(torch.full((8, 40), 0.5), generator=torch.Generator().manual_seed(1))
    mask = torch.arange(40) % 3 == 0  # observed dimensions scattered through the order
    assert_same_draws(fast.sample(x=given, mask=mask, seed=3),
                      plain.sample(x=given, mask=mask, seed=3), torch.float64)


def test_independent_bernoulli_fits_the_pixel_means():
    x = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    model = ar.IndependentBernoulli(3).fit_closed_form(x, smoothing=1e-9)
    torch.testing.assert_close(model.conditionals(x[:1])[0], torch.tensor([0.75, 0.25, 0.25]))
    assert ar.IndependentBernoulli(3).num_parameters() == 3
    smoothed = ar.IndependentBernoulli(3).fit_closed_form(x)  # add-one: (3 + 1) / (4 + 2)
    assert abs(smoothed.conditionals(x[:1])[0, 0].item() - 4 / 6) < 1e-6
    for bad in (0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="smoothing"):
            ar.IndependentBernoulli(3).fit_closed_form(x, smoothing=bad)


# ---------------------------------------------------------------------------------------------
# Training to the optimum


def small_problem(n=8, rows=3000, seed=5):
    """Samples of a random FVSBN: every pixel takes both values, so the optimum is finite."""
    source = randomize(ar.FVSBN(n), seed=seed, scale=1.0)
    return source.sample(rows, seed=seed)


def penalised_objective(model, x, l2):
    """mean NLL + l2/2 ||W||² over the free weights, by autograd through the model itself."""
    weight = model.linear.masked_weight()
    return -model.log_prob(x).mean() + 0.5 * l2 * weight.pow(2).sum()


def test_fit_convex_reaches_a_stationary_point_and_reports_it():
    x = small_problem().double()
    model = ar.FVSBN(8).double()
    info = fit_convex(model, x, l2=1e-2, tol=1e-7, max_iter=500)
    assert info.converged and info.iterations > 0
    value = penalised_objective(model, x, 1e-2)
    value.backward()
    mask = model.linear.mask.bool()
    gradient = torch.cat([model.linear.weight.grad[mask], model.linear.bias.grad])
    assert gradient.norm().item() < 1e-6  # autograd agrees: the gradient vanishes here
    assert abs(info.grad_norm - gradient.norm().item()) < 1e-8
    assert math.isclose(info.objective, value.item(), rel_tol=1e-10)
    assert math.isclose(info.train_nll, ar.evaluate(model, x).nats, rel_tol=1e-10)
    assert info.objectives[0] > info.objective  # it moved downhill from the zero start


def test_fit_convex_reports_the_objective_and_gradient_autograd_finds():
    # n = 150 splits W into several diagonal blocks; the start is random, masked-out weights too
    x = small_problem(n=150, rows=500, seed=6).double()
    model = randomize(ar.FVSBN(150), seed=7, scale=0.1).double()
    info = fit_convex(model, x, l2=0.3, max_iter=2)
    value = penalised_objective(model, x, 0.3)
    value.backward()
    mask = model.linear.mask.bool()
    gradient = torch.cat([model.linear.weight.grad[mask], model.linear.bias.grad])
    assert math.isclose(info.objective, value.item(), rel_tol=1e-12)
    assert math.isclose(info.grad_norm, gradient.norm().item(), rel_tol=1e-9)
    assert math.isclose(info.grad_max, gradient.abs().max().item(), rel_tol=1e-9)
    assert info.objectives[0] > info.objective and 1 <= info.iterations <= 2


def test_fit_convex_is_at_least_as_good_as_adam():
    x = small_problem()
    adam = ar.FVSBN(8)
    ar.fit(adam, x, x, epochs=5, lr=1e-2, patience=None, progress=False)
    convex = ar.FVSBN(8)
    info = fit_convex(convex, x, l2=0.0, tol=1e-6)
    with torch.no_grad():
        assert info.objective <= penalised_objective(adam, x, 0.0).item() + 1e-6
        # and strictly better than a start a few Adam epochs leave behind
        assert penalised_objective(adam, x, 0.0).item() - info.objective > 1e-3


def test_fit_convex_penalises_weights_but_not_biases():
    x = small_problem()
    model = ar.FVSBN(8).double()
    with torch.no_grad():
        model.linear.weight.fill_(0.5)  # masked-out entries too: they must stay as they are
    fit_convex(model, x.double(), l2=1e4, tol=1e-10)
    mask = model.linear.mask.bool()
    assert model.linear.weight[mask].abs().max() < 1e-3  # a strong penalty: weights near 0
    assert torch.all(model.linear.weight[~mask] == 0.5)
    # unpenalised biases go to the independent maximum-likelihood fit, the logit of the means
    means = x.double().mean(dim=0)
    torch.testing.assert_close(model.linear.bias.detach(), torch.logit(means),
                               rtol=0, atol=1e-3)


def test_fit_convex_warm_start_continues_from_the_current_parameters():
    x = small_problem()
    model = ar.FVSBN(8).double()
    first = fit_convex(model, x.double(), l2=1e-2, tol=1e-7)
    again = fit_convex(model, x.double(), l2=1e-2, tol=1e-7)
    assert first.converged and first.iterations > 0
    assert again.converged and again.iterations == 0  # already at the optimum
    assert again.objective <= first.objective + 1e-12


@pytest.mark.parametrize("kwargs, error", [
    ({"l2": -1.0}, ValueError), ({"l2": float("nan")}, ValueError),
    ({"l2": 0.1, "tol": 0}, ValueError), ({"l2": 0.1, "max_iter": 0}, ValueError),
    ({"l2": 0.1, "chunk": 2.5}, ValueError),
])
def test_fit_convex_refuses_bad_arguments(kwargs, error):
    with pytest.raises(error):
        fit_convex(ar.FVSBN(8), small_problem(rows=20), **kwargs)


def test_fit_convex_refuses_other_models_and_non_binary_data():
    with pytest.raises(TypeError, match="FVSBN"):
        fit_convex(ar.NADE(8, 4), small_problem(rows=20), l2=0.1)
    with pytest.raises(ValueError, match="binary"):
        fit_convex(ar.FVSBN(8), torch.full((4, 8), 0.5), l2=0.1)
