"""Training and sampling speed of the book's image models, on one machine in one run.

    .venv/bin/python benchmarks/pixel_speed.py [--batch 50] [--steps 5] [--device cpu]

For each of chapter 9's models (``pixelrnn.MNIST_MODELS`` on binarized MNIST, 28 × 28, and
``pixelrnn.COLOUR_MODEL`` on coloured MNIST, 14 × 14 × 3 at its levels, with and without the
R → G → B order inside a pixel): its parameters, training examples per second (full Adam steps
on minibatches of ``--batch``), the time of one log p(x) pass per image, and the time to draw
one batch of samples (n network passes, each on the rows down to the current one).
PixelCNN's log p(x) is one convolutional pass; the Row LSTM steps over 28 rows and the
Diagonal BiLSTM over 55 diagonals, so their per-step Python overhead shows at these sizes.
"""

from __future__ import annotations

import argparse

import torch

import autoregressive as ar
from autoregressive.pixelrnn import COLOUR_MODEL, MNIST_MODELS


def measure(model, data: torch.Tensor, batch: int, steps: int, device, samples: int) -> tuple:
    model = model.to(device)
    speed = ar.training_speed(model, data, batch_size=batch, steps=steps)
    model.eval()
    x = data[:batch].to(device)
    with torch.no_grad():
        log_p = ar.seconds_per_call(lambda: model.log_prob(x), 3, device) / batch
        draw = ar.seconds_per_call(lambda: model.sample(samples, seed=0), 1, device)
    return model.num_parameters(), speed, log_p, draw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--steps", type=int, default=5, help="training steps timed")
    parser.add_argument("--samples", type=int, default=16, help="images per sampling call")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    binary = ar.binarized_mnist("train")[:(args.steps + 1) * args.batch]
    colour = ar.coloured_mnist("train", levels=COLOUR_MODEL["levels"])
    colour = colour[:(args.steps + 1) * args.batch]
    models = {name: (ar.PixelRNN(28, 28, **config), binary)
              for name, config in MNIST_MODELS.items()}
    for order in (True, False):
        label = "colour, R→G→B" if order else "colour, independent"
        models[label] = (ar.ColourPixelRNN(14, 14, channel_order=order, **COLOUR_MODEL),
                         colour)
    print(f"device {device}, {torch.get_num_threads()} threads, batch {args.batch}")
    print(f"{'model':<22}{'params':>8}{'train ex/s':>12}{'log p ms/img':>14}"
          f"{'sample s':>10}")
    for name, (model, data) in models.items():
        params, speed, log_p, draw = measure(model, data, args.batch, args.steps, device,
                                             args.samples)
        print(f"{name:<22}{params:>8,}{speed:>12,.0f}{log_p * 1e3:>14.3f}{draw:>10.2f}")
    print(f"(sample s: seconds to draw {args.samples} images; n passes: 784 for binary, "
          "588 for colour)")


if __name__ == "__main__":
    main()
