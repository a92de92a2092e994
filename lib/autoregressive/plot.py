"""Pictures shared by the chapters: grids of images and per-pixel probability maps.

Every function returns a :class:`BookFigure`, a matplotlib figure that is not registered with
pyplot: as the last expression of a notebook cell it is shown once (as a PNG), and it can be
saved with ``fig.savefig``. Images are rows of a (B, n) tensor or array, reshaped to ``shape``.
"""

from __future__ import annotations

import io
import math

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

MNIST_SHAPE = (28, 28)


class BookFigure(Figure):
    """A figure that shows itself as a PNG in a notebook, whatever pyplot's backend is doing."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def _as_images(images, shape: tuple[int, int]) -> np.ndarray:
    array = images.detach().cpu().numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim == 1:
        array = array[None]
    height, width = shape
    if array.ndim != 2 or array.shape[1] != height * width:
        raise ValueError(f"images must have shape (B, {height * width}) for shape {shape}, "
                         f"got {array.shape}")
    return array.reshape(-1, height, width).astype(np.float64)


def tile(images, shape: tuple[int, int] = MNIST_SHAPE, ncols: int | None = None,
         pad: int = 1, pad_value: float = 0.5) -> np.ndarray:
    """Arrange (B, n) images in one (rows·h, cols·w) array, ``pad`` pixels apart."""
    array = _as_images(images, shape)
    count, (height, width) = len(array), shape
    ncols = ncols or math.ceil(math.sqrt(count))
    nrows = math.ceil(count / ncols)
    canvas = np.full((nrows * (height + pad) - pad, ncols * (width + pad) - pad), pad_value)
    for k, image in enumerate(array):
        r, c = divmod(k, ncols)
        canvas[r * (height + pad):r * (height + pad) + height,
               c * (width + pad):c * (width + pad) + width] = image
    return canvas


def image_grid(images, shape: tuple[int, int] = MNIST_SHAPE, ncols: int | None = None,
               title: str | None = None, size: float = 4.0, vmax: float = 1.0) -> Figure:
    """A grid of grey images (0 black, ``vmax`` white)."""
    canvas = tile(images, shape, ncols)
    fig = BookFigure(figsize=(size, size * canvas.shape[0] / canvas.shape[1] + (0.3 if title else 0)))
    ax = fig.add_subplot()
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def image_rows(rows: dict[str, object], shape: tuple[int, int] = MNIST_SHAPE,
               size: float = 1.2, vmax: float = 1.0) -> Figure:
    """One labelled row of images per entry of ``rows`` (label -> (B, n) images)."""
    arrays = {label: _as_images(images, shape) for label, images in rows.items()}
    ncols = max(len(a) for a in arrays.values())
    fig = BookFigure(figsize=(size * ncols + 1.5, size * len(arrays)))
    axes = fig.subplots(len(arrays), ncols, squeeze=False)
    for r, (label, array) in enumerate(arrays.items()):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([]), ax.set_yticks([])
            if c < len(array):
                ax.imshow(array[c], cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
            else:
                ax.set_axis_off()
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    fig.tight_layout()
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
        ax.set_title(title)
    if fig is not None:
        fig.tight_layout()
        return fig
    return ax
