"""NADE training speed: the straightforward autograd version against the library's fast path.

    .venv/bin/python benchmarks/nade_speed.py [--hidden 500] [--batch 100] [--steps 10]

Both run the same training step (forward, mean NLL, backward, Adam update) on the same binarized
MNIST batches, in one process, one after the other; the figure is examples per second. The
goal for the fast path is at least 5x the straightforward version on the same machine.
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
    parser.add_argument("--device", default="cpu", help="cpu or cuda (on a GPU the library "
                        "uses the single cumsum, so both lines measure nearly the same code)")
    args = parser.parse_args()
    data = ar.binarized_mnist("train")[: args.batch * (args.steps + 1)]
    speed = dict(batch_size=args.batch, steps=args.steps)
    print(f"NADE, n = 784, H = {args.hidden}, batch {args.batch}, {args.device}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    model = ar.NADE(784, hidden=args.hidden).to(args.device)

    plain = ar.training_speed(model, data, log_prob=lambda x: autograd_log_prob(model, x), **speed)
    print(f"  straightforward autograd (cumsum over (B, n, H)): {plain:8.0f} examples/s")
    for block in args.blocks:
        fast = ar.training_speed(ar.NADE(784, hidden=args.hidden, block=block).to(args.device),
                                 data, **speed)
        print(f"  library fast path (block {block:3}):              {fast:8.0f} examples/s "
              f"= {fast / plain:.1f}x")


if __name__ == "__main__":
    main()
