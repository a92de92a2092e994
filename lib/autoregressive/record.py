"""Models of record: each model the book teaches, trained once at its strength and shipped.

The chapters train their models live on a few CPU minutes, an equal budget that is a fair
experiment but not what the models can do. A *configuration of record* (:data:`CONFIGS`) is
the strongest setup the book's machines can train for a model; this module trains it, once,
and the chapters load the result beside their live runs.

    python -m autoregressive.record list
    python -m autoregressive.record train pixelcnn --hours 2 [--threads 2]
    python -m autoregressive.record ship pixelcnn        # into the package, with its record

``train`` runs on whatever device is present (:func:`autoregressive.device`) with AdamW, a
linear warm-up then a cosine decay of the learning rate over the whole budget, validation at
every pass over the training set (and at the end), and keeps the weights with the best
validation NLL. It is **resumable**: every few minutes (and at each validation, and when it is
interrupted) it writes its whole state, weights, optimiser, schedule, position in the data
and random state, to ``runs/<name>/state.pt``; run the same command again and it goes on from
there, drawing the same batches it would have drawn without the stop. The budget is fixed at
the first start in examples (the hours times the speed measured then), so a resumed run
follows the same schedule. At the end it evaluates the best weights on every test example and
writes ``runs/<name>/record.json`` (test NLL in nats and bits/dim, or per character for names;
the same on the first 500 test examples; parameters, examples seen, training time (the training steps'
wall time, without validation and without pauses such as a suspended process), hardware, the
command and the commit) and ``runs/<name>/model.pt``.

``ship`` copies a finished run into the package (``autoregressive/records/<name>.pt``, stored
in float16 where that costs under 0.05 nats, else float32) and its record into
``autoregressive/records/index.json`` with the file's sha256; :func:`load_record` checks the
sha256 and loads the model with :func:`autoregressive.load`.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import hashlib
import importlib.resources
import json
import math
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple

import torch

from . import runtime
from .base import DensityModel, check_int
from .data import binarized_mnist, coloured_mnist, dynamic_binarize, grey_mnist
from .text import Bigram, StringModel, in_string, names_corpus
from .train import _optimizer, evaluate, load, save

RUNS = Path("runs")  # where runs keep their state, relative to the working directory
SAVE_EVERY = 300.0  # seconds between saves of a run's state
FLOAT16_COST = 0.05  # nats: the most float16 storage may cost a model to be stored so
FIRST = 500  # test examples whose figure is stored beside the full one, for the tests
SAMPLES = 1000  # samples a shipped MNIST model draws for the classifier to score
COMMAND = " ".join(sys.argv)  # what started the run (the command line sets it exactly)


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class Data:
    """What a configuration trains and is scored on."""

    train: torch.Tensor  # training rows (grey values in [0, 1] with dynamic binarization)
    valid: torch.Tensor  # validation rows, in the model's support
    test: torch.Tensor  # test rows, in the model's support
    unit: str  # "image" (nats per image, bits/dim) or "character" (names)


def mnist() -> Data:
    """Binarized MNIST as the book has it: training images drawn afresh at every batch from
    their grey values (dynamic binarization), validation and test the book's fixed draw."""
    return Data(grey_mnist("train"), binarized_mnist("valid"), binarized_mnist("test"), "image")


def mnist_fixed() -> Data:
    """Binarized MNIST with the fixed draw for training too (for the convex FVSBN and the
    counts of the bigram, which see the data once)."""
    return Data(binarized_mnist("train"), binarized_mnist("valid"), binarized_mnist("test"),
                "image")


def colour() -> Data:
    """Coloured MNIST at 14 x 14 and 256 levels per channel (chapter 9's data)."""
    return Data(*(coloured_mnist(s, size=14, levels=256) for s in ("train", "valid", "test")),
                "image")


def names() -> Data:
    """The names corpus of chapter 8 (all names, split with seed 0)."""
    corpus = names_corpus("all", seed=0)
    return Data(*(corpus.encoded(s) for s in ("train", "valid", "test")), "character")


# ---------------------------------------------------------------------------------------------
# Configurations of record


@dataclass(frozen=True)
class Config:
    """A model of record: what to build, on which data, and how to train it."""

    name: str  # the name on the command line and of the shipped file
    title: str  # how tables call it
    chapter: str  # the chapter that teaches it (and loads the record)
    build: Callable[[], DensityModel]  # the untrained model
    data: Callable[[], Data]
    setup: str  # the configuration in a few words, for tables
    hours: float = 2.0  # the default budget on two CPU cores
    batch_size: int = 100
    lr: float = 1e-3  # the peak learning rate
    final_lr: float = 0.02  # the last learning rate, as a fraction of the peak
    warmup: float = 0.02  # the share of the budget spent warming the learning rate up
    weight_decay: float = 0.0
    clip_grad: float | None = None
    dynamic_binarization: bool = False
    method: str = "adam"  # "adam", "convex" (FVSBN's L-BFGS) or "counts" (the bigram)
    masks: bool = False  # MADE's connectivity-agnostic training: a new mask every step
    evaluate_as: Callable[[DensityModel], DensityModel] | None = None  # e.g. a MADE's ensemble
    valid_rows: int | None = None  # validate on the first rows only (slow models)
    extra: dict = field(default_factory=dict)  # method settings (e.g. the convex fit's λ)


def _pixel(kind: str, hidden: int, layers: int, features: int = 32) -> Callable:
    from .pixelrnn import PixelRNN
    return lambda: PixelRNN(28, 28, kind=kind, hidden=hidden, layers=layers,
                            output_features=features)


def _colour(order: bool) -> Callable:
    from .pixelrnn import ColourPixelRNN
    return lambda: ColourPixelRNN(14, 14, levels=256, kind="pixelcnn", hidden=48, layers=6,
                                  output_features=96, channel_order=order)


def _made(num_masks: int, hidden: tuple[int, ...], natural: bool) -> Callable:
    from .made import MADE
    return lambda: MADE(784, hidden, num_masks=num_masks, natural_order=natural, direct=True,
                        seed=0)


@functools.lru_cache(maxsize=1)
def _chars() -> tuple[str, int]:
    corpus = names_corpus("all", seed=0)
    return corpus.vocabulary.chars, corpus.max_length


def _char_model(kind: str, **settings) -> Callable:
    def build():
        from . import attention, rnn
        chars, longest = _chars()
        if kind == "bigram":
            return Bigram(chars, longest)
        if kind == "attention":
            return attention.AttentionRNN(chars, longest, **settings)
        if kind == "decoder":
            return attention.Transformer(chars, longest, **settings)
        return rnn.CharRNN(chars, longest, **settings)
    return build


def _ensemble(model):
    return model.ensemble()


def _configs() -> dict[str, Config]:
    from .fvsbn import FVSBN
    from .nade import NADE
    from .attention import PixelTransformer
    from .rnn import BinaryRNN

    mnist_run = {"data": mnist, "dynamic_binarization": True}
    configs = [
        Config("fvsbn", "FVSBN", "02_fvsbn", lambda: FVSBN(784), mnist_fixed,
               "logistic conditionals, L-BFGS to the optimum, λ = 1e-4",
               method="convex", extra={"l2": 1e-4, "max_iter": 2000, "tol": 1e-5}),
        Config("nade", "NADE", "03_nade", lambda: NADE(784, hidden=500), **mnist_run,
               setup="500 sigmoid units, AdamW, cosine schedule", lr=1e-3, hours=1.5),
        Config("made", "MADE, one mask", "07_made", _made(1, (2000,), True), **mnist_run,
               setup="one layer of 2000 ReLU units, direct connections, natural order",
               lr=1e-3, weight_decay=1e-4, hours=1.5),
        Config("made_agnostic", "MADE, order-agnostic (32 masks)", "07_made",
               _made(32, (1000, 1000), False), **mnist_run,
               setup="two layers of 1000 units, a new ordering and connectivity per mask, "
                     "32 masks, their ensemble at test",
               lr=1e-3, masks=True, evaluate_as=_ensemble, valid_rows=2000, hours=2.0),
        Config("lstm", "LSTM over pixels", "08_rnn",
               lambda: BinaryRNN(784, hidden=256, cell="lstm"), **mnist_run,
               setup="one LSTM layer of 256 units, one pixel per step",
               lr=2e-3, clip_grad=1.0, batch_size=50, hours=3.0),
        Config("pixelcnn", "PixelCNN", "09_pixelrnn", _pixel("pixelcnn", 32, 7), **mnist_run,
               setup="h = 32, 7 masked residual blocks, 32 output maps", lr=2e-3,
               batch_size=50, hours=2.0),
        Config("row_lstm", "Row LSTM", "09_pixelrnn", _pixel("row_lstm", 32, 3), **mnist_run,
               setup="h = 32, 3 layers", lr=2e-3, batch_size=50, hours=3.0),
        Config("diagonal_bilstm", "Diagonal BiLSTM", "09_pixelrnn",
               _pixel("diagonal_bilstm", 16, 4), **mnist_run, setup="h = 16, 4 layers",
               lr=2e-3, batch_size=50, hours=4.0),
        Config("pixel_transformer", "pixel transformer", "10_attention",
               lambda: PixelTransformer(784, width=64, heads=4, layers=4), **mnist_run,
               setup="d = 64, 4 heads, 4 blocks", lr=1e-3, batch_size=50, hours=3.0,
               clip_grad=1.0),
        Config("colour_rgb", "colour, R→G→B", "09_pixelrnn", _colour(True), colour,
               "PixelCNN, h = 48, 6 blocks, 256 levels, R then G then B", lr=2e-3,
               batch_size=50, hours=1.5),
        Config("colour_independent", "colour, independent channels", "09_pixelrnn",
               _colour(False), colour, "the same network, R, G, B independent", lr=2e-3,
               batch_size=50, hours=1.5),
        Config("bigram", "bigram, add-one", "08_rnn", _char_model("bigram"), names,
               "counts, +1 smoothing", method="counts"),
        Config("tanh", "tanh RNN", "08_rnn", _char_model("rnn", hidden=256, cell="tanh"), names,
               "H = 256", lr=2e-3, clip_grad=1.0, batch_size=64, hours=0.3),
        Config("lstm_names", "LSTM", "08_rnn", _char_model("rnn", hidden=256, cell="lstm"),
               names, "H = 256", lr=2e-3, batch_size=64, hours=0.4, weight_decay=1e-2),
        Config("gru", "GRU", "08_rnn", _char_model("rnn", hidden=256, cell="gru"), names,
               "H = 256", lr=2e-3, batch_size=64, hours=0.4, weight_decay=1e-2),
        Config("lstm_attention", "LSTM + attention", "10_attention",
               _char_model("attention", hidden=256, cell="lstm", key_size=64), names,
               "H = 256, keys of 64", lr=2e-3, batch_size=64, hours=0.5, weight_decay=1e-2),
        Config("decoder", "decoder", "10_attention",
               _char_model("decoder", width=128, heads=4, layers=4), names,
               "d = 128, 4 heads, 4 blocks", lr=1e-3, batch_size=64, hours=0.5,
               weight_decay=1e-1),
    ]
    return {c.name: c for c in configs}


CONFIGS: dict[str, Config] = _configs()


# ---------------------------------------------------------------------------------------------
# Training, resumable


def learning_rate(config: Config, seen: int, total: int) -> float:
    """The schedule: linear warm-up over ``warmup`` of the budget, then a cosine from the peak
    down to ``final_lr`` of it at the end."""
    progress = min(seen / total, 1.0)
    if progress < config.warmup:
        return config.lr * progress / config.warmup
    decay = (progress - config.warmup) / (1 - config.warmup)
    low = config.lr * config.final_lr
    return low + (config.lr - low) * 0.5 * (1 + math.cos(math.pi * decay))


def _atomic_save(obj, path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    torch.save(obj, temporary)
    os.replace(temporary, path)


def _batch_order(size: int, seed: int, epoch: int) -> torch.Tensor:
    """The order of the training rows in pass ``epoch``: the same on every run and resume."""
    return torch.randperm(size, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


def _binarize(rows: torch.Tensor, seed: int, step: int) -> torch.Tensor:
    """A fresh binarization of one batch, drawn from the step's own seed (resumable)."""
    return dynamic_binarize(rows, torch.Generator().manual_seed(seed * 1_000_003 + step))


class Run:
    """One configuration's training run, its state kept in ``folder`` (see the module)."""

    def __init__(self, config: Config, folder: Path | None = None, seed: int = 0,
                 log: Callable[[str], None] = print):
        self.config, self.seed, self.log = config, seed, log
        self.folder = Path(folder) if folder is not None else RUNS / config.name
        self.device = runtime.device()

    @property
    def state_path(self) -> Path:
        return self.folder / "state.pt"

    def train(self, hours: float | None = None, stop_after: float | None = None,
              examples: int | None = None) -> dict | None:
        """Train until the budget is spent, then write the record; or stop after
        ``stop_after`` seconds of this call (state saved) and return None.

        hours / examples: the budget, fixed at the first start, as hours of this machine
        (converted to examples by the speed measured then) or as examples (None: the
        configuration's hours). A resumed run keeps the budget it started with.
        """
        config = self.config
        self.folder.mkdir(parents=True, exist_ok=True)
        data = config.data()
        if config.method == "counts":
            return self._finish(self._counts(data), data, seconds=0.0, seen=len(data.train))
        if config.method == "convex":
            return self._convex(data)
        runtime.seed_everything(self.seed)  # the same initial weights on every start
        model = config.build().to(self.device)
        optimizer = _optimizer(model, config.lr, config.weight_decay)
        state = self._resume(model, optimizer, data, hours, examples)
        model.train()
        started = last_save = last = time.perf_counter()
        batches_per_pass = math.ceil(len(data.train) / config.batch_size)
        order = None  # (pass, the order of its rows), drawn once a pass
        with _interrupts_saved(lambda: self._save(model, optimizer, state)):
            while state["seen"] < state["total"]:
                epoch, k = divmod(state["step"], batches_per_pass)
                if order is None or order[0] != epoch:
                    order = (epoch, _batch_order(len(data.train), self.seed, epoch))
                order_rows = order[1]
                rows = data.train[order_rows[k * config.batch_size:(k + 1) * config.batch_size]]
                if config.dynamic_binarization:
                    rows = _binarize(rows, self.seed, state["step"])
                rate = learning_rate(config, state["seen"], state["total"])
                for group in optimizer.param_groups:
                    group["lr"] = rate
                if config.masks:
                    model.set_mask(state["step"] % model.num_masks)
                loss = -model.log_prob(rows.to(self.device)).mean()
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"{config.name}: the loss became {loss.item()} at "
                                             f"step {state['step']}; lower the learning rate")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if config.clip_grad is not None:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad)
                optimizer.step()
                state["step"] += 1
                state["seen"] += len(rows)
                state["loss"] = 0.98 * state.get("loss", loss.item()) + 0.02 * loss.item()
                now = time.perf_counter()
                state["seconds"] += _active(now - last, state)
                last = now
                last_pass = k == batches_per_pass - 1 or state["seen"] >= state["total"]
                if last_pass:
                    self._validate(model, data, state)
                    last = time.perf_counter()  # validation is not training time
                if state["step"] % 50 == 0 or last_pass:
                    self._progress(state, rate)
                if last_pass or now - last_save > SAVE_EVERY:
                    self._save(model, optimizer, state)
                    last_save = now
                if stop_after is not None and now - started > stop_after:
                    self._save(model, optimizer, state)
                    return None
        model.load_state_dict(state["best"])
        return self._finish(model, data, state["seconds"], state["seen"])

    # -- pieces ---------------------------------------------------------------------------------

    def _resume(self, model, optimizer, data: Data, hours: float | None,
                examples: int | None) -> dict:
        if self.state_path.is_file():
            state = torch.load(self.state_path, map_location="cpu", weights_only=True)
            if state["config"] != self.config.name:
                raise ValueError(f"{self.state_path} holds a run of {state['config']!r}, "
                                 f"not {self.config.name!r}")
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            self.log(f"{self.config.name}: resuming at {state['seen']:,} of "
                     f"{state['total']:,} examples ({state['seconds'] / 3600:.2f} h spent)")
            return state
        if hours is not None and examples is not None:
            raise ValueError("give the budget in hours or in examples, not both")
        initial = copy.deepcopy(model.state_dict())
        speed = self._speed(model, data)
        model.load_state_dict(initial)
        if examples is not None:
            total = check_int("examples", examples)
            hours = total / speed / 3600
        else:
            hours = self.config.hours if hours is None else hours
            if isinstance(hours, bool) or not (isinstance(hours, (int, float)) and hours > 0):
                raise ValueError(f"hours must be a positive number, got {hours!r}")
            total = max(int(hours * 3600 * speed * 0.9), self.config.batch_size)  # 10%: validation
        self.log(f"{self.config.name}: {model.num_parameters():,} parameters on {self.device}, "
                 f"{speed:,.0f} examples/s; budget {hours:g} h = {total:,} examples "
                 f"({total / len(data.train):.1f} passes)")
        return {"config": self.config.name, "step": 0, "seen": 0, "total": total,
                "seconds": 0.0, "hours": hours, "speed": speed, "best": None,
                "best_valid": math.inf, "history": [], "command": COMMAND,
                "model": None, "optimizer": None}

    def _speed(self, model, data: Data) -> float:
        """Training examples per second, over a few steps after a warm-up."""
        trial = copy.deepcopy(model)
        optimizer = torch.optim.AdamW(trial.parameters(), lr=1e-6)
        rows = data.train[:self.config.batch_size]
        if self.config.dynamic_binarization:
            rows = _binarize(rows, 0, 0)
        rows = rows.to(self.device)
        times = []
        for _ in range(4):
            start = time.perf_counter()
            loss = -trial.log_prob(rows).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        return len(rows) / min(times[1:])

    def _validate(self, model, data: Data, state: dict) -> None:
        rows = data.valid if self.config.valid_rows is None else data.valid[:self.config.valid_rows]
        judged = self.config.evaluate_as(model) if self.config.evaluate_as else model
        valid = self._nll(judged, rows)
        model.train()
        state["history"].append((state["seen"], state["loss"], valid))
        if valid < state["best_valid"]:
            state["best_valid"] = valid
            state["best"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    @staticmethod
    def _nll(model, rows: torch.Tensor) -> float:
        return nll(model, rows)

    def _progress(self, state: dict, rate: float) -> None:
        seen, total = state["seen"], state["total"]
        left = state["seconds"] / max(seen, 1) * (total - seen)
        valid = f", best valid {state['best_valid']:.3f}" if state["history"] else ""
        self.log(f"{self.config.name}: {seen:>11,}/{total:,} ({seen / total:6.1%}) "
                 f"loss {state['loss']:.3f}{valid}, lr {rate:.2e}, "
                 f"{state['seconds'] / 3600:.2f} h, about {left / 3600:.2f} h left")

    def _save(self, model, optimizer, state: dict) -> None:
        state["model"] = model.state_dict()
        state["optimizer"] = optimizer.state_dict()
        _atomic_save(state, self.state_path)

    def _counts(self, data: Data) -> DensityModel:
        model = self.config.build()
        return model.fit_counts(data.train, smoothing=1.0)

    def _convex(self, data: Data) -> dict:
        from .fvsbn import fit_convex
        from .independent import IndependentBernoulli
        model = self.config.build().double().to(self.device)
        with torch.no_grad():  # the warm start of chapter 2: the independent biases
            start = IndependentBernoulli(784).fit_closed_form(data.train)
            model.linear.bias.copy_(start.logit)
        info = fit_convex(model, data.train, **self.config.extra)
        self.log(f"fvsbn: {info.iterations} iterations, {info.seconds:.0f} s, largest gradient "
                 f"entry {info.grad_max:.1e} ({'converged' if info.converged else 'stopped'})")
        record = self._finish(model.float(), data, info.seconds, info.evaluations * len(data.train))
        record["convex"] = {"iterations": info.iterations, "grad_max": info.grad_max,
                            "converged": info.converged, "l2": info.l2}
        _write_json(record, self.folder / "record.json")
        return record

    def _finish(self, model, data: Data, seconds: float, seen: int) -> dict:
        model.eval()
        judged = self.config.evaluate_as(model) if self.config.evaluate_as else model
        test = self._nll(judged, data.test)
        first = self._nll(judged, data.test[:FIRST])
        per = "nats_per_character" if data.unit == "character" else "nats"
        dims = 1 if data.unit == "character" else model.n
        record = {
            "name": self.config.name, "title": self.config.title,
            "chapter": self.config.chapter, "setup": self.config.setup,
            "model": type(model).__name__, "config": model.config(),
            "unit": data.unit, "test": {per: test, "bits": test / dims / math.log(2),
                                        "examples": len(data.test)},
            f"test_first_{FIRST}": first,
            "parameters": model.num_parameters(), "examples_seen": seen,
            "passes": seen / len(data.train), "seconds": seconds,
            "hardware": hardware(self.device), "torch": torch.__version__,
            "command": COMMAND, "commit": _commit(),
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "schedule": ({"optimizer": "AdamW", "lr": self.config.lr,
                          "final_lr": self.config.lr * self.config.final_lr,
                          "warmup": self.config.warmup, "batch_size": self.config.batch_size,
                          "weight_decay": self.config.weight_decay,
                          "clip_grad": self.config.clip_grad,
                          "dynamic_binarization": self.config.dynamic_binarization}
                         if self.config.method == "adam" else
                         {"method": self.config.method, **self.config.extra}),
        }
        save(model, self.folder / "model.pt")
        _write_json(record, self.folder / "record.json")
        self.log(f"{self.config.name}: test {test:.3f} "
                 f"{'nats/character' if data.unit == 'character' else 'nats'} "
                 f"over {len(data.test):,} ({record['test']['bits']:.4f} bits)")
        return record


def _active(seconds: float, state: dict) -> float:
    """The training time of one step: its wall time, unless the step took more than 20 times
    the usual (and over a minute), when the process was paused (SIGSTOP, a suspended laptop)
    and the usual time is counted instead."""
    usual = state.get("step_seconds", seconds)
    counted = usual if seconds > max(20 * usual, 60.0) else seconds
    state["step_seconds"] = 0.99 * usual + 0.01 * counted
    return counted


@contextlib.contextmanager
def _interrupts_saved(save_state):
    """Save the run's state when it is stopped by Ctrl-C or SIGTERM, then stop."""
    previous = signal.getsignal(signal.SIGTERM)

    def stop(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: no signal handling
        previous = None
    try:
        yield
    except KeyboardInterrupt:
        save_state()
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def hardware(device: torch.device) -> str:
    """The machine in a few words: the GPU's name, or the CPU's and the threads used."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    threads = torch.get_num_threads()
    return f"{cpu}, {threads} thread{'s' if threads > 1 else ''}"


def _commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _write_json(obj, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------------------------------------
# Shipping and loading




def _shipped() -> Path:
    return Path(str(importlib.resources.files("autoregressive"))) / "records"


def index() -> dict[str, dict]:
    """The records shipped with the package, by name."""
    path = _shipped() / "index.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def ship(name: str, folder: Path | None = None) -> dict:
    """Copy a finished run into the package: float16 storage where it costs less than
    ``FLOAT16_COST`` nats on the test set (else float32), and its record into the index; for
    binary MNIST, with the classifier's scores of ``SAMPLES`` samples (:mod:`quality`)."""
    config = _config(name)
    folder = Path(folder) if folder is not None else RUNS / name
    record = json.loads((folder / "record.json").read_text())
    model = load(folder / "model.pt")
    data = config.data()
    run = Run(config, folder)
    judged = config.evaluate_as(model) if config.evaluate_as else model
    full = record["test"].get("nats", record["test"].get("nats_per_character"))
    target = _shipped() / f"{name}.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    save(model, target, storage=torch.float16)
    half = load(target)
    judged_half = config.evaluate_as(half) if config.evaluate_as else half
    cost = run._nll(judged_half, data.test) - full
    record["storage"] = "float16"
    if abs(cost) >= FLOAT16_COST:
        save(model, target)
        half, record["storage"] = load(target), "float32"
        judged_half = config.evaluate_as(half) if config.evaluate_as else half
    record["storage_cost"] = run._nll(judged_half, data.test) - full
    record[f"test_first_{FIRST}"] = run._nll(judged_half, data.test[:FIRST])
    del judged
    if data.unit == "image" and model.n == 784 and not getattr(model, "levels", None):
        from .quality import sample_quality  # binary MNIST: do its samples look like digits?
        drawn = judged_half.sample(SAMPLES, seed=0)
        record["samples"] = {"seed": 0, **sample_quality(drawn).__dict__}
    record["sha256"] = sha256(target)
    record["bytes"] = target.stat().st_size
    shipped = index()
    shipped[name] = record
    _write_json(dict(sorted(shipped.items())), _shipped() / "index.json")
    return record


def load_record(name: str, map_location="cpu") -> tuple[DensityModel, dict]:
    """The shipped model of record ``name`` and its record, after checking the file's sha256
    against the index."""
    shipped = index()
    if name not in shipped:
        raise KeyError(f"no model of record {name!r} is shipped; shipped: {sorted(shipped)}")
    record = shipped[name]
    path = _shipped() / f"{name}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"the index lists {name!r} but {path} is missing: reinstall "
                                "the package")
    if sha256(path) != record["sha256"]:
        raise ValueError(f"{path} does not match the sha256 of its record: a damaged or "
                         "replaced file; reinstall the package")
    return load(path, map_location=map_location), record


def score(name: str, model: DensityModel, rows: torch.Tensor) -> float:
    """The test figure of a model of record ``name`` on ``rows``, as its record computes it:
    mean NLL per example (images) or per character (names), through its ensemble where the
    configuration scores one (the order-agnostic MADE)."""
    config = _config(name)
    return nll(config.evaluate_as(model) if config.evaluate_as else model, rows)


def nll(model: DensityModel, rows: torch.Tensor) -> float:
    """Mean NLL of ``rows``: nats per example, or per character for a model of strings."""
    model.eval()
    if isinstance(model, StringModel):
        return model.nats_per_character(rows.to(model.device), batch_size=500)
    return evaluate(model, rows, batch_size=250).nats


class Beside(NamedTuple):
    """What :func:`beside` returns: the model of record, the table, and the two NLLs in it."""
    model: DensityModel
    table: object
    live_nll: float
    record_nll: float


def beside(name: str, live: DensityModel, rows: torch.Tensor, history=None) -> Beside:
    """A chapter's live model next to its model of record ``name``: the record, loaded on the
    live model's device, a table of both on the same test ``rows`` (NLL, parameters, training
    examples and time, hardware), and the two NLLs of the table, so that nothing is scored
    twice. ``history``: the live run's :class:`History`."""
    from .results import Table
    model, stored = load_record(name, map_location=live.device)
    unit = "nats per character" if stored["unit"] == "character" else "nats"
    decimals = 3 if stored["unit"] == "character" else 2
    examples = "—" if history is None else f"{history.examples_seen:,}"
    seconds = "—" if history is None else _duration(history.seconds)
    live_nll, record_nll = nll(live, rows), score(name, model, rows)
    table = Table(
        ["", "live, this chapter", "of record"],
        [[f"test NLL, {unit}", f"{live_nll:.{decimals}f}", f"{record_nll:.{decimals}f}"],
         ["test rows", f"{len(rows):,}", f"{len(rows):,}"],
         ["parameters", f"{live.num_parameters():,}", f"{stored['parameters']:,}"],
         ["training examples", examples, f"{stored['examples_seen']:,}"],
         ["training time", seconds, _duration(stored["seconds"])],
         ["hardware", hardware(live.device), stored["hardware"]]])
    return Beside(model, table, live_nll, record_nll)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else (
        f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h")


def _config(name: str) -> Config:
    if name not in CONFIGS:
        raise ValueError(f"no configuration of record {name!r}; known: {sorted(CONFIGS)}")
    return CONFIGS[name]


# ---------------------------------------------------------------------------------------------
# The command line


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m autoregressive.record",
                                     description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the configurations of record")
    train = commands.add_parser("train", help="train (or resume) a configuration")
    train.add_argument("name")
    train.add_argument("--hours", type=float, default=None,
                       help="the budget, fixed at the first start (default: the config's)")
    train.add_argument("--examples", type=int, default=None,
                       help="the budget in training examples instead of hours")
    train.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    train.add_argument("--folder", type=Path, default=None, help="default: runs/NAME")
    train.add_argument("--stop-after", type=float, default=None,
                       help="stop (state saved) after this many hours of this call")
    ship_command = commands.add_parser("ship", help="copy a finished run into the package")
    ship_command.add_argument("name")
    ship_command.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args(argv)
    global COMMAND
    COMMAND = " ".join(["python -m autoregressive.record", *(sys.argv[1:] if argv is None
                                                              else argv)])
    if args.command == "list":
        for config in CONFIGS.values():
            print(f"{config.name:20} {config.chapter:14} {config.hours:4.1f} h  {config.setup}")
    elif args.command == "train":
        if args.threads is not None:
            torch.set_num_threads(check_int("threads", args.threads))
        stop = None if args.stop_after is None else args.stop_after * 3600
        record = Run(_config(args.name), args.folder).train(args.hours, stop_after=stop,
                                                            examples=args.examples)
        if record is None:
            print(f"{args.name}: stopped, state saved; run the same command to go on")
    else:
        record = ship(args.name, args.folder)
        print(f"{args.name}: shipped, {record['bytes'] / 1e6:.1f} MB in {record['storage']} "
              f"(costs {record['storage_cost']:+.4f}), sha256 {record['sha256'][:12]}")


if __name__ == "__main__":
    main()
