"""A recurrent network's sampling, carrying the hidden state against re-reading the prefix.

    .venv/bin/python benchmarks/rnn_sampling.py [--cell tanh|lstm|gru] [--hidden 128]
                                                [--num 16] [--n 784]

Both routes draw the same samples from the same uniform numbers (checked): the library's sampler
carries the hidden state from one step to the next (one recurrence step of new work per pixel,
n - 1 steps per sample), while the plain route runs the network over the whole row again for
every pixel it draws (n - 1 steps each time, n(n - 1) per sample). Prints both times for the same n-pixel samples in one
run, the recurrence steps each route takes, and the speed-up.
"""

from __future__ import annotations

import argparse

import torch

import autoregressive as ar
from autoregressive.rnn import plain_sampling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="tanh", choices=["tanh", "lstm", "gru"])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--num", type=int, default=16, help="samples per call")
    parser.add_argument("--n", type=int, default=784, help="pixels per sample")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: ar.device())")
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else ar.device()
    ar.seed_everything(0)
    model = ar.BinaryRNN(args.n, hidden=args.hidden, cell=args.cell).to(device).eval()

    carried = model.sample(args.num, seed=0)
    with plain_sampling(model):
        plain = model.sample(args.num, seed=0)
    same = int((carried == plain).all(dim=1).sum())
    t_carried = ar.seconds_per_call(lambda: model.sample(args.num, seed=0), 1, device)
    with plain_sampling(model):
        t_plain = ar.seconds_per_call(lambda: model.sample(args.num, seed=0), 1, device)
    steps_plain = args.n * (args.n - 1)
    print(f"{args.cell} RNN, H = {args.hidden}, {args.num} samples of {args.n} pixels "
          f"on {device}")
    print(f"  carried state : {t_carried:8.3f} s  ({args.n - 1:,} recurrence steps per sample)")
    print(f"  plain route   : {t_plain:8.3f} s  ({steps_plain:,} recurrence steps per sample)")
    print(f"  speed-up {t_plain / t_carried:.0f}x; identical samples: {same} of {args.num}")


if __name__ == "__main__":
    main()
