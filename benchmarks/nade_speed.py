"""NADE training speed: the straightforward autograd version against the library's fast path.

    .venv/bin/python benchmarks/nade_speed.py [--hidden 500] [--batch 100] [--steps 10]

Both run the same training step (forward, mean NLL, backward, Adam update) on the same binarized
MNIST batches, in one process, one after the other; the figure is examples per second. FVSBN's
speed is printed beside them, for the cost of an epoch of each. The goal for the fast path is at
least 5x the straightforward version on the same machine.

The blockwise fast path is the library's CPU path: on a GPU the library itself uses the single
cumsum that the straightforward version uses, so ``--device cuda`` compares nearly the same code
(and says so).
"""

from __future__ import annotations

import argparse

import torch

import autoregressive as ar
from autoregressive.nade import autograd_log_prob


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--blocks", type=int, nargs="+", default=[8])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    device = torch.device(args.device)
    data = ar.binarized_mnist("train")[: args.batch * (args.steps + 1)]
    speed = dict(batch_size=args.batch, steps=args.steps)
    print(f"NADE, n = 784, H = {args.hidden}, batch {args.batch}, {device}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    if device.type == "cuda":
        print("  (on a GPU the library uses the cumsum too: both lines run nearly the same code)")
    model = ar.NADE(784, hidden=args.hidden).to(device)

    plain = ar.training_speed(model, data, log_prob=lambda x: autograd_log_prob(model, x), **speed)
    print(f"  straightforward autograd (cumsum over (B, n, H)): {plain:8.0f} examples/s")
    for block in args.blocks:
        fast = ar.training_speed(ar.NADE(784, hidden=args.hidden, block=block).to(device),
                                 data, **speed)
        print(f"  library fast path (block {block:3}):              {fast:8.0f} examples/s "
              f"= {fast / plain:.1f}x")
    fvsbn = ar.training_speed(ar.FVSBN(784).to(device), data, **speed)
    print(f"  FVSBN, for comparison:                          {fvsbn:8.0f} examples/s")


if __name__ == "__main__":
    main()
