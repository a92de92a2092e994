"""Pictures and widgets of attention weights: where each prediction looks.

- :func:`weights_by_position`: every head's attention weights of a model at the rows x, as
  (B, heads, n, n) (a decoder's blocks one after the other; an RNN with attention: one head);
- :func:`attention_figure`: one position's weights over the past, a row per head, as a heat map;
- :func:`name_attention`: pick a name and a letter, and see each head's weights over the letters
  before it;
- :func:`pixel_attention`: pick a pixel, and see each head's weights over the pixels before it,
  as images.

Key j is labelled by what position j reads: the start token at 0, then symbol j − 1 (counting
symbols from 0). For an RNN with attention, key j is the state h_j, whose last read symbol is
that same one. Both widgets offer finite choices, computed when they are built and linked in the browser, so they
respond on the static website too (see :mod:`autoregressive.widgets`).
"""

from __future__ import annotations

import numpy as np
import torch
import matplotlib

from .attention import AttentionRNN, PixelTransformer, Transformer, reference_logits
from .base import check_int
from .plot import FONT, FULL_WIDTH, WIDTH, BookFigure
from .text import END_LABEL, _check_strings
from .widgets import (BookWidget, _check_image_model, _check_values, _choice, _figure_png,
                      _image, _linked)

START_LABEL = "<start>"


@torch.no_grad()
def weights_by_position(model, x: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """(B, heads, n, n) attention weights at the rows ``x`` and a label per head: for a
    decoder every block's heads in turn, for an :class:`AttentionRNN` its one attention."""
    if isinstance(model, AttentionRNN):
        return model.attention(x)["weights"][:, None], ["attention"]
    if isinstance(model, (Transformer, PixelTransformer)):
        _, blocks = reference_logits(model, x, return_weights=True)
        labels = [f"block {b + 1}, head {h + 1}" for b, block in enumerate(blocks)
                  for h in range(block.shape[1])]
        return torch.cat(blocks, dim=1), labels
    raise TypeError(f"{type(model).__name__} has no attention weights")


def attention_figure(weights, key_labels: list[str], head_labels: list[str],
                     title: str = "") -> BookFigure:
    """A heat map of (heads, keys) weights in [0, 1], a row per head, a column per key; each
    weight of at least 0.1 written in its cell where the cells are wide enough (up to 10 keys)."""
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().cpu()  # weights from a GPU model too
    weights = np.asarray(weights, dtype=float)
    heads, keys = weights.shape
    margin = 2.6  # inches: the heads' labels and the colour bar
    fig = BookFigure(figsize=(min(FULL_WIDTH, margin + 0.42 * max(keys, 6)),
                              max(2.6, 0.9 + 0.36 * heads)))
    ax = fig.add_subplot()
    image = ax.imshow(weights, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(keys), key_labels, fontsize=FONT,
                  rotation=90 if any(len(k) > 2 for k in key_labels) else 0)
    ax.set_yticks(range(heads), head_labels, fontsize=FONT)
    cell = (fig.get_figwidth() - margin) / max(keys, 6)  # inches per key
    for (r, c), value in np.ndenumerate(weights):
        if value >= 0.1 and cell >= 0.34:  # numbers where they fit, else the colour alone
            ax.text(c, r, f"{value:.1f}", ha="center", va="center", fontsize=FONT,
                    color="white" if value > 0.6 else "black")
    if title:
        ax.set_title(title, fontsize=FONT)
    bar = fig.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    bar.ax.tick_params(labelsize=FONT)
    fig.tight_layout()
    return fig


def name_attention(model, names) -> BookWidget:
    """Choose a name and a position: each head's weights over the positions before it, while
    the model predicts that position's letter (or the end)."""
    if not isinstance(model, (AttentionRNN, Transformer)):
        raise TypeError(f"name_attention needs an AttentionRNN or a Transformer, got "
                        f"{type(model).__name__}")
    names = _check_strings(names)
    if not names or len(names) > 8:
        raise ValueError(f"name_attention shows 1 to 8 names, got {len(names)}")
    x = model.vocabulary.encode(names, model.n)
    weights, heads = weights_by_position(model, x)
    pictures, counts = {}, []
    for k, name in enumerate(names):
        keys = [START_LABEL, *name]
        targets = [*name, END_LABEL]
        for t, target in enumerate(targets):
            shown = weights[k, :, t, :t + 1].cpu().numpy()  # (heads, t + 1)
            title = (f"predicting {target!r} after {name[:t]!r}" if t else
                     f"predicting {target!r} at the start")
            pictures[k, t] = _figure_png(attention_figure(shown, keys[:t + 1], heads, title))
        counts.append(len(targets))
    longest = max(counts)
    chooser = _choice("name", names, slider=False)
    position = _choice("position", range(1, longest + 1), min(3, longest))

    def leaf(k):
        t = min(k[1], counts[k[0]] - 1)  # a shorter name shows its last position
        return _image(pictures[k[0], t])

    first = pictures[0, min(2, counts[0] - 1)]
    caption = (f"The attention weights while predicting letter {min(3, counts[0])} of "
               f"{names[0]!r}; the widget offers every position of {len(names)} names.")
    return BookWidget([chooser, position, _linked([chooser, position], leaf)], first, caption)


def pixel_figure(weights: torch.Tensor, pixel: int, shape: tuple[int, int],
                 head_labels: list[str], columns: int) -> BookFigure:
    """Each head's weights (heads, pixel + 1) of position ``pixel`` over the pixels before it,
    as images: weight j + 1 (position j + 1 reads pixel j) on pixel j; the start token's weight
    in the panel's title; later pixels grey."""
    heads = weights.shape[0]
    rows = -(-heads // columns)
    size = min(2.1, (WIDTH - 0.4) / columns)  # inches per panel
    fig = BookFigure(figsize=(size * columns + 0.2, (size + 0.7) * rows + 0.2))
    axes = np.atleast_2d(fig.subplots(rows, columns, squeeze=False))
    cmap = matplotlib.colormaps["Blues"].with_extremes(bad="#d9d9d9")
    r, c = divmod(pixel, shape[1])
    for h, ax in enumerate(axes.flat):
        ax.set_xticks([]), ax.set_yticks([])
        if h >= heads:
            ax.set_axis_off()
            continue
        image = np.full(shape[0] * shape[1], np.nan)
        image[:pixel] = weights[h, 1:pixel + 1].cpu().numpy()
        shown = np.ma.masked_invalid(image.reshape(shape))
        ax.imshow(shown, cmap=cmap, vmin=0, vmax=max(0.05, float(np.nanmax(image[:pixel]))
                                                      if pixel else 1.0))
        ax.add_patch(matplotlib.patches.Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False,
                                                  edgecolor="tab:red", linewidth=1.5))
        ax.set_title(f"{head_labels[h]}\nstart {float(weights[h, 0]):.2f}", fontsize=FONT)
    fig.tight_layout()
    return fig


def pixel_attention(model: PixelTransformer, x: torch.Tensor, pixels,
                    shape: tuple[int, int] = (28, 28), columns: int = 3) -> BookWidget:
    """Choose a pixel of the image ``x`` (one row): each head's attention weights over the
    pixels before it, each head's colour scale from 0 to its largest weight."""
    if not isinstance(model, PixelTransformer):
        raise TypeError(f"pixel_attention needs a PixelTransformer, got {type(model).__name__}")
    _check_image_model(model, shape, binary=True)
    columns = check_int("columns", columns)
    pixels = _check_values("pixels", pixels, 1, model.n - 1, integer=True)
    weights, heads = weights_by_position(model, x.reshape(1, -1))
    pictures = {p: _figure_png(pixel_figure(weights[0, :, p], p, shape, heads, columns))
                for p in pixels}
    start = pixels[len(pixels) // 2]
    labels = [f"{p} ({p // shape[1]}, {p % shape[1]})" for p in pixels]
    control = _choice("pixel (row, col)", labels, labels[pixels.index(start)])
    caption = (f"Each head's attention weights for pixel {start}; the widget offers "
               f"{len(pixels)} pixels.")
    return BookWidget([control, _linked([control], lambda k: _image(pictures[pixels[k[0]]]))],
                      pictures[start], caption)
