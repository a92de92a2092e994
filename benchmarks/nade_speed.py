"""NADE training speed: the straightforward autograd version against the library's fast path.

    .venv/bin/python benchmarks/nade_speed.py [--hidden 500] [--batch 100] [--steps 5]

Both run the same training step (forward, mean NLL, backward, Adam update) on the same binarized
MNIST batches, in one process, one after the other; the figure is examples per second. The
goal for the fast path is at least 5x the straightforward version on the same machine.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

import autoregressive as ar
from autoregressive.nade import autograd_logits


def examples_per_second(model, logits_fn, data, batch, steps) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(x):
        loss = F.binary_cross_entropy_with_logits(logits_fn(x), x, reduction="sum") / len(x)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(data[:batch])  # warm-up
    start = time.perf_counter()
    for k in range(steps):
        step(data[k * batch:(k + 1) * batch])
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--blocks", type=int, nargs="+", default=[8])
    args = parser.parse_args()
    data = ar.binarized_mnist("train")[: args.batch * (args.steps + 1)]
    print(f"NADE, n = 784, H = {args.hidden}, batch {args.batch}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}")
    model = ar.NADE(784, hidden=args.hidden)
    plain = examples_per_second(model, lambda x: autograd_logits(model, x), data, args.batch, args.steps)
    print(f"  straightforward autograd (cumsum over (B, n, H)): {plain:8.0f} examples/s")
    for block in args.blocks:
        model = ar.NADE(784, hidden=args.hidden, block=block)
        fast = examples_per_second(model, model._logits, data, args.batch, args.steps)
        print(f"  library fast path (block {block:3}):              {fast:8.0f} examples/s "
              f"= {fast / plain:.1f}x")


if __name__ == "__main__":
    main()
