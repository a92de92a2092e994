"""Training and evaluation, written once for every density model in the book.

``fit`` minimises the mean negative log-likelihood (nats per example) with Adam, shows a
progress bar, stops early when the validation NLL stops improving and restores the best
weights, optionally clips gradients and binarizes each batch afresh, and stops with a clear
error when the loss becomes NaN or infinite. ``evaluate`` reports NLL in nats and bits/dim.
``save`` and ``load`` keep a model with its constructor arguments; ``load`` uses
``weights_only=True`` and maps a GPU checkpoint onto the CPU (or any device asked for).
"""

from __future__ import annotations

import copy
import hashlib
import math
import numbers
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from . import runtime
from .base import BinaryAutoregressive, DensityModel, check_batch, check_int
from .data import dynamic_binarize
from .progress import Progress
from .runtime import seconds_per_call
from .text import StringModel, in_string


# ---------------------------------------------------------------------------------------------
# Evaluation


@dataclass(frozen=True)
class Evaluation:
    """Average negative log-likelihood of a data set."""

    nats: float  # mean NLL per example, in nats
    bits_per_dim: float | None  # the same in bits, divided by the data dimension (None for a
    #                             density over reals, whose NLL depends on the units of x, and
    #                             for strings, whose rows are padded to a common length)
    examples: int  # how many examples were averaged
    bits_per_character: float | None = None  # strings: the total NLL in bits over the symbols
    #                                          predicted, every character and each END

    def __str__(self) -> str:
        bits = ""
        if self.bits_per_dim is not None:
            bits = f" ({self.bits_per_dim:.4f} bits/dim)"
        elif self.bits_per_character is not None:
            bits = f" ({self.bits_per_character:.4f} bits/character)"
        return f"{self.nats:.2f} nats{bits} over {self.examples:,}"


@torch.no_grad()
def evaluate(model: DensityModel, data: torch.Tensor, batch_size: int = 1000) -> Evaluation:
    """Mean −log p(x) over the rows of ``data``, in nats and in bits per dimension; for a model
    of strings in bits per character instead (a row's padding is not part of its string, so
    its length says nothing of the data: the same strings padded further would read fewer bits
    per dimension)."""
    if not isinstance(model, DensityModel):
        raise TypeError(f"evaluate needs a density model (one with log_prob), got "
                        f"{type(model).__name__}")
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"data must be a torch.Tensor, got {type(data).__name__}")
    batch_size = check_int("batch_size", batch_size)
    if len(data) == 0:
        raise ValueError("cannot evaluate on an empty data set")
    nats = _mean_loss(model, data, lambda batch: -model.log_prob(batch), batch_size)
    if isinstance(model, StringModel):
        symbols = in_string(data).sum().item()  # every character and each END
        return Evaluation(nats, None, len(data), nats * len(data) / symbols / math.log(2))
    return Evaluation(nats, None if model.continuous else nats / (model.n * math.log(2)), len(data))


# ---------------------------------------------------------------------------------------------
# Training


@dataclass
class History:
    """What happened during ``fit``: one entry per epoch."""

    train_nll: list[float] = field(default_factory=list)  # mean training NLL (or loss) of the epoch, nats
    valid_nll: list[float] = field(default_factory=list)  # validation NLL (or loss) after the epoch
    best_epoch: int = -1  # the epoch (0-based) whose weights were restored
    stopped_early: bool = False  # True when patience ran out before the last epoch
    seconds: float = 0.0  # wall-clock time of the whole run
    examples_seen: int = 0

    @property
    def best_valid_nll(self) -> float:
        return self.valid_nll[self.best_epoch]


def fit(
    model: DensityModel | torch.nn.Module,
    train: torch.Tensor,
    valid: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 100,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    clip_grad: float | None = None,
    patience: int | None = 5,
    dynamic_binarization: bool = False,
    seed: int = 0,
    progress: bool = True,
    loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
    valid_loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
    before_step: Callable[[], object] | None = None,
    label: str | None = None,
) -> History:
    """Train ``model`` by maximum likelihood and return its :class:`History`.

    train, valid: (N, n) tensors. With ``dynamic_binarization`` the training rows are grey values
        in [0, 1] and every batch is a fresh Bernoulli draw; ``valid`` is used as given.
    epochs: the most passes over ``train``.
    patience: stop after this many epochs without a better validation NLL (None: never stop);
        either way the weights of the best epoch are restored at the end.
    weight_decay: an L2 penalty on the weights, decoupled from the gradient (AdamW,
        Loshchilov & Hutter 2019): every step multiplies each weight tensor by
        (1 − lr · weight_decay) before Adam's update. Weight tensors are the parameters of two
        or more dimensions other than biases (named ``bias``, ``b`` or ``c``); biases and
        other one-dimensional parameters are never decayed. A weight that a mask hides only
        shrinks by that factor (Adam's own ``weight_decay`` would add the penalty to the
        gradient, where Adam's normalisation turns it into a full step of size lr).
    clip_grad: if set, the largest gradient norm allowed (gradients are rescaled above it).
    seed: fixes the batch order (and the dynamic binarization).
    loss: batch (B, n) -> (B,) per-example losses in nats to minimise instead of −log p(x),
        e.g. an autoencoder's reconstruction error (the model need not be a density model).
    valid_loss: the same for the validation set (default: ``loss``, or −log p(x)), e.g. the
        negative log-likelihood of an ensemble of a MADE's masks.
    before_step: called before every training step, e.g. ``made.next_mask`` for
        connectivity-agnostic training.
    label: the name the progress display shows (default: the model's class name).
    """
    epochs, batch_size = check_int("epochs", epochs), check_int("batch_size", batch_size)
    if patience is not None:
        patience = check_int("patience (an int, or None)", patience)
    seed = check_int("seed", seed, minimum=0)
    _check_number("lr", lr, low=0.0)
    _check_number("weight_decay", weight_decay, low=0.0, allow_low=True)
    if clip_grad is not None:
        _check_number("clip_grad (a number, or None)", clip_grad, low=0.0)
    for name, value in (("loss", loss), ("valid_loss", valid_loss), ("before_step", before_step)):
        if value is not None and not callable(value):
            raise TypeError(f"{name} must be a function or None, got {type(value).__name__}")
    if loss is None and not isinstance(model, DensityModel):
        raise TypeError(f"{type(model).__name__} has no log-likelihood: pass loss=...")
    _check_data(model, train, valid, dynamic_binarization)
    loss = loss or (lambda batch: -model.log_prob(batch))
    valid_loss = valid_loss or loss
    device = next(model.parameters()).device
    if device.type == "cpu" and runtime.device().type != "cpu":
        warnings.warn(f"training {type(model).__name__} on the CPU although {runtime.device()} "
                      "is present: move the model there first, model.to(ar.device())",
                      stacklevel=2)
    train = train.to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = _optimizer(model, lr, weight_decay)
    history = History()
    best_state, waited = None, 0
    start = time.perf_counter()
    if label is not None and not isinstance(label, str):
        raise TypeError(f"label must be a string or None, got {type(label).__name__}")
    bar = Progress(epochs, label or type(model).__name__, enabled=progress)
    try:
        for epoch in range(epochs):
            history.train_nll.append(_train_epoch(model, train, optimizer, batch_size, generator,
                                                  dynamic_binarization, clip_grad, epoch,
                                                  loss, before_step, bar.step))
            history.examples_seen += len(train)
            history.valid_nll.append(_mean_loss(model, valid, valid_loss))
            if not math.isfinite(history.valid_nll[-1]):
                raise FloatingPointError(f"the validation NLL became {history.valid_nll[-1]} "
                                         f"after epoch {epoch}: lower the learning rate")
            if history.best_epoch < 0 or history.valid_nll[-1] < history.best_valid_nll:
                history.best_epoch, waited = epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                waited += 1
            bar.epoch(epoch + 1, train=history.train_nll[-1], valid=history.valid_nll[-1])
            if patience is not None and waited >= patience and epoch < epochs - 1:
                history.stopped_early = True
                break
    except BaseException as error:  # an error or an interrupt: the bar shows how far it got
        bar.finish("interrupted" if isinstance(error, KeyboardInterrupt)
                   else f"stopped by {type(error).__name__}", complete=False)
        raise
    stop = "stopped early; " if history.stopped_early else ""
    bar.finish(f"{stop}best epoch {history.best_epoch + 1}")
    model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def _check_number(name: str, value, low: float, allow_low: bool = False) -> None:
    """Raise ``ValueError`` unless ``value`` is a finite real number above ``low`` (or equal
    to it, with ``allow_low``)."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or value < low or (value == low and not allow_low)):
        bound = f">= {low:g}" if allow_low else f"> {low:g}"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}")


def _check_data(model, train, valid, dynamic_binarization: bool) -> None:
    """Every row of ``train`` and ``valid`` in the model's support (finite, the right shape),
    checked before the first step changes a weight."""
    for name, data in (("train", train), ("valid", valid)):
        if not isinstance(data, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(data).__name__}")
        if len(data) == 0:
            raise ValueError("fit needs non-empty training and validation sets")
    binary = isinstance(model, BinaryAutoregressive) or not isinstance(model, DensityModel)
    if dynamic_binarization:
        if not torch.is_floating_point(train) or not ((train >= 0) & (train <= 1)).all():
            raise ValueError("with dynamic_binarization, train must hold grey values in [0, 1] "
                             "(finite floats)")
    elif binary and torch.is_floating_point(train) and torch.isnan(train).any():
        raise ValueError("train contains NaN; expected binary values 0 and 1")
    elif binary and not ((train == 0) | (train == 1)).all():
        raise ValueError("train holds values other than 0 and 1; for grey values in [0, 1], "
                         "pass dynamic_binarization=True to draw binary batches from them")
    if isinstance(model, DensityModel):
        if dynamic_binarization:
            check_batch(train, model.n, "train")
        else:
            model._check(train, "train")
        model._check(valid, "valid")
    elif not ((valid == 0) | (valid == 1)).all():  # a network trained on its own loss: binary
        raise ValueError("valid holds values other than 0 and 1 (or NaN); expected binary "
                         "vectors, as train")


BIAS_NAMES = ("bias", "b", "c")  # the parameter names of biases in the library's models


def _optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """Adam with decoupled weight decay on the weight tensors only (see ``fit``)."""
    decayed, kept = [], []
    for name, parameter in model.named_parameters():
        is_bias = name.rsplit(".", 1)[-1] in BIAS_NAMES or parameter.dim() < 2
        (kept if is_bias else decayed).append(parameter)
    return torch.optim.AdamW([{"params": decayed, "weight_decay": weight_decay},
                              {"params": kept, "weight_decay": 0.0}], lr=lr)


@torch.no_grad()
def _mean_loss(model, data, loss, batch_size: int = 1000) -> float:
    """The mean of ``loss`` over the rows of ``data``, the model in evaluation mode."""
    was_training = model.training
    model.eval()
    device, total = next(model.parameters()).device, 0.0
    try:
        for start in range(0, len(data), batch_size):
            total += loss(data[start:start + batch_size].to(device)).double().sum().item()
    finally:
        model.train(was_training)
    return total / len(data)


def _train_epoch(model, train, optimizer, batch_size, generator, dynamic_binarization,
                 clip_grad, epoch, loss, before_step, on_step=None) -> float:
    """One pass over ``train`` in a random order; returns the mean training loss in nats."""
    model.train()
    order = torch.randperm(len(train), generator=generator, device=train.device)
    total = 0.0
    for step, first in enumerate(range(0, len(train), batch_size)):
        batch = train[order[first:first + batch_size]]
        if dynamic_binarization:
            batch = dynamic_binarize(batch, generator)
        if before_step is not None:
            before_step()
        mean = loss(batch).mean()
        if not torch.isfinite(mean):
            raise FloatingPointError(
                f"the training loss became {mean.item()} at epoch {epoch}, step {step}: "
                "lower the learning rate or pass clip_grad"
            )
        optimizer.zero_grad(set_to_none=True)
        mean.backward()
        if clip_grad is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
        optimizer.step()
        total += mean.item() * len(batch)
        if on_step is not None:
            on_step(min(first + batch_size, len(train)) / len(train))
    return total / len(train)


def training_speed(model: DensityModel, data: torch.Tensor, *, batch_size: int = 100,
                   steps: int = 5, log_prob=None) -> float:
    """Examples per second of full training steps (forward, mean NLL, backward, Adam update).

    log_prob: the function to train through (default ``model.log_prob``), to compare two
        implementations of the same model. One warm-up step runs first; ``data`` needs at least
        (steps + 1) · batch_size rows. The model's weights change.
    """
    batch_size, steps = check_int("batch_size", batch_size), check_int("steps", steps)
    log_prob = log_prob or model.log_prob
    if len(data) < (steps + 1) * batch_size:
        raise ValueError(f"training_speed needs {(steps + 1) * batch_size} rows, got {len(data)}")
    data = data.to(model.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step(batch):
        loss = -log_prob(batch).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    batches = (data[k * batch_size:(k + 1) * batch_size] for k in range(steps + 1))
    seconds = seconds_per_call(lambda: step(next(batches)), steps, model.device)  # after a warm-up step
    return batch_size / seconds


# ---------------------------------------------------------------------------------------------
# Checkpoints


CHECKPOINT_KEYS = {"model", "config", "dtype", "state", "sha256"}


def save(model: DensityModel, path: str | Path, storage: torch.dtype | None = None) -> None:
    """Save the model's class name, constructor arguments, floating-point type and weights,
    with a sha256 checksum of them all that :func:`load` verifies.

    storage: a floating-point type to store the floating-point weights in (e.g.
        ``torch.float16``, half the size); :func:`load` still rebuilds the model in its own
        type, the weights rounded to the storage type. None keeps them as they are.
    """
    if not isinstance(model, DensityModel):
        raise TypeError(f"save takes a model of the library (an autoregressive.DensityModel, "
                        f"which load can rebuild), got {type(model).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    name, config = type(model).__name__, model.config()
    dtype = str(model.dtype).removeprefix("torch.")  # e.g. "float64"
    if storage is not None and not (isinstance(storage, torch.dtype) and storage.is_floating_point):
        raise ValueError(f"storage must be a floating-point torch.dtype or None, got {storage!r}")
    derived = model.derived_state()  # computed from the rest when the model is loaded
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()
             if k not in derived}
    if storage is not None:
        state = {k: v.to(storage) if v.is_floating_point() else v for k, v in state.items()}
    torch.save({"model": name, "config": config, "dtype": dtype, "state": state,
                "sha256": _checksum(name, config, dtype, state)}, path)


def load(path: str | Path, map_location: str | torch.device | None = "cpu") -> DensityModel:
    """Rebuild a model saved by :func:`save` on ``map_location``, in the floating-point type it
    was saved in.

    Safe and checked: nothing but tensors and plain values is unpickled (``weights_only=True``),
    and a file that is not a checkpoint (empty, truncated, text) or whose contents do not match
    their checksum (a flipped bit) raises ``ValueError`` naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    not_ours = f"{path} is not a checkpoint written by autoregressive.save"
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{not_ours} (not a zip archive: an empty, truncated or text file?)")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()  # the first member whose bytes fail their CRC
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(f"{path} is a damaged zip archive: {error}") from error
    if damaged is not None:
        raise ValueError(f"{path} is corrupt: {damaged} does not match its CRC")
    checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(checkpoint, dict) or set(checkpoint) != CHECKPOINT_KEYS:
        raise ValueError(not_ours)
    name, config, dtype, state = (checkpoint[k] for k in ("model", "config", "dtype", "state"))
    if (not isinstance(config, dict) or not isinstance(state, dict)
            or not all(isinstance(v, torch.Tensor) for v in state.values())
            or not isinstance(getattr(torch, str(dtype), None), torch.dtype)
            or not getattr(torch, dtype).is_floating_point):
        raise ValueError(not_ours)
    if checkpoint["sha256"] != _checksum(name, config, dtype, state):
        raise ValueError(f"{path} is corrupt: its contents do not match the sha256 checksum "
                         "saved with them")
    cls = DensityModel.registry.get(name)
    if cls is None:
        raise ValueError(f"{path} holds an unknown model {name!r}; known: "
                         f"{sorted(DensityModel.registry)}")
    try:
        model = cls(**config).to(getattr(torch, dtype))
        derived = model.derived_state()
        # older checkpoints also hold the derived entries: then they are loaded as they are
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or set(missing) - derived:
            raise RuntimeError(f"missing keys {sorted(set(missing) - derived)}, unexpected "
                               f"keys {sorted(unexpected)}")
        if missing:
            model.restore_derived()
    except (TypeError, ValueError, RuntimeError) as error:
        raise ValueError(f"{path} holds a {name} whose settings or weights do not fit that "
                         f"class: {error}") from error
    if map_location is not None:
        model.to(map_location)
    return model.eval()


def _checksum(name: str, config: dict, dtype: str, state: dict[str, torch.Tensor]) -> str:
    """sha256 of a checkpoint's contents: the model, its config, its dtype, then every tensor's
    name, dtype, shape and bytes, in sorted order of the names."""
    digest = hashlib.sha256(repr((name, sorted(config.items()), dtype)).encode())
    for key in sorted(state):
        tensor = state[key].detach().cpu().contiguous()
        digest.update(repr((key, str(tensor.dtype), tuple(tensor.shape))).encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
