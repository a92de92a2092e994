"""Pictures and widgets for models of strings (:class:`~autoregressive.text.StringModel`), and a
drawing of the recurrent cells.

- :func:`cell_diagram`: the tanh cell beside the LSTM cell, the paths a state takes;
- :func:`next_character_figure`: p(next character | the first k letters of a name), as bars;
- :func:`completions`: typed beginnings continued by the model, for a choice of beginnings and
  temperatures;
- :func:`next_character`: a name read letter by letter, with the model's next-character
  distribution after each letter.

Both widgets offer finite choices: every frame is computed when the widget is built and linked
to its controls in the browser (as in :mod:`autoregressive.widgets`), so they respond on the
static website too, and each carries a static picture and a caption for viewers without widgets.
"""

from __future__ import annotations

import html

import ipywidgets as w
import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .base import check_int
from .plot import FONT, FULL_WIDTH, BookFigure
from .text import END, StringModel
from .widgets import BookWidget, _check_values, _choice, _figure_png, _image, _linked

# ---------------------------------------------------------------------------------------------
# The cells, drawn


def cell_diagram() -> BookFigure:
    """The tanh cell above the LSTM cell: what carries the state from t − 1 to t."""
    fig = BookFigure(figsize=(FULL_WIDTH, 7.6))
    left, right = fig.subplots(2, 1)
    for ax in (left, right):
        ax.set_xlim(0, 10), ax.set_ylim(0, 6.5), ax.axis("off")

    def box(ax, x, y, text, colour="#dde8f5", width=2.2, height=0.9):
        ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                    boxstyle="round,pad=0.05", fc=colour, ec="black"))
        ax.text(x, y, text, ha="center", va="center", fontsize=FONT)

    def arrow(ax, start, end, colour="black", width=1.5):
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14,
                                     color=colour, lw=width))

    def label(ax, x, y, text, **kwargs):
        ax.text(x, y, text, ha="center", va="center", fontsize=FONT, **kwargs)

    # tanh: h_{t-1} -> tanh(W_hh h + W_xh x) -> h_t, every step through W_hh and tanh
    label(left, 5, 6.2, "tanh cell", fontweight="bold")
    box(left, 5, 3, r"$\tanh(W_{hh} h_{t-1} + W_{xh} x_t)$", width=5.4)
    label(left, 0.7, 3, r"$h_{t-1}$"), label(left, 9.3, 3, r"$h_t$")
    label(left, 5, 0.6, r"$x_t$")
    arrow(left, (1.2, 3), (2.2, 3), "tab:red", 2.5), arrow(left, (7.8, 3), (8.8, 3), "tab:red", 2.5)
    arrow(left, (5, 0.9), (5, 2.45))
    label(left, 5, 5.55, r"the state is rewritten at every step", color="tab:red")

    # LSTM: c_{t-1} -> (x f) -> (+ i g) -> c_t along the top; h_t = o tanh(c_t)
    label(right, 5, 6.2, "LSTM cell", fontweight="bold")
    label(right, 5, 5.55, r"while $f_t \approx 1$, $c$ passes on", color="tab:red")
    label(right, 0.6, 4.4, r"$c_{t-1}$"), label(right, 9.4, 4.4, r"$c_t$")
    box(right, 3.2, 4.4, r"$\times f_t$", "#f5e3dd", width=1.3)
    box(right, 6.2, 4.4, r"$+\, i_t \odot g_t$", "#f5e3dd", width=2.0)
    arrow(right, (1.1, 4.4), (2.5, 4.4), "tab:red", 2.5)
    arrow(right, (3.9, 4.4), (5.15, 4.4), "tab:red", 2.5)
    arrow(right, (7.25, 4.4), (8.9, 4.4), "tab:red", 2.5)
    box(right, 4.6, 2.0, r"gates $f_t, i_t, o_t$; $g_t$", width=3.6)
    label(right, 0.6, 2.0, r"$h_{t-1}$"), label(right, 4.6, 0.5, r"$x_t$")
    arrow(right, (1.1, 2.0), (2.75, 2.0)), arrow(right, (4.6, 0.8), (4.6, 1.5))
    arrow(right, (3.6, 2.45), (3.2, 3.9)), arrow(right, (5.4, 2.45), (6.0, 3.9))
    box(right, 8.4, 2.0, r"$h_t = o_t \odot \tanh(c_t)$", width=2.9)
    arrow(right, (8.4, 4.1), (8.4, 2.5))
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------
# The next character


def _check_string_model(model) -> None:
    if not isinstance(model, StringModel):
        raise TypeError(f"this needs a model of strings (a StringModel), got "
                        f"{type(model).__name__}")


def _next_probabilities(model: StringModel, name: str) -> np.ndarray:
    """(len(name) + 1, K): p(next | the first k letters of name) for k = 0..len(name)."""
    x = model.vocabulary.encode([name], model.n)
    with torch.no_grad():
        return model.conditionals(x)[0, :len(name) + 1].double().cpu().numpy()


def next_character_figure(model: StringModel, name: str, k: int,
                          probabilities: np.ndarray | None = None) -> BookFigure:
    """Bars of p(next character | the first k letters of ``name``), the true next one in red."""
    _check_string_model(model)
    k = check_int("k", k, minimum=0, maximum=len(name))
    p = _next_probabilities(model, name)[k] if probabilities is None else probabilities
    labels = ["end"] + list(model.vocabulary.chars)
    actual = END if k == len(name) else model.vocabulary.ids[name[k]]
    fig = BookFigure(figsize=(FULL_WIDTH, 3.2))
    ax = fig.add_subplot()
    colours = ["tab:red" if j == actual else "tab:blue" for j in range(len(labels))]
    ax.bar(np.arange(len(labels)), p, color=colours)
    ax.set_xticks(np.arange(len(labels)), labels, fontsize=FONT)
    ax.get_xticklabels()[0].set_rotation(90)  # "end", in the width of a letter
    ax.set_ylim(0, 1)
    ax.set_ylabel(r"$p(x_{t+1} \mid x_{1:t})$", fontsize=FONT)
    ax.tick_params(axis="y", labelsize=FONT)
    read = name[:k] if k else "(nothing yet)"
    following = "end" if k == len(name) else name[k]
    ax.set_title(f"read: {read}; next in the name: {following} "
                 f"(p = {p[actual]:.3f})", fontsize=FONT)
    fig.tight_layout()
    return fig


def next_character(model: StringModel, names) -> BookWidget:
    """Choose one of ``names`` (1 to 6 strings) and a number of letters read: the model's
    distribution of the next character, the one the name actually has in red."""
    _check_string_model(model)
    names = list(names)
    if not 1 <= len(names) <= 6 or any(not isinstance(s, str) or not s for s in names):
        raise ValueError(f"names must be 1 to 6 non-empty strings, got {names!r}")
    model.vocabulary.encode(names, model.n)  # clear errors for unknown characters, long names
    longest = max(len(s) for s in names)
    frames = {}
    for j, name in enumerate(names):
        p = _next_probabilities(model, name)
        for k in range(len(name) + 1):
            frames[j, k] = _figure_png(next_character_figure(model, name, k, p[k]))
    chosen = _choice("name", names, slider=False)
    read = _choice("letters read", range(longest + 1))
    note = w.HTML("A slider position past the end of a shorter name shows its last step.")
    frame = _linked([chosen, read], lambda k: _image(frames[k[0], min(k[1], len(names[k[0]]))]))
    caption = (f"The next-character distribution before the first letter of {names[0]!r}; "
               f"the widget reads {len(names)} names letter by letter.")
    return BookWidget([chosen, read, note, frame], frames[0, 0], caption)


# ---------------------------------------------------------------------------------------------
# Completions of typed beginnings


def completions(model: StringModel, prefixes, *, temperatures=(0.5, 1.0, 1.5), num: int = 8,
                seed: int = 0) -> BookWidget:
    """``num`` continuations of each typed beginning in ``prefixes`` (1 to 8 strings, "" for
    none) at each temperature offered, drawn when the widget is built."""
    _check_string_model(model)
    prefixes = list(prefixes)
    if not 1 <= len(prefixes) <= 8 or any(not isinstance(s, str) for s in prefixes):
        raise ValueError(f"prefixes must be 1 to 8 strings, got {prefixes!r}")
    temperatures = _check_values("temperatures", temperatures, 1e-3, 100.0)
    num = check_int("num", num, maximum=24)
    drawn = {}
    for j, prefix in enumerate(prefixes):
        for t in temperatures:
            drawn[j, t] = model.complete([prefix] * num, seed=seed, temperature=t)

    def page(j, t):
        start = len(prefixes[j])
        rows = "<br>".join(f"<b>{html.escape(s[:start])}</b>{html.escape(s[start:])}"
                           for s in drawn[j, t])
        return f"<div style='font-family: monospace; font-size: 1.1em'>{rows}</div>"

    shown = [p if p else "(none)" for p in prefixes]
    chosen = _choice("beginning", shown, slider=False)
    start = 1.0 if 1.0 in temperatures else temperatures[0]
    temperature = _choice("temperature", temperatures, start)
    frame = _linked([chosen, temperature],
                    lambda k: w.HTML(page(k[0], temperatures[k[1]])))
    fig = BookFigure(figsize=(4, 0.32 * num + 0.6))
    ax = fig.add_subplot()
    ax.axis("off")
    ax.set_title(f"beginning {shown[0]}, temperature {start}", fontsize=FONT)
    ax.text(0, 1, "\n".join(drawn[0, start]), va="top", family="monospace", fontsize=FONT,
            transform=ax.transAxes)
    caption = (f"{num} continuations of {shown[0]!r} at temperature {start}; the widget offers "
               f"{len(prefixes)} beginnings and temperatures {temperatures[0]} to "
               f"{temperatures[-1]}.")
    return BookWidget([chosen, temperature, frame], _figure_png(fig), caption)
