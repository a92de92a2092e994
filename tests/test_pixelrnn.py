"""PixelCNN, Row LSTM, Diagonal BiLSTM and the gated PixelCNN: each conditional reads only earlier pixels (and, in
colour, only the earlier channels of its own pixel), the receptive fields have the shapes that
the geometry of each layer predicts, the LSTM layers equal their equations in a loop, the
distributions normalise, sampling draws the exact probabilities, and bad inputs are refused."""

from __future__ import annotations

import pytest
import torch

import autoregressive as ar
from autoregressive import pixelrnn
from autoregressive.layers import MaskedConv2d, channel_groups
from autoregressive.pixelrnn import DiagonalBiLSTM, PixelCNNBlock, RowLSTM
from helpers import CHI2_999, all_binary, chi_square, codes, randomize

KINDS = ["pixelcnn", "row_lstm", "diagonal_bilstm", "gated_pixelcnn"]
# (kind, channel_order) for colour: the gated PixelCNN models a pixel's channels without order
COLOUR = [(kind, order) for kind in KINDS for order in (True, False)
          if not (kind == "gated_pixelcnn" and order)]


def binary_model(height, width, kind, layers=1, hidden=12, features=12, seed=0, scale=0.4):
    model = ar.PixelRNN(height, width, kind, hidden=hidden, layers=layers,
                        output_features=features)
    return randomize(model, seed=seed, scale=scale).double()


def colour_model(height, width, kind, levels=4, channel_order=None, layers=1, hidden=12,
                 features=12, seed=0, scale=0.4):
    if channel_order is None:  # R -> G -> B where the kind has it
        channel_order = kind != "gated_pixelcnn"
    model = ar.ColourPixelRNN(height, width, levels=levels, kind=kind, hidden=hidden,
                              layers=layers, output_features=features,
                              channel_order=channel_order)
    return randomize(model, seed=seed, scale=scale).double()


def random_values(model, rows, seed):
    """(rows, n) values of the model's support: 0./1. for binary, 0..levels-1 for colour."""
    g = torch.Generator().manual_seed(seed)
    levels = getattr(model, "levels", 2)
    x = torch.randint(0, levels, (rows, model.n), generator=g)
    return x.double() if isinstance(model, ar.PixelRNN) else x


def dependence(model, d, images=16, seed=0):
    """(n,) bool: which inputs (in the flat raster, channel-minor order) the logits of
    dimension d depend on anywhere among ``images`` random inputs (a union, since a ReLU
    switched off at one input can cut a path that exists)."""
    g = torch.Generator().manual_seed(seed)
    x = random_values(model, images, seed)
    image = model.network_input(model._prepare(x)).detach().requires_grad_(True)
    logits = model.logits_from_image(image)[:, d]  # (B,) or (B, K)
    if logits.dim() == 2:  # a random mixture of the K logits (no cancellation by chance)
        logits = logits @ torch.randn(logits.shape[1], generator=g, dtype=logits.dtype)
    (grad,) = torch.autograd.grad(logits.sum(), image)
    return (grad != 0).any(dim=0).permute(1, 2, 0).reshape(-1)  # (C, H, W) -> flat order


def pixel_field(model, row, col, images=16, seed=0):
    """(H, W) bool: the pixels that the conditional of pixel (row, col) reads."""
    d = (row * model.width + col) * model.channels
    seen = dependence(model, d, images, seed).view(model.height, model.width, model.channels)
    return seen.any(dim=-1)


# ---------------------------------------------------------------------------------------------
# Each conditional reads the past alone


@pytest.mark.parametrize("kind", KINDS)
def test_binary_logit_d_depends_only_on_earlier_pixels(kind):
    model = binary_model(4, 5, kind, layers=2, seed=1)
    for d in range(model.n):
        seen = dependence(model, d)
        assert not seen[d:].any(), f"logit {d} reads pixel {d + int(seen[d:].nonzero()[0])}"
        # and it reads every earlier pixel inside the 7 × 7 mask-A window of the first layer,
        # which reaches every later layer through the residual connections
        r, c = divmod(d, model.width)
        window = [(r2 * model.width + c2) for r2 in range(max(r - 3, 0), r + 1)
                  for c2 in range(max(c - 3, 0), min(c + 4, model.width))
                  if (r2, c2) < (r, c)]
        assert seen[window].all(), f"logit {d} misses a pixel of its first-layer window"


@pytest.mark.parametrize("kind, channel_order", COLOUR)
def test_colour_logit_depends_on_earlier_pixels_and_earlier_channels_only(kind, channel_order):
    model = colour_model(3, 3, kind, channel_order=channel_order, seed=2)
    for d in range(model.n):
        seen = dependence(model, d)
        pixel, channel = divmod(d, 3)
        start = 3 * pixel  # the R value of this pixel
        assert not seen[d:].any(), f"logit {d} reads input {d + int(seen[d:].nonzero()[0])}"
        assert seen[:start].all(), f"logit {d} misses an earlier pixel"  # 3 × 3: all in reach
        own = seen[start:d]  # the earlier channels of its own pixel
        if channel_order:  # G reads R; B reads R and G
            assert own.all(), f"channel {channel} of pixel {pixel} misses an earlier channel"
        else:  # no channel reads its own pixel
            assert not own.any(), f"channel {channel} of pixel {pixel} reads its own pixel"


@pytest.mark.parametrize("kind", KINDS)
def test_changing_a_later_value_moves_no_earlier_logit(kind):
    for model in (binary_model(4, 5, kind, layers=2, seed=3),
                  colour_model(2, 3, kind, levels=4, seed=4)):
        x = random_values(model, 3, seed=5)
        before = model.logits(x)
        for j in range(model.n):
            changed = x.clone()
            if isinstance(model, ar.PixelRNN):
                changed[:, j] = 1 - changed[:, j]
            else:
                changed[:, j] = (changed[:, j] + 1) % model.levels
            after = model.logits(changed)
            # float64: a leak moves a logit by far more than 1e-12, and rounding (a
            # convolution algorithm may mix masked inputs in before the weights zero them)
            # by far less
            torch.testing.assert_close(after[:, :j + 1], before[:, :j + 1], rtol=0, atol=1e-12,
                                       msg=f"x_{j} moves a logit <= {j}")
            later = j + 1  # but some later one moves: the next dimension's on
            if isinstance(model, ar.ColourPixelRNN) and not model.channel_order:
                later = (j // model.channels + 1) * model.channels  # the next pixel's
            if later < model.n:
                assert (after[:, later:] - before[:, later:]).abs().max() > 1e-6, f"x_{j} unread"


# ---------------------------------------------------------------------------------------------
# Receptive fields: what each architecture reads, from the geometry of its layers


def first_layer_window(r, c):
    """The pixels that the 7 × 7 mask-A convolution at (r, c) reads."""
    return {(r + dr, c + dc) for dr in range(-3, 1) for dc in range(-3, 4)
            if dr < 0 or dc < 0}


def layer_reads(kind, r, c, height, width):
    """The positions of a layer's input that its output at (r, c) reads (the residual
    connection and mask B let every layer read its own position)."""
    if kind == "pixelcnn":  # a 3 × 3 mask-B convolution between two 1 × 1 ones
        return {(r, c), (r, c - 1), (r - 1, c - 1), (r - 1, c), (r - 1, c + 1)}
    if kind == "row_lstm":
        # the state at (r', c') reads the states (r' - 1, c' - 1..c' + 1) of the row above, so
        # (r, c) reaches the states |c' - c| <= r - r' (a triangle); each state reads the
        # input at (r', c' - 1) and (r', c')
        states = {(r2, c2) for r2 in range(r + 1) for c2 in range(width)
                  if abs(c2 - c) <= r - r2}
        return {(r, c)} | {(r2, c3) for r2, c2 in states for c3 in (c2 - 1, c2)}
    # diagonal_bilstm: the left-to-right state at (r, c) reads the states to its left and
    # above, hence every position (r' <= r, c' <= c); the right-to-left one, shifted down a
    # row, is the state at (r - 1, c), which reads every position (r' <= r - 1, c' >= c)
    return ({(r2, c2) for r2 in range(r + 1) for c2 in range(c + 1)}
            | {(r2, c2) for r2 in range(r) for c2 in range(c, width)})


def geometric_field(kind, layers, height, width, row, col):
    """(H, W) bool: the pixels that the conditional of pixel (row, col) reads, by composing
    the layers' reads (the output layers are 1 × 1: they read the pixel's own position)."""
    positions = {(row, col)}
    for _ in range(layers):
        positions = set().union(*(layer_reads(kind, r, c, height, width) for r, c in positions))
    pixels = set().union(*(first_layer_window(r, c) for r, c in positions))
    field = torch.zeros(height, width, dtype=torch.bool)
    for r, c in pixels:
        if 0 <= r < height and 0 <= c < width:
            field[r, c] = True
    return field


@pytest.mark.parametrize("kind, layers", [("pixelcnn", 2), ("pixelcnn", 3), ("row_lstm", 1),
                                          ("row_lstm", 2), ("diagonal_bilstm", 1),
                                          ("diagonal_bilstm", 2)])
def test_receptive_fields_are_the_geometric_ones(kind, layers):
    model = binary_model(6, 9, kind, layers=layers, seed=6)
    for row in range(model.height):
        for col in range(model.width):
            expected = geometric_field(kind, layers, model.height, model.width, row, col)
            assert torch.equal(pixel_field(model, row, col), expected), f"pixel ({row}, {col})"


def gated_field(layers, height, width, row, col):
    """(H, W) bool: the gated PixelCNN's field (first kernel 7, later kernels 3). The vertical
    stack after l of its layers reads rows r - 3 - l .. r, columns ± (3 + l); shifted down a
    row, it reaches the horizontal stack, which spreads it over columns c - (layers - l) .. c.
    So: the rectangle of rows r - 4 - layers .. r - 1 and columns c ± (3 + layers), and in the
    pixel's own row the columns c - 4 - layers .. c - 1."""
    field = torch.zeros(height, width, dtype=torch.bool)
    top, reach = max(row - 4 - layers, 0), 3 + layers
    field[top:row, max(col - reach, 0):col + reach + 1] = True
    field[row, max(col - 4 - layers, 0):col] = True
    return field


@pytest.mark.parametrize("layers", [1, 2])
def test_the_gated_pixelcnn_field_is_its_geometric_rectangle(layers):
    model = binary_model(9, 14, "gated_pixelcnn", layers=layers, seed=6)
    for row in range(model.height):
        for col in range(model.width):
            expected = gated_field(layers, model.height, model.width, row, col)
            assert torch.equal(pixel_field(model, row, col), expected), f"pixel ({row}, {col})"


def test_the_gated_pixelcnn_reads_the_pixelcnns_blind_spot():
    # the target and sizes of the blind-spot test below: the two stacks read (4, 5), (4, 6)
    # and (3, 6), which no stack of masked 3 x 3 convolutions reaches
    gated = pixel_field(binary_model(6, 8, "gated_pixelcnn", layers=2, seed=8), 5, 1)
    assert gated[4, 5] and gated[4, 6] and gated[3, 6]
    assert not gated[5, 1:].any()


def test_the_gated_pixelcnn_refuses_an_order_inside_a_pixel():
    with pytest.raises(ValueError, match="channel_order=False"):
        ar.ColourPixelRNN(4, 4, levels=4, kind="gated_pixelcnn", hidden=6,
                          output_features=6, channel_order=True)


def test_the_row_lstm_sees_a_triangle_and_the_diagonal_bilstm_sees_beyond_it():
    # 6 × 12, one layer: the triangle above (5, 0) widens by one column a row (plus the first
    # layer's 3 columns), reaching column 3 + 4 = 7 in row 0, so (0, 11) lies outside it.
    row_lstm = pixel_field(binary_model(6, 12, "row_lstm", seed=7), 5, 0)
    diagonal = pixel_field(binary_model(6, 12, "diagonal_bilstm", seed=7), 5, 0)
    assert not row_lstm[0, 11] and row_lstm[0, 7] and not row_lstm[0, 8]
    assert diagonal[0, 11]
    for field in (row_lstm, diagonal):
        assert not field[5, 1:].any()  # never its own row's right-hand pixels


def test_the_pixelcnn_has_a_blind_spot_above_right_that_the_diagonal_bilstm_sees():
    # Two 3 × 3 mask-B blocks after the 7 × 7 mask-A layer: the target (5, 1) reads the
    # first layer at (4, 2) and (3, 3) at most to the upper right, whose windows reach columns
    # c + 3 = 4 in row 4, c + 4 = 5 in row 3 and c + 5 = 6 in rows 0-2. So the bounding box of
    # the receptive field runs to column 6 and row 4, yet (4, 5) (and (4, 6), (3, 6)) is not
    # read: in row 4 only the first layer at (5, *) reads, three columns to the right at most.
    pixelcnn = pixel_field(binary_model(6, 8, "pixelcnn", layers=2, seed=8), 5, 1)
    diagonal = pixel_field(binary_model(6, 8, "diagonal_bilstm", seed=8), 5, 1)
    assert pixelcnn[4, 4] and pixelcnn[3, 5] and pixelcnn[2, 6]  # the bounding box
    assert not pixelcnn[4, 5] and not pixelcnn[4, 6] and not pixelcnn[3, 6]  # the blind spot
    assert diagonal[4, 5] and diagonal[4, 6] and diagonal[3, 6]


def test_the_diagonal_bilstm_reads_above_right_through_its_right_to_left_stream():
    # 5 × 6, one layer: the target (2, 0) reads (1, 4), four columns to the right in the row
    # above: beyond the first layer's reach (three columns), so only the right-to-left LSTM,
    # shifted down one row, carries it. Silence that direction and the dependence is gone.
    model = binary_model(5, 6, "diagonal_bilstm", seed=9)
    assert pixel_field(model, 2, 0)[1, 4]
    layer = model.network.layers[0]
    with torch.no_grad():
        layer.input_to_state.weight[4 * layer.hidden:] = 0  # right-to-left input weights
    field = pixel_field(model, 2, 0)
    assert not field[1, 4]
    assert field[1, 3] and field[0, 3]  # the first layer and the left-to-right LSTM still read


def test_the_diagonal_bilstm_misses_the_last_pixel_of_the_row_above():
    # The right-to-left stream reads the first layer's features of row r - 1, and the feature
    # at (r - 1, W - 1) excludes its own pixel (mask A); so (r - 1, W - 1) reaches (r, c) only
    # through the first layer at row r itself, within three columns: never when c < W - 4,
    # however many layers (the paper's construction; "everything above" but for this pixel).
    for layers in (1, 3):
        model = binary_model(4, 8, "diagonal_bilstm", layers=layers, seed=10)
        for col in range(8):
            field = pixel_field(model, 3, col)
            assert field[:2].all() and field[3, :col].all() and field[2, :7].all()
            assert bool(field[2, 7]) == (col >= 4), f"({3}, {col}), {layers} layers"


def test_receptive_field_method_is_the_gradient_of_the_log_conditional():
    model = colour_model(3, 4, "row_lstm", seed=11)
    x = random_values(model, 1, seed=12)
    image = model.network_input(x).requires_grad_(True)
    d = (2 * 4 + 1) * 3 + 2  # the B value of pixel (2, 1)
    log_p = torch.log_softmax(model.logits_from_image(image)[0, d], dim=-1)[x[0, d]]
    (grad,) = torch.autograd.grad(log_p, image)
    field = model.receptive_field(x[0], 2, 1, channel=2)
    torch.testing.assert_close(field, grad[0].abs().permute(1, 2, 0))
    assert field.shape == (3, 4, 3) and field[2, 1, :2].gt(0).all() and field[2, 1, 2] == 0
    with pytest.raises(ValueError, match="row must be an int from 0 to 2"):
        model.receptive_field(x[0], 3, 0)


# ---------------------------------------------------------------------------------------------
# Skewing


@pytest.mark.parametrize("height, width", [(1, 1), (1, 4), (4, 1), (3, 5), (5, 3), (4, 4)])
def test_skew_puts_each_diagonal_in_a_column_and_unskew_inverts_it(height, width):
    x = torch.randn(2, 3, height, width, generator=torch.Generator().manual_seed(13))
    skewed = pixelrnn.skew(x)
    assert skewed.shape == (2, 3, height, width + height - 1)
    expected = torch.zeros_like(skewed)
    for r in range(height):
        for c in range(width):
            expected[..., r, r + c] = x[..., r, c]  # pixel (r, c) in column r + c
    assert torch.equal(skewed, expected)
    assert torch.equal(pixelrnn.unskew(skewed), x)


# ---------------------------------------------------------------------------------------------
# The LSTM layers equal their equations


def lstm_step(pre, c_prev, hidden):
    """(B, 4h) pre-activations in the order (o, f, i, g) and the previous cell -> (h, c)."""
    o, f, i, g = pre.view(-1, 4, hidden).unbind(1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def masked(conv):
    return conv.mask * conv.weight


def row_lstm_by_loops(layer, x):
    """Row by row, pixel by pixel: the state at (r, c) from the input at (r, c - 1), (r, c) and
    the hidden states of (r - 1, c - 1), (r - 1, c), (r - 1, c + 1); zero above the first row."""
    b, _, height, width = x.shape
    h_units = layer.hidden
    w_in, b_in = masked(layer.input_to_state), layer.input_to_state.bias  # (4h, 2h, 1, 3)
    w_ss, b_ss = layer.state_to_state.weight, layer.state_to_state.bias  # (4h, h, 3)
    zero = x.new_zeros(b, h_units)
    h_above, c_above = [zero] * width, [zero] * width
    rows = []
    for r in range(height):
        h_row, c_row = [], []
        for c in range(width):
            pre = b_in + b_ss
            for tap, c2 in ((0, c - 1), (1, c)):  # the row so far; the tap at c + 1 is masked
                if c2 >= 0:
                    pre = pre + x[:, :, r, c2] @ w_in[:, :, 0, tap].T
            for tap, c2 in ((0, c - 1), (1, c), (2, c + 1)):  # the row above
                if 0 <= c2 < width:
                    pre = pre + h_above[c2] @ w_ss[:, :, tap].T
            h, cell = lstm_step(pre, c_above[c], h_units)
            h_row.append(h)
            c_row.append(cell)
        h_above, c_above = h_row, c_row
        rows.append(torch.stack(h_row, dim=-1))  # (B, h, W)
    states = torch.stack(rows, dim=2)  # (B, h, H, W)
    return torch.einsum("oi,bihw->bohw", masked(layer.up)[:, :, 0, 0], states) \
        + layer.up.bias[:, None, None]


def diagonal_lstm_by_loops(layer, x):
    """Both directions diagonal by diagonal, pixel by pixel, in the skewed frame where pixel
    (r, c) sits at column j = r + c (the padding positions of that frame, input zero, are
    stepped through too): the state at (r, j) from the input there and the hidden states at
    (r, j - 1) (the pixel to the left) and (r - 1, j - 1) (the pixel above); zero before the
    first column and above the first row. The right-to-left pass runs on the image flipped
    left-right; its map is flipped back and shifted down one row, then the two are added."""
    b, _, height, width = x.shape
    h_units = layer.hidden
    w_in, b_in = masked(layer.input_to_state)[:, :, 0, 0], layer.input_to_state.bias  # (8h, 2h)
    w_ss, b_ss = layer.state_to_state.weight, layer.state_to_state.bias  # (8h, h, 2)
    maps = []
    for direction, image in enumerate((x, x.flip(-1))):
        part = slice(4 * h_units * direction, 4 * h_units * (direction + 1))
        zero = x.new_zeros(b, h_units)
        h = [[zero] * (width + height - 1) for _ in range(height)]
        cell = [[zero] * (width + height - 1) for _ in range(height)]
        for j in range(width + height - 1):  # one diagonal at a time
            for r in range(height):
                c = j - r
                pre = b_in[part] + b_ss[part]
                if 0 <= c < width:
                    pre = pre + image[:, :, r, c] @ w_in[part].T
                if j > 0:
                    pre = pre + h[r][j - 1] @ w_ss[part, :, 1].T  # to the left
                    if r > 0:
                        pre = pre + h[r - 1][j - 1] @ w_ss[part, :, 0].T  # above
                c_prev = cell[r][j - 1] if j > 0 else zero
                h[r][j], cell[r][j] = lstm_step(pre, c_prev, h_units)
        maps.append(torch.stack([torch.stack([h[r][r + c] for c in range(width)], dim=-1)
                                 for r in range(height)], dim=2))  # (B, h, H, W)
    left, right = maps
    right = right.flip(-1)
    shifted = torch.zeros_like(right)
    shifted[:, :, 1:] = right[:, :, :-1]  # the right-to-left map, one row down
    states = left + shifted
    return torch.einsum("oi,bihw->bohw", masked(layer.up)[:, :, 0, 0], states) \
        + layer.up.bias[:, None, None]


@pytest.mark.parametrize("colours", [1, 3])
@pytest.mark.parametrize("layer_class, by_loops", [(RowLSTM, row_lstm_by_loops),
                                                   (DiagonalBiLSTM, diagonal_lstm_by_loops)])
def test_lstm_layers_equal_their_equations(layer_class, by_loops, colours):
    layer = randomize(layer_class(3, colours), seed=14, scale=0.6).double()
    x = torch.randn(2, 6, 4, 5, generator=torch.Generator().manual_seed(15),
                    dtype=torch.float64)
    torch.testing.assert_close(layer(x), by_loops(layer, x), rtol=1e-10, atol=1e-12)
    assert layer(x).abs().max() > 0.1  # not a vanishing signal that any rule would match


def test_the_pixelcnn_block_is_its_three_convolutions():
    block = randomize(PixelCNNBlock(3, 3), seed=16).double()
    x = torch.randn(2, 6, 4, 5, generator=torch.Generator().manual_seed(17),
                    dtype=torch.float64)
    relu = torch.relu
    a = torch.einsum("oi,bihw->bohw", masked(block.down)[:, :, 0, 0], relu(x)) \
        + block.down.bias[:, None, None]
    padded = torch.nn.functional.pad(relu(a), (1, 1, 1, 1))
    w = masked(block.conv)
    conv = sum(torch.einsum("oi,bihw->bohw", w[:, :, i, j], padded[:, :, i:i + 4, j:j + 5])
               for i in range(3) for j in range(3)) + block.conv.bias[:, None, None]
    up = torch.einsum("oi,bihw->bohw", masked(block.up)[:, :, 0, 0], relu(conv)) \
        + block.up.bias[:, None, None]
    torch.testing.assert_close(block(x), up, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", pixelrnn.LAYERS)  # the gated kind has two stacks instead
def test_the_network_adds_every_layer_to_its_input(kind):
    # mask-A 7 × 7, then a ← a + layer(a) for each layer, then ReLU, 1 × 1, ReLU, 1 × 1
    network = colour_model(3, 4, kind, layers=2, seed=36).network
    image = torch.randn(2, 3, 3, 4, generator=torch.Generator().manual_seed(37),
                        dtype=torch.float64)
    a = network.first(image)
    for layer in network.layers:
        a = a + layer(a)
    expected = network.out(torch.relu(network.head(torch.relu(a))))
    torch.testing.assert_close(network(image), expected, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Normalisation


@pytest.mark.parametrize("kind", KINDS)
def test_binary_probabilities_of_all_3x3_images_add_up_to_one(kind):
    model = binary_model(3, 3, kind, seed=18)
    with torch.no_grad():
        p = model.log_prob(all_binary(9)).exp()
    assert abs(p.sum().item() - 1) < 1e-5
    assert p.max() < 0.5  # a spread distribution, not one image of mass 1


@pytest.mark.parametrize("kind, channel_order", COLOUR)
def test_colour_probabilities_of_all_2x2_two_level_images_add_up_to_one(kind, channel_order):
    model = colour_model(2, 2, kind, levels=2, channel_order=channel_order, scale=0.6,
                         hidden=6, features=6, seed=19)
    with torch.no_grad():
        p = model.log_prob(all_binary(12).long()).exp()  # 4 pixels × 3 channels: 4096 images
    assert abs(p.sum().item() - 1) < 1e-5
    assert p.max() < 0.5


# ---------------------------------------------------------------------------------------------
# Sampling


@pytest.mark.parametrize("kind", KINDS)
def test_sampled_binary_images_have_the_exact_frequencies(kind):
    model = binary_model(2, 2, kind, seed=20)
    with torch.no_grad():
        p = model.log_prob(all_binary(4)).exp()
    num = 20_000
    counts = torch.bincount(codes(model.sample(num, seed=21)), minlength=16).double()
    assert (num * p).min() > 5  # enough expected counts in every cell for the test
    assert chi_square(counts, num * p) < CHI2_999[15]


@pytest.mark.parametrize("kind", KINDS)
def test_sampled_colours_have_the_exact_frequencies(kind):
    model = colour_model(1, 1, kind, levels=2, seed=22, scale=0.6)
    with torch.no_grad():
        p = model.log_prob(all_binary(3).long()).exp()  # the 8 colours of one pixel
    num = 20_000
    counts = torch.bincount(codes(model.sample(num, seed=23)), minlength=8).double()
    assert chi_square(counts, num * p) < CHI2_999[7]


@pytest.mark.parametrize("kind", KINDS)
def test_completing_the_bottom_row_samples_the_exact_conditional(kind):
    model = binary_model(2, 2, kind, seed=24)
    num = 20_000
    given = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).expand(num, 4)
    mask = torch.tensor([True, True, False, False])  # the top row observed
    x = model.sample(x=given, mask=mask, seed=25)
    assert torch.equal(x[:, :2], given[:, :2].double())
    with torch.no_grad():
        joint = model.log_prob(all_binary(4)).exp()[8:12]  # the images with top row (1, 0)
    counts = torch.bincount(codes(x[:, 2:]), minlength=4).double()
    assert chi_square(counts, num * joint / joint.sum()) < CHI2_999[3]
    # and in colour: the first pixel observed, the second drawn from p(x_2 | x_1)
    model = colour_model(1, 2, kind, levels=2, seed=26, scale=0.6)
    given = torch.tensor([[1, 0, 1, 0, 0, 0]]).expand(num, 6)
    x = model.sample(x=given, mask=torch.arange(6) < 3, seed=27)
    assert torch.equal(x[:, :3], given[:, :3])
    with torch.no_grad():
        joint = model.log_prob(torch.cat([given[:8, :3], all_binary(3).long()], dim=1)).exp()
    counts = torch.bincount(codes(x[:, 3:]), minlength=8).double()
    assert chi_square(counts, num * joint / joint.sum()) < CHI2_999[7]


@pytest.mark.parametrize("kind", KINDS)
def test_the_row_cropping_logit_equals_the_full_pass(kind):
    for model in (binary_model(3, 4, kind, seed=28), colour_model(3, 2, kind, seed=29)):
        x = random_values(model, 2, seed=30)
        full = model.logits(x)
        for i in range(model.n):
            torch.testing.assert_close(model._logit_at(x, i, {}), full[:, i],
                                       rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Bad inputs


def test_bad_inputs_raise_clear_errors():
    binary = ar.PixelRNN(4, 5, hidden=3, output_features=3)
    colour = ar.ColourPixelRNN(2, 2, hidden=3, output_features=3)
    with pytest.raises(ValueError, match=r"shape \(B, 20\)"):
        binary.log_prob(torch.zeros(2, 19))
    with pytest.raises(ValueError, match="binary"):
        binary.log_prob(torch.full((1, 20), 2.0))
    with pytest.raises(ValueError, match="NaN"):
        binary.log_prob(torch.full((1, 20), float("nan")))
    with pytest.raises(TypeError, match="torch.Tensor"):
        binary.log_prob([[0.0] * 20])
    with pytest.raises(ValueError, match=r"shape \(B, 12\)"):
        colour.log_prob(torch.zeros(1, 4, dtype=torch.long))  # pixels, not channel values
    for bad in (256, -1):
        with pytest.raises(ValueError, match=r"categories 0\.\.255"):
            colour.log_prob(torch.full((1, 12), bad))
    with pytest.raises(ValueError, match="integer tensor"):
        colour.log_prob(torch.zeros(1, 12))
    with pytest.raises(ValueError, match="hidden must be a multiple of 3"):
        ar.ColourPixelRNN(2, 2, hidden=10, output_features=3)
    with pytest.raises(ValueError, match="output_features must be a multiple of 3"):
        ar.ColourPixelRNN(2, 2, hidden=3, output_features=32)
    with pytest.raises(ValueError, match="kind must be one of pixelcnn, row_lstm, "
                                         "diagonal_bilstm, gated_pixelcnn"):
        ar.PixelRNN(4, 4, kind="gated")
    with pytest.raises(ValueError, match="channel_order must be True or False"):
        ar.ColourPixelRNN(2, 2, channel_order="RGB")
    with pytest.raises(ValueError, match="levels must be an int of at least 2"):
        ar.ColourPixelRNN(2, 2, levels=1)
    with pytest.raises(ValueError, match="height must be a positive int"):
        ar.PixelRNN(0, 4)
    groups = channel_groups(3, 3)
    with pytest.raises(ValueError, match=r"kernel sizes must be odd, got \(2, 3\)"):
        MaskedConv2d(groups, groups, (2, 3), "A")
    with pytest.raises(ValueError, match="mask_type must be 'A' or 'B'"):
        MaskedConv2d(groups, groups, (3, 3), "C")


# ---------------------------------------------------------------------------------------------
# Masks and parameter counts


def test_masks_a_and_b_at_the_centre_with_one_and_three_colour_groups():
    one = channel_groups(1, 1)
    a = MaskedConv2d(one, one, (3, 3), "A").mask[0, 0]
    b = MaskedConv2d(one, one, (3, 3), "B").mask[0, 0]
    assert torch.equal(a, torch.tensor([[1.0, 1, 1], [1, 0, 0], [0, 0, 0]]))
    assert torch.equal(b, torch.tensor([[1.0, 1, 1], [1, 1, 0], [0, 0, 0]]))
    assert channel_groups(6, 3).tolist() == [0, 0, 1, 1, 2, 2]
    rgb = channel_groups(3, 3)
    a = MaskedConv2d(rgb, rgb, (3, 3), "A").mask  # (out, in, 3, 3)
    b = MaskedConv2d(rgb, rgb, (3, 3), "B").mask
    # at the centre, rows: output R, G, B; columns: input R, G, B
    assert torch.equal(a[:, :, 1, 1], torch.tensor([[0.0, 0, 0], [1, 0, 0], [1, 1, 0]]))
    assert torch.equal(b[:, :, 1, 1], torch.tensor([[1.0, 0, 0], [1, 1, 0], [1, 1, 1]]))
    for mask in (a, b):  # every colour reads every colour of the earlier pixels, no later one
        assert mask[:, :, 0].eq(1).all() and mask[:, :, 1, 0].eq(1).all()
        assert mask[:, :, 2].eq(0).all() and mask[:, :, 1, 2].eq(0).all()


def test_masked_weights_are_never_edited_and_get_no_gradient():
    rgb = channel_groups(6, 3)
    conv = randomize(MaskedConv2d(rgb, rgb, (3, 3), "B"), seed=31)
    assert "mask" in dict(conv.named_buffers())
    assert all(p is not conv.mask for p in conv.parameters())
    weight = conv.weight.detach().clone()
    x = torch.randn(2, 6, 4, 4, generator=torch.Generator().manual_seed(32))
    out = conv(x)
    out.square().sum().backward()
    assert torch.equal(conv.weight, weight)  # still holds the masked-out values
    assert conv.weight[conv.mask == 0].abs().min() > 0
    assert torch.all(conv.weight.grad[conv.mask == 0] == 0)
    assert torch.all(conv.weight.grad[conv.mask == 1] != 0)
    with torch.no_grad():  # and a masked-out weight changes nothing
        conv.weight[conv.mask == 0] = 100.0
    assert torch.equal(conv(x), out)


@pytest.mark.parametrize("kind", KINDS)
def test_binary_parameter_count_by_hand(kind):
    h, f = 2, 3  # hidden, output_features
    model = ar.PixelRNN(4, 4, kind, hidden=h, layers=2, output_features=f)
    first = 2 * h * 24 + 2 * h  # 7 × 7 mask A: 3 rows of 7 and 3 pixels to the left
    out = (f * 2 * h + f) + (f + 1)  # the two 1 × 1 layers
    up = 2 * h * h + 2 * h  # the h states back to 2h maps (Row and Diagonal LSTM)
    if kind == "gated_pixelcnn":  # two stacks of m = 2h maps, each layer making 2m (gates)
        m = 2 * h
        first = (2 * m * 4 * 7 + 2 * m) + (2 * m * 4 + 2 * m) + (2 * m * 2 * m + 2 * m)
        layer = ((2 * m * m * 2 * 3 + 2 * m) + (2 * m * m * 2 + 2 * m)  # vertical 2 × 3,
                 + (2 * m * 2 * m + 2 * m) + (m * m + m))  # horizontal 1 × 2, link, residual
        out = (f * m + f) + (f + 1)
        assert model.num_parameters() == first + 2 * layer + out
        return
    layer = {
        "pixelcnn": (h * 2 * h + h) + (h * h * 5 + h) + (2 * h * h + 2 * h),  # 3 × 3 mask B: 5
        "row_lstm": (4 * h * 2 * h * 2 + 4 * h) + (4 * h * h * 3 + 4 * h) + up,  # 1 × 3: 2 taps
        "diagonal_bilstm": (8 * h * 2 * h + 8 * h) + (2 * 4 * h * h * 2 + 8 * h) + up,
    }[kind]
    assert model.num_parameters() == first + 2 * layer + out


def test_colour_parameter_count_by_hand():
    # h = 3, f = 3, K = 4 levels, one PixelCNN block. Groups: inputs R, G, B; 2h = 6 maps as
    # (R, R, G, G, B, B); h = 3 and f = 3 maps as (R, G, B); 3K outputs, K per colour. At the
    # own pixel, mask A lets a map of group g read the inputs of groups < g, mask B <= g.
    k = 4
    model = ar.ColourPixelRNN(3, 3, levels=k, kind="pixelcnn", hidden=3, output_features=3)
    first = 6 * 3 * 24 + (2 * 0 + 2 * 1 + 2 * 2) + 6  # 24 earlier pixels; own pixel; bias
    down = (2 + 4 + 6) + 3  # 6 -> 3, 1 × 1 mask B: R reads RR, G reads RRGG, B all six
    conv = 3 * 3 * 4 + (1 + 2 + 3) + 3  # 3 -> 3, 3 × 3 mask B: 4 earlier pixels; own pixel
    up = (2 * 1 + 2 * 2 + 2 * 3) + 6  # 3 -> 6
    head = (2 + 4 + 6) + 3  # 6 -> 3
    out = (k * 1 + k * 2 + k * 3) + 3 * k  # 3 -> 3K
    assert model.num_parameters() == first + down + conv + up + head + out


# ---------------------------------------------------------------------------------------------
# Checkpoints


def test_checkpoints_round_trip(tmp_path):
    for name, model in (("binary", binary_model(3, 4, "row_lstm", layers=2, seed=33)),
                        ("colour", colour_model(2, 3, "diagonal_bilstm", levels=5,
                                                channel_order=False, seed=34))):
        ar.save(model, tmp_path / f"{name}.pt")
        loaded = ar.load(tmp_path / f"{name}.pt")
        assert type(loaded) is type(model) and loaded.config() == model.config()
        assert loaded.dtype == torch.float64
        x = random_values(model, 4, seed=35)
        assert torch.equal(loaded.log_prob(x), model.log_prob(x))
    assert loaded.config()["channel_order"] is False and loaded.levels == 5


# ---------------------------------------------------------------------------------------------
# Coloured MNIST


def test_coloured_mnist():
    x = ar.coloured_mnist("test")
    assert x.shape == (10_000, 14 * 14 * 3) and x.dtype == torch.int64
    assert x.min() >= 0 and x.max() <= 255
    assert torch.equal(x, ar.coloured_mnist("test"))  # the same colours every time
    assert ar.coloured_mnist("valid", size=7).shape == (10_000, 7 * 7 * 3)
    with pytest.raises(ValueError, match="size must divide 28"):
        ar.coloured_mnist("test", size=5)
    # The corner pixel (no ink in any MNIST digit) is the background; the pixel of most ink a
    # is background + a · (foreground − background), a step of at least 96 · a in some channel.
    grey = ar.quantized_mnist("test", 256)[:50].double() / 255  # the ink levels, k / 255
    ink = grey.view(-1, 14, 2, 14, 2).mean(dim=(2, 4)).reshape(-1, 196)
    colours = x[:50].view(-1, 196, 3)
    assert ink[:, 0].eq(0).all()
    background = colours[:, 0]
    most = ink.argmax(dim=1)
    a = ink[torch.arange(50), most]
    step = (colours[torch.arange(50), most] - background).abs().amax(dim=1)
    assert a.min() > 0.5
    assert (step >= 96 * a - 0.5).all()
    # the images differ in their colours: more than a few backgrounds
    assert len({tuple(c) for c in background.tolist()}) > 40
