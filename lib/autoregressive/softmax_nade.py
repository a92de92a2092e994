"""NADE for general discrete data: K-way categorical conditionals with a softmax output.

NADE (Larochelle & Murray 2011; Uria et al. 2016, "Neural Autoregressive Distribution
Estimation", JMLR) extended to x_i ∈ {0, ..., K-1}, with one-hot inputs and softmax outputs
as in DocNADE (Larochelle & Lauly 2012, "A Neural Autoregressive Topic Model", NIPS):

    a_i = c + Σ_{j<i, x_j > 0} W_{j, x_j}
    h_i = σ(a_i)
    p(x_i = k | x_<i) = softmax(z_i)_k,   z_{i,0} = 0,   z_{i,k} = V_{i,k} · h_i + b_{i,k}

Category 0 is the reference category: it adds nothing to the hidden pre-activation and its
logit is fixed at 0, so each pixel has K - 1 input rows W_{j,k} and K - 1 output rows V_{i,k}
(k = 1..K-1). On the output side this loses nothing (a softmax is unchanged when the same
vector is added to every logit's weights). On the input side, a row W_{j,0} per pixel would
only add Σ_{j<i} W_{j,0}, a hidden bias that changes with i; in images it matters: a
background pixel (category 0) now leaves a_i as it is, as in the Bernoulli NADE, instead of
adding a learnt row for each of the hundreds of background pixels before i. With K = 2 the model *is* the Bernoulli NADE: W[:, 0] = W_bern, V[:, 0] = V_bern,
b[:, 0] = b_bern, and softmax(0, z)_1 = σ(z).

Shapes: W (n, K-1, H), c (H), V (n, K-1, H), b (n, K-1). Parameters: 2n(K-1)H + n(K-1) + H.
``reference=False`` builds the coding without a reference category instead (K rows per pixel
in W, V and b; 2nKH + nK + H parameters), for comparison.
log p(x) costs O(nKH) per example (the running sum O(nH), the outputs O(nKH)); sampling
keeps the running sum and costs the same per sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import CategoricalAutoregressive, check_categorical, check_int


class SoftmaxNADE(CategoricalAutoregressive):
    """NADE over n dimensions with K values each, in raster order.

    n: the data dimension. levels: K. hidden: H, hidden units shared by every conditional.
    reference: True, category 0 has no weights (K - 1 rows per pixel); False, every category
        has its own input row, output row and bias (K rows per pixel).
    """

    def __init__(self, n: int, levels: int, hidden: int = 250, reference: bool = True):
        super().__init__(n, levels)
        if not isinstance(reference, bool):
            raise ValueError(f"reference must be True or False, got {reference!r}")
        self.hidden, self.reference = check_int("hidden", hidden), reference
        rows = levels - 1 if reference else levels  # the categories that have weights
        # W[j, r]: what x_j = k adds to the hidden pre-activation (r = k - 1, or k)
        self.W = nn.Parameter(torch.randn(n, rows, hidden) * 0.01)
        self.c = nn.Parameter(torch.zeros(hidden))  # hidden bias, shared by every conditional
        # V[i, r]: h_i into the logit of x_i = k (with a reference, the logit of 0 is 0)
        self.V = nn.Parameter(torch.randn(n, rows, hidden) * 0.01)
        self.b = nn.Parameter(torch.zeros(n, rows))  # b[i, r]: bias of that logit
        # (With K = 2 this is the Bernoulli NADE's initialisation, draw for draw.)

    def config(self) -> dict:
        return {"n": self.n, "levels": self.levels, "hidden": self.hidden,
                "reference": self.reference}

    def _one_hot(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n) categories -> (B, n, rows): one-hot, without category 0's column when it
        is the reference."""
        one_hot = F.one_hot(x, self.levels).to(self.W.dtype)  # (B, n, K)
        return one_hot[..., 1:] if self.reference else one_hot

    def _output(self, h: torch.Tensor, i: slice | int) -> torch.Tensor:
        """Hidden units -> all K logits (the reference category's fixed at 0)."""
        if isinstance(i, int):
            z = h @ self.V[i].T + self.b[i]  # (B, rows)
        else:
            z = torch.einsum("bnh,nkh->bnk", h, self.V) + self.b  # (B, n, rows)
        return F.pad(z, (1, 0)) if self.reference else z  # (..., K)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        contributions = torch.einsum("bnk,nkh->bnh", self._one_hot(x), self.W)  # (B, n, H)
        # Exclusive prefix sum by shifting the inclusive one down a place: a_i is a sum of
        # the rows j < i only, so x_i cannot reach z_i, not even through rounding.
        before = F.pad(contributions.cumsum(dim=1)[:, :-1], (0, 0, 1, 0))  # (B, n, H)
        return self._output(torch.sigmoid(self.c + before), slice(None))  # (B, n, K)

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        a = self._running_sum(
            state, i, lambda: self.c.expand(x.shape[0], self.hidden),
            lambda j, k: torch.einsum("bnk,nkh->bh", self._one_hot(x[:, j:k]), self.W[j:k]))
        return self._output(torch.sigmoid(a), i)  # (B, K)


def reference_logits(model: SoftmaxNADE, x: torch.Tensor) -> torch.Tensor:
    """Each conditional straight from the formula, O(n²H), for the tests."""
    check_categorical(x, model.n, model.levels)
    x = x.to(model.device)
    rows = []
    shift = 1 if model.reference else 0  # category k's row
    for i in range(model.n):
        a = model.c.expand(len(x), -1)  # (B, H)
        for j in range(i):
            chosen = model.W[j, (x[:, j] - shift).clamp(min=0)]  # (B, H): row of x_j
            a = a + chosen * (x[:, j] >= shift)[:, None]  # a reference adds nothing
        z = torch.sigmoid(a) @ model.V[i].T + model.b[i]  # (B, rows)
        if model.reference:
            z = torch.cat([torch.zeros_like(z[:, :1]), z], dim=1)  # (B, K)
        rows.append(z)
    return torch.stack(rows, dim=1)  # (B, n, K)
