"""Real-valued NADE (RNADE): NADE's hidden layer with a mixture of Gaussians per conditional.

Follows Uria, Murray & Larochelle (2013), for x ∈ R^n:

    a_i = c + Σ_{j<i} x_j W_j,   h_i = σ(a_i)                         (NADE's running sum)
    p(x_i | x_<i) = Σ_{k=1}^{K} π_ik N(x_i; μ_ik, σ_ik²)
    π_i = softmax(V^π_i h_i + b^π_i),  μ_i = V^μ_i h_i + b^μ_i,  σ_i = exp(V^σ_i h_i + b^σ_i)

With ``mixture_weights="equal"`` every π_ik is 1/K, the simplest mixture. The standard
deviation comes through exp, so it is always positive; its logarithm is clamped to
[LOG_STD_MIN, LOG_STD_MAX] so that a conditional can neither collapse onto a point nor spread
without bound, and the mixture is combined with log-sum-exp, so no density underflows to a
log of zero. (Uria et al. also rescale each a_i by a learnt ρ_i; this version leaves that out.)
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import nn

from .base import Autoregressive, check_batch, check_int, draw_category

LOG_STD_MIN, LOG_STD_MAX = -7.0, 7.0  # σ between about 0.001 and 1100
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class RNADE(Autoregressive):
    """RNADE over n real dimensions in raster order.

    n: the data dimension. components: K, Gaussians per conditional. hidden: H.
    mixture_weights: "learnt" (softmax outputs) or "equal" (every weight 1/K).
    """

    uniforms_per_draw = 2  # one to choose the component, one for the Gaussian
    continuous = True  # a density: no bits per dimension, no image widgets

    def __init__(self, n: int, components: int = 5, hidden: int = 100,
                 mixture_weights: str = "learnt"):
        super().__init__(n)
        components, hidden = check_int("components", components), check_int("hidden", hidden)
        n = self.n  # a Python int
        if mixture_weights not in ("learnt", "equal"):
            raise ValueError(f"mixture_weights must be 'learnt' or 'equal', got {mixture_weights!r}")
        self.components, self.hidden, self.mixture_weights = components, hidden, mixture_weights
        self.W = nn.Parameter(torch.randn(n, hidden) * 0.01)  # row j: x_j into every hidden unit
        self.c = nn.Parameter(torch.zeros(hidden))
        # Outputs of conditional i: [weight logits, means, log standard deviations], each (K,).
        self.V = nn.Parameter(torch.randn(n, 3, components, hidden) * 0.01)
        self.b = nn.Parameter(torch.zeros(n, 3, components))
        with torch.no_grad():  # spread the initial means so that the components differ
            self.b[:, 1] = torch.linspace(-1, 1, components) if components > 1 else 0.0

    def config(self) -> dict:
        return {"n": self.n, "components": self.components, "hidden": self.hidden,
                "mixture_weights": self.mixture_weights}

    # -- values ---------------------------------------------------------------------------------

    def _check(self, x: torch.Tensor, name: str = "x") -> None:
        check_batch(x, self.n, name)
        if not torch.is_floating_point(x):
            raise ValueError(f"{name} must be a floating-point tensor of real values, got {x.dtype}")
        if not torch.isfinite(x.to(self.dtype)).all():
            raise ValueError(f"{name} contains NaN or infinite values (in {self.dtype}); "
                             "expected finite reals")

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, self.dtype)

    def num_parameters(self) -> int:
        """Free parameters; with equal weights the weight outputs (V[:, 0], b[:, 0]) are unused."""
        total = super().num_parameters()
        if self.mixture_weights == "equal":
            total -= self.V[:, 0].numel() + self.b[:, 0].numel()
        return total

    # -- the mixtures ---------------------------------------------------------------------------

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n) -> (B, n, 3, K): weight logits, means and log standard deviations."""
        # x_j W_j, capped (σ saturates long before) so that no product of finite numbers
        # overflows; the sum over j < i is an exclusive cumsum, so x_i never enters a_i.
        contributions = (x[:, :, None] * self.W).clamp(-1e30, 1e30)  # (B, n, H)
        before = torch.nn.functional.pad(contributions[:, :-1], (0, 0, 1, 0)).cumsum(dim=1)
        h = torch.sigmoid(self.c + before)  # (B, n, H)
        return torch.einsum("bnh,nckh->bnck", h, self.V) + self.b  # (B, n, 3, K)

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        a = self._running_sum(  # the same capped contributions as _logits
            state, i, lambda: self.c.expand(x.shape[0], self.hidden),
            lambda j, k: (x[:, j:k, None] * self.W[j:k]).clamp(-1e30, 1e30).sum(dim=1))
        return torch.einsum("bh,ckh->bck", torch.sigmoid(a), self.V[i]) + self.b[i]

    def _mixture(self, params: torch.Tensor):
        """Packed outputs (..., 3, K) -> log weights, means, log standard deviations (..., K)."""
        weight_logits, means, log_std = params.unbind(dim=-2)
        if self.mixture_weights == "equal":
            log_weights = torch.full_like(means, -math.log(self.components))
        else:
            log_weights = torch.log_softmax(weight_logits, dim=-1)
        return log_weights, means, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def conditionals(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every conditional's mixture at ``x``: weights, means, stds, each (B, n, K)."""
        log_weights, means, log_std = self._mixture(self.logits(x))
        return {"weights": log_weights.exp(), "means": means, "stds": log_std.exp()}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) exact log density in nats."""
        self._check(x)
        x = self._prepare(x)
        log_weights, means, log_std = self._mixture(self._all_logits(x))  # (B, n, K) each
        log_normal = _log_normal(x[..., None], means, log_std)  # (B, n, K)
        return torch.logsumexp(log_weights + log_normal, dim=-1).sum(dim=1)

    def _draw(self, params: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
        # temperature multiplies every standard deviation (the weights are left as they are).
        log_weights, means, log_std = self._mixture(params)  # (B, K)
        k = draw_category(log_weights, u[:, 0])[:, None]  # (B, 1): the component
        tiny = torch.finfo(torch.float64).eps
        normal = math.sqrt(2) * torch.erfinv(2 * u[:, 1].clamp(tiny, 1 - tiny) - 1)  # N(0, 1)
        mean, std = means.gather(-1, k)[:, 0], log_std.gather(-1, k)[:, 0].exp()
        return (mean + temperature * std * normal.to(mean.dtype)).to(self.dtype)

    def conditional_density(self, x: torch.Tensor, i: int, grid: torch.Tensor) -> torch.Tensor:
        """p(x_i = g | x_<i) for every g in ``grid``: (B, len(grid)); x's values from i on are
        ignored. For plots, and to check that each conditional integrates to one."""
        self._check(x)
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 0 <= i < self.n:
            raise ValueError(f"i must be an int in 0..{self.n - 1}, got {i!r}")
        if not isinstance(grid, torch.Tensor):
            raise TypeError(f"grid must be a torch.Tensor of values, got {type(grid).__name__}")
        if grid.dim() != 1 or not torch.is_floating_point(grid):
            raise ValueError(f"grid must be a 1-D floating-point tensor, got shape "
                             f"{tuple(grid.shape)} and dtype {grid.dtype}")
        i = int(i)
        log_weights, means, log_std = self._mixture(self._logits(self._prepare(x))[:, i])  # (B, K)
        g = grid.to(self.device, self.dtype)[None, :, None]  # (1, G, 1)
        log_normal = _log_normal(g, means[:, None], log_std[:, None])  # (B, G, K)
        return torch.logsumexp(log_weights[:, None] + log_normal, dim=-1).exp()


def reference_log_prob(model: RNADE, x: torch.Tensor) -> torch.Tensor:
    """log p(x) one conditional at a time, with torch.distributions, for the tests."""
    model._check(x)
    x = model._prepare(x)
    total = torch.zeros(len(x), dtype=x.dtype, device=x.device)
    for i in range(model.n):
        h = torch.sigmoid(model.c + x[:, :i] @ model.W[:i])  # (B, H)
        out = torch.einsum("bh,ckh->bck", h, model.V[i]) + model.b[i]  # (B, 3, K)
        if model.mixture_weights == "equal":
            weights = torch.distributions.Categorical(probs=torch.ones_like(out[:, 0]))
        else:
            weights = torch.distributions.Categorical(logits=out[:, 0])
        std = out[:, 2].clamp(LOG_STD_MIN, LOG_STD_MAX).exp()
        mixture = torch.distributions.MixtureSameFamily(weights, torch.distributions.Normal(out[:, 1], std))
        total = total + mixture.log_prob(x[:, i])
    return total


def _log_normal(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log N(x; mean, exp(log_std)²). |z| is capped at 1e15 (a log density below -5e29, zero in
    any float) so that absurd inputs give a finite log density and finite gradients."""
    z = ((x - mean) * torch.exp(-log_std)).clamp(-1e15, 1e15)
    return -0.5 * z**2 - log_std - LOG_SQRT_2PI
