"""Does torch.compile pay for the models of record? Training speed, eager against compiled.

    .venv/bin/python benchmarks/compile_speed.py [--models pixelcnn row_lstm ...] [--steps 5]

For each configuration of record (``autoregressive.record.CONFIGS``) named, at its own size and
batch: examples per second of full training steps (forward, mean NLL, backward, Adam update;
``ar.training_speed``) on its validation rows through ``model.log_prob`` as it is, then through
``torch.compile(model.log_prob)``, on the same batches, one after the other in one process. The
compiled function is warmed up (compiled) before it is timed, and the seconds that took are
printed too: a record run pays them once, at each start or resume.
"""

from __future__ import annotations

import argparse
import time

import torch

import autoregressive as ar
from autoregressive.record import CONFIGS

DEFAULT = ["pixelcnn", "row_lstm", "diagonal_bilstm", "pixel_transformer", "decoder"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=DEFAULT, choices=sorted(CONFIGS))
    parser.add_argument("--steps", type=int, default=5, help="training steps timed")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{'model':<20}{'batch':>6}{'eager ex/s':>12}{'compiled ex/s':>15}{'speed-up':>10}"
          f"{'compile s':>11}")
    for name in args.models:
        config = CONFIGS[name]
        if config.method != "adam":
            print(f"{name:<20} (not trained by gradient steps: nothing to compile)")
            continue
        # the validation rows: fixed binary images where training draws them afresh
        data = config.data().valid[:(args.steps + 2) * config.batch_size]
        torch.manual_seed(0)
        model = config.build().to(device)
        eager = ar.training_speed(model, data, batch_size=config.batch_size, steps=args.steps)
        compiled = torch.compile(model.log_prob)
        start = time.perf_counter()
        ar.training_speed(model, data, batch_size=config.batch_size, steps=1,
                          log_prob=compiled)  # compiles the forward and backward graphs
        compile_seconds = time.perf_counter() - start
        fast = ar.training_speed(model, data, batch_size=config.batch_size, steps=args.steps,
                                 log_prob=compiled)
        print(f"{name:<20}{config.batch_size:>6}{eager:>12,.0f}{fast:>15,.0f}"
              f"{fast / eager:>9.2f}x{compile_seconds:>11.0f}")


if __name__ == "__main__":
    main()
