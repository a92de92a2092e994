"""The protocol every density model in the book follows, written once.

A model of x ∈ X^n factorises p(x) by the chain rule in a fixed order (raster order),
p(x) = Π_i p(x_i | x_<i), each conditional depending only on earlier dimensions.

- :class:`DensityModel`: the data dimension n (first constructor argument), a config that a
  checkpoint rebuilds the model from, and free-parameter counting (masked weights excluded);
- :class:`Autoregressive`: checked inputs, ``logits(x)`` (every conditional's parameters in one
  pass), and ancestral ``sample(num, ...)`` with a seed or generator, a temperature and
  completion of partly observed inputs;
- :class:`BinaryAutoregressive` (x ∈ {0,1}: ``conditionals`` are p(x_i = 1 | x_<i)) and
  :class:`CategoricalAutoregressive` (x ∈ {0..K-1}: softmax conditionals), each with
  ``log_prob(x) -> (B,)`` in nats. Real-valued models (RNADE) plug their mixtures into the
  same sampler.

Bad shapes, values outside the support and NaNs raise ``ValueError`` (an input that is not a
tensor at all raises ``TypeError``).
"""

from __future__ import annotations

import contextlib
import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from .layers import MaskedConv2d, MaskedLinear


# ---------------------------------------------------------------------------------------------
# Input checks


def check_int(name: str, value, minimum: int = 1, maximum: int | None = None) -> int:
    """``value`` as a Python int, or ``ValueError`` unless it is an integer from ``minimum``
    (to ``maximum``, when given).

    Any integer type is accepted (a numpy integer too), but not ``True``/``False`` nor a float,
    even one with an integral value: a size is never silently rounded.
    """
    if maximum is not None:
        kind = f"an int from {minimum} to {maximum}"
    else:
        kind = {0: "a non-negative int", 1: "a positive int"}.get(minimum,
                                                                   f"an int of at least {minimum}")
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum
            or (maximum is not None and value > maximum)):
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return int(value)


def check_batch(x: torch.Tensor, n: int, name: str = "x") -> None:
    """Raise ``TypeError`` unless ``x`` is a tensor, ``ValueError`` unless its shape is (B, n)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, {n}), got {type(x).__name__}")
    if x.dim() != 2 or x.shape[1] != n:
        raise ValueError(f"{name} must have shape (B, {n}), got {tuple(x.shape)}")


def check_binary(x: torch.Tensor, n: int, name: str = "x") -> None:
    """Raise ``ValueError`` unless ``x`` is a (B, n) tensor of 0s and 1s."""
    check_batch(x, n, name)
    if torch.is_floating_point(x) and torch.isnan(x).any():
        raise ValueError(f"{name} contains NaN; expected binary values 0 and 1")
    if not ((x == 0) | (x == 1)).all():
        raise ValueError(f"{name} must be binary (only 0 and 1), got values outside {{0, 1}}")


def check_categorical(x: torch.Tensor, n: int, levels: int, name: str = "x") -> None:
    """Raise ``ValueError`` unless ``x`` is a (B, n) integer tensor with values in 0..levels-1."""
    check_batch(x, n, name)
    if torch.is_floating_point(x) or torch.is_complex(x) or x.dtype == torch.bool:
        raise ValueError(f"{name} must be an integer tensor of categories 0..{levels - 1}, "
                         f"got dtype {x.dtype}")
    if x.numel() and (x.min() < 0 or x.max() >= levels):
        raise ValueError(f"{name} must hold categories 0..{levels - 1}, got values from "
                         f"{x.min().item()} to {x.max().item()}")


def check_temperature(temperature) -> float:
    """``temperature`` as a float, or ``ValueError`` unless it is a positive finite real number
    (of any real type, numpy's included; never a bool)."""
    if (isinstance(temperature, bool) or not isinstance(temperature, numbers.Real)
            or not math.isfinite(temperature) or temperature <= 0):
        raise ValueError(f"temperature must be a positive finite number, got {temperature!r}")
    return float(temperature)


def check_not_nan(logit: torch.Tensor, i: int) -> None:
    """Raise ``FloatingPointError`` when the conditional of dimension ``i`` is NaN in some row:
    a sampler that drew from it would return a plausible-looking value (0, END) in silence."""
    bad = torch.isnan(logit.reshape(logit.shape[0], -1)).any(dim=1)  # (B,)
    if bad.any():
        row = int(bad.nonzero()[0])
        raise FloatingPointError(
            f"the conditional of dimension {i} (counting from 0) is NaN in row {row}: the "
            "model's weights (or the observed values it reads) hold NaN or infinite values, so "
            "it cannot be sampled")


def make_generator(seed: int | None, generator: torch.Generator | None) -> torch.Generator | None:
    """The generator behind a draw: a fresh CPU one from ``seed``, the one given, or None (the
    global generator)."""
    if seed is not None and generator is not None:
        raise ValueError("pass a seed or a generator, not both")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator (or pass seed=...), "
                        f"got {type(generator).__name__}")
    if seed is not None:
        return torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    return generator


def draw_category(log_p: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(B,) categories drawn by inverse CDF from (B, K) log-probabilities with uniforms u (B,).

    The CDF is built in float64 from the log-probabilities and compared with u times its own
    total, so a total that rounds away from 1 moves no mass, and a category of probability
    zero is never drawn, even at the top of the CDF.
    """
    p = log_p.double().exp()  # (B, K)
    cdf = p.cumsum(dim=-1)
    drawn = (cdf <= (u.double() * cdf[:, -1])[:, None]).sum(dim=-1)  # categories passed by u
    # u · total can round up to the total itself: then take the last possible category.
    last = p.shape[-1] - 1 - (p > 0).flip(-1).int().argmax(dim=-1)
    return torch.minimum(drawn, last)


@contextlib.contextmanager
def fast_path_off(model, flag: str, what: str):
    """Within this block, ``model.<flag>`` is False, so that the model's sampler takes its plain
    route (re-reading the whole prefix at every step) instead of the fast one it names; for
    comparing the two. ``what`` names the fast path in the error a model without it raises."""
    if not hasattr(model, flag):
        raise TypeError(f"{type(model).__name__} has no {what} to switch off")
    before = getattr(model, flag)  # restored on the way out: blocks nest, a choice is kept
    setattr(model, flag, False)
    try:
        yield model
    finally:
        setattr(model, flag, before)


# ---------------------------------------------------------------------------------------------
# The protocol


class DensityModel(nn.Module):
    """Root of every density model in the book: the data dimension, a constructor config that a
    checkpoint can rebuild the model from, free-parameter counting, and a registry by class name.
    Subclasses provide ``log_prob(x) -> (B,)`` in nats and ``sample(num, ...)``.
    """

    registry: dict[str, type["DensityModel"]] = {}  # the library's models, for checkpoints
    continuous = False  # True for densities over real values (no bits/dim, no image widgets)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__module__.startswith("autoregressive."):
            DensityModel.registry[cls.__name__] = cls

    def __init__(self, n: int):
        super().__init__()
        self.n = check_int("the data dimension n", n)

    def config(self) -> dict:
        """Constructor arguments, so that a checkpoint can rebuild the model."""
        return {"n": self.n}

    def derived_state(self) -> set[str]:
        """Keys of the state dict that the model computes from the rest (e.g. MADE's masks,
        from its orderings and degrees): :func:`~autoregressive.save` leaves them out of a
        checkpoint and :func:`~autoregressive.load` calls :meth:`restore_derived` instead."""
        return set()

    def restore_derived(self) -> None:
        """Recompute the :meth:`derived_state` from the rest of the loaded state."""

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The floating-point type of the parameters; inputs are converted to it."""
        return next(self.parameters()).dtype

    @property
    def order(self) -> torch.Tensor:
        """order[k] is the k-th dimension generated: raster order, 0, 1, ..., n-1."""
        return torch.arange(self.n)

    def _check(self, x: torch.Tensor, name: str = "x") -> None:
        """Raise unless ``x`` is a (B, n) tensor of values in the model's support; here: finite
        values (models with a narrower support say so)."""
        check_batch(x, self.n, name)
        if (torch.is_floating_point(x) or torch.is_complex(x)) and not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinite values")

    def num_parameters(self) -> int:
        """Free parameters: every parameter entry, less the weights a mask holds at zero."""
        total = sum(p.numel() for p in self.parameters())
        for module in self.modules():
            if isinstance(module, (MaskedLinear, MaskedConv2d)):
                total -= int((module.mask == 0).sum())
        return total


class Autoregressive(DensityModel):
    """What every discrete autoregressive model shares: conditionals from logits, checked inputs,
    ancestral sampling with temperature and completion. Subclasses fix the kind of value
    (binary, categorical) through :meth:`_check`, :meth:`_prepare` and :meth:`_draw`, and the
    model through :meth:`_logits` and, optionally, a faster :meth:`_logit_at`.
    """

    uniforms_per_draw = 1  # uniform numbers each dimension's draw consumes

    # -- to implement (and :meth:`DensityModel._check`, the support) ----------------------------

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Checked values -> the tensor the model computes with (device, dtype)."""
        raise NotImplementedError

    def _draw(self, logit: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
        """Values of one dimension drawn from its logits at a temperature, using uniforms u:
        (B,), or (B, uniforms_per_draw) when a draw needs several."""
        raise NotImplementedError

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        """Prepared (B, n) values -> the logits of every conditional; no input checks."""
        raise NotImplementedError

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        """Logits of dimension ``i`` during sampling, when every earlier dimension of ``x`` is
        final. ``state`` is a dict the model may keep between steps of one sampling run."""
        return self._logits(x)[:, i]

    def _all_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``_logits``, for an empty batch too: the logits of one row of zeros (in every
        model's support) cut to none, so that every model gives (0, ...) of its usual shape
        and type, whatever its network does with the batch size."""
        if x.shape[0] == 0:
            return self._logits(self._prepare(torch.zeros(1, self.n, dtype=torch.long)))[:0]
        return self._logits(x)

    @staticmethod
    def _running_sum(state: dict, i: int, start, add) -> torch.Tensor:
        """The fast samplers' shared step: a running pre-activation during one sampling run.

        start() gives its value before any dimension is fixed; add(j, k) the contribution of
        dimensions j..k-1 once they are. Each dimension is added exactly once, so a sample
        costs one pass over the weights instead of one per dimension.
        """
        if "a" not in state:
            state["a"], state["fixed"] = start(), 0
        if i > state["fixed"]:
            state["a"] = state["a"] + add(state["fixed"], i)
            state["fixed"] = i
        return state["a"]

    # -- the protocol -------------------------------------------------------------------------

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The logits of every conditional p(x_i | x_<i) at the input ``x``."""
        self._check(x)
        return self._all_logits(self._prepare(x))

    @torch.no_grad()
    def sample(
        self,
        num: int | None = None,
        *,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        x: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Ancestral sampling: x_1 ~ p(x_1), then x_2 ~ p(x_2 | x_1), ... in the model's order.

        num: how many samples (omit it when completing ``x``).
        seed / generator: the randomness. With a seed (or a CPU generator) the uniform numbers
            behind the draws come from the CPU whatever the model's device, so CPU and GPU
            share them; a draw can still differ where the two devices round a conditional
            differently. With neither, the global generator of the model's device is used.
        temperature: 1 samples the model, < 1 sharpens each conditional, > 1 flattens it
            (discrete models divide their logits by it).
        x, mask: completion. ``mask`` (bool, shape of ``x`` or (n,)) is True where ``x`` is
            observed; observed values are kept and the rest sampled. This is exact conditional
            sampling when every observed dimension comes before every unobserved one in the
            model's order (e.g. the top rows of an image in raster order); otherwise later
            observations are clamped but do not inform earlier samples.
        Returns a (num, n) tensor of values on the model's device. A conditional that is NaN
        (a broken model) raises ``FloatingPointError`` instead of drawing a value.
        """
        temperature = check_temperature(temperature)
        generator = make_generator(seed, generator)
        observed, known = self._completion_inputs(num, x, mask)
        out = torch.where(known, observed, torch.zeros_like(observed))
        if out.shape[0] == 0:  # completing an empty batch: nothing to draw
            return out
        state: dict = {}
        shape = (out.shape[0],) + ((self.uniforms_per_draw,) if self.uniforms_per_draw > 1 else ())
        for i in self.order.tolist():
            logit = self._logit_at(out, i, state)
            check_not_nan(logit, i)
            u = torch.rand(shape, generator=generator,
                           device=generator.device if generator is not None else out.device)
            draw = self._draw(logit, u.to(out.device, torch.float64), temperature)
            out[:, i] = torch.where(known[:, i], out[:, i], draw)
        return out

    def _completion_inputs(self, num, x, mask) -> tuple[torch.Tensor, torch.Tensor]:
        dev = self.device
        if x is None and mask is None:
            num = check_int("num", num)
            empty = self._prepare(torch.zeros(num, self.n, dtype=torch.long))
            return empty, torch.zeros(num, self.n, dtype=torch.bool, device=dev)
        if x is None or mask is None:
            raise ValueError("completion needs both x (the observed values) and mask")
        for name, value in (("x", x), ("mask", mask)):
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if mask.dtype != torch.bool:
            raise ValueError("mask must be a bool tensor, True where x is observed")
        if x.dim() != 2 or x.shape[1] != self.n:
            raise ValueError(f"x must have shape (B, {self.n}), got {tuple(x.shape)}")
        if num is not None and check_int("num", num) != x.shape[0]:
            raise ValueError(f"num={num} disagrees with x, which holds {x.shape[0]} rows")
        if mask.shape not in (x.shape, (self.n,)):
            raise ValueError(f"mask must have shape {tuple(x.shape)} or ({self.n},), "
                             f"got {tuple(mask.shape)}")
        known = mask.to(x.device).expand(x.shape[0], self.n)
        self._check(torch.where(known, x, torch.zeros_like(x)), "x (where observed)")
        return self._prepare(torch.where(known, x, torch.zeros_like(x))), known.to(dev)


class BinaryAutoregressive(Autoregressive):
    """An autoregressive model of x ∈ {0,1}^n with Bernoulli conditionals, given by logits
    (B, n) of p(x_i = 1 | x_<i). Values are floats 0. and 1. of the model's dtype."""

    def _check(self, x: torch.Tensor, name: str = "x") -> None:
        check_binary(x, self.n, name)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, self.dtype)

    def _draw(self, logit: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
        # In float64, where logit / T stays finite down to T ~ 1e-300 for any float32 logit
        # (and beyond, it becomes ±inf: the mode, p = 0 or 1, as the limit T -> 0 has it).
        return (u < torch.sigmoid(logit.double() / temperature)).to(self.dtype)

    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n) probabilities p(x_i = 1 | x_<i) at the binary input ``x``."""
        return torch.sigmoid(self.logits(x))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) exact log p(x) in nats."""
        self._check(x)
        x = self._prepare(x)
        logits = self._all_logits(x)  # (B, n)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)


class CategoricalAutoregressive(Autoregressive):
    """An autoregressive model of x ∈ {0, ..., K-1}^n with categorical conditionals, given by
    logits (B, n, K) of p(x_i = k | x_<i). Values are int64 categories.

    levels: K, the number of values each dimension takes.
    """

    def __init__(self, n: int, levels: int):
        super().__init__(n)
        self.levels = check_int("levels", levels, minimum=2)

    def config(self) -> dict:
        return {"n": self.n, "levels": self.levels}

    def _check(self, x: torch.Tensor, name: str = "x") -> None:
        check_categorical(x, self.n, self.levels, name)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, torch.long)

    def _draw(self, logit: torch.Tensor, u: torch.Tensor, temperature: float) -> torch.Tensor:
        # Shifted so that the largest logit is 0 before dividing by T: the others go to -inf as
        # T -> 0 and nothing overflows, so a tiny temperature draws the mode.
        z = logit.double()
        z = (z - z.amax(dim=-1, keepdim=True)) / temperature  # (B, K), all <= 0
        if torch.isnan(z).any():  # every logit -inf, or +inf twice: no distribution
            raise FloatingPointError("a categorical conditional has no finite probabilities "
                                     "(all its logits are -inf, or several +inf)")
        return draw_category(torch.log_softmax(z, dim=-1), u)

    def conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, K) probabilities p(x_i = k | x_<i) at the input ``x``."""
        return torch.softmax(self.logits(x), dim=-1)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) exact log p(x) in nats."""
        self._check(x)
        x = self._prepare(x)
        log_p = torch.log_softmax(self._all_logits(x), dim=-1)  # (B, n, K)
        return log_p.gather(-1, x[..., None]).squeeze(-1).sum(dim=1)
