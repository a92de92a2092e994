"""Pictures and widgets: the right layout, every control redraws, bad arguments are refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import autoregressive as ar
from autoregressive import plot, widgets
from helpers import randomize

SHAPE = (2, 3)


@pytest.fixture
def model():
    return randomize(ar.FVSBN(6), seed=0).eval()


def test_tile_places_each_image_in_reading_order():
    images = torch.arange(5.0)[:, None].expand(5, 6)  # image k is all k
    canvas = plot.tile(images, SHAPE, ncols=3, pad=1, pad_value=-1)
    assert canvas.shape == (2 * 2 + 1, 3 * 3 + 2)
    assert canvas[0, 0] == 0 and canvas[0, 4] == 1 and canvas[3, 0] == 3 and canvas[3, 4] == 4
    assert canvas[2, 0] == -1 and np.all(canvas[3:, 8:] == -1)  # padding, and the empty slot


def test_figures_show_themselves_as_png():
    fig = plot.image_grid(torch.rand(4, 784))
    assert fig._repr_png_().startswith(b"\x89PNG")
    assert plot.image_rows({"a": torch.rand(3, 6), "b": torch.rand(1, 6)}, SHAPE).axes
    assert plot.probability_map(torch.rand(1, 6), SHAPE)._repr_png_()


def test_plots_refuse_images_of_the_wrong_size():
    with pytest.raises(ValueError, match="shape"):
        plot.image_grid(torch.rand(4, 10))
    with pytest.raises(ValueError, match="one image"):
        plot.probability_map(torch.rand(2, 784))


def test_sampler_redraws_on_every_control(model, monkeypatch):
    drawn = []
    monkeypatch.setattr(widgets, "_show", lambda output, fig: drawn.append(fig))
    box = widgets.sampler(model, SHAPE, max_samples=8)
    seed, temperature = box.children[0].children
    number, button = box.children[1].children
    assert len(drawn) == 1  # the first picture is drawn at once
    seed.value = 5
    button.click()
    assert seed.value == 6 and len(drawn) == 3
    temperature.value, number.value = 0.5, 3
    assert len(drawn) == 5


def test_conditional_explorer_and_completion_redraw(model, monkeypatch):
    drawn = []
    monkeypatch.setattr(widgets, "_show", lambda output, fig: drawn.append(fig))
    explorer = widgets.conditional_explorer(model, torch.tensor([1.0, 0, 1, 1, 0, 0]), SHAPE)
    explorer.children[0].value = 5
    assert len(drawn) == 2
    box = widgets.completion(model, torch.bernoulli(torch.full((4, 6), 0.5)), SHAPE, completions=3)
    index, rows, seed = box.children[0].children
    rows.value, index.value, seed.value = 2, 3, 9
    assert len(drawn) == 2 + 4


def test_widgets_refuse_what_they_cannot_draw(model):
    with pytest.raises(ValueError, match="pixels"):
        widgets.sampler(model, (28, 28))
    with pytest.raises(TypeError, match="binary autoregressive"):
        widgets.sampler(torch.nn.Linear(2, 2), SHAPE)
    with pytest.raises(ValueError, match="binary"):
        widgets.conditional_explorer(model, torch.full((6,), 0.5), SHAPE)
