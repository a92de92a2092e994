"""Cached against uncached generation for the pixel decoder, on one machine in one run.

    .venv/bin/python benchmarks/kv_cache.py [--width 32] [--heads 4] [--layers 2] [--num 4]

A ``PixelTransformer`` of chapter 10's size (random weights: the cost does not depend on them)
draws ``--num`` samples of 784 pixels twice: with its cache of keys and values (step t
computes one new position and attends over the t stored ones) and re-running the whole prefix
at every step. Printed: the total time of each, the speed-up, whether the samples are
identical, the time per position at a few positions, and the fitted growth of each route's
per-position time with t (the uncached route's grows like t, the cached one's far more
slowly, its fixed per-step overhead dominating at this size).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from autoregressive import attention as at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--num", type=int, default=4, help="samples drawn at once")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = at.PixelTransformer(784, width=args.width, heads=args.heads,
                                layers=args.layers).to(args.device).eval()
    cached, drawn = at.seconds_per_position(model, args.num, seed=0)
    with at.uncached_sampling(model):
        uncached, drawn_uncached = at.seconds_per_position(model, args.num, seed=0)
    print(f"device {args.device}, {torch.get_num_threads()} threads; width {args.width}, "
          f"{args.heads} heads, {args.layers} layers; {args.num} samples of 784 pixels")
    print(f"cached   {cached.sum():7.2f} s")
    print(f"uncached {uncached.sum():7.2f} s")
    print(f"speed-up {uncached.sum() / cached.sum():7.1f}x; identical samples: "
          f"{torch.equal(drawn, drawn_uncached)}")
    for t in (1, 100, 200, 400, 783):
        print(f"  position {t:>3}: cached {cached[t] * 1e3:7.2f} ms, "
              f"uncached {uncached[t] * 1e3:7.2f} ms")
    t = np.arange(100, 784)
    for name, seconds in (("cached", cached), ("uncached", uncached)):
        slope = np.polyfit(np.log(t), np.log(seconds[100:].numpy()), 1)[0]
        print(f"{name}: time per position grows like t^{slope:.2f} (t from 100 to 783)")


if __name__ == "__main__":
    main()
