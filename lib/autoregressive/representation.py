"""What a trained model's hidden units have learnt: features, and a linear probe on them.

A density model trained without labels can still learn features that make the labels easy to
read off. The test used here is a linear probe: fit the same multinomial logistic regression
once on the model's hidden activations and once on the raw pixels, and compare test accuracy.
A linear classifier can only use what the features make linearly available, so the difference
is what the features add (or lose).

- :func:`nade_features`: NADE's hidden layer after every pixel, h = σ(c + Σ_j x_j W_j), the
  pre-activation a_{n+1} that the running sum reaches at the end of an image;
- :func:`fit_linear_classifier`: multinomial logistic regression with an L2 penalty on the
  weights (not the biases), fitted full-batch by L-BFGS: the problem is convex, so the result
  depends on the data and the penalty only (deterministic, no learning rate, no epochs);
- :class:`LinearClassifier`: the fitted classifier (``predict``, ``accuracy``).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import check_binary, check_int
from .nade import NADE


# ---------------------------------------------------------------------------------------------
# Features


@torch.no_grad()
def nade_features(model: NADE, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """(B, H) hidden units of ``model`` after it has seen every pixel of ``x``: σ(c + x W).

    x: (B, n) binary images. Returned on the CPU, in the model's dtype.
    """
    if not isinstance(model, NADE):
        raise TypeError(f"nade_features needs a NADE, got {type(model).__name__}")
    check_binary(x, model.n)
    batch_size = check_int("batch_size", batch_size)
    parts = []
    for first in range(0, len(x), batch_size):
        batch = x[first:first + batch_size].to(model.device, model.W.dtype)  # (b, n)
        parts.append(torch.sigmoid(model.c + batch @ model.W).cpu())  # (b, H)
    if not parts:
        return torch.empty(0, model.hidden, dtype=model.W.dtype)
    return torch.cat(parts)  # (B, H)


# ---------------------------------------------------------------------------------------------
# A linear classifier


@dataclass
class LinearClassifier:
    """Multinomial logistic regression: scores = features @ weight + bias, and the predicted
    class is the one of largest score."""

    weight: torch.Tensor  # (d, K)
    bias: torch.Tensor  # (K,)
    train_loss: float  # mean cross-entropy (nats) on the training set, penalty excluded

    @property
    def classes(self) -> int:
        return self.weight.shape[1]

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """(B, K) class scores (logits)."""
        features = _check_features(features, self.weight.shape[0])
        return features.to(self.weight.dtype) @ self.weight + self.bias

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """(B,) the class of largest score, int64."""
        return self.scores(features).argmax(dim=1)

    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        """Fraction of ``labels`` predicted correctly, in [0, 1]."""
        features = _check_features(features, self.weight.shape[0])
        labels = _check_labels(labels, len(features), self.classes)
        return (self.predict(features) == labels).double().mean().item()


def fit_linear_classifier(features: torch.Tensor, labels: torch.Tensor, *, l2: float = 1e-4,
                          max_iter: int = 500, classes: int | None = None) -> LinearClassifier:
    """Fit multinomial logistic regression by full-batch L-BFGS.

    features: (N, d) finite real values, used as they are (not standardised: to compare two
        representations under one penalty, give both the same range, e.g. [0, 1]).
    labels: (N,) integer classes 0..K-1 (K = ``classes``, or max(labels) + 1).
    l2: the penalty l2 · ‖weight‖² added to the mean cross-entropy (biases are not penalised).
    max_iter: L-BFGS iterations at most (it stops earlier once the gradient vanishes).
    """
    features = _check_features(features)
    if not isinstance(l2, numbers.Real) or isinstance(l2, bool) or not math.isfinite(l2) or l2 < 0:
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    max_iter = check_int("max_iter", max_iter)
    if classes is not None:
        classes = check_int("classes", classes, minimum=2)
    labels = _check_labels(labels, len(features), classes)
    classes = classes or int(labels.max()) + 1
    if len(features) < 2 or labels.unique().numel() < 2:
        raise ValueError("a classifier needs at least two examples of two different classes")
    z = features.to(torch.float64 if features.dtype == torch.float64 else torch.float32)
    weight = torch.zeros(z.shape[1], classes, dtype=z.dtype, requires_grad=True)
    bias = torch.zeros(classes, dtype=z.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter,
                                  tolerance_grad=1e-6, tolerance_change=1e-10,
                                  history_size=20, line_search_fn="strong_wolfe")

    def objective():
        optimizer.zero_grad()
        loss = F.cross_entropy(z @ weight + bias, labels) + l2 * (weight * weight).sum()
        loss.backward()
        return loss

    optimizer.step(objective)
    with torch.no_grad():
        train_loss = F.cross_entropy(z @ weight + bias, labels).item()
    return LinearClassifier(weight.detach(), bias.detach(), train_loss)


# ---------------------------------------------------------------------------------------------
# Input checks


def _check_features(features, dim: int | None = None) -> torch.Tensor:
    if not isinstance(features, torch.Tensor):
        raise TypeError(f"features must be a torch.Tensor of shape (N, d), "
                        f"got {type(features).__name__}")
    if features.dim() != 2 or (dim is not None and features.shape[1] != dim):
        expected = f"(N, {dim})" if dim is not None else "(N, d)"
        raise ValueError(f"features must have shape {expected}, got {tuple(features.shape)}")
    if not torch.is_floating_point(features):
        raise ValueError(f"features must be floating point, got {features.dtype}")
    if not torch.isfinite(features).all():
        raise ValueError("features contain NaN or infinite values")
    return features.cpu()


def _check_labels(labels, count: int, classes: int | None) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of shape ({count},), "
                        f"got {type(labels).__name__}")
    if labels.dim() != 1 or len(labels) != count:
        raise ValueError(f"labels must have shape ({count},), one per example, "
                         f"got {tuple(labels.shape)}")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"labels must be integer classes, got {labels.dtype}")
    labels = labels.cpu().long()
    if count and labels.min() < 0:
        raise ValueError(f"labels must be >= 0, got {labels.min().item()}")
    if classes is not None and count and labels.max() >= classes:
        raise ValueError(f"labels must be below classes = {classes}, got {labels.max().item()}")
    return labels
