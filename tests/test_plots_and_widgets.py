"""Pictures and widgets: the right layout, every control redraws, bad arguments are refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
import ipywidgets as w
import torch

import autoregressive as ar
from autoregressive import attention, plot, rnn, widgets
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


def test_plots_refuse_an_empty_batch():
    with pytest.raises(ValueError, match="no images"):
        plot.image_grid(torch.zeros(0, 784))


def test_training_curves_mark_the_restored_epoch():
    history = ar.History(train_nll=[9.0, 7.0, 6.0], valid_nll=[8.0, 7.5, 7.7], best_epoch=1)
    ax = plot.training_curves({"a": history, "b": history}).axes[0]
    assert len(ax.lines) == 6  # train, validation and the restored epoch, per run
    dot = ax.lines[2]
    assert list(dot.get_xdata()) == [2] and list(dot.get_ydata()) == [7.5]
    with pytest.raises(ValueError, match="at least one epoch"):
        plot.training_curves(ar.History())


def test_cost_curves_report_the_growth_rate():
    sizes = [10, 20, 40, 80]
    fig = plot.cost_curves(sizes, {"square": [s**2 for s in sizes],
                                   "linear": [3 * s for s in sizes]})
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["square (slope 2.0)", "linear (slope 1.0)"]
    with pytest.raises(ValueError, match="one positive cost per size"):
        plot.cost_curves(sizes, {"bad": [1, 2]})


def test_completion_rows_keep_the_top_rows(model):
    images = torch.bernoulli(torch.full((2, 6), 0.5), generator=torch.Generator().manual_seed(0))
    fig = plot.completion_rows(model, images, rows_kept=1, completions=3, shape=SHAPE)
    axes = np.array(fig.axes).reshape(2, 5)
    for k in range(2):
        for ax in axes[k, 2:]:  # every completion keeps the observed top row
            assert np.array_equal(ax.images[0].get_array()[0], images[k, :3].numpy())
    with pytest.raises(ValueError, match="1 to 8 images"):
        plot.completion_rows(model, torch.zeros(9, 6), shape=SHAPE)


def test_seconds_over_sizes_times_each_size():
    calls = []
    seconds = ar.seconds_over_sizes(lambda n: lambda: calls.append(n), [1, 2], repeats=2)
    assert len(seconds) == 2 and calls == [1, 1, 1, 2, 2, 2]  # a warm-up, then 2 repeats


def test_multiply_adds_counts_each_models_products():
    n, h = 10, 8
    x = torch.bernoulli(torch.full((1, n), 0.5))
    made = ar.MADE(n, (h,))  # input -> hidden -> output, once per sequence, masks or not
    assert ar.multiply_adds(made, x) == 2 * n * h
    tanh = ar.BinaryRNN(n, hidden=h)  # n - 1 recurrent steps after h_0, n outputs
    steps = sum(p.numel() for p in tanh.recurrence.parameters() if p.dim() == 2)
    with torch.no_grad():  # counted the same inside no_grad
        assert ar.multiply_adds(tanh, x) == (n - 1) * steps + n * h
    lstm = rnn.CharRNN("abc", 4, hidden=h, cell="lstm")  # four gates per step
    names = torch.zeros(1, lstm.n, dtype=torch.long)
    inputs, outputs = lstm.recurrence.rnn.input_size, lstm.output.out_features
    assert ar.multiply_adds(lstm, names) == ((lstm.n - 1) * 4 * h * (inputs + h)
                                             + lstm.n * h * outputs)
    assert all(p.requires_grad for p in lstm.parameters())  # the model itself is untouched
    decoder = attention.Transformer("abc", 4, width=h, heads=2, layers=2)
    per_position = sum(m.in_features * m.out_features for m in decoder.modules()
                       if isinstance(m, torch.nn.Linear))
    # and the CPU's attention kernel: queries . keys and weights . values, in each layer
    assert ar.multiply_adds(decoder, names) == (decoder.n * per_position
                                                + 2 * 2 * decoder.n ** 2 * h)
    with pytest.raises(TypeError, match="tensor"):
        ar.multiply_adds(made, [0] * n)


# -- widgets: every picture precomputed, each control linked to its pictures in the browser ----


def links_from(box, control):
    """The browser-side links that carry ``control``'s index to stacks of pictures."""
    return [link for link in box.children[-1].links if link.source == (control, "index")]


def shown(box, controls):
    """What the browser shows: each link copies its control's index into its stack."""
    for control in controls:
        for link in links_from(box, control):
            assert link.target[1] == "selected_index"
            link.target[0].selected_index = control.index
    view = box.children[-1]
    while isinstance(view, w.Stack):
        view = view.children[view.selected_index]
    if isinstance(view, w.VBox):  # a caption above the picture
        return view.children[-1].value, view.children[0].value
    return view.value, None


def picture(model, x, ncols):
    return widgets._pixels_png(plot.tile(plot.grey(model, x), SHAPE, ncols),
                               scale=widgets._scale(SHAPE))


def test_sampler_links_every_temperature_and_seed_to_its_samples(model):
    box = widgets.sampler(model, SHAPE, seeds=(3, 5), temperatures=(0.5, 1.0), num=4)
    temperature, seed = box.children[0], box.children[1]
    assert temperature.value == "1.0" and seed.value == "3"
    assert len(links_from(box, temperature)) == 1 and len(links_from(box, seed)) == 2
    for t_index, t in enumerate((0.5, 1.0)):
        for s_index, s in enumerate((3, 5)):
            temperature.index, seed.index = t_index, s_index
            expected = picture(model, model.sample(4, seed=s, temperature=t), ncols=2)
            assert shown(box, [temperature, seed])[0] == expected
    bundle = box._repr_mimebundle_()
    assert bundle["image/png"] and "temperature 1.0" in bundle["text/plain"]
    assert "VBox" not in bundle["text/plain"]  # a caption, not a repr, for GitHub


def test_sampler_chooses_among_several_models_in_grey():
    model = randomize(ar.SoftmaxNADE(6, 4, hidden=3), seed=1)
    other = randomize(ar.SoftmaxNADE(6, 2, hidden=3), seed=2)
    box = widgets.sampler({4: model, 2: other}, SHAPE, label="K", seeds=(0,), temperatures=(1.0,))
    choice, temperature, seed = box.children[:3]
    choice.index = 1
    expected = picture(other, other.sample(16, seed=0), ncols=4)
    assert shown(box, [choice, temperature, seed])[0] == expected
    assert plot.grey(model, torch.tensor([[3]])).item() == 1.0  # K - 1 is white


def test_conditional_explorer_steps_along_the_order(model):
    image = torch.tensor([1.0, 0, 1, 1, 0, 0])
    box = widgets.conditional_explorer(model, image, SHAPE, steps=6)
    step = box.children[0]
    step.index = len(step.options) - 1
    _, caption = shown(box, [step])
    p = model.conditionals(image[None])[0, 5].item()
    assert f"pixel 6 " in caption and f"{p:.3f}" in caption
    with pytest.raises(ValueError, match="steps must be an int"):
        widgets.conditional_explorer(model, image, SHAPE, steps=1000)


def test_completion_links_the_chosen_image_and_rows(model):
    images = torch.bernoulli(torch.full((4, 6), 0.5), generator=torch.Generator().manual_seed(0))
    box = widgets.completion(model, images, SHAPE, rows=(1, 2), completions=3, seed=9)
    image, rows = box.children[0], box.children[1]
    image.index, rows.index = 3, 0
    keep = torch.tensor([True, True, True, False, False, False])  # one row of width 3
    filled = model.sample(x=images.repeat_interleave(3, dim=0), mask=keep, seed=9)[9:12]
    shown_part = images[3:4].clone()
    shown_part[0, ~keep] = 0.5
    row = torch.cat([images[3:4], shown_part, filled])
    expected = widgets._pixels_png(plot.tile(row, SHAPE, ncols=5, pad=2),
                                   scale=widgets._scale(SHAPE))
    assert shown(box, [image, rows])[0] == expected
    assert torch.equal(filled[:, :3], images[3, :3].expand(3, 3))
    with pytest.raises(ValueError, match="1 to 8 images"):
        widgets.completion(model, torch.zeros(100, 6), SHAPE)


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
    with pytest.raises(ValueError, match="temperatures must hold numbers"):
        widgets.sampler(model, SHAPE, temperatures=(0.0, 1.0))
    with pytest.raises(ValueError, match="seeds must not repeat"):
        widgets.sampler(model, SHAPE, seeds=(1, 1))


def test_size_explorer_measures_every_size_in_advance():
    data = torch.bernoulli(torch.full((30, 6), 0.5), generator=torch.Generator().manual_seed(0))
    box = widgets.size_explorer(lambda h: ar.NADE(6, hidden=h), [2, 4, 8], data,
                                reference=ar.FVSBN(6), batch_size=10)
    slider = box.children[0]
    assert slider.value == "4" and len(links_from(box, slider)) == 1
    pictures = [leaf.value for leaf in box.children[1].children]
    assert len(set(pictures)) == 3  # one picture per size
    with pytest.raises(ValueError, match="increasing"):
        widgets.size_explorer(lambda h: ar.NADE(6, hidden=h), [4, 2], data)


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
    notice, seed, layers, units = box.children[:4]
    natural, connected, direct = box.children[4].children
    assert "Needs a running Python kernel" in notice.value
    assert len(drawn) == 1 and len(drawn[0].axes[0].get_yticklabels()) == 4  # 2 hidden layers
    layers.value, units.value = 1, 2
    assert len(drawn[-1].axes[0].get_yticklabels()) == 3
    natural.value = True
    assert "ordering $x_{1}$, $x_{2}$, $x_{3}$, $x_{4}$" in drawn[-1].texts[0].get_text()
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


def test_a_whole_number_temperature_is_the_same_choice(model):
    box = widgets.sampler(model, SHAPE, seeds=(0,), temperatures=(0.5, 1, 1.5), num=2)
    assert box.children[0].value == "1"  # starts at temperature 1, given as an int


def test_the_static_picture_carries_the_caption_as_its_title():
    """GitHub and nbviewer show the PNG, not the text: the caption is written above the picture,
    which keeps its own pixels below the caption band."""
    import base64
    import io

    import matplotlib.image

    canvas = np.zeros((20, 30))
    canvas[5:15, 10:20] = 1
    png = widgets._pixels_png(canvas, 4)
    box = widgets.BookWidget([], png, "a caption that says what the first frame shows")
    titled = base64.b64decode(box._repr_mimebundle_()["image/png"])
    image = matplotlib.image.imread(io.BytesIO(titled), format="png")
    original = matplotlib.image.imread(io.BytesIO(png), format="png")
    band = image.shape[0] - original.shape[0]
    assert image.shape[1] == original.shape[1] and band > 14  # wider text wraps into lines
    np.testing.assert_allclose(image[band:, :, :3], original[:, :, :3], atol=1 / 255)
    assert (image[:band, :, :3] < 0.5).any(), "the caption band holds dark text"
    with pytest.raises(ValueError, match="caption"):
        widgets.BookWidget([], png, "  ")


def test_only_the_connectivity_explorer_is_marked_as_needing_a_kernel(model):
    assert "ar-needs-kernel" in widgets.connectivity_explorer(n=4)._dom_classes
    assert "ar-needs-kernel" not in widgets.sampler(model, SHAPE, seeds=(0,),
                                                    temperatures=(1.0,), num=2)._dom_classes


def _history(epochs=4):
    nll = [100.0 - k for k in range(epochs)]
    return ar.History(train_nll=nll, valid_nll=[v + 1 for v in nll], best_epoch=epochs - 1)


def _library_figures():
    """Every figure the library draws, at the largest sizes the chapters ask of it."""
    from autoregressive import attention_widgets as aw, rnn, sequence_widgets as sw

    gen = torch.Generator().manual_seed(0)
    images = torch.rand(10, 784, generator=gen)
    names = rnn.CharRNN("abcdefghijklmnopqrstuvwxyz", 13, hidden=8)
    fields = {k: torch.rand(28, 28, generator=gen) for k in "ABCD"}
    heads = [f"block {b}, head {h}" for b in (1, 2) for h in (1, 2, 3, 4)]
    weights = torch.rand(8, 785, generator=gen)
    return {
        "image_grid": lambda: plot.image_grid(images[:8], ncols=8, title="samples"),
        "image_rows": lambda: plot.image_rows({f"$T = {t}$": images for t in (0.5, 1.5)}),
        "completion_rows": lambda: plot.completion_rows(
            randomize(ar.FVSBN(784), seed=0), torch.bernoulli(images[:2]), completions=8),
        "probability_map": lambda: plot.probability_map(images[:1], title="p"),
        "made_network": lambda: plot.made_network(ar.MADE(12, (12, 12), seed=1)),
        "training_curves": lambda: plot.training_curves({k: _history() for k in "ABCD"},
                                                        title="runs"),
        "cost_curves": lambda: plot.cost_curves([1, 2, 4], {"a": [1, 2, 4], "b": [1, 4, 16]},
                                                title="cost"),
        "conv_masks": lambda: plot.conv_masks(7),
        "skewing": lambda: plot.skewing(9, 9),
        "receptive_fields": lambda: plot.receptive_fields(fields, (14, 14)),
        "cell_diagram": sw.cell_diagram,
        "next_character": lambda: sw.next_character_figure(names, "maria", 2),
        "attention": lambda: aw.attention_figure(torch.rand(8, 14, generator=gen),
                                                 list("<catherinesmit"), heads, "title"),
        "pixel_attention": lambda: aw.pixel_figure(weights, 400, (28, 28), heads, 3),
    }


@pytest.mark.parametrize("name", list(_library_figures()))
def test_every_figure_reads_on_a_phone(name):
    """At most plot.WIDTH inches wide (at 100 dpi for the text, 80 for widget frames), no text
    under plot.FONT points: at least 9 CSS px where a phone shrinks it to its column."""
    fig = _library_figures()[name]()
    for dpi in (100, 80):
        png = fig.png(dpi=dpi)
        assert plot.phone_text_px(png) >= plot.PHONE_TEXT_PX, (name, dpi, plot.phone_text_px(png))


def test_figure_png_declares_the_smallest_text_drawn():
    fig, (left, right) = plot.subplots(1, 2, figsize=(4, 2))
    left.set_title("twelve", fontsize=12)
    right.set_title("eighteen", fontsize=18)
    right.text(0, 0, "seven, hidden", fontsize=7, visible=False)
    right.set_axis_off()  # its tick labels are not drawn
    right.tick_params(labelsize=5)
    left.tick_params(labelsize=14)
    png = fig.png()
    assert Image.open(io.BytesIO(png)).info["smallest_font_pt"] == "12"
    px = plot.phone_text_px(png, column=10_000)  # shown at its own size
    assert px == pytest.approx(12 * 100 / 72, rel=1e-3)
    with pytest.raises(ValueError, match="at most 6.2 inches"):
        plot.subplots(figsize=(9, 3))


def test_a_picture_of_pixels_says_it_holds_no_text():
    png = widgets._pixels_png(np.zeros((2, 2)), scale=3)
    assert Image.open(io.BytesIO(png)).info["drawn_text"] == "none"
    assert plot.phone_text_px(png) is None


def test_the_static_picture_keeps_its_caption_legible_on_a_phone():
    wide = plot.training_curves(_history()).png()  # over 600 px: a 14-px caption would shrink
    assert plot.smallest_text(wide)[1] > 600      # to under 9 px in a phone's column
    titled = widgets.captioned_png(wide, "a caption long enough to wrap over a line or two, "
                                         "as the chapters' captions do")
    assert plot.phone_text_px(titled) >= plot.PHONE_TEXT_PX


def test_the_widgets_pictures_read_on_a_phone():
    data = torch.bernoulli(torch.full((30, 6), 0.5), generator=torch.Generator().manual_seed(0))
    sizes = widgets.size_explorer(lambda h: ar.NADE(6, hidden=h), [2, 4], data, batch_size=10,
                                  reference=ar.FVSBN(6))
    for box in (widgets.connectivity_explorer(n=12, max_units=12), sizes):
        assert plot.phone_text_px(box._picture) >= plot.PHONE_TEXT_PX


def test_a_figure_shows_its_text_sizes_whatever_printer_pyplot_registered(monkeypatch):
    """In a notebook, pyplot's inline backend registers a PNG printer for every matplotlib
    Figure; a BookFigure shows itself through png() anyway, text chunk included."""
    import base64

    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda data, raw: shown.append(data))
    plot.training_curves(_history())._ipython_display_()
    png = base64.b64decode(shown[0]["image/png"])
    assert Image.open(io.BytesIO(png)).info["smallest_font_pt"] == "12"
    blank = plot.image_grid(torch.rand(4, 784))  # no title: nothing to read
    assert Image.open(io.BytesIO(blank.png())).info["drawn_text"] == "none"
