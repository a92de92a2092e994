"""Neural autoregressive distribution estimator (NADE) for binary data.

Follows Larochelle & Murray (2011). Every conditional has one hidden layer, and all of them
share the input weights W and the hidden bias c:

    h_i = σ(c + W_{<i}ᵀ x_{<i})             (H hidden units: what the past says about x_i)
    p(x_i = 1 | x_<i) = σ(b_i + V_i · h_i)

Sharing W is what makes NADE cheap: the pre-activation a_i = c + Σ_{j<i} x_j W_j grows by one
row of W per pixel, a_{i+1} = a_i + x_i W_i, so all n conditionals cost O(nH) per example
instead of O(n²H). Parameters: W (n×H), c (H), V (n×H), b (n): 2nH + n + H.

Three implementations of the same conditionals live here:

- :func:`reference_logits`: each conditional straight from the formula, O(n²H), for the tests;
- :func:`autograd_logits`: the running sum as one ``cumsum`` over a (B, n, H) tensor, with
  PyTorch's autograd for the gradient; simple, and memory-bound;
- :class:`NADE` itself uses, on a CPU, :class:`_NADELogits`, which walks the pixels in blocks, computes each
  block's pre-activations with one batched matrix product, keeps only the running sum between
  blocks, and has a hand-derived backward pass that recomputes each block instead of storing a
  (B, n, H) tensor. ``benchmarks/nade_speed.py`` prints the two speeds side by side. On a GPU
  it uses the single cumsum, which suits that hardware.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import BinaryAutoregressive, check_binary, check_int


class NADE(BinaryAutoregressive):
    """NADE over n binary dimensions in raster order.

    n: the data dimension (784 for MNIST).
    hidden: H, hidden units per conditional (500 in Larochelle & Murray's MNIST results).
    block: pixels processed together by the fast path (a speed setting; results do not change).
    """

    def __init__(self, n: int, hidden: int = 500, block: int = 8):
        super().__init__(n)
        self.hidden, self.block = check_int("hidden", hidden), check_int("block", block)
        n, hidden = self.n, self.hidden  # as Python ints
        self.W = nn.Parameter(torch.randn(n, hidden) * 0.01)  # row j: x_j into every hidden unit
        self.c = nn.Parameter(torch.zeros(hidden))  # hidden bias, shared by all conditionals
        self.V = nn.Parameter(torch.randn(n, hidden) * 0.01)  # row i: h_i into the logit of x_i
        self.b = nn.Parameter(torch.zeros(n))  # output bias of each conditional

    def config(self) -> dict:
        return {"n": self.n, "hidden": self.hidden, "block": self.block}

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":  # a GPU has the bandwidth for one big cumsum, and pays per
            return _cumsum_logits(self, x)  # kernel launch: the blockwise loop would not pay off
        return _NADELogits.apply(x, self.W, self.c, self.V, self.b, self.block)

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        # Sampling in O(nH): keep a = c + Σ_{j<i} x_j W_j, adding each fixed pixel's row once.
        a = self._running_sum(state, i, lambda: self.c.expand(x.shape[0], self.hidden),
                              lambda j, k: x[:, j:k] @ self.W[j:k])  # (B, H)
        return torch.sigmoid(a) @ self.V[i] + self.b[i]  # (B,)


# ---------------------------------------------------------------------------------------------
# Reference and straightforward versions, for the tests and the benchmark


def reference_logits(model: NADE, x: torch.Tensor) -> torch.Tensor:
    """Each conditional straight from the formula: h_i = σ(c + W_{<i}ᵀ x_{<i}). O(n²H)."""
    check_binary(x, model.n)
    x = x.to(model.device, model.W.dtype)
    columns = []
    for i in range(model.n):
        h = torch.sigmoid(model.c + x[:, :i] @ model.W[:i])  # (B, H)
        columns.append(h @ model.V[i] + model.b[i])  # (B,)
    return torch.stack(columns, dim=1)  # (B, n)


def autograd_logits(model: NADE, x: torch.Tensor) -> torch.Tensor:
    """The running sum as one cumsum over (B, n, H), differentiated by autograd. O(nH)."""
    check_binary(x, model.n)
    return _cumsum_logits(model, x.to(model.device, model.W.dtype))


def autograd_log_prob(model: NADE, x: torch.Tensor) -> torch.Tensor:
    """(B,) log p(x) through :func:`autograd_logits`: the baseline the fast path is timed against."""
    logits = autograd_logits(model, x)
    x = x.to(logits.device, logits.dtype)
    return -torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


def _cumsum_logits(model: NADE, x: torch.Tensor) -> torch.Tensor:
    contributions = x[:, :, None] * model.W  # (B, n, H): x_j W_j
    # The sum over j < i as an exclusive cumsum: shift by one, so that x_i never enters a_i
    # (cumsum − x_i W_i would leave it there at the level of rounding).
    before = torch.nn.functional.pad(contributions[:, :-1], (0, 0, 1, 0)).cumsum(dim=1)
    a = model.c + before  # (B, n, H)
    return (torch.sigmoid(a) * model.V).sum(dim=-1) + model.b  # (B, n)


# ---------------------------------------------------------------------------------------------
# The fast path


def _strictly_lower(k: int, like: torch.Tensor) -> torch.Tensor:
    return torch.ones(k, k, dtype=like.dtype, device=like.device).tril_(-1)  # [t, u] = u < t


def _block_hidden(x_block, W_block, a, strict):
    """(k, B, H) hidden units of a block of k pixels: σ(a + Σ_{u<t in block} x_u W_u)."""
    masked = x_block[None] * strict[:, None, :]  # (k, B, k): row t keeps the pixels before t
    return torch.matmul(masked, W_block).add_(a).sigmoid_()  # (k, B, k) @ (k, H) -> (k, B, H)


class _NADELogits(torch.autograd.Function):
    """(x, W, c, V, b) -> (B, n) logits, block by block, with a hand-derived backward pass.

    Forward keeps only the running pre-activation at the start of each block, (blocks, B, H).
    Backward walks the blocks in reverse, recomputes each block's hidden units, and carries
    Σ_{i later} ∂L/∂a_i from block to block, which is what W, c and x need:
        ∂L/∂W_j = x_j Σ_{i>j} ∂L/∂a_i,   ∂L/∂x_j = W_j · Σ_{i>j} ∂L/∂a_i,   ∂L/∂c = Σ_i ∂L/∂a_i.
    """

    @staticmethod
    def forward(ctx, x, W, c, V, b, block):
        batch, n = x.shape
        logits = torch.empty(n, batch, dtype=W.dtype, device=W.device)  # (n, B)
        a = c.expand(batch, -1).contiguous()  # (B, H)
        starts = []
        for s in range(0, n, block):
            e = min(s + block, n)
            starts.append(a)
            h = _block_hidden(x[:, s:e], W[s:e], a, _strictly_lower(e - s, W))  # (k, B, H)
            logits[s:e] = torch.bmm(h, V[s:e, :, None]).squeeze(-1)  # (k, B)
            a = torch.addmm(a, x[:, s:e], W[s:e])  # a + Σ_{u in block} x_u W_u
        ctx.save_for_backward(x, W, V, torch.stack(starts))
        ctx.block = block
        return logits.T + b  # (B, n)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_logits):
        x, W, V, starts = ctx.saved_tensors
        block = ctx.block
        n = x.shape[1]
        grad_W, grad_V = torch.empty_like(W), torch.empty_like(V)
        grad_x = torch.empty_like(x) if ctx.needs_input_grad[0] else None
        later = torch.zeros_like(starts[0])  # (B, H): Σ of ∂L/∂a_i over the blocks already done
        g = grad_logits.T.contiguous()  # (n, B)
        for index, s in reversed(list(enumerate(range(0, n, block)))):
            e = min(s + block, n)
            strict = _strictly_lower(e - s, W)
            x_block = x[:, s:e]  # (B, k)
            h = _block_hidden(x_block, W[s:e], starts[index], strict)  # (k, B, H)
            grad_V[s:e] = torch.bmm(g[s:e, None, :], h).squeeze(1)  # (k, H)
            grad_a = h.sub_(h * h).mul_(g[s:e, :, None]).mul_(V[s:e, None, :])  # (k, B, H)
            # Within the block: R[t', t] = Σ_b x[b, t] ∂L/∂a[t', b], kept where t' > t.
            within = torch.matmul(x_block.T, grad_a)  # (k, k, H)
            grad_W[s:e] = (within * strict[:, :, None]).sum(dim=0) + x_block.T @ later
            if grad_x is not None:
                dots = torch.matmul(grad_a, W[s:e].T)  # (k, B, k): ∂L/∂a[t', b] · W_t
                grad_x[:, s:e] = (dots * strict[:, None, :]).sum(dim=0) + later @ W[s:e].T
            later += grad_a.sum(dim=0)
        return grad_x, grad_W, later.sum(dim=0), grad_V, grad_logits.sum(dim=0), None
