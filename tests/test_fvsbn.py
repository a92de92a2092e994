"""FVSBN: the masked layer equals the per-pixel formula, the parameter count, the fast sampler."""

from __future__ import annotations

import math

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
    # p(X1=0, X2=1, X3=1, X4=0) = (1 − x̂1) · x̂2 · x̂3 · (1 − x̂4)
    model = randomize(ar.FVSBN(4), seed=3)
    x = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    p = model.conditionals(x)[0]
    by_hand = (1 - p[0]) * p[1] * p[2] * (1 - p[3])
    assert math.isclose(model.log_prob(x).exp().item(), by_hand.item(), rel_tol=1e-6)


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
    model = ar.IndependentBernoulli(3).fit_closed_form(x, smoothing=0.0)
    torch.testing.assert_close(model.conditionals(x[:1])[0], torch.tensor([0.75, 0.25, 0.25]))
    assert ar.IndependentBernoulli(3).num_parameters() == 3
