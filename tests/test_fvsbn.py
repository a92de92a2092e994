"""FVSBN: the masked layer equals the per-pixel formula, the parameter count, the fast sampler."""

from __future__ import annotations

import math

import pytest
import torch

import autoregressive as ar
from autoregressive.base import BinaryAutoregressive
from autoregressive.fvsbn import reference_logits
from helpers import all_binary, randomize


def test_masked_layer_equals_the_per_pixel_reference():
    model = randomize(ar.FVSBN(30), seed=1)  # masked-out weights are random too
    x = torch.bernoulli(torch.full((16, 30), 0.5), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.logits(x), reference_logits(model, x), rtol=1e-5, atol=1e-5)


def test_first_pixel_is_a_single_parameter():
    model = randomize(ar.FVSBN(5), seed=2)
    logits = model.logits(all_binary(5))[:, 0]
    assert torch.all(logits == model.linear.bias[0])


def test_parameter_count_is_n_times_n_plus_one_over_two():
    for n in (1, 2, 10, 784):
        assert ar.FVSBN(n).num_parameters() == n * (n + 1) // 2
    assert ar.FVSBN(784).num_parameters() == 307_720


def test_worked_example_of_the_lecture():
    # The chapter's four-pixel model: p(X1=0, X2=1, X3=1, X4=0) = (1 − x̂1) · x̂2 · x̂3 · (1 − x̂4)
    model = ar.FVSBN(4)
    with torch.no_grad():
        model.linear.bias.copy_(torch.tensor([-0.4, 0.2, 0.1, -0.3]))
        model.linear.weight.copy_(torch.tensor([
            [0.0, 0.0, 0.0, 0.0], [1.5, 0.0, 0.0, 0.0], [-0.7, 2.0, 0.0, 0.0], [0.4, -1.2, 0.9, 0.0]]))

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
    fast = randomize(ar.FVSBN(40), seed=4, scale=0.3)
    plain = PlainSamplingFVSBN(40)
    plain.load_state_dict(fast.state_dict())
    assert torch.equal(fast.sample(64, seed=11), plain.sample(64, seed=11))
    given = torch.bernoulli(torch.full((8, 40), 0.5), generator=torch.Generator().manual_seed(1))
    mask = torch.arange(40) % 3 == 0  # observed dimensions scattered through the order
    assert torch.equal(fast.sample(x=given, mask=mask, seed=3),
                       plain.sample(x=given, mask=mask, seed=3))


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
