"""NADE's features and the linear probe: what they compute, that the probe is linear and
separates what a line can separate, and that bad input is refused."""

import pytest
import torch

import autoregressive as ar
from autoregressive import representation as rep


def _random_nade(n=12, hidden=5, seed=0):
    torch.manual_seed(seed)
    model = ar.NADE(n, hidden=hidden)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 1)
    return model


def test_features_are_the_hidden_layer_after_the_last_pixel():
    model = _random_nade()
    x = torch.bernoulli(torch.full((7, 12), 0.5), generator=torch.Generator().manual_seed(1))
    a = model.c.detach().clone().expand(7, -1)
    for j in range(model.n):  # the running sum a_{j+1} = a_j + x_j W_j, through every pixel
        a = a + x[:, j:j + 1] * model.W.detach()[j]
    features = rep.nade_features(model, x, batch_size=3)  # batches of 3, 3 and 1
    assert features.shape == (7, 5)
    assert torch.allclose(features, torch.sigmoid(a), atol=1e-6)


def test_features_depend_on_the_last_pixel():
    # The conditionals never see x_n; the representation does.
    model = _random_nade()
    x = torch.zeros(2, 12)
    x[1, -1] = 1.0
    features = rep.nade_features(model, x)
    assert not torch.allclose(features[0], features[1])


def test_features_refuse_bad_input():
    model = _random_nade()
    with pytest.raises(TypeError, match="needs a NADE"):
        rep.nade_features(ar.FVSBN(12), torch.zeros(2, 12))
    with pytest.raises(ValueError, match="shape"):
        rep.nade_features(model, torch.zeros(2, 11))
    with pytest.raises(ValueError):
        rep.nade_features(model, torch.full((2, 12), 0.5))  # not binary
    with pytest.raises(ValueError, match="batch_size"):
        rep.nade_features(model, torch.zeros(2, 12), batch_size=0)


def _three_clusters(per_class=40, seed=0):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]], dtype=torch.float64)
    labels = torch.arange(3).repeat_interleave(per_class)
    noise = torch.randn(3 * per_class, 2, generator=generator, dtype=torch.float64)
    return centres[labels] + 0.5 * noise, labels


def test_classifier_separates_separable_classes():
    features, labels = _three_clusters()
    classifier = rep.fit_linear_classifier(features, labels, l2=1e-4)
    assert classifier.classes == 3
    assert classifier.accuracy(features, labels) == 1.0
    test_features, test_labels = _three_clusters(seed=1)
    assert classifier.accuracy(test_features, test_labels) == 1.0
    assert classifier.train_loss < 0.05


def test_classifier_is_linear_xor_defeats_it():
    # XOR of two coordinates: no line separates it, so at most 3 of the 4 corners are right.
    corners = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]).repeat(10, 1)
    labels = (corners[:, 0] != corners[:, 1]).long()
    classifier = rep.fit_linear_classifier(corners, labels, l2=0.0)
    assert classifier.accuracy(corners, labels) <= 0.75
    # The same problem with the product as a third feature is separable.
    lifted = torch.cat([corners, corners[:, :1] * corners[:, 1:]], dim=1)
    assert rep.fit_linear_classifier(lifted, labels, l2=0.0).accuracy(lifted, labels) == 1.0


def test_penalty_shrinks_the_weights_and_is_deterministic():
    features, labels = _three_clusters()
    weak = rep.fit_linear_classifier(features, labels, l2=1e-4)
    strong = rep.fit_linear_classifier(features, labels, l2=1.0)
    assert strong.weight.norm() < 0.5 * weak.weight.norm()
    again = rep.fit_linear_classifier(features, labels, l2=1e-4)
    assert torch.equal(weak.weight, again.weight) and torch.equal(weak.bias, again.bias)


def test_classifier_refuses_bad_input():
    features, labels = _three_clusters()
    fit = rep.fit_linear_classifier
    with pytest.raises(TypeError, match="features"):
        fit(features.numpy(), labels)
    with pytest.raises(TypeError, match="labels"):
        fit(features, labels.tolist())
    with pytest.raises(ValueError, match="shape"):
        fit(features[:, 0], labels)
    with pytest.raises(ValueError, match="one per example"):
        fit(features, labels[:-1])
    with pytest.raises(ValueError, match="integer"):
        fit(features, labels.double())
    with pytest.raises(ValueError, match=">= 0"):
        fit(features, labels - 1)
    with pytest.raises(ValueError, match="NaN"):
        fit(torch.where(labels[:, None] == 0, float("nan"), features), labels)
    with pytest.raises(ValueError, match="floating"):
        fit(features.long(), labels)
    with pytest.raises(ValueError, match="l2"):
        fit(features, labels, l2=-1.0)
    with pytest.raises(ValueError, match="max_iter"):
        fit(features, labels, max_iter=0)
    with pytest.raises(ValueError, match="below classes"):
        fit(features, labels, classes=2)
    with pytest.raises(ValueError, match="two different classes"):
        fit(features[:5], labels[:5])
    classifier = fit(features, labels)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        classifier.accuracy(torch.zeros(4, 3, dtype=torch.float64), labels[:4])
    with pytest.raises(ValueError, match="below classes"):
        classifier.accuracy(features[:2], torch.tensor([0, 3]))
