"""Fully visible sigmoid belief network (FVSBN): every conditional a logistic regression.

Follows Frey (1998), as benchmarked by Larochelle & Murray (2011):

    p(x_1 = 1)         = σ(α⁰¹)                          (the first pixel: a single parameter)
    p(x_i = 1 | x_<i)  = σ(α⁰ⁱ + Σ_{j<i} αʲⁱ x_j)       (i = 2, ..., n)

All n conditionals are one masked linear layer: the weight matrix W (W[i, j] = αʲⁱ) is used only
strictly below its diagonal, so logit_i sees x_j for j < i alone. Free parameters: n biases and
n(n-1)/2 weights, n(n+1)/2 in all (≈ n²/2).

Each conditional is a logistic regression, so the mean negative log-likelihood is convex in
the parameters: :func:`fit_convex` solves the (L2-penalised) problem to a stationary point by
full-batch L-BFGS, where ``fit`` only takes stochastic steps towards it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .base import BinaryAutoregressive, check_binary, check_int
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
# Training to the optimum


@dataclass
class ConvexFit:
    """What :func:`fit_convex` did, and where it stopped."""

    l2: float  # λ in the objective  mean NLL + λ/2 ||W||²
    objective: float  # the objective at the end, nats per example
    train_nll: float  # the mean training NLL at the end (no penalty), nats per example
    grad_norm: float  # Euclidean norm of the objective's gradient over the free parameters
    grad_max: float  # its largest entry in absolute value (what ``tol`` bounds)
    iterations: int  # L-BFGS iterations
    evaluations: int  # objective-and-gradient evaluations (each one pass over the data)
    seconds: float  # wall-clock time
    converged: bool  # grad_max <= tol
    objectives: list[float] = field(default_factory=list)  # the objective at each evaluation


def fit_convex(model: FVSBN, train: torch.Tensor, *, l2: float, max_iter: int = 200,
               tol: float = 1e-5, history_size: int = 20, chunk: int = 10_000) -> ConvexFit:
    """Minimise  mean NLL(train) + l2/2 · ||W||²  by full-batch L-BFGS (strong-Wolfe line search).

    The penalty covers the free weights (those below the diagonal) and not the biases. The
    problem is convex, so a point where the gradient vanishes is the optimum. The solver starts
    from the model's current parameters (a warm start) and stops when no entry of the gradient
    (with respect to the model's weights and biases) exceeds ``tol`` in absolute value, after
    ``max_iter`` iterations (or 2 · max_iter evaluations), or when L-BFGS makes no progress.
    Returns a :class:`ConvexFit`; the model keeps the final parameters, in evaluation mode.

    How: L-BFGS works on whitened inputs. With m the pixel means, Σ their covariance and
    Σ + εI = L Lᵀ a Cholesky factorisation (ε about 10 · l2), z = L⁻¹(x − m) has nearly
    uncorrelated entries of unit variance, and z_j depends on x_1..x_j only (L⁻¹ is lower
    triangular). So a_i = c_i + Σ_{j<i} V_ij z_j is the same model, with W = V L⁻¹ and
    b = c − W m: the same objective, far better conditioned than in W, whose neighbouring
    pixels are strongly correlated. Each evaluation is one pass over the
    data in chunks of ``chunk`` rows, with the gradient written out (σ(a) − x per
    pre-activation) and the products restricted to the blocks on or below the diagonal.
    """
    if not isinstance(model, FVSBN):
        raise TypeError(f"fit_convex trains an FVSBN, got {type(model).__name__}")
    check_binary(train, model.n, "train")
    if len(train) == 0:
        raise ValueError("fit_convex needs a non-empty training set")
    if not (isinstance(l2, (int, float)) and not isinstance(l2, bool) and math.isfinite(l2)
            and l2 >= 0):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    max_iter = check_int("max_iter", max_iter)
    history_size = check_int("history_size", history_size)
    chunk = check_int("chunk", chunk)
    if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol > 0):
        raise ValueError(f"tol must be a positive number, got {tol!r}")

    linear, n, mask = model.linear, model.n, model.linear.mask
    x = train.to(model.device, model.dtype)
    mean = x.mean(dim=0)  # (n,) m
    # ε balances the penalty against the data: the Hessian in W is about ρ Σ + l2 I for a
    # typical curvature ρ ≈ 0.1 of the logistic loss, so Σ + (10 l2) I is what to whiten by.
    whiten = _whitening(x - mean, eps=10 * l2 + 1e-4)  # (n, n) L⁻¹, lower triangular
    z = (x - mean) @ whiten.T  # (N, n) whitened inputs
    with torch.no_grad():
        weight = linear.masked_weight()  # (n, n) W
        inner = (weight @ torch.linalg.inv(whiten)).mul_(mask).requires_grad_()  # V = W L
        centred_bias = (linear.bias + weight @ mean).detach().requires_grad_()  # c = b + W m
    trace: list[float] = []

    def objective_and_gradient() -> torch.Tensor:
        value, grad_v, grad_c = _penalised_nll(x, z, inner, centred_bias, mask, whiten, l2,
                                               chunk)
        inner.grad, centred_bias.grad = grad_v, grad_c
        trace.append(value.item())
        return value  # in float64, so that L-BFGS sees small decreases

    optimizer = torch.optim.LBFGS([inner, centred_bias], lr=1, max_iter=max_iter,
                                  max_eval=2 * max_iter, tolerance_grad=tol / 4,
                                  tolerance_change=1e-14, history_size=history_size,
                                  line_search_fn="strong_wolfe")
    start = time.perf_counter()
    optimizer.step(objective_and_gradient)
    seconds = time.perf_counter() - start
    state = optimizer.state[inner]
    with torch.no_grad():  # back to the model's parameters: W = V L⁻¹, b = c − W m
        weight = (inner @ whiten).mul_(mask)
        linear.weight.copy_(torch.where(mask.bool(), weight, linear.weight))
        linear.bias.copy_(centred_bias - weight @ mean)
    # The objective and its gradient in the model's own parameters (W, b), where it stopped.
    eye = torch.eye(n, dtype=x.dtype, device=x.device)
    value, grad_w, grad_b = _penalised_nll(x, x, linear.masked_weight().detach(),
                                           linear.bias.detach(), mask, eye, l2, chunk)
    gradient = torch.cat([grad_w[mask.bool()], grad_b])  # free parameters only
    model.eval()
    grad_max = gradient.abs().max().item()
    penalty = 0.5 * l2 * model.weights().double().pow(2).sum().item()
    return ConvexFit(l2=float(l2), objective=value.item(), train_nll=value.item() - penalty,
                     grad_norm=gradient.norm().item(), grad_max=grad_max,
                     iterations=int(state.get("n_iter", 0)),
                     evaluations=int(state.get("func_evals", 0)), seconds=seconds,
                     converged=grad_max <= tol, objectives=trace)


def _whitening(centred: torch.Tensor, eps: float) -> torch.Tensor:
    """L⁻¹ for the Cholesky factor L of the covariance of ``centred`` (N, n) plus eps·I.

    eps > 0 keeps L invertible when a pixel never varies; any eps gives the same model and
    optimum, only the conditioning of the problem L-BFGS sees changes."""
    covariance = centred.T.double() @ centred.double() / len(centred)  # (n, n)
    eye = torch.eye(covariance.shape[0], dtype=torch.float64, device=centred.device)
    factor = torch.linalg.cholesky(covariance + eps * eye)
    return torch.linalg.solve_triangular(factor, eye, upper=False).to(centred.dtype)


@torch.no_grad()
def _penalised_nll(x, features, weight, bias, mask, transform, l2, chunk):
    """mean NLL + l2/2 ||W||² and its gradient in (weight, bias), for the pre-activations
    a = bias + features @ weightᵀ, weight strictly lower triangular, W = weight @ transform.

    x: (N, n) the binary targets; features: (N, n) what the weights multiply (x itself, or the
    whitened inputs). Returns (value as a float64 scalar, grad weight (n, n), grad bias (n,)).
    """
    n, count = len(bias), len(x)
    masked = mask * weight  # (n, n)
    size = max(64, -(-n // 8))  # output blocks: rows lo..hi-1 see columns < hi only
    blocks = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
    grad_w, grad_b = torch.zeros_like(weight), torch.zeros_like(bias)
    total = torch.zeros((), dtype=torch.float64, device=x.device)
    for start in range(0, count, chunk):
        target, inputs = x[start:start + chunk], features[start:start + chunk]  # (C, n)
        a = torch.empty(n, len(target), dtype=x.dtype, device=x.device)  # (n, C) transposed
        for lo, hi in blocks:
            torch.addmm(bias[lo:hi, None], masked[lo:hi, :hi], inputs[:, :hi].T, out=a[lo:hi])
        # −log p(x_i | x_<i) = softplus(a_i) − x_i a_i; its derivative in a_i is σ(a_i) − x_i
        total += (F.softplus(a).sum(dtype=torch.float64)
                  - (target.T * a).sum(dtype=torch.float64))
        residual = torch.sigmoid(a).sub_(target.T)  # (n, C)
        for lo, hi in blocks:
            grad_w[lo:hi, :hi].addmm_(residual[lo:hi], inputs[:, :hi])  # (s, C) @ (C, hi)
        grad_b += residual.sum(dim=1)
    effective = masked @ transform  # W (n, n)
    value = total / count + 0.5 * l2 * effective.pow(2).sum(dtype=torch.float64)
    grad_w = mask * (grad_w / count + l2 * effective @ transform.T)
    return value, grad_w, grad_b / count


# ---------------------------------------------------------------------------------------------
# Reference version, for the tests


def reference_logits(model: FVSBN, x: torch.Tensor) -> torch.Tensor:
    """The conditionals one pixel at a time, straight from the formula, with no mask."""
    check_binary(x, model.n)
    x = x.to(model.device, model.dtype)
    weight, bias = model.linear.weight, model.linear.bias
    columns = [bias[i] + x[:, :i] @ weight[i, :i] for i in range(model.n)]  # each (B,)
    return torch.stack(columns, dim=1)  # (B, n)
