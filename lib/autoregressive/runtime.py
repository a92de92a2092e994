"""Where the book runs: quick mode, the device, seeding, and timing.

Quick mode is the one switch between a chapter that trains for real and a chapter that only
proves it runs (small subsets, few steps). It is read here and nowhere else, from the
environment variable ``AUTOREGRESSIVE_QUICK``: ``1`` (or ``true``, ``yes``, ``on``) turns it on,
``0`` (or ``false``, ``no``, ``off``, or unset) leaves it off. The test suite always turns it on.
"""

from __future__ import annotations

import os
import random
import time
import warnings
from copy import deepcopy
from typing import TypeVar

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop

from .base import check_int

QUICK_ENV = "AUTOREGRESSIVE_QUICK"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Quick mode


def quick_mode() -> bool:
    """True when ``AUTOREGRESSIVE_QUICK`` asks for quick mode."""
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{QUICK_ENV}={os.environ[QUICK_ENV]!r} is not understood: "
        "expected 1/true/yes/on or 0/false/no/off"
    )


def budget(*, full: T, quick: T) -> T:
    """The value for the current mode: ``full`` for a real run, ``quick`` in quick mode."""
    return quick if quick_mode() else full


# ---------------------------------------------------------------------------------------------
# Device and seeding


def device() -> torch.device:
    """The one device helper: the first CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and PyTorch (CPU and CUDA); return a CPU generator seeded the same."""
    seed = check_int("seed", seed, minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# Timing


def seconds_per_call(fn, repeats: int = 1, device: torch.device | str | None = None) -> float:
    """Wall-clock seconds of one call of ``fn()``, averaged over ``repeats`` calls after one
    warm-up call. On a CUDA ``device`` the GPU is synchronised before the clock starts and
    stops, so that queued work is counted."""
    repeats = check_int("repeats", repeats)
    cuda = device is not None and torch.device(device).type == "cuda"
    fn()  # warm-up: first-call allocations and kernel selection are not the steady state
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if cuda:
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / repeats


def multiply_adds(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-adds of the matrix products in ``model.log_prob(x)``, counted as it runs.

    torch's ``FlopCounterMode`` counts every matrix product, attention product (its CPU kernel
    taught here) and convolution of the call from its operands' shapes (two flops per
    multiply-add); element-wise work, look-ups and masks are not counted. The call runs on a CPU copy of the model with oneDNN's
    fused recurrent kernels switched off, so that a recurrent layer shows its products, and so
    that the count is the same on every device.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a tensor of inputs, got {type(x).__name__}")
    copy = deepcopy(model).cpu().eval().requires_grad_(False)  # (no_grad trips the counter)
    # torch knows the cost of its GPU attention kernels; the CPU one costs the same
    # (sdpa_flop as exported already reads shapes, and the counter would wrap it again)
    cpu_attention = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu:
                     sdpa_flop.__wrapped__}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")
        with (torch.backends.mkldnn.flags(enabled=False),
              FlopCounterMode(display=False, custom_mapping=cpu_attention) as count):
            copy.log_prob(x.cpu())
    return count.get_total_flops() // 2


def seconds_over_sizes(make, sizes, repeats: int = 3,
                       device: torch.device | str | None = None) -> list[float]:
    """Seconds per call at each size, for costs that grow with a size (e.g. the dimension n).

    make(size) returns a zero-argument callable doing the work at that size; each is timed by
    :func:`seconds_per_call` (one warm-up call, then ``repeats`` calls). Time a batch of work
    per call, so that the growth of the arithmetic, not per-call overhead, is what is measured.
    """
    sizes = list(sizes)
    if not sizes:
        raise ValueError("sizes must hold at least one size")
    return [seconds_per_call(make(size), repeats, device) for size in sizes]
