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


def spy_on_sampling(model, monkeypatch):
    calls = []
    sample = model.sample

    def recording(*args, **kwargs):
        out = sample(*args, **kwargs)
        calls.append((args, kwargs, out))
        return out

    monkeypatch.setattr(model, "sample", recording)
    return calls


def test_sampler_draws_with_its_controls(model, monkeypatch):
    drawn = []
    monkeypatch.setattr(widgets, "_show", lambda output, fig: drawn.append(fig))
    calls = spy_on_sampling(model, monkeypatch)
    box = widgets.sampler(model, SHAPE, max_samples=8)
    seed, temperature = box.children[0].children
    number, button = box.children[1].children
    assert len(drawn) == 1  # the first picture is drawn at once
    seed.value = 5
    button.click()  # the next seed
    temperature.value, number.value = 0.5, 3
    assert len(drawn) == 5
    args, kwargs, out = calls[-1]
    assert args == (3,) and kwargs == {"seed": 6, "temperature": 0.5} and out.shape == (3, 6)
    assert [c[1]["seed"] for c in calls] == [0, 5, 6, 6, 6]


def test_conditional_explorer_redraws(model, monkeypatch):
    drawn = []
    monkeypatch.setattr(widgets, "_show", lambda output, fig: drawn.append(fig))
    explorer = widgets.conditional_explorer(model, torch.tensor([1.0, 0, 1, 1, 0, 0]), SHAPE)
    explorer.children[0].value = 5
    assert len(drawn) == 2 and "x_6" in drawn[-1]._suptitle.get_text()


def test_completion_keeps_the_chosen_rows_of_the_chosen_image(model, monkeypatch):
    drawn = []
    monkeypatch.setattr(widgets, "_show", lambda output, fig: drawn.append(fig))
    calls = spy_on_sampling(model, monkeypatch)
    images = torch.bernoulli(torch.full((4, 6), 0.5), generator=torch.Generator().manual_seed(0))
    box = widgets.completion(model, images, SHAPE, completions=3)
    index, rows, seed = box.children[0].children
    rows.value, index.value, seed.value = 2, 3, 9
    rows.value = 1
    assert len(drawn) == 5
    _, kwargs, out = calls[-1]
    assert kwargs["seed"] == 9 and out.shape == (3, 6)
    kept = kwargs["mask"]
    assert kept.tolist() == [True, True, True, False, False, False]  # one row of width 3
    assert torch.equal(out[:, :3], images[3, :3].expand(3, 3))


def test_widgets_refuse_what_they_cannot_draw(model):
    with pytest.raises(ValueError, match="pixels"):
        widgets.sampler(model, (28, 28))
    with pytest.raises(TypeError, match="autoregressive model"):
        widgets.sampler(torch.nn.Linear(2, 2), SHAPE)
    with pytest.raises(TypeError, match="discrete autoregressive"):
        widgets.sampler(ar.RNADE(6), SHAPE)
    with pytest.raises(TypeError, match="binary autoregressive"):
        widgets.conditional_explorer(ar.SoftmaxNADE(6, 3), torch.zeros(6), SHAPE)
    with pytest.raises(ValueError, match="binary"):
        widgets.conditional_explorer(model, torch.full((6,), 0.5), SHAPE)


def test_size_explorer_counts_each_size_and_measures_the_chosen_one(monkeypatch):
    drawn = []
    monkeypatch.setattr(widgets, "_show", lambda output, fig: drawn.append(fig))
    data = torch.bernoulli(torch.full((30, 6), 0.5), generator=torch.Generator().manual_seed(0))
    box = widgets.size_explorer(lambda h: ar.NADE(6, hidden=h), [2, 4, 8], data,
                                reference=ar.FVSBN(6), batch_size=10)
    slider = box.children[0]
    assert slider.value == 4 and len(drawn) == 1
    assert "58 parameters at 4" in drawn[0].axes[0].get_title()  # 2·6·4 + 6 + 4
    slider.value = 8
    assert "110 parameters at 8" in drawn[1].axes[0].get_title()
    assert "examples/s at 8 (measured)" in drawn[1].axes[1].get_title()
    assert len(drawn[1].axes[1].lines[0].get_xdata()) == 2  # sizes 4 and 8 measured so far
    with pytest.raises(ValueError, match="increasing"):
        widgets.size_explorer(lambda h: ar.NADE(6, hidden=h), [4, 2], data)


def test_sampler_and_completion_draw_categorical_models_in_grey(monkeypatch):
    drawn = []
    monkeypatch.setattr(widgets, "_show", lambda output, fig: drawn.append(fig))
    model = randomize(ar.SoftmaxNADE(6, 4, hidden=3), seed=1)
    other = randomize(ar.SoftmaxNADE(6, 2, hidden=3), seed=2)
    box = widgets.sampler({4: model, 2: other}, SHAPE, label="K")
    box.children[0].value = 2
    assert "K 2" in drawn[-1].axes[0].get_title()
    images = torch.randint(0, 4, (3, 6), generator=torch.Generator().manual_seed(0))
    widgets.completion(model, images, SHAPE)
    assert len(drawn) == 3
    grey = drawn[0].axes[0].images[0].get_array()
    assert grey.min() >= 0 and grey.max() <= 1


def test_made_network_draws_every_kept_connection_and_the_connectivity():
    made = ar.MADE(5, (4, 3), natural_order=False, seed=2)
    fig = plot.made_network(made)
    net, conn = fig.axes
    kept = sum(int(layer.mask.sum()) for layer in made.layers)
    assert len(net.lines) == kept  # one line per connection the masks keep
    assert np.array_equal(conn.images[0].get_array(), made.connectivity().numpy())
    with pytest.raises(TypeError, match="draws a MADE"):
        plot.made_network(ar.NADE(5, 3))


def test_connectivity_explorer_rebuilds_the_network_from_its_controls(monkeypatch):
    drawn = []
    monkeypatch.setattr(widgets, "_show", lambda output, fig: drawn.append(fig))
    box = widgets.connectivity_explorer(n=6)
    seed, layers, units = box.children[0].children
    natural, connected, direct = box.children[1].children
    assert len(drawn) == 1 and len(drawn[0].axes[0].get_yticklabels()) == 4  # 2 hidden layers
    layers.value, units.value = 1, 2
    assert len(drawn[-1].axes[0].get_yticklabels()) == 3
    natural.value = True
    assert "ordering x1, x2, x3, x4, x5, x6" in drawn[-1].texts[0].get_text()
    connected.value = False
    found = False
    for s in range(40):  # two units over degrees 1..5: the plain draw loses outputs
        seed.value = s
        found = found or "outputs with no input" in drawn[-1].texts[0].get_text()
    assert found
    connected.value = True
    assert "every output after the first sees an input" in drawn[-1].texts[0].get_text()
    direct.value = True
    assert len(drawn) == 1 + 3 + 40 + 2
    with pytest.raises(ValueError, match="from 2 to 16"):
        widgets.connectivity_explorer(n=100)
    with pytest.raises(ValueError, match="max_units must be an int from 1 to 24"):
        widgets.connectivity_explorer(n=6, max_units=0)
