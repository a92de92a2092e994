"""MADE against NADE at the same size: one-pass density, n-pass sampling, training speed.

    .venv/bin/python benchmarks/made_speed.py [--hidden 500] [--batch 500] [--grow]

Per image, on a batch of binarized MNIST test images (large enough that per-call Python
overhead is a small part of each call): a plain autoencoder's pass (for reference), MADE's
log p(x) (one masked feed-forward pass, with direct connections), NADE's log p(x) (its running
sum, in blocks), MADE's sampling (n passes) and NADE's sampling (one running sum). Each row shows the multiply-adds it needs per image,
the time per image, and their quotient (the rate at which the arithmetic ran), then the ratios
counted and timed. Then training speed (examples per second of full Adam steps on minibatches
of 100) for both. With ``--grow`` the two samplers are also timed at growing n (random weights,
random data), which shows the gap growing with n: MADE's sampling count grows like
n²(2H + n), NADE's like 2nH.
"""

from __future__ import annotations

import argparse

import torch

import autoregressive as ar


def counts(n: int, hidden: int, block: int) -> dict[str, int]:
    """Multiply-adds per image of each operation (a dense product counts masked-out entries)."""
    one_pass = 2 * n * hidden + n * n  # into the hidden layer, out of it, direct connections
    return {
        "autoencoder, one pass": 2 * n * hidden,  # the same layers, no masks, no direct
        "MADE log p(x), one pass": one_pass,
        f"NADE log p(x), blocks of {block}": (block + 2) * n * hidden,
        "MADE sampling, n passes": n * one_pass,
        "NADE sampling, running sum": 2 * n * hidden,
    }


def per_image(n: int, hidden: int, x: torch.Tensor, repeats: int,
              device: torch.device) -> dict[str, float]:
    """Seconds per image of each operation of :func:`counts`, on the batch ``x``."""
    made = ar.MADE(n, (hidden,), direct=True).to(device).eval()
    nade = ar.NADE(n, hidden=hidden).to(device).eval()
    autoencoder = ar.Autoencoder(n, hidden=hidden).to(device).eval()
    batch = len(x)
    work = [lambda: autoencoder(x), lambda: made.log_prob(x), lambda: nade.log_prob(x),
            lambda: made.sample(batch, seed=0), lambda: nade.sample(batch, seed=0)]
    tries = [repeats, repeats, max(1, repeats // 5), 1, 1]
    with torch.no_grad():
        seconds = [ar.seconds_per_call(fn, r, device) / batch for fn, r in zip(work, tries)]
    return dict(zip(counts(n, hidden, nade.block), seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=500)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10, help="training steps timed")
    parser.add_argument("--grow", action="store_true", help="also time sampling at growing n")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    n, hidden = 784, args.hidden
    x = ar.binarized_mnist("test")[: args.batch].to(device)

    count = counts(n, hidden, ar.NADE(n, hidden=hidden).block)
    seconds = per_image(n, hidden, x, args.repeats, device)
    print(f"n {n}, hidden {hidden}, batch {args.batch}, device {device}, "
          f"{torch.get_num_threads()} CPU threads; per image:")
    print(f"{'':30}{'multiply-adds':>14}{'time':>13}{'G/s':>8}")
    for name in count:
        print(f"{name:30}{count[name] / 1e6:12.2f} M{seconds[name] * 1e3:10.3f} ms"
              f"{count[name] / seconds[name] / 1e9:8.2f}")
    names = list(count)
    print("ratios, counted and timed:")
    for a, b in [(3, 1), (4, 2), (3, 4), (2, 1)]:
        short = [names[k].split(",")[0] for k in (a, b)]
        print(f"  {short[0]} / {short[1]}: {count[names[a]] / count[names[b]]:.1f}x counted, "
              f"{seconds[names[a]] / seconds[names[b]]:.1f}x timed")

    train = ar.binarized_mnist("train")
    ar.seed_everything(0)
    speed = {
        "MADE": ar.training_speed(ar.MADE(n, (hidden,), direct=True).to(device), train,
                                  steps=args.steps),
        "NADE": ar.training_speed(ar.NADE(n, hidden=hidden).to(device), train,
                                  steps=args.steps),
    }
    print("training, minibatches of 100:")
    for name, rate in speed.items():
        print(f"  {name}: {rate:,.0f} examples/s, an epoch of 50,000 in {50_000 / rate:.0f} s")

    if args.grow:
        sizes = [98, 196, 392, 784]
        generator = torch.Generator().manual_seed(0)
        print(f"sampling at growing n (random data), ms per image, batch {args.batch}:")
        for size in sizes:
            data = torch.bernoulli(torch.full((args.batch, size), 0.5), generator=generator)
            s = per_image(size, hidden, data.to(device), 1, device)
            made_s, nade_s = s["MADE sampling, n passes"], s["NADE sampling, running sum"]
            print(f"  n {size:4d}: MADE {made_s * 1e3:9.3f}, NADE {nade_s * 1e3:7.3f}, "
                  f"ratio {made_s / nade_s:6.1f}")


if __name__ == "__main__":
    main()
