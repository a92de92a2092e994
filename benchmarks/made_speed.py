"""MADE's speeds: all conditionals in one pass, sampling in n passes, and NADE at the same size.

    .venv/bin/python benchmarks/made_speed.py [--hidden 500] [--batch 100] [--repeats 20]

On the same binarized MNIST test batch, in one process: MADE's log p(x) (one masked
feed-forward pass), NADE's log p(x) (its running sum), MADE's and NADE's sampling of a batch of
the same size (n passes of the network for MADE, one running sum for NADE), and, for
reference, one pass of a plain autoencoder of the same size. Milliseconds per batch, and ratios.
"""

from __future__ import annotations

import argparse

import torch

import autoregressive as ar


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    x = ar.binarized_mnist("test")[: args.batch].to(device)
    made = ar.MADE(784, (args.hidden,), direct=True).to(device).eval()
    nade = ar.NADE(784, hidden=args.hidden).to(device).eval()
    autoencoder = ar.Autoencoder(784, hidden=args.hidden).to(device).eval()
    with torch.no_grad():
        rows = {
            "autoencoder, one pass": ar.seconds_per_call(lambda: autoencoder(x), args.repeats, device),
            "MADE log p(x), one pass": ar.seconds_per_call(lambda: made.log_prob(x), args.repeats, device),
            "NADE log p(x), running sum": ar.seconds_per_call(lambda: nade.log_prob(x), max(1, args.repeats // 4), device),
            "MADE sampling, 784 passes": ar.seconds_per_call(lambda: made.sample(args.batch, seed=0), 1, device),
            "NADE sampling, running sum": ar.seconds_per_call(lambda: nade.sample(args.batch, seed=0), 1, device),
        }
    base = rows["MADE log p(x), one pass"]
    print(f"batch {args.batch}, hidden {args.hidden}, device {device}, "
          f"{torch.get_num_threads()} CPU threads")
    for name, t in rows.items():
        print(f"{name:28} {t * 1000:10.2f} ms  {t / base:8.1f}x MADE's one pass")


if __name__ == "__main__":
    main()
