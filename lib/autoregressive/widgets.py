"""Interactive widgets, written once against the model protocol and reused by every chapter.

- :func:`sampler`: samples at a choice of temperatures and seeds (and models);
- :func:`conditional_explorer`: step along the order of one image and read the learnt
  conditional p(x_i = 1 | x_<i) at each step;
- :func:`completion`: keep the top rows of a chosen image and see the model draw the rest;
- :func:`size_explorer`: a model's parameter count and measured training speed by size;
- :func:`connectivity_explorer`: the masks of a small MADE, drawn afresh for any settings;
- :func:`receptive_field`: the input pixels that one pixel's conditional reads, per model.

All but the connectivity explorer offer finite choices, so every picture is computed when the
widget is built and each control is linked to its pictures in the browser (``jsdlink`` to a
``Stack`` of images): they respond on the static website exactly as in Jupyter or Colab, with no Python behind them.
The connectivity explorer draws through a live kernel and says so on the page, where its controls
are disabled. Every widget also carries a static picture (its first frame) titled by a one-line
caption, which is what GitHub and other viewers without widgets show instead.
"""

from __future__ import annotations

import base64
import io
import itertools
import math
import numbers

import ipywidgets as w
import matplotlib
import numpy as np
import torch
from IPython.display import display

from .base import Autoregressive, BinaryAutoregressive, DensityModel, check_binary, check_int
from .made import MADE
from .plot import (FONT, FULL_WIDTH, MNIST_SHAPE, PHONE_COLUMN, PHONE_TEXT_PX, BookFigure,
                   completed, grey, made_network, receptive_fields, row_size, smallest_text,
                   tile)
from .train import training_speed

WIDE = {"description_width": "initial"}  # labels at their full width
FULL = w.Layout(width="100%", max_width="34em")  # controls as wide as the page allows
TEMPERATURES = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)


# ---------------------------------------------------------------------------------------------
# Frames: pictures computed in advance, chosen in the browser


class BookWidget(w.VBox):
    """A box of controls and pictures that also carries a static picture and a caption.

    Viewers that draw widgets (the website, Jupyter, Colab) show the widget; viewers that do not
    (GitHub, nbviewer) show ``picture`` (PNG bytes) with ``caption`` written above it as its
    title, and the caption alone as text. ``needs_kernel``: its controls do nothing without a
    running Python kernel; the website disables them (the class ``ar-needs-kernel``).
    """

    def __init__(self, children, picture: bytes, caption: str, *, needs_kernel: bool = False,
                 **kwargs):
        super().__init__(children, **kwargs)
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError("a widget's caption must be a non-empty string")
        self._picture, self._caption = picture, caption
        if needs_kernel:
            self.add_class("ar-needs-kernel")

    def _repr_mimebundle_(self, **kwargs):
        data = super()._repr_mimebundle_(**kwargs)
        titled = captioned_png(self._picture, self._caption)
        data["image/png"] = base64.b64encode(titled).decode("ascii")
        data["text/plain"] = self._caption
        return data


def captioned_png(picture: bytes, caption: str, font_px: float = 14.0) -> bytes:
    """``picture`` (PNG bytes) with ``caption`` above it, wrapped to the picture's width: the
    static picture that viewers without widgets show, which would otherwise carry no words.

    The caption is ``font_px`` pixels high, or more for a wide picture, so that it stays
    legible where a phone shrinks the picture to its column; the PNG's ``smallest_font_pt``
    is the smaller of the caption's and the picture's own smallest text."""
    import textwrap

    from matplotlib.figure import Figure

    image = matplotlib.image.imread(io.BytesIO(picture), format="png")
    height, width = image.shape[:2]
    font_px = max(font_px, (PHONE_TEXT_PX + 0.2) * width / PHONE_COLUMN)
    pictured, _ = smallest_text(picture)  # in pixels, the same in both files
    smallest_px = font_px if pictured is None else min(font_px, pictured)
    per_line = max(20, int(width / (0.55 * font_px)))  # characters of a sans-serif font
    lines = textwrap.wrap(caption, per_line)
    band = int(len(lines) * 1.35 * font_px + 0.8 * font_px)
    dpi = 100
    fig = Figure(figsize=(width / dpi, (height + band) / dpi), dpi=dpi)  # not pyplot's
    fig.figimage(image, 0, 0)
    fig.text(0.5 * font_px / width, 1 - 0.4 * font_px / (height + band), "\n".join(lines),
             ha="left", va="top", fontsize=font_px * 72 / dpi, linespacing=1.25)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white",
                metadata={"smallest_font_pt": f"{smallest_px * 72 / dpi:.2f}"})
    return buffer.getvalue()


def _show(output: w.Output, fig: BookFigure) -> None:
    with output:
        output.clear_output(wait=True)
        display(fig)


def _figure_png(fig: BookFigure) -> bytes:
    return fig.png(dpi=80)  # frames are many: a little smaller than a figure in the text


def _pixels_png(canvas: np.ndarray, scale: int, cmap: str | None = "gray") -> bytes:
    """An image array (values in [0, 1], or RGB) as a PNG, each pixel a scale × scale block, so
    that it stays sharp at any zoom without the browser smoothing it."""
    big = np.kron(canvas, np.ones((scale, scale))) if canvas.ndim == 2 else \
        canvas.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, big, cmap=cmap, vmin=0, vmax=1, format="png",
                            metadata={"drawn_text": "none"})  # pixels only: nothing to read
    return buffer.getvalue()


def _scale(shape: tuple[int, ...]) -> int:
    """Screen pixels per image pixel: 3 for 28 × 28 images, up to 8 for smaller ones."""
    return max(3, min(8, 84 // shape[0]))


def _image(png: bytes) -> w.Image:
    return w.Image(value=png, format="png",
                   layout=w.Layout(max_width="100%", height="auto", object_fit="contain"))


def _linked(controls: list, leaf) -> w.Widget:
    """Nested stacks of pre-built leaves, one level per control, each level's selection linked
    in the browser to its control's ``index``. leaf(indices) builds the widget shown for one
    choice of every control. The links are kept in the stack's ``links`` attribute."""
    links = []

    def level(depth: int, chosen: tuple) -> w.Widget:
        if depth == len(controls):
            return leaf(chosen)
        control = controls[depth]
        stack = w.Stack([level(depth + 1, chosen + (k,)) for k in range(len(control.options))],
                        selected_index=control.index)
        links.append(w.jsdlink((control, "index"), (stack, "selected_index")))
        return stack

    view = level(0, ())
    view.links = links  # for inspection: which control drives which stack
    return view


def _choice(description: str, values, value=None, slider: bool = True) -> w.Widget:
    """A slider (or, for a few values, buttons) over ``values``, starting at ``value``."""
    values = list(values)
    labels = [str(v) for v in values]
    index = values.index(value) if value is not None else 0  # 1 and 1.0 are the same value
    if slider:
        return w.SelectionSlider(options=labels, index=index, description=description,
                                 continuous_update=True, style=WIDE, layout=FULL)
    width = f"{max(3.2, 0.7 * max(map(len, labels)) + 1.4):.1f}em"  # room for the longest label
    return w.ToggleButtons(options=labels, index=index, description=description, layout=FULL,
                           style={"description_width": "initial", "button_width": width})


def _check_image_model(model: Autoregressive, shape: tuple[int, ...], binary: bool = False) -> None:
    kind = BinaryAutoregressive if binary else Autoregressive
    if not isinstance(model, kind) or model.continuous:
        raise TypeError(f"this widget needs a {'binary' if binary else 'discrete'} autoregressive "
                        f"model, got {type(model).__name__}")
    if math.prod(shape) != model.n:
        raise ValueError(f"image shape {shape} has {math.prod(shape)} values (pixels times "
                         f"channels), the model {model.n}")


def _check_values(name: str, values, low: float, high: float, integer: bool = False) -> list:
    values = list(values)
    if not values or len(values) > 48:
        raise ValueError(f"{name} must hold 1 to 48 values, got {len(values)}")
    for v in values:
        ok = isinstance(v, numbers.Integral) if integer else isinstance(v, numbers.Real)
        if isinstance(v, bool) or not ok or not low <= v <= high:
            raise ValueError(f"{name} must hold {'ints' if integer else 'numbers'} from {low} "
                             f"to {high}, got {v!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must not repeat a value, got {values!r}")
    return values


# ---------------------------------------------------------------------------------------------
# Sampling


def sampler(model: Autoregressive | dict, shape: tuple[int, ...] = MNIST_SHAPE, *,
            seeds=(0, 1, 2, 3), temperatures=TEMPERATURES, num: int = 16,
            label: str = "model") -> w.Widget:
    """Samples at every temperature and seed offered (and for every model of a dict).

    model: one model, or a dict {name: model} with a slider (described by ``label``) to choose.
    seeds, temperatures: the choices offered; num: samples per picture (1 to 64).
    """
    several = isinstance(model, dict)
    models = model if several else {"": model}
    if not models:
        raise ValueError("sampler needs at least one model")
    for each in models.values():
        _check_image_model(each, shape)
    seeds = _check_values("seeds", seeds, 0, 2**31 - 1, integer=True)
    temperatures = _check_values("temperatures", temperatures, 1e-3, 100.0)
    num = check_int("num", num, maximum=64)
    ncols = math.ceil(math.sqrt(num))
    pictures = {}
    for (name, chosen), t in itertools.product(models.items(), temperatures):
        for s in seeds:
            drawn = grey(chosen, chosen.sample(num, seed=s, temperature=t))
            pictures[name, t, s] = _pixels_png(tile(drawn, shape, ncols), scale=_scale(shape))
    start = 1.0 if 1.0 in temperatures else temperatures[0]
    controls = ([_choice(label, list(models))] if several else []) + [
        _choice("temperature", temperatures, start), _choice("seed", seeds, slider=False)]

    def leaf(k):
        name = list(models)[k[0]] if several else ""
        return _image(pictures[name, temperatures[k[-2]], seeds[k[-1]]])

    first = next(iter(models))
    caption = (f"Samples at temperature {start} (seed {seeds[0]}); the widget offers "
               f"temperatures {temperatures[0]} to {temperatures[-1]} and {len(seeds)} seeds.")
    return BookWidget(controls + [_linked(controls, leaf)], pictures[first, start, seeds[0]],
                      caption)


# ---------------------------------------------------------------------------------------------
# The learnt conditionals across one image


def conditional_explorer(model: BinaryAutoregressive, x: torch.Tensor,
                         shape: tuple[int, int] = MNIST_SHAPE, *, steps: int = 24) -> w.Widget:
    """A slider over ``steps`` points of the model's order through one binary image ``x``
    ((n,) or (1, n)): the pixels seen so far, and p(x_j = 1 | x_<j) for every pixel up to there.
    """
    _check_image_model(model, shape, binary=True)
    steps = check_int("steps", steps, minimum=2, maximum=48)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor image, got {type(x).__name__}")
    x = x.reshape(1, -1)
    check_binary(x, model.n)
    with torch.no_grad():
        probs = model.conditionals(x)[0].cpu().numpy()  # (n,): one pass gives every conditional
    pixels = x[0].cpu().numpy().astype(float)
    order = model.order.cpu().numpy()
    positions = np.unique(np.linspace(model.n // 8, model.n - 1, steps).round().astype(int))
    viridis = matplotlib.colormaps["viridis"].with_extremes(bad="lightgrey")
    frames, captions = [], []
    for k in positions:
        i = int(order[k])
        seen = np.full(model.n, 0.5)  # unseen pixels grey
        seen[order[:k]] = pixels[order[:k]]
        seen_rgb = np.repeat(seen.reshape(shape)[..., None], 3, axis=2)
        row, col = divmod(i, shape[1])
        seen_rgb[row, col] = (0.9, 0.1, 0.1)  # the pixel being predicted, in red
        so_far = np.full(model.n, np.nan)
        so_far[order[:k + 1]] = probs[order[:k + 1]]
        probs_rgb = viridis(np.ma.masked_invalid(so_far.reshape(shape)))[..., :3]
        gap = np.ones((shape[0], 2, 3))
        frames.append(_pixels_png(np.concatenate([seen_rgb, gap, probs_rgb], axis=1), 8, None))
        d = i + 1  # the book counts dimensions from 1 (x_1 is index 0), rows and columns from 0
        captions.append(f"step {k + 1} of {model.n}: pixel {d} (row {row}, column "
                        f"{col}); p(x<sub>{d}</sub> = 1 | x<sub>&lt;{d}</sub>) = "
                        f"{probs[i]:.3f}; the image has x<sub>{d}</sub> = {int(pixels[i])}")
    step = _choice("step", [int(k) + 1 for k in positions], int(positions[len(positions) // 2]) + 1)
    frame = _linked([step], lambda k: w.VBox([w.HTML(captions[k[0]]), _image(frames[k[0]])]))
    legend = w.HTML("Left: the pixels seen so far (grey: not yet), the next one in red. Right: "
                    "p(x<sub>j</sub> = 1 | x<sub>&lt;j</sub>) for every pixel seen so far, from "
                    "0 (dark blue) to 1 (yellow); grey: later pixels.")
    middle = len(positions) // 2
    caption = (f"Step {positions[middle] + 1} of {model.n} along the order of one image; the "
               f"widget steps through {len(positions)} points of the order.")
    return BookWidget([step, legend, frame], frames[middle], caption)


# ---------------------------------------------------------------------------------------------
# Completion


def completion(model: Autoregressive, images: torch.Tensor, shape: tuple[int, ...] = MNIST_SHAPE,
               *, rows=(4, 7, 10, 14, 18, 21), completions: int = 6, seed: int = 0) -> w.Widget:
    """Keep the top rows of one of ``images`` ((B, n), 1 to 8 images in the model's support)
    and see ``completions`` samples of the rest, for each number of rows offered."""
    _check_image_model(model, shape)
    if not isinstance(images, torch.Tensor) or images.dim() != 2 or not 1 <= len(images) <= 8:
        raise ValueError("images must be a (B, n) tensor of 1 to 8 images, e.g. test[:6]")
    model._check(images, "images")
    rows = _check_values("rows", rows, 0, shape[0], integer=True)
    completions = check_int("completions", completions, maximum=12)
    pictures = {}
    for r in rows:
        for k, row in enumerate(completed(model, images, r * row_size(shape), completions, seed)):
            pictures[k, r] = _pixels_png(tile(row, shape, ncols=len(row), pad=2),
                                         scale=_scale(shape))
    image = _choice("image", range(1, len(images) + 1), slider=False)
    kept = _choice("rows kept", rows, 14 if 14 in rows else rows[0])
    note = w.HTML("The original, its top rows (the rest grey), then "
                  f"{completions} completions drawn by the model.")
    frame = _linked([image, kept], lambda k: _image(pictures[k[0], rows[k[1]]]))
    caption = (f"Image 1 with its top {rows[kept.index]} rows kept, and {completions} "
               "completions; the widget offers other images and other numbers of rows.")
    return BookWidget([image, kept, note, frame], pictures[0, rows[kept.index]], caption)


# ---------------------------------------------------------------------------------------------
# Model size against parameters and speed


def size_explorer(build, sizes, data: torch.Tensor, *, reference: DensityModel | None = None,
                  name: str = "hidden units", batch_size: int = 100) -> w.Widget:
    """A slider over model sizes: parameter counts, and the training speed measured on ``data``.

    build: size -> a fresh model. sizes: the sizes offered (ints, increasing).
    reference: a model whose parameter count is drawn as a line for comparison (e.g. FVSBN).
    Every size's speed is measured (2 training steps of ``batch_size``) when the widget is built.
    """
    sizes = list(sizes)
    if not sizes or sizes != sorted(sizes) or len(sizes) > 12:
        raise ValueError(f"sizes must be an increasing list of 1 to 12 sizes, got {sizes!r}")
    models = [build(size) for size in sizes]
    counts = [m.num_parameters() for m in models]
    speeds = [training_speed(m, data, batch_size=batch_size, steps=2) for m in models]
    pictures = []
    for chosen in range(len(sizes)):
        fig = BookFigure(figsize=(FULL_WIDTH, 6.4))
        left, right = fig.subplots(2, 1)
        colours = ["tab:orange" if k == chosen else "tab:blue" for k in range(len(sizes))]
        left.bar([str(s) for s in sizes], counts, color=colours)
        if reference is not None:
            left.axhline(reference.num_parameters(), color="grey", ls="--",
                         label=f"{type(reference).__name__}: {reference.num_parameters():,}")
            left.legend(loc="upper left", fontsize=FONT)
        left.set_xlabel(name, fontsize=FONT), left.set_ylabel("parameters", fontsize=FONT)
        left.set_title(f"{counts[chosen]:,} parameters", fontsize=FONT)
        right.plot(sizes, speeds, "o-")
        right.plot([sizes[chosen]], [speeds[chosen]], "o", color="tab:orange", markersize=10)
        right.set_xlabel(name, fontsize=FONT)
        right.set_ylabel("training examples / s", fontsize=FONT)
        right.set_title(f"{speeds[chosen]:,.0f} examples/s (measured)", fontsize=FONT)
        right.set_ylim(bottom=0)
        for ax in (left, right):
            ax.tick_params(labelsize=FONT)
        fig.tight_layout()
        pictures.append(_figure_png(fig))
    slider = _choice(name, sizes, sizes[len(sizes) // 2])
    frame = _linked([slider], lambda k: _image(pictures[k[0]]))
    middle = len(sizes) // 2
    caption = (f"Parameters and measured training speed at {name} = {sizes[middle]}; the "
               f"widget offers {', '.join(map(str, sizes))}.")
    return BookWidget([slider, frame], pictures[middle], caption)


# ---------------------------------------------------------------------------------------------
# MADE's masks


def connectivity_explorer(n: int = 6, max_layers: int = 3, max_units: int = 12) -> w.Widget:
    """The masks of a small MADE: seed, ordering, number and size of hidden layers, and whether
    the degrees are drawn so that every output keeps an input (``connected``). Every setting
    draws a new network, so this widget needs a live Python kernel (Jupyter, Colab)."""
    n = check_int("n (a network small enough to draw)", n, minimum=2, maximum=16)
    max_layers = check_int("max_layers", max_layers, maximum=4)
    max_units = check_int("max_units", max_units, maximum=24)
    seed = w.BoundedIntText(value=0, min=0, max=2**31 - 1, description="seed", style=WIDE,
                            layout=w.Layout(width="12em"))
    natural = w.Checkbox(value=False, description="natural order", style=WIDE)
    connected = w.Checkbox(value=True, description="connected draw", style=WIDE)
    direct = w.Checkbox(value=False, description="direct connections", style=WIDE)
    layers = w.IntSlider(value=2, min=1, max=max_layers, description="hidden layers",
                         continuous_update=False, style=WIDE, layout=FULL)
    units = w.IntSlider(value=min(n, max_units), min=1, max=max_units, description="units per layer",
                        continuous_update=False, style=WIDE, layout=FULL)
    output = w.Output()
    notice = w.HTML("<b>Needs a running Python kernel:</b> on the website this widget shows its "
                    "first picture only; open the chapter in Colab or run it locally to redraw.")

    def figure():
        model = MADE(n, (units.value,) * layers.value, natural_order=natural.value,
                     connected=connected.value, direct=direct.value, seed=seed.value)
        first = int(model.order[0])
        seen = model.connectivity().sum(dim=1)
        lost = [d + 1 for d in range(n) if d != first and seen[d] == 0]
        order = ", ".join(f"$x_{{{int(d) + 1}}}$" for d in model.order)
        note = (f"outputs with no input: {', '.join(f'$x_{{{d}}}$' for d in lost)}" if lost
                else "every output after the first sees an input")
        return made_network(model, title=f"ordering {order}\n{note}")

    def draw(_=None):
        _show(output, figure())

    for control in (seed, natural, connected, direct, layers, units):
        control.observe(draw, names="value")
    draw()
    caption = "A small MADE's masks (default settings); the widget redraws with a live kernel."
    boxes = w.HBox([natural, connected, direct], layout=w.Layout(flex_flow="row wrap"))
    return BookWidget([notice, seed, layers, units, boxes, output], _figure_png(figure()), caption,
                      needs_kernel=True)


# ---------------------------------------------------------------------------------------------
# Receptive fields


def receptive_field(models: dict, x: torch.Tensor, shape: tuple[int, int] = MNIST_SHAPE, *,
                    rows=(3, 7, 10, 14, 17, 21, 24), cols=(3, 7, 10, 14, 17, 21, 24)) -> w.Widget:
    """Choose a pixel and see, for each model, which input pixels its conditional reads:
    |∂ log p(x_d | x_<d) / ∂ x_j| by autograd at the image ``x`` (see
    :func:`~autoregressive.plot.receptive_fields`), for every pixel (row, col) offered.

    models: {label: model with ``receptive_field(x, row, col)``}, e.g. the image models of
        :mod:`autoregressive.pixelrnn`.
    """
    if not models:
        raise ValueError("receptive_field needs at least one model")
    for model in models.values():
        if not hasattr(model, "receptive_field"):
            raise TypeError(f"{type(model).__name__} has no receptive_field method")
        _check_image_model(model, shape)
    rows = _check_values("rows", rows, 0, shape[0] - 1, integer=True)
    cols = _check_values("cols", cols, 0, shape[1] - 1, integer=True)
    pictures = {}
    for r, c in itertools.product(rows, cols):
        maps = {label: model.receptive_field(x, r, c) for label, model in models.items()}
        pictures[r, c] = _figure_png(receptive_fields(maps, (r, c)))
    start_row = rows[len(rows) // 2]
    row = _choice("pixel row", rows, start_row)
    col = _choice("pixel column", cols, cols[len(cols) // 2])
    frame = _linked([row, col], lambda k: _image(pictures[rows[k[0]], cols[k[1]]]))
    first = pictures[start_row, cols[len(cols) // 2]]
    caption = (f"Receptive fields of pixel ({start_row}, {cols[len(cols) // 2]}); the widget "
               f"offers rows {rows[0]} to {rows[-1]} and columns {cols[0]} to {cols[-1]}.")
    return BookWidget([row, col, frame], first, caption)
