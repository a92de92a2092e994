"""NADE for general discrete data: K-way categorical conditionals with a softmax output.

The lecture's extension of NADE (Larochelle & Murray 2011; as in Uria et al. 2016, "Neural
Autoregressive Distribution Estimation", JMLR) to x_i ∈ {0, ..., K-1}:

    a_i = c + Σ_{j<i} W_{j, x_j}            (the input x_j one-hot: it selects one row of W_j)
    h_i = σ(a_i)
    p(x_i = k | x_<i) = softmax(V_i h_i + b_i)_k

W is (n, K, H): W_{j, k} is what "x_j = k" adds to the hidden pre-activation; V is (n, K, H)
and b is (n, K). With K = 2 it contains the Bernoulli NADE (category 0's weights at zero:
softmax over two logits (0, z) is σ(z)), and a little more: Σ_{j<i} W_{j,0} acts as a hidden
bias that changes with i. Parameters: 2nKH + nK + H.

log p(x) costs O(nKH) per example (the running sum is O(nH), the outputs O(nKH)); sampling
keeps the running sum and costs the same per sample.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import CategoricalAutoregressive, check_categorical


class SoftmaxNADE(CategoricalAutoregressive):
    """NADE over n dimensions with K values each, in raster order.

    n: the data dimension. levels: K. hidden: H, hidden units shared by every conditional.
    """

    def __init__(self, n: int, levels: int, hidden: int = 250):
        super().__init__(n, levels)
        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
            raise ValueError(f"hidden must be a positive int, got {hidden!r}")
        self.hidden = hidden
        self.W = nn.Parameter(torch.randn(n, levels, hidden) * 0.01)  # W[j, k]: x_j = k -> hidden
        self.c = nn.Parameter(torch.zeros(hidden))
        self.V = nn.Parameter(torch.randn(n, levels, hidden) * 0.01)  # V[i, k]: hidden -> logit k
        self.b = nn.Parameter(torch.zeros(n, levels))

    def config(self) -> dict:
        return {"n": self.n, "levels": self.levels, "hidden": self.hidden}

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n) categories -> (B, n, H): row W[j, x_j] for every dimension j."""
        return self.W[torch.arange(self.n, device=x.device), x]

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        contributions = self._inputs(x)  # (B, n, H)
        a = self.c + contributions.cumsum(dim=1) - contributions  # (B, n, H): sum over j < i
        h = torch.sigmoid(a)
        return torch.einsum("bnh,nkh->bnk", h, self.V) + self.b  # (B, n, K)

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        rows = torch.arange(self.n, device=x.device)
        a = self._running_sum(state, i, lambda: self.c.expand(x.shape[0], self.hidden),
                              lambda j, k: self.W[rows[j:k], x[:, j:k]].sum(dim=1))  # (B, H)
        return torch.sigmoid(a) @ self.V[i].T + self.b[i]  # (B, K)


def reference_logits(model: SoftmaxNADE, x: torch.Tensor) -> torch.Tensor:
    """Each conditional straight from the formula, O(n²H), for the tests."""
    check_categorical(x, model.n, model.levels)
    x = x.to(model.device)
    rows = []
    for i in range(model.n):
        a = model.c.expand(len(x), -1)  # (B, H)
        for j in range(i):
            a = a + model.W[j, x[:, j]]
        rows.append(torch.sigmoid(a) @ model.V[i].T + model.b[i])  # (B, K)
    return torch.stack(rows, dim=1)  # (B, n, K)
