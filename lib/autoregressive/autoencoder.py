"""An ordinary autoencoder for binary vectors, and the tool that shows what a network's outputs
depend on.

The autoencoder is the natural point of comparison for autoregressive models (and the
starting point of MADE, Germain et al. 2015): x → h = relu(W₁x + b₁) → x̂ = σ(W₂h + b₂),
trained to reconstruct its input. Every output sees every input, so x̂ is not a set of
conditionals, its reconstruction error is not a log-likelihood, and there is nothing to sample
from: it is deliberately *not* a :class:`~autoregressive.base.DensityModel`.

:func:`dependency_matrix` measures, by autograd, which inputs each output of any network
depends on: dense for an autoencoder, strictly lower-triangular (in the model's ordering) for an
autoregressive model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import check_binary, check_int


class Autoencoder(nn.Module):
    """A one-hidden-layer autoencoder of n binary dimensions.

    n: the data dimension (784 for MNIST).
    hidden: H, the hidden units (the code the input is squeezed through).
    """

    def __init__(self, n: int, hidden: int = 500):
        super().__init__()
        self.n, self.hidden = check_int("n", n), check_int("hidden", hidden)
        self.encoder = nn.Linear(n, hidden)
        self.decoder = nn.Linear(hidden, n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n) binary input -> (B, n) reconstruction logits, every one a function of all of x."""
        check_binary(x, self.n)
        x = x.to(self.encoder.weight.device, self.encoder.weight.dtype)
        return self.decoder(torch.relu(self.encoder(x)))  # (B, H) -> (B, n)

    def reconstruction_error(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) cross-entropy between x and its reconstruction, in nats: −Σ_i log x̂_i(x)^{x_i}
        (1 − x̂_i(x))^{1−x_i}. It looks like a negative log-likelihood, but x̂ was computed from
        x itself, so exp(−error) summed over all inputs is not 1."""
        logits = self(x)
        return F.binary_cross_entropy_with_logits(logits, x.to(logits.device, logits.dtype),
                                                  reduction="none").sum(dim=1)


def dependency_matrix(outputs, x: torch.Tensor) -> torch.Tensor:
    """The Jacobian J[i, j] = ∂ outputs(x)_i / ∂ x_j at one input, by autograd.

    outputs: a function from (B, n) inputs to (B, m) outputs that treats rows independently
        (a model's logits, an autoencoder's reconstruction).
    x: (n,) the input at which to differentiate.
    Returns an (m, n) tensor. One batched pass: x is repeated m times and row i of the batch
    carries the gradient of output i, so it works for any differentiable function, including
    custom autograd functions. Parameters' ``.grad`` are left as they were; outputs that do not
    depend on x at all give a matrix of zeros.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 1:
        raise ValueError(f"x must be one input, a tensor of shape (n,), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    x = x.detach().to(torch.get_default_dtype() if not x.is_floating_point() else x.dtype)
    m = outputs(x[None]).shape[1]
    rows = x.repeat(m, 1).requires_grad_(True)  # (m, n)
    out = outputs(rows)  # (m, m)
    if not out.requires_grad:
        return torch.zeros_like(rows)
    (grad,) = torch.autograd.grad(out.diagonal().sum(), rows, allow_unused=True)  # row i: ∂ out_i / ∂ x
    return torch.zeros_like(rows) if grad is None else grad  # (m, n)
