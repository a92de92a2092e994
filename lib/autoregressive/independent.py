"""Independent pixels: p(x) = Π_i Bernoulli(x_i; p_i), the simplest model family of the book.

It is the chain rule with every conditional ignoring the past, p(x_i | x_<i) = p(x_i): n
parameters, fitted in closed form by the pixel means, and blind to all structure between
pixels. The introduction uses it to show what "a model family" means and what it misses.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import BinaryAutoregressive, check_binary


class IndependentBernoulli(BinaryAutoregressive):
    """n independent Bernoulli variables, one logit each.

    n: the data dimension.
    """

    def __init__(self, n: int):
        super().__init__(n)
        self.logit = nn.Parameter(torch.zeros(n))  # (n,)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.logit.expand(x.shape[0], self.n)  # (B, n): the same for every input

    @torch.no_grad()
    def fit_closed_form(self, x: torch.Tensor, smoothing: float = 1.0) -> "IndependentBernoulli":
        """Maximum likelihood with add-``smoothing`` counts: p_i = (Σ x_i + s) / (N + 2s).

        ``smoothing`` must be positive: with none, a pixel that is never (or always) on gets
        probability exactly 0 (or 1), an infinite logit, and log p(x) = -inf for any image
        that disagrees with it.
        """
        check_binary(x, self.n)
        if not (isinstance(smoothing, (int, float)) and smoothing > 0):
            raise ValueError(f"smoothing must be a positive number, got {smoothing!r}")
        ones = x.to(self.device, torch.float64).sum(dim=0)
        p = (ones + smoothing) / (x.shape[0] + 2 * smoothing)
        self.logit.copy_(torch.logit(p).to(self.logit.dtype))
        return self
