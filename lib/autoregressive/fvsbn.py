"""Fully visible sigmoid belief network (FVSBN): every conditional a logistic regression.

Follows the lecture and Frey (1998), as benchmarked by Larochelle & Murray (2011):

    p(x_1 = 1)         = σ(α⁰¹)                          (the first pixel: a single parameter)
    p(x_i = 1 | x_<i)  = σ(α⁰ⁱ + Σ_{j<i} αʲⁱ x_j)       (i = 2, ..., n)

All n conditionals are one masked linear layer: the weight matrix W (W[i, j] = αʲⁱ) is used only
strictly below its diagonal, so logit_i sees x_j for j < i alone. Free parameters: n biases and
n(n-1)/2 weights, n(n+1)/2 in all (≈ n²/2).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import BinaryAutoregressive, check_binary
from .layers import MaskedLinear


class FVSBN(BinaryAutoregressive):
    """FVSBN over n binary dimensions in raster order.

    n: the data dimension (784 for MNIST).
    """

    def __init__(self, n: int):
        super().__init__(n)
        mask = torch.ones(n, n).tril(diagonal=-1)  # mask[i, j] = 1 iff j < i
        self.linear = MaskedLinear(n, n, mask)
        nn.init.zeros_(self.linear.weight)  # the log-likelihood is concave: any start will do
        nn.init.zeros_(self.linear.bias)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)  # (B, n)

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        # The running pre-activation a = b + W x_fixed, one column of W per fixed dimension:
        # O(n) work per dimension, O(n²) per sample instead of O(n³).
        if "weight" not in state:
            state["weight"] = self.linear.masked_weight()  # (n, n), masked once per run
        a = self._running_sum(
            state, i, lambda: self.linear.bias.expand(x.shape[0], self.n),  # (B, n)
            lambda j, k: x[:, j:k] @ state["weight"][:, j:k].T)  # (B, k-j) @ (k-j, n)
        return a[:, i]

    def weights(self) -> torch.Tensor:
        """(n, n) effective weights: row i holds αʲⁱ for j < i and zeros elsewhere."""
        return self.linear.masked_weight().detach()


# ---------------------------------------------------------------------------------------------
# Reference version, for the tests


def reference_logits(model: FVSBN, x: torch.Tensor) -> torch.Tensor:
    """The conditionals one pixel at a time, straight from the formula, with no mask."""
    check_binary(x, model.n)
    x = x.to(model.device, model.dtype)
    weight, bias = model.linear.weight, model.linear.bias
    columns = [bias[i] + x[:, :i] @ weight[i, :i] for i in range(model.n)]  # each (B,)
    return torch.stack(columns, dim=1)  # (B, n)
