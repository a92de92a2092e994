"""NADE: the fast path equals the formula, in value and gradient; O(nH) sampling; the count."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import autoregressive as ar
from autoregressive.base import BinaryAutoregressive
from autoregressive.nade import autograd_log_prob, autograd_logits, reference_logits
from helpers import assert_same_draws, randomize


def binary(rows: int, n: int, seed: int, p: float = 0.3) -> torch.Tensor:
    return torch.bernoulli(torch.full((rows, n), p), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("n, hidden, block", [(1, 3, 1), (13, 5, 4), (30, 8, 7), (30, 8, 64)])
def test_fast_logits_equal_the_formula_and_the_autograd_version(n, hidden, block):
    model = randomize(ar.NADE(n, hidden=hidden, block=block), seed=n, scale=0.5)
    x = binary(9, n, seed=1)
    fast = model.logits(x)
    torch.testing.assert_close(fast, reference_logits(model, x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast, autograd_logits(model, x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("logits", [autograd_logits, lambda model, x: model.logits(x)],
                         ids=["cumsum (the GPU path)", "blockwise (the CPU path)"])
def test_logit_i_is_bit_identical_whatever_x_i_and_later_values_are(logits):
    # Not equal up to rounding: identical. A prefix sum taken as cumsum − x_i W_i would
    # let x_i leak into logit i at the level of rounding.
    n = 30
    model = randomize(ar.NADE(n, hidden=16, block=7), seed=3)
    x = binary(20, n, seed=4, p=0.5)
    before = logits(model, x)
    for i in range(n):
        changed = x.clone()
        changed[:, i:] = 1 - changed[:, i:]
        assert torch.equal(logits(model, changed)[:, i], before[:, i]), f"logit {i} moved"


def test_the_benchmark_baseline_is_the_same_likelihood():
    model = randomize(ar.NADE(12, hidden=5, block=5), seed=11, scale=0.5)
    x = binary(6, 12, seed=12)
    torch.testing.assert_close(autograd_log_prob(model, x), model.log_prob(x), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("block", [1, 5, 28])
def test_hand_derived_gradients_equal_autograd(block):
    n = 28
    model = randomize(ar.NADE(n, hidden=6, block=block), seed=2, scale=0.5)
    x = binary(11, n, seed=3).requires_grad_(True)
    weights = torch.randn(11, n, generator=torch.Generator().manual_seed(4))
    inputs = [x, *model.parameters()]
    fast = torch.autograd.grad((model._logits(x) * weights).sum(), inputs)
    plain = torch.autograd.grad((autograd_logits(model, x) * weights).sum(), inputs)
    for name, a, b in zip(["x", "W", "c", "V", "b"], fast, plain):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=f"gradient of {name}")


def test_gradient_check_in_double_precision():
    model = randomize(ar.NADE(9, hidden=4, block=4), seed=5).double()
    x = binary(3, 9, seed=6).double()

    def logits(W, c, V, b):
        return ar.nade._NADELogits.apply(x, W, c, V, b, 4)

    assert torch.autograd.gradcheck(logits, tuple(p.detach().requires_grad_() for p in model.parameters()))


class PlainSamplingNADE(ar.NADE):
    """NADE sampled the slow way: the whole network once per pixel."""

    _logit_at = BinaryAutoregressive._logit_at


def test_incremental_sampler_equals_the_plain_one():
    # in float64, where the two routes' rounding never flips a draw (see assert_same_draws)
    fast = randomize(ar.NADE(20, hidden=5, block=6), seed=7, scale=0.5).double()
    plain = PlainSamplingNADE(20, hidden=5, block=6).double()
    plain.load_state_dict(fast.state_dict())
    assert_same_draws(fast.sample(40, seed=3), plain.sample(40, seed=3), torch.float64)
    given, mask = binary(6, 20, seed=8), torch.arange(20) % 4 == 1
    assert_same_draws(fast.sample(x=given, mask=mask, seed=2),
                      plain.sample(x=given, mask=mask, seed=2), torch.float64)


def test_parameter_count_is_2nh_plus_n_plus_h():
    n, hidden = 784, 500
    assert ar.NADE(n, hidden=hidden).num_parameters() == 2 * n * hidden + n + hidden == 785_284


def test_bad_sizes_are_refused():
    for kwargs in ({"hidden": 0}, {"block": 0}, {"hidden": 2.5}):
        with pytest.raises(ValueError, match="positive int"):
            ar.NADE(10, **kwargs)


def test_checkpoint_keeps_the_hidden_size(tmp_path):
    model = randomize(ar.NADE(12, hidden=7, block=5), seed=9)
    ar.save(model, tmp_path / "nade.pt")
    loaded = ar.load(tmp_path / "nade.pt")
    assert loaded.config() == {"n": 12, "hidden": 7, "block": 5}
    x = binary(4, 12, seed=10)
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))


def test_sizes_may_be_numpy_integers(tmp_path):
    model = ar.NADE(np.int64(5), hidden=np.int32(3), block=np.uint8(2))
    assert model.config() == {"n": 5, "hidden": 3, "block": 2}
    assert all(type(v) is int for v in model.config().values())
    ar.save(model, tmp_path / "m.pt")
    assert ar.load(tmp_path / "m.pt").config() == model.config()
    for bad in (np.float64(3.0), np.bool_(True), 0):
        with pytest.raises(ValueError, match="hidden must be a positive int"):
            ar.NADE(5, hidden=bad)
