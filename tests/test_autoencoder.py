"""The plain autoencoder, the dependency matrix, and why reconstruction error is no likelihood."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import autoregressive as ar
from helpers import all_binary, randomize


def test_dependency_matrix_of_a_linear_model_is_its_weights():
    model = randomize(ar.FVSBN(9), seed=1)
    x = all_binary(9)[123]
    torch.testing.assert_close(ar.dependency_matrix(model.logits, x), model.weights())


def test_dependency_matrix_is_the_jacobian_of_any_function():
    model = randomize(ar.NADE(7, hidden=5, block=3), seed=2)
    x = all_binary(7)[77]
    expected = torch.autograd.functional.jacobian(lambda v: model.logits(v[None])[0], x)
    torch.testing.assert_close(ar.dependency_matrix(model.logits, x), expected)


def test_dependency_matrix_leaves_gradients_alone_and_is_zero_without_dependence():
    model = randomize(ar.FVSBN(5), seed=4)
    ar.dependency_matrix(model.logits, all_binary(5)[9])
    assert all(p.grad is None for p in model.parameters())
    independent = ar.IndependentBernoulli(5)
    assert torch.equal(ar.dependency_matrix(independent.logits, all_binary(5)[9]), torch.zeros(5, 5))


def test_the_autoencoder_depends_on_everything_and_nade_only_on_the_past():
    n = 10
    x = all_binary(n)[300]
    autoencoder = randomize(ar.Autoencoder(n, hidden=12), seed=3)
    dense = ar.dependency_matrix(autoencoder, x)
    assert (dense != 0).all()  # x̂_i is a function of every x_j, x_i itself included
    nade = randomize(ar.NADE(n, hidden=12), seed=3)
    lower = ar.dependency_matrix(nade.logits, x)
    assert torch.equal(lower != 0, torch.ones(n, n).tril(-1).bool())


def test_reconstruction_error_of_a_perfect_copier_is_no_likelihood():
    # An autoencoder that copies its input reconstructs every x almost perfectly, so
    # exp(-error) is near 1 for each of the 2^n inputs: summed, about 2^n, not 1.
    n = 6
    model = ar.Autoencoder(n, hidden=n)
    with torch.no_grad():
        model.encoder.weight.copy_(torch.eye(n))
        model.encoder.bias.zero_()
        model.decoder.weight.copy_(20 * torch.eye(n))
        model.decoder.bias.fill_(-10.0)
    x = all_binary(n)
    total = (-model.reconstruction_error(x)).double().exp().sum().item()
    assert total == pytest.approx(2**n, rel=1e-3)


def test_fit_trains_an_autoencoder_on_its_reconstruction_error():
    generator = torch.Generator().manual_seed(0)
    prototypes = torch.bernoulli(torch.full((4, 12), 0.5), generator=generator)
    data = prototypes[torch.randint(4, (400,), generator=generator)]
    torch.manual_seed(0)  # a fixed start: about 1 in 10 random starts stalls above the bar
    model = ar.Autoencoder(12, hidden=8)
    before = model.reconstruction_error(data).mean().item()
    history = ar.fit(model, data, data[:100], epochs=30, lr=1e-2, loss=model.reconstruction_error,
                     progress=False, patience=None)
    assert history.valid_nll[-1] < 0.1 * before
    with pytest.raises(TypeError, match="no log-likelihood: pass loss"):
        ar.fit(model, data, data, epochs=1, progress=False)


@pytest.mark.parametrize("bad, error, words", [
    (torch.ones(3, 5), ValueError, r"shape \(B, 6\)"),
    (torch.full((3, 6), 0.5), ValueError, "binary"),
    ([[0, 1]], TypeError, "torch.Tensor"),
])
def test_bad_input_is_refused(bad, error, words):
    with pytest.raises(error, match=words):
        ar.Autoencoder(6, hidden=3)(bad)


def test_bad_settings_and_inputs_to_the_tools_are_refused():
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        ar.Autoencoder(6, hidden=0)
    with pytest.raises(ValueError, match=r"shape \(n,\)"):
        ar.dependency_matrix(ar.FVSBN(4).logits, torch.zeros(2, 4))
    with pytest.raises(TypeError, match="loss must be a function"):
        ar.fit(ar.FVSBN(4), torch.zeros(4, 4), torch.zeros(4, 4), epochs=1, loss=3)


def test_sizes_may_be_numpy_integers_but_not_floats():
    model = ar.Autoencoder(np.int64(6), hidden=np.int32(3))
    assert (model.n, model.hidden) == (6, 3) and type(model.n) is int
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        ar.Autoencoder(6, hidden=3.0)
