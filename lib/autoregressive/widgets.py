"""Interactive widgets, written once against the model protocol and reused by every chapter.

- :func:`sampler`: draw samples with a seed, a temperature and a number of samples;
- :func:`conditional_explorer`: slide over the pixels of an image and read the learnt
  conditional p(x_i = 1 | x_<i) at each one;
- :func:`completion`: keep the top rows of a test image and let the model draw the rest;
- :func:`size_explorer`: slide over a model's size and see its parameter count and its
  measured training speed;
- :func:`connectivity_explorer`: choose the ordering seed and layer sizes of a small MADE and
  see its masked network and which inputs each output can see.

Each returns an ``ipywidgets`` box that draws its first picture immediately, so a page built
from the notebook shows it; the controls respond when a Python kernel runs (Jupyter, Colab).
"""

from __future__ import annotations

import ipywidgets as w
import numpy as np
import torch
from IPython.display import display
from matplotlib.patches import Rectangle

from .base import Autoregressive, BinaryAutoregressive, DensityModel, check_binary
from .made import MADE
from .plot import MNIST_SHAPE, BookFigure, image_grid, image_rows, made_network, probability_map
from .train import training_speed


def _check_image_model(model: Autoregressive, shape: tuple[int, int], binary: bool = False) -> None:
    kind = BinaryAutoregressive if binary else Autoregressive
    if not isinstance(model, kind) or model.continuous:
        raise TypeError(f"this widget needs a {'binary' if binary else 'discrete'} autoregressive model, "
                        f"got {type(model).__name__}")
    if shape[0] * shape[1] != model.n:
        raise ValueError(f"image shape {shape} has {shape[0] * shape[1]} pixels, the model {model.n}")


def _grey(model: Autoregressive, x: torch.Tensor) -> torch.Tensor:
    """Values as grey levels in [0, 1]: binary as they are, K categories as k / (K - 1)."""
    levels = getattr(model, "levels", 2)
    return x.detach().cpu().float() / (levels - 1)


WIDE = {"description_width": "initial"}  # labels at their full width


def _show(output: w.Output, fig: BookFigure) -> None:
    with output:
        output.clear_output(wait=True)
        display(fig)


# ---------------------------------------------------------------------------------------------
# Sampling


def sampler(model: Autoregressive | dict, shape: tuple[int, int] = MNIST_SHAPE,
            max_samples: int = 64, label: str = "model") -> w.Widget:
    """Seed, temperature and number of samples; each change redraws, the button takes the next seed.

    model: one model, or a dict {name: model} with a slider (described by ``label``) to choose.
    """
    several = isinstance(model, dict)
    models = model if several else {"": model}
    if not models:
        raise ValueError("sampler needs at least one model")
    for each in models.values():
        _check_image_model(each, shape)
    choice = w.SelectionSlider(options=[(str(k), k) for k in models], description=label,
                               style=WIDE, continuous_update=False)
    seed = w.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=WIDE)
    temperature = w.FloatSlider(value=1.0, min=0.2, max=2.0, step=0.05, description="temperature",
                                continuous_update=False, style=WIDE)
    number = w.IntSlider(value=min(16, max_samples), min=1, max=max_samples, description="samples",
                         continuous_update=False, style=WIDE)
    button = w.Button(description="Sample", button_style="primary", icon="random")
    output = w.Output()

    def draw(_=None):
        chosen = models[choice.value]
        x = chosen.sample(number.value, seed=seed.value, temperature=temperature.value)
        title = f"seed {seed.value}, temperature {temperature.value:.2f}"
        if several:
            title = f"{label} {choice.value}: {title}"
        _show(output, image_grid(_grey(chosen, x), shape, title=title))

    def draw_next(_):
        seed.value += 1  # a fresh seed each press; the observer draws

    for control in (choice, seed, temperature, number):
        control.observe(draw, names="value")
    button.on_click(draw_next)
    draw()
    rows = [w.HBox([seed, temperature]), w.HBox([number, button]), output]
    return w.VBox(([choice] if several else []) + rows)


# ---------------------------------------------------------------------------------------------
# The learnt conditionals across one image


def conditional_explorer(model: BinaryAutoregressive, x: torch.Tensor,
                         shape: tuple[int, int] = MNIST_SHAPE) -> w.Widget:
    """A slider over the model's order: the pixels seen so far, and p(x_i = 1 | x_<i).

    x: one binary image, shape (n,) or (1, n).
    """
    _check_image_model(model, shape, binary=True)
    x = x.reshape(1, -1)
    check_binary(x, model.n)
    with torch.no_grad():
        probs = model.conditionals(x)[0].cpu().numpy()  # (n,): one pass gives every conditional
    pixels = x[0].cpu().numpy()
    order = model.order.cpu().numpy()
    on = np.flatnonzero(pixels[order])  # steps at which the image has ink
    start = int(on[len(on) // 2]) if len(on) else model.n // 2  # begin mid-stroke
    step = w.IntSlider(value=start, min=0, max=model.n - 1, description="step",
                       continuous_update=False, layout=w.Layout(width="60%"))
    output = w.Output()

    def draw(_=None):
        k = step.value
        i = int(order[k])
        seen = np.full(model.n, 0.5)  # unseen pixels grey
        seen[order[:k]] = pixels[order[:k]]
        so_far = np.full(model.n, np.nan)
        so_far[order[:k + 1]] = probs[order[:k + 1]]
        row, col = divmod(i, shape[1])
        fig = BookFigure(figsize=(8.4, 3.2))
        left, right = fig.subplots(1, 2)
        left.imshow(seen.reshape(shape), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        left.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, color="red", lw=2))
        left.set_title("pixels seen so far; the rest grey")
        left.set_xticks([]), left.set_yticks([])
        probability_map(so_far[None], shape, ax=right,
                        title="p(x_j = 1 | x_<j) for j ≤ i (grey: later)")
        d = i + 1  # the book counts dimensions from 1: x_1 is index 0
        fig.suptitle(f"p(x_{d} = 1 | x_<{d}) = {probs[i]:.3f}; the image has x_{d} = "
                     f"{int(pixels[i])}  (row {row}, column {col}, counting from 0)")
        fig.tight_layout()
        _show(output, fig)

    step.observe(draw, names="value")
    draw()
    return w.VBox([step, output])


# ---------------------------------------------------------------------------------------------
# Completion


def completion(model: Autoregressive, images: torch.Tensor,
               shape: tuple[int, int] = MNIST_SHAPE, completions: int = 6) -> w.Widget:
    """Keep the top rows of a chosen image and sample the rest, several times.

    images: (B, n) images in the model's support to choose from (e.g. test digits).
    """
    _check_image_model(model, shape)
    model._check(images, "images")
    index = w.IntSlider(value=0, min=0, max=len(images) - 1, description="image",
                        continuous_update=False)
    rows = w.IntSlider(value=shape[0] // 2, min=0, max=shape[0], description="rows kept",
                       continuous_update=False, style=WIDE)
    seed = w.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=WIDE)
    output = w.Output()

    def draw(_=None):
        original = images[index.value].reshape(1, -1)
        mask = torch.zeros(model.n, dtype=torch.bool)
        mask[: rows.value * shape[1]] = True
        batch = original.expand(completions, -1)
        filled = model.sample(x=batch, mask=mask, seed=seed.value)
        shown = _grey(model, original)
        shown[0, ~mask] = 0.5
        _show(output, image_rows({"original": _grey(model, original),
                                  f"top {rows.value} rows": shown,
                                  "completions": _grey(model, filled)}, shape))

    for control in (index, rows, seed):
        control.observe(draw, names="value")
    draw()
    return w.VBox([w.HBox([index, rows, seed]), output])


# ---------------------------------------------------------------------------------------------
# Model size against parameters and speed


def size_explorer(build, sizes, data: torch.Tensor, *, reference: DensityModel | None = None,
                  name: str = "hidden units", batch_size: int = 100) -> w.Widget:
    """A slider over model sizes: parameter counts, and the training speed measured on ``data``.

    build: size -> a fresh model. sizes: the sizes offered (ints, increasing).
    reference: a model whose parameter count is drawn as a line for comparison (e.g. FVSBN).
    Speeds are measured (2 training steps of ``batch_size``) when a size is first chosen.
    """
    sizes = list(sizes)
    if not sizes or sizes != sorted(sizes):
        raise ValueError(f"sizes must be a non-empty increasing list, got {sizes!r}")
    counts = [build(size).num_parameters() for size in sizes]
    speeds: dict[int, float] = {}
    slider = w.SelectionSlider(options=sizes, value=sizes[len(sizes) // 2], description=name,
                               continuous_update=False, style=WIDE)
    output = w.Output()

    def draw(_=None):
        size = slider.value
        if size not in speeds:
            model = build(size)
            speeds[size] = training_speed(model, data, batch_size=batch_size, steps=2)
        fig = BookFigure(figsize=(9, 3.2))
        left, right = fig.subplots(1, 2)
        colours = ["tab:orange" if s == size else "tab:blue" for s in sizes]
        left.bar([str(s) for s in sizes], counts, color=colours)
        if reference is not None:
            left.axhline(reference.num_parameters(), color="grey", ls="--",
                         label=f"{type(reference).__name__}: {reference.num_parameters():,}")
            left.legend(loc="upper left")
        left.set_xlabel(name), left.set_ylabel("parameters")
        left.set_title(f"{counts[sizes.index(size)]:,} parameters at {size}")
        measured = sorted(speeds)
        right.plot(measured, [speeds[s] for s in measured], "o-")
        right.plot([size], [speeds[size]], "o", color="tab:orange", markersize=10)
        right.set_xlabel(name), right.set_ylabel("training examples / s")
        right.set_title(f"{speeds[size]:,.0f} examples/s at {size} (measured)")
        right.set_ylim(bottom=0)
        fig.tight_layout()
        _show(output, fig)

    slider.observe(draw, names="value")
    draw()
    return w.VBox([slider, output])


# ---------------------------------------------------------------------------------------------
# MADE's masks


def connectivity_explorer(n: int = 6, max_layers: int = 3, max_units: int = 12) -> w.Widget:
    """The masks of a small MADE: seed, ordering, number and size of hidden layers, and whether
    the degrees are drawn so that every output keeps an input (``connected``)."""
    if not isinstance(n, int) or isinstance(n, bool) or not 2 <= n <= 16:
        raise ValueError(f"n must be an int from 2 to 16 (a network small enough to draw), got {n!r}")
    for name, value, most in (("max_layers", max_layers, 4), ("max_units", max_units, 24)):
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
            raise ValueError(f"{name} must be an int from 1 to {most}, got {value!r}")
    seed = w.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=WIDE)
    natural = w.Checkbox(value=False, description="natural order", style=WIDE)
    connected = w.Checkbox(value=True, description="connected draw", style=WIDE)
    direct = w.Checkbox(value=False, description="direct connections", style=WIDE)
    layers = w.IntSlider(value=2, min=1, max=max_layers, description="hidden layers",
                         continuous_update=False, style=WIDE)
    units = w.IntSlider(value=min(n, max_units), min=1, max=max_units, description="units per layer",
                        continuous_update=False, style=WIDE)
    output = w.Output()

    def draw(_=None):
        model = MADE(n, (units.value,) * layers.value, natural_order=natural.value,
                     connected=connected.value, direct=direct.value, seed=seed.value)
        first = int(model.order[0])
        seen = model.connectivity().sum(dim=1)
        lost = [d + 1 for d in range(n) if d != first and seen[d] == 0]
        order = ", ".join(f"x{int(d) + 1}" for d in model.order)
        note = f"outputs with no input: {', '.join(f'x{d}' for d in lost)}" if lost else "every output after the first sees an input"
        _show(output, made_network(model, title=f"ordering {order}; {note}"))

    for control in (seed, natural, connected, direct, layers, units):
        control.observe(draw, names="value")
    draw()
    return w.VBox([w.HBox([seed, layers, units]), w.HBox([natural, connected, direct]), output])
