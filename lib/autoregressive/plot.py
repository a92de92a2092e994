"""Pictures shared by the chapters: grids of images, per-pixel probability maps, training
curves, completions, and costs against a growing size.

Every function returns a :class:`BookFigure`, a matplotlib figure that is not registered with
pyplot: as the last expression of a notebook cell it is shown once (as a PNG), and it can be
saved with ``fig.savefig``. Images are rows of a (B, n) tensor or array, reshaped to ``shape``.

Every figure is drawn to be read on a phone as well as on a desktop: no text smaller than
``FONT`` points, and no figure wider than ``WIDTH`` inches. A page shows a figure at its own
size or, where the column is narrower, scaled down to the column's width; a phone's column is
about 358 CSS pixels, so a figure of ``WIDTH`` inches at 100 dpi (640 pixels) keeps its
smallest text at ``FONT`` · 100/72 · 358/640 ≈ 9.3 pixels there. Wider pictures are laid out
in more rows instead. Each PNG says how small its smallest drawn text is, in a text chunk
``smallest_font_pt``, so that a check of the website can measure it (:func:`phone_text_px`).
Importing this module sets matplotlib's default text size to ``FONT`` too, so that the
chapters' own figures follow the same rule.
"""

from __future__ import annotations

import base64
import io
import math
import struct
import zlib

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.text import Text

from .base import check_int
from .made import MADE, input_degrees

MNIST_SHAPE = (28, 28)
FONT = 12  # points: the smallest text of every figure
WIDTH = 6.4  # inches: the widest figure (640 pixels at 100 dpi)
FULL_WIDTH = WIDTH - 0.2  # inches: a full-width figure, before savefig's 0.1-inch pad each side
PHONE_COLUMN = 358  # CSS pixels: the width of the book's text column on a 390-pixel phone
PHONE_TEXT_PX = 9  # CSS pixels: the smallest text a reader should meet there
matplotlib.rcParams["font.size"] = FONT  # ticks, legends and titles scale from it


class BookFigure(Figure):
    """A figure that shows itself as a PNG in a notebook, whatever pyplot's backend is doing."""

    def png(self, dpi: int = 100) -> bytes:
        """The figure as PNG bytes, trimmed to what is drawn, with the size of its smallest
        drawn text in a text chunk ``smallest_font_pt``."""
        return figure_png(self, dpi)

    def _repr_png_(self) -> bytes:
        return self.png()

    def _ipython_display_(self) -> None:
        # Shown through png(), not through a PNG printer that pyplot's inline backend registers
        # for every matplotlib Figure once pyplot is imported, which would drop the text chunk.
        from IPython.display import display

        data = {"image/png": base64.b64encode(self.png()).decode("ascii"),
                "text/plain": f"<figure: {len(self.axes)} axes>"}
        display(data, raw=True)


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """Any matplotlib figure as PNG bytes, trimmed to what is drawn, with the size in points of
    the smallest text drawn (titles, labels, tick labels, legends, annotations) in the PNG's
    text chunk ``smallest_font_pt``, or ``drawn_text: none`` for a picture without text. Text
    that is not drawn (hidden, empty, or on an axis that is switched off) does not count."""
    sizes = []
    draw = Text.draw

    def counted(text, renderer):
        if text.get_visible() and text.get_text().strip():
            sizes.append(text.get_fontsize())
        return draw(text, renderer)

    buffer = io.BytesIO()
    Text.draw = counted  # every text drawn passes here, as savefig draws the figure
    try:
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        Text.draw = draw
    key, value = ("smallest_font_pt", f"{min(sizes):g}") if sizes else ("drawn_text", "none")
    return _with_text_chunk(buffer.getvalue(), key, value)


def _with_text_chunk(png: bytes, key: str, value: str) -> bytes:
    """PNG bytes with a tEXt chunk ``key: value`` inserted after the header chunk (IHDR)."""
    data = key.encode("latin-1") + b"\0" + value.encode("latin-1")
    chunk = (struct.pack(">I", len(data)) + b"tEXt" + data
             + struct.pack(">I", zlib.crc32(b"tEXt" + data)))
    if png[12:16] != b"IHDR":
        raise ValueError("not a PNG: its first chunk is not IHDR")
    after_header = 8 + 4 + 4 + 13 + 4  # signature; IHDR's length, type, 13 bytes and CRC
    return png[:after_header] + chunk + png[after_header:]


def smallest_text(png: bytes) -> tuple[float | None, int]:
    """The height in the file's own pixels of a PNG's smallest text, from its
    ``smallest_font_pt`` chunk and its dpi (None where it declares no text), and its width."""
    from PIL import Image

    image = Image.open(io.BytesIO(png))
    if "smallest_font_pt" not in image.info:
        return None, image.width
    dpi = image.info.get("dpi", (100, 100))[0]
    return float(image.info["smallest_font_pt"]) * dpi / 72, image.width


def phone_text_px(png: bytes, column: float = PHONE_COLUMN) -> float | None:
    """How large, in CSS pixels, the smallest text of a PNG drawn by :func:`figure_png` shows
    on a page whose column is ``column`` pixels wide: the figure is shown at its own size
    (one file pixel per CSS pixel) or scaled down to the column. None for a picture without
    text."""
    pixels, width = smallest_text(png)
    return None if pixels is None else pixels * min(1.0, column / width)


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float] | None = None,
             layout: str | None = None, **kwargs):
    """Like ``plt.subplots``, but a :class:`BookFigure` (shown as its cell's last expression,
    not registered with pyplot), at most ``WIDTH`` inches wide. ``layout="constrained"`` makes
    room for what lies outside the axes, such as ``fig.legend(loc="outside lower center")``."""
    width, height = figsize or (FULL_WIDTH, 0.6 * WIDTH)
    if width > FULL_WIDTH:
        raise ValueError(f"a figure is at most {FULL_WIDTH:g} inches wide (to be read on a "
                         f"phone); got {width}: lay its panels out in more rows")
    fig = BookFigure(figsize=(width, height), layout=layout)
    return fig, fig.subplots(nrows, ncols, **kwargs)


def grey(model, x) -> torch.Tensor:
    """Values of ``model``'s support as grey levels in [0, 1] on the CPU: binary values as they
    are, K categories as k / (K - 1)."""
    return x.detach().cpu().float() / (getattr(model, "levels", 2) - 1)


def _as_images(images, shape: tuple[int, ...]) -> np.ndarray:
    """(B, n) rows -> (B, height, width) grey images, or (B, height, width, 3) colour images
    for a shape (height, width, 3) (rows pixel-major, channel-minor)."""
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim == 1:
        array = array[None]
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] != 3):
        raise ValueError(f"shape must be (height, width) or (height, width, 3), got {shape}")
    size = math.prod(shape)
    if array.ndim != 2 or array.shape[1] != size:
        raise ValueError(f"images must have shape (B, {size}) for shape {shape}, "
                         f"got {array.shape}")
    if len(array) == 0:
        raise ValueError("there are no images to draw (an empty batch)")
    return array.reshape(-1, *shape).astype(np.float64)


def row_size(shape: tuple[int, ...]) -> int:
    """The values in one row of an image of this shape: width, or width · 3 for colour."""
    return math.prod(shape[1:])


def tile(images, shape: tuple[int, ...] = MNIST_SHAPE, ncols: int | None = None,
         pad: int = 1, pad_value: float = 0.5) -> np.ndarray:
    """Arrange (B, n) images in one (rows·h, cols·w) array (with a colour axis for colour
    images), ``pad`` pixels apart."""
    array = _as_images(images, shape)
    count, (height, width) = len(array), shape[:2]
    ncols = ncols or math.ceil(math.sqrt(count))
    nrows = math.ceil(count / ncols)
    canvas = np.full((nrows * (height + pad) - pad, ncols * (width + pad) - pad) + shape[2:],
                     pad_value)
    for k, image in enumerate(array):
        r, c = divmod(k, ncols)
        canvas[r * (height + pad):r * (height + pad) + height,
               c * (width + pad):c * (width + pad) + width] = image
    return canvas


def image_grid(images, shape: tuple[int, ...] = MNIST_SHAPE, ncols: int | None = None,
               title: str | None = None, size: float = 4.0, vmax: float = 1.0) -> Figure:
    """A grid of grey images (0 black, ``vmax`` white), or of colour images (values in [0, 1])
    for a shape (height, width, 3)."""
    canvas = tile(images, shape, ncols)
    fig = BookFigure(figsize=(size, size * canvas.shape[0] / canvas.shape[1] + (0.3 if title else 0)))
    ax = fig.add_subplot()
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=FONT)
    fig.tight_layout()
    return fig


def image_rows(rows: dict[str, object], shape: tuple[int, ...] = MNIST_SHAPE,
               size: float = 1.2, vmax: float = 1.0, title: str | None = None) -> Figure:
    """One row of images per entry of ``rows`` (label -> (B, n) images, grey or, for a shape
    (height, width, 3), colour), its label above it. The images shrink from ``size`` inches
    where a row would be wider than ``WIDTH``; ``title`` goes above them all."""
    arrays = {label: _as_images(images, shape) for label, images in rows.items()}
    ncols = max(len(a) for a in arrays.values())
    band, gap = 0.34, 0.05  # inches: a row's label, the gap between two images
    size = min(size, (FULL_WIDTH - 0.1 - gap * (ncols - 1)) / ncols)
    height = size * shape[0] / shape[1]
    top = band + (0.3 if title else 0)  # above the first row: its label, and the title
    fig = BookFigure(figsize=(size * ncols + gap * (ncols - 1),
                              (height + band) * len(arrays) + top - band))
    axes = fig.subplots(len(arrays), ncols, squeeze=False)
    # Placed by hand: a label wider than one image would push tight_layout's columns apart.
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - top / fig.get_figheight(),
                        wspace=gap / size, hspace=band / height)
    if title:
        fig.suptitle(title, fontsize=FONT, y=1 - 0.05 / fig.get_figheight(), va="top")
    for r, (label, array) in enumerate(arrays.items()):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(array):
                ax.imshow(array[c], cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
            else:
                ax.set_axis_off()
        axes[r, 0].set_title(label, loc="left", fontsize=FONT, pad=3)
    return fig


def probability_map(probabilities, shape: tuple[int, int] = MNIST_SHAPE,
                    title: str | None = None, ax=None, cmap: str = "viridis"):
    """Per-pixel probabilities of one image as a heat map on [0, 1] with a colour bar.

    NaN entries (probabilities not computed) are drawn in light grey. Draws on ``ax`` when given
    (and returns it), else on a new figure (and returns the figure).
    """
    array = _as_images(probabilities, shape)
    if len(array) != 1:
        raise ValueError(f"probability_map draws one image, got {len(array)}")
    fig = None
    if ax is None:
        fig = BookFigure(figsize=(3.6, 3.2))
        ax = fig.add_subplot()
    colours = matplotlib.colormaps[cmap].with_extremes(bad="lightgrey")
    image = ax.imshow(np.ma.masked_invalid(array[0]), cmap=colours, vmin=0, vmax=1,
                      interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=FONT)
    if fig is not None:
        fig.tight_layout()
        return fig
    return ax


def made_network(model, title: str | None = None) -> Figure:
    """A small MADE drawn as a network (top) and as its connectivity (below).

    Top: inputs at the bottom, hidden layers above, outputs on top, each unit labelled with its
    degree; a line for every connection its masks keep (direct input-output connections dashed).
    Below: which inputs each output can see through those connections, rows and columns in the
    data's index order. Meant for n up to about 12 and layers of up to about 12 units.
    """
    if not isinstance(model, MADE):
        raise TypeError(f"made_network draws a MADE, got {type(model).__name__}")
    order, degrees = model.degrees()
    m0 = input_degrees(order).cpu()
    layers = [m0] + [d.cpu() for d in degrees] + [m0]
    masks = [layer.mask.detach().cpu() for layer in model.layers]

    def xs(size):
        return np.linspace(0, 1, size) if size > 1 else np.array([0.5])

    network, seen = 0.9 * len(masks) + 0.6, 0.3 * model.n + 0.6  # inches for each panel
    fig = BookFigure(figsize=(WIDTH, network + seen + 0.8))
    net, conn = fig.subplots(2, 1, gridspec_kw={"height_ratios": [network, seen]})
    for l, mask in enumerate(masks):
        below, above = xs(mask.shape[1]), xs(mask.shape[0])
        for k, j in mask.nonzero().tolist():
            net.plot([below[j], above[k]], [l, l + 1], color="tab:blue", lw=0.8, alpha=0.6)
    if model.skip is not None:
        x = xs(model.n)
        for d, j in model.skip.mask.detach().cpu().nonzero().tolist():
            net.plot([x[j], x[d]], [0, len(masks)], color="tab:orange", lw=0.6, ls="--", alpha=0.5)
    for l, layer in enumerate(layers):
        x = xs(len(layer))
        kind = "input" if l == 0 else "output" if l == len(layers) - 1 else "hidden"
        colour = {"input": "white", "hidden": "lightgrey", "output": "white"}[kind]
        net.scatter(x, np.full(len(x), l), s=360, c=colour, edgecolors="black", zorder=3)
        for xi, degree in zip(x, layer.tolist()):
            net.text(xi, l, str(degree), ha="center", va="center", fontsize=FONT, zorder=4)
    for d, xi in enumerate(xs(model.n)):
        net.text(xi, -0.5, f"$x_{{{d + 1}}}$", ha="center", va="center", fontsize=FONT)
        net.text(xi, len(layers) - 1 + 0.5, f"$\\hat{{x}}_{{{d + 1}}}$", ha="center",
                 va="center", fontsize=FONT)
    net.set_yticks(range(len(layers)),
                   ["inputs"] + [f"hidden {l + 1}" for l in range(len(degrees))] + ["outputs"],
                   fontsize=FONT)
    net.set_xticks([])
    net.set_ylim(-0.8, len(layers) - 0.2)
    net.set_title("units labelled with their degrees", fontsize=FONT)
    for side in ("top", "right", "bottom"):
        net.spines[side].set_visible(False)
    sees = model.connectivity().cpu().numpy()
    conn.imshow(sees, cmap="Greys", vmin=0, vmax=1.6)
    conn.set_xticks(range(model.n), [f"$x_{{{j + 1}}}$" for j in range(model.n)], fontsize=FONT)
    conn.set_yticks(range(model.n), [f"$\\hat{{x}}_{{{d + 1}}}$" for d in range(model.n)],
                    fontsize=FONT)
    conn.set_title("which inputs each output sees", fontsize=FONT)
    if title:
        fig.suptitle(title, fontsize=FONT)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# Training, completion and cost: pictures several chapters draw


def training_curves(history, *, title: str | None = None) -> Figure:
    """Training and validation NLL per epoch (counted from 1), the restored epoch marked.

    history: a :class:`~autoregressive.train.History`, or a dict {label: History} to compare runs.
    """
    runs = history if isinstance(history, dict) else {"": history}
    if not runs or any(not getattr(h, "valid_nll", None) for h in runs.values()):
        raise ValueError("training_curves needs histories with at least one epoch")
    entries = 2 * len(runs)
    fig = BookFigure(figsize=(FULL_WIDTH, 3.3 + 0.27 * math.ceil(entries / 2) + 0.3 * bool(title)),
                     layout="constrained")
    ax = fig.add_subplot()
    colours = matplotlib.colormaps["tab10"].colors
    for k, (label, run) in enumerate(runs.items()):
        epochs = np.arange(1, len(run.valid_nll) + 1)
        name = f"{label}: " if label else ""
        ax.plot(epochs, run.train_nll, "--", color=colours[k], label=f"{name}train")
        ax.plot(epochs, run.valid_nll, "-", color=colours[k], label=f"{name}validation")
        best = run.best_epoch + 1
        ax.plot([best], [run.valid_nll[run.best_epoch]], "o", color=colours[k], markersize=7)
    values = np.concatenate([np.r_[h.train_nll, h.valid_nll] for h in runs.values()])
    low, high = values.min(), np.percentile(values, 95)  # a first epoch far above the rest
    ax.set_ylim(low - 0.05 * (high - low + 1), high + 0.15 * (high - low + 1))  # is cut off
    ax.set_xlabel("epoch", fontsize=FONT), ax.set_ylabel("NLL (nats)", fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.legend(fontsize=FONT, title="dot: weights kept", title_fontsize=FONT, ncol=2,
               loc="outside lower center", frameon=False)
    if title:
        ax.set_title(title, fontsize=FONT)
    return fig


def completion_rows(model, images, *, rows_kept: int = 14, completions: int = 5, seed: int = 0,
                    shape: tuple[int, ...] = MNIST_SHAPE) -> Figure:
    """For each image: the original, its top ``rows_kept`` rows (the rest grey), and
    ``completions`` samples of the rest drawn by ``model`` given those rows.

    images: (B, n) values in the model's support, B from 1 to 8.
    """
    if not isinstance(images, torch.Tensor) or images.dim() != 2:
        raise ValueError("images must be a (B, n) tensor")
    if not 1 <= len(images) <= 8:
        raise ValueError(f"completion_rows draws 1 to 8 images, got {len(images)}")
    rows_kept = check_int("rows_kept", rows_kept, minimum=0, maximum=shape[0])
    completions = check_int("completions", completions, minimum=1, maximum=12)
    rows = {f"image {k + 1}": row for k, row in enumerate(
        completed(model, images, rows_kept * row_size(shape), completions, seed))}
    return image_rows(rows, shape,
                      title=f"original, its top {rows_kept} rows, {completions} completions")


def completed(model, images: torch.Tensor, kept: int, completions: int, seed: int) -> list:
    """For each image: a (2 + completions, n) grey tensor holding the original, the original
    with all but its first ``kept`` dimensions grey, and ``completions`` samples of the rest
    drawn by ``model`` given those dimensions (one sampling call for every image)."""
    keep = torch.zeros(model.n, dtype=torch.bool)
    keep[:kept] = True
    filled = model.sample(x=images.repeat_interleave(completions, dim=0), mask=keep, seed=seed)
    rows = []
    for k, original in enumerate(grey(model, images)):
        shown = original.clone()
        shown[~keep] = 0.5
        drawn = grey(model, filled[k * completions:(k + 1) * completions])
        rows.append(torch.cat([original[None], shown[None], drawn]))
    return rows


def cost_curves(sizes, results: dict, *, xlabel: str = r"$n$", ylabel: str = "seconds",
                title: str | None = None) -> Figure:
    """Costs against a growing size on log-log axes, each with its fitted slope.

    results: {label: costs at ``sizes``} (seconds, or operation counts). A slope of 2 in the
    legend means the cost grows like size²; the gap between two curves that grows with the size
    is the asymptotic gap.
    """
    sizes = np.asarray(list(sizes), dtype=float)
    if len(sizes) < 2 or (sizes <= 0).any():
        raise ValueError("cost_curves needs at least two positive sizes")
    fig = BookFigure(figsize=(FULL_WIDTH, 3.3 + 0.27 * len(results) + 0.3 * bool(title)),
                     layout="constrained")
    ax = fig.add_subplot()
    for label, costs in results.items():
        costs = np.asarray([float(c) for c in costs], dtype=float)  # numbers or tensors
        if costs.shape != sizes.shape or (costs <= 0).any():
            raise ValueError(f"{label}: need one positive cost per size")
        slope = np.polyfit(np.log(sizes), np.log(costs), 1)[0]
        ax.loglog(sizes, costs, "o-", label=f"{label} (slope {slope:.1f})")
    ax.set_xlabel(xlabel, fontsize=FONT), ax.set_ylabel(ylabel, fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    fig.legend(fontsize=FONT, loc="outside lower center", frameon=False)
    ax.grid(True, which="major", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=FONT)
    return fig


# ---------------------------------------------------------------------------------------------
# PixelCNN and PixelRNN: masks, skewing, receptive fields


def conv_masks(kernel: int = 5) -> Figure:
    """The masks of a ``kernel`` × ``kernel`` masked convolution: which input pixels an output
    pixel (the centre) reads under mask A and mask B, and, at the centre itself, which colour
    groups of the input each colour group of the output reads."""
    from .layers import MaskedConv2d, channel_groups

    kernel = check_int("kernel", kernel, minimum=1)
    if kernel % 2 == 0:
        raise ValueError(f"kernel must be odd, got {kernel}")
    one, rgb = channel_groups(1, 1), channel_groups(3, 3)
    fig = BookFigure(figsize=(WIDTH - 0.6, 6.2))
    axes = fig.subplots(2, 2).ravel()
    c = kernel // 2
    for ax, kind in zip(axes[:2], "AB"):
        mask = MaskedConv2d(one, one, (kernel, kernel), kind).mask[0, 0].numpy()
        ax.imshow(mask, cmap="Greens", vmin=-0.3, vmax=1.3)
        ax.add_patch(matplotlib.patches.Rectangle((c - 0.5, c - 0.5), 1, 1, fill=False,
                                                  edgecolor="tab:red", linewidth=2.5))
        ax.set_title(f"mask {kind}", fontsize=FONT)
    for ax, kind in zip(axes[2:], "AB"):
        centre = MaskedConv2d(rgb, rgb, (1, 1), kind).mask[:, :, 0, 0].numpy()  # (out, in)
        ax.imshow(centre, cmap="Greens", vmin=-0.3, vmax=1.3)
        ax.set_xticks(range(3), ["R", "G", "B"], fontsize=FONT)
        ax.set_yticks(range(3), ["R", "G", "B"], fontsize=FONT)
        ax.set_xlabel("input group", fontsize=FONT)
        ax.set_ylabel("output group", fontsize=FONT)
        ax.set_title(f"centre, mask {kind}", fontsize=FONT)
    for ax in axes:
        size = len(ax.images[0].get_array())
        ax.set_xticks(np.arange(size + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(size + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=1.5)
        ax.tick_params(which="minor", length=0)
    for ax in axes[:2]:
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def skewing(height: int = 4, width: int = 5) -> Figure:
    """An image's pixels before and after the Diagonal BiLSTM's skew (row r shifted right by
    r): every diagonal r + c of the image becomes one column. Drawn from ``pixelrnn.skew``."""
    from .pixelrnn import skew

    height, width = check_int("height", height, maximum=9), check_int("width", width, maximum=9)
    diagonal = torch.arange(height)[:, None] + torch.arange(width)[None, :]  # (H, W)
    index = torch.arange(height * width).view(height, width)
    pictures = {"the image": (diagonal.float(), index),
                "skewed": (skew((diagonal + 1).float()[None, None])[0, 0] - 1,
                           skew((index + 1).float()[None, None])[0, 0].long() - 1)}
    cell = min(0.62, (WIDTH - 0.4) / (width + height - 1))  # inches per pixel
    fig = BookFigure(figsize=((width + height - 1) * cell + 0.4, 2 * height * cell + 1.2))
    axes = fig.subplots(2, 1)
    colours = matplotlib.colormaps["tab10"]
    for ax, (title, (diag, label)) in zip(axes, pictures.items()):
        rgb = np.ones(tuple(diag.shape) + (3,))
        for (r, c), d in np.ndenumerate(diag.numpy()):
            if d >= 0:
                rgb[r, c] = np.array(colours(int(d) % 10)[:3]) * 0.45 + 0.55
                row, col = divmod(int(label[r, c]), width)
                ax.text(c, r, f"{row},{col}", ha="center", va="center", fontsize=FONT)
        ax.imshow(rgb)
        ax.set_xticks(np.arange(diag.shape[1] + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(diag.shape[0] + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="grey", linewidth=0.8)
        ax.tick_params(which="both", length=0)
        ax.set_xticks([]), ax.set_yticks([])
        ax.set_title(title, fontsize=FONT)
    fig.tight_layout()
    return fig


def receptive_fields(maps: dict, pixel: tuple[int, int], *, size: float = 2.6,
                     floor: float = 1e-6, columns: int = 2) -> Figure:
    """For each model, ``columns`` to a row: |∂ log p(x_d | x_<d) / ∂ x_j| over the input pixels j,
    divided by its largest value, on a log scale down to ``floor``; pixels the gradient does not
    reach at all (exactly zero) are white, and the pixel d itself is outlined in red.

    maps: {label: (H, W) or (H, W, C) gradient magnitudes} (channels are summed).
    """
    if not maps:
        raise ValueError("receptive_fields needs at least one map")
    columns = min(check_int("columns", columns), len(maps))
    rows = math.ceil(len(maps) / columns)
    size = min(size, (WIDTH - 1.6) / columns)  # room for the colour bar
    fig = BookFigure(figsize=(size * columns + 1.6, (size + 0.45) * rows))
    grid = fig.subplots(rows, columns, squeeze=False)
    for ax in grid.ravel()[len(maps):]:
        ax.set_axis_off()
    axes = grid.ravel()[:len(maps)]
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="white")
    norm = matplotlib.colors.LogNorm(vmin=floor, vmax=1)
    r, c = pixel
    for ax, (label, grad) in zip(axes, maps.items()):
        grad = torch.as_tensor(grad).detach().cpu().double()  # maps from a GPU model too
        grad = grad.sum(-1) if grad.dim() == 3 else grad
        relative = (grad / grad.max()).clamp(min=floor) if grad.max() > 0 else grad
        shown = np.ma.masked_where(grad.numpy() == 0, relative.numpy())
        image = ax.imshow(shown, cmap=cmap, norm=norm, interpolation="nearest")
        ax.add_patch(matplotlib.patches.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False,
                                                  edgecolor="tab:red", linewidth=1.5))
        ax.set_xticks([]), ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color("grey")
        ax.set_title(label, fontsize=FONT)
    bar = fig.colorbar(image, ax=list(grid.ravel()), fraction=0.05, pad=0.03)
    bar.ax.tick_params(labelsize=FONT)
    bar.set_label("relative |gradient|", fontsize=FONT)
    return fig
