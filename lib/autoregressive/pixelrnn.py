"""PixelCNN, Row LSTM and Diagonal BiLSTM: images as two-dimensional sequences.

Van den Oord, Kalchbrenner & Kavukcuoglu (2016), "Pixel Recurrent Neural Networks", section 3.
The pixels are taken in raster order, and within a pixel the colours in the order R, G, B:

    p(x) = Π_i p(x_i,R | x_<i) p(x_i,G | x_<i, x_i,R) p(x_i,B | x_<i, x_i,R, x_i,G).

Every network here has the paper's shape: a 7×7 convolution with mask A (a pixel does not see
itself), ``layers`` residual layers of one kind, then ReLU, a 1×1 convolution with mask B,
ReLU and a 1×1 convolution with mask B to the logits (one per binary pixel, or 256 per colour
channel). The layers carry 2h feature maps between them (h = ``hidden``):

- ``"pixelcnn"``: a residual block 1×1 (2h → h), 3×3 with mask B, 1×1 (h → 2h). Every
  conditional comes out of one pass, but stacked 3×3 masks leave a blind spot above-right;
- ``"row_lstm"``: an LSTM that steps down the image one row at a time. Input-to-state: a
  convolution of width 3 along the row, mask B (the paper's k × 1 kernel with k = 3);
  state-to-state: a convolution of width 3 over the previous row's hidden state. The context
  of a pixel is a triangle above it;
- ``"diagonal_bilstm"``: the input map is skewed (row r shifted right by r) so that each
  diagonal of the image becomes a column; an LSTM steps along the columns, its state-to-state
  a 2 × 1 convolution reading the pixel to the left and the one above. It runs left-to-right
  and, on the width-flipped image, right-to-left; that map is shifted down one row before the
  two are added, so that no pixel sees the rest of its own row. The context is everything
  above and to the left but one pixel: (r - 1, W - 1), the last of the row above, is missed
  by pixels (r, c) with c < W - 4 at any depth, because its value enters the network (through
  the mask-A layer) only at positions after it in rows r and below, within three columns. The
  steps also run through the padding of the skewed map, where the states come from the biases
  alone, so that a row's first pixel reads a state that carries no image information.

LSTM gates are (o, f, i, g): sigmoids for o, f, i and tanh for g; c = f ⊙ c' + i ⊙ g,
h = o ⊙ tanh(c). With colours, every layer's feature maps split into R, G and B thirds and the
masks let a third see only its own and earlier colours at the pixel itself (mask A: only the
earlier ones); the state-to-state convolutions read only earlier pixels and need no mask.

The models follow the book's protocol: a flat vector in raster order, pixel-major and
channel-minor for colour, reshaped inside the model.

- :class:`PixelRNN`: binary images ({0, 1} pixels, Bernoulli conditionals);
- :class:`ColourPixelRNN`: colour images (three channels of ``levels`` values each, one
  softmax per channel); ``channel_order=False`` drops the R → G → B dependence inside a
  pixel, so that the three channels are predicted independently given the earlier pixels.

Sampling takes one network pass per dimension (n passes for n values), as for every model of
the book; each pass runs only on the rows down to the current one, which is exact because no
output reads a row below its own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import BinaryAutoregressive, CategoricalAutoregressive, check_int
from .layers import MaskedConv2d, channel_groups

# The book's models (chapter 9): about 10,000 parameters each on binarized MNIST, small enough
# to train for a few minutes on a laptop's CPU. The paper's MNIST Diagonal BiLSTMs have one
# layer of h = 32 or seven layers of h = 16 (its Table 4).
MNIST_MODELS = {
    "PixelCNN": {"kind": "pixelcnn", "hidden": 16, "layers": 4},
    "Row LSTM": {"kind": "row_lstm", "hidden": 16, "layers": 1},
    "Diagonal BiLSTM": {"kind": "diagonal_bilstm", "hidden": 16, "layers": 1},
    "Gated PixelCNN": {"kind": "gated_pixelcnn", "hidden": 5, "layers": 4},
}
# Coloured MNIST at 14 × 14 (``data.coloured_mnist``) with 16 levels per channel: at 256
# levels (the paper's), networks of this size learn too slowly for a few minutes of CPU.
COLOUR_MODEL = {"kind": "pixelcnn", "hidden": 24, "layers": 4, "output_features": 96,
                "levels": 16}


# ---------------------------------------------------------------------------------------------
# Skewing: the diagonals of an image as columns


def skew(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, H, W + H - 1): row r shifted right by r, zeros elsewhere, so that
    pixel (r, c) lands in column r + c and each column holds one diagonal of the image."""
    b, ch, height, width = x.shape
    padded = F.pad(x, (0, height))  # (B, C, H, W + H): each row followed by H zeros
    flat = padded.reshape(b, ch, height * (width + height))[..., :height * (width + height - 1)]
    return flat.reshape(b, ch, height, width + height - 1)  # row r now starts r columns later


def unskew(x: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`skew`: (B, C, H, W + H - 1) -> (B, C, H, W)."""
    b, ch, height, skewed = x.shape
    width = skewed - height + 1
    flat = F.pad(x.reshape(b, ch, height * skewed), (0, height))  # (B, C, H · (W + H))
    return flat.reshape(b, ch, height, width + height)[..., :width]


# ---------------------------------------------------------------------------------------------
# The layers: each maps (B, 2h, H, W) to (B, 2h, H, W), added to its input by the network


def _lstm(gates: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM update from pre-activations (B, 4, h, ...) in the order (o, f, i, g)."""
    o, f, i = torch.sigmoid(gates[:, :3]).unbind(1)
    g = torch.tanh(gates[:, 3])
    c = f * c + i * g
    return o * torch.tanh(c), c


def _down(a: torch.Tensor) -> torch.Tensor:
    """Shift a map down one row: row r receives row r - 1, row 0 zeros."""
    return F.pad(a, (0, 0, 1, 0))[:, :, :-1]


class PixelCNNBlock(nn.Module):
    """ReLU, 1×1 (2h → h), ReLU, 3×3 with mask B, ReLU, 1×1 (h → 2h), all masks B."""

    def __init__(self, hidden: int, colours: int):
        super().__init__()
        wide, narrow = channel_groups(2 * hidden, colours), channel_groups(hidden, colours)
        self.down = MaskedConv2d(wide, narrow, (1, 1), "B")
        self.conv = MaskedConv2d(narrow, narrow, (3, 3), "B")
        self.up = MaskedConv2d(narrow, wide, (1, 1), "B")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(F.relu(self.conv(F.relu(self.down(F.relu(x))))))


class RowLSTM(nn.Module):
    """An LSTM over the rows of the image: the state of row r is computed from row r's input
    (width-3 convolution, mask B) and row r - 1's hidden state (width-3 convolution)."""

    def __init__(self, hidden: int, colours: int):
        super().__init__()
        self.hidden = hidden
        state = channel_groups(hidden, colours)
        self.input_to_state = MaskedConv2d(channel_groups(2 * hidden, colours), state.repeat(4),
                                           (1, 3), "B")
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 3, padding=1)
        self.up = MaskedConv2d(state, channel_groups(2 * hidden, colours), (1, 1), "B")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, height, width = x.shape
        gates_in = self.input_to_state(x).view(b, 4, self.hidden, height, width)
        h = c = x.new_zeros(b, self.hidden, width)  # the state above the first row
        rows = []
        for row in gates_in.unbind(3):  # one batched step per row; row: (B, 4, h, W)
            gates = row + self.state_to_state(h).view(b, 4, self.hidden, width)
            h, c = _lstm(gates, c)  # (B, h, W)
            rows.append(h)
        return self.up(torch.stack(rows, dim=2))  # (B, h, H, W) -> (B, 2h, H, W)


class DiagonalBiLSTM(nn.Module):
    """Two LSTMs along the diagonals of the image, left-to-right and right-to-left; each
    state reads the input at its pixel (1×1, mask B) and the states of the pixel to its left
    and the pixel above (a 2 × 1 convolution down a column of the skewed map)."""

    def __init__(self, hidden: int, colours: int):
        super().__init__()
        self.hidden = hidden
        state = channel_groups(hidden, colours)
        # Both directions at once: feature maps ordered (direction, gate, unit); the weights
        # of direction d read the input maps of direction d (a grouped convolution).
        self.input_to_state = MaskedConv2d(channel_groups(2 * hidden, colours), state.repeat(8),
                                           (1, 1), "B")
        self.state_to_state = nn.Conv1d(2 * hidden, 8 * hidden, 2, groups=2)
        self.up = MaskedConv2d(state, channel_groups(2 * hidden, colours), (1, 1), "B")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, features, height, width = x.shape
        # The input-to-state map is 1×1, so it is applied column by column of the skewed input
        # (a batched matrix product per step) rather than to the whole map at once: the 4x
        # larger map of gates is never stored.
        weight = (self.input_to_state.mask * self.input_to_state.weight).squeeze(-1)  # (8h, 2h, 1)
        skewed = skew(torch.cat([x, x.flip(-1)], dim=1))  # (B, 2 · 2h, H, W + H - 1)
        h = c = x.new_zeros(b, 2, self.hidden, height)  # the column before the first
        columns = []
        for column in skewed.unbind(-1):  # one batched step per diagonal; column: (B, 4h, H)
            above = F.pad(h.reshape(b, 2 * self.hidden, height), (1, 0))  # (B, 2h, H + 1)
            gates = (F.conv1d(column, weight, self.input_to_state.bias, groups=2)
                     + self.state_to_state(above))  # (B, 8h, H): row r reads rows r - 1, r
            gates = gates.view(2 * b, 4, self.hidden, height)  # (B · direction, gate, unit, H)
            h, c = _lstm(gates, c.reshape(2 * b, self.hidden, height))
            h, c = h.view(b, 2, self.hidden, height), c.view(b, 2, self.hidden, height)
            columns.append(h)
        states = unskew(torch.stack(columns, dim=-1).flatten(1, 2))  # (B, 2h, H, W)
        left, right = states.chunk(2, dim=1)
        right = _down(right.flip(-1))  # shifted down one row
        return self.up(left + right)  # (B, h, H, W) -> (B, 2h, H, W)


LAYERS = {"pixelcnn": PixelCNNBlock, "row_lstm": RowLSTM, "diagonal_bilstm": DiagonalBiLSTM}
# the kinds of network: one residual stream of LAYERS, or the gated PixelCNN's two stacks
KINDS = (*LAYERS, "gated_pixelcnn")


class PixelNetwork(nn.Module):
    """Mask-A 7×7 convolution, residual layers of one kind, two 1×1 mask-B output layers.

    Maps an image (B, C, H, W) of values scaled to [-1, 1] to logits (B, C · outputs, H, W),
    the ``outputs`` logits of channel 0 first, then channel 1's, then channel 2's.
    """

    def __init__(self, kind: str, channels: int, outputs: int, hidden: int, layers: int,
                 output_features: int, colours: int):
        super().__init__()
        features = channel_groups(2 * hidden, colours)
        self.first = MaskedConv2d(channel_groups(channels, colours), features, (7, 7), "A")
        self.layers = nn.ModuleList(LAYERS[kind](hidden, colours) for _ in range(layers))
        top = channel_groups(output_features, colours)
        self.head = MaskedConv2d(features, top, (1, 1), "B")
        self.out = MaskedConv2d(top, torch.arange(channels * outputs) * colours //
                                (channels * outputs), (1, 1), "B")

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        a = self.first(image)  # (B, 2h, H, W)
        for layer in self.layers:
            a = a + layer(a)  # residual connections around every layer
        return self.out(F.relu(self.head(F.relu(a))))  # (B, C · outputs, H, W)


def _gate(a: torch.Tensor) -> torch.Tensor:
    """The gated activation tanh(a_1) ⊙ σ(a_2) of the two halves of the feature maps."""
    t, s = a.chunk(2, dim=1)
    return torch.tanh(t) * torch.sigmoid(s)


class GatedPixelNetwork(nn.Module):
    """The gated PixelCNN of van den Oord et al. (2016b), "Conditional Image Generation with
    PixelCNN Decoders", without its conditioning: two stacks of convolutions that together
    read the whole past, so no blind spot.

    - The **vertical stack** at row r reads rows up to r, every column within the kernel's
      width: kernels of (k // 2 + 1) × k rows above and at r, no mask needed. It is shifted
      down one row before the horizontal stack reads it, so a pixel gets rows above only.
    - The **horizontal stack** at (r, c) reads row r up to column c: kernels 1 × (k // 2 + 1)
      ending at c; in the first layer the image is shifted right one column first, so that a
      pixel never reads itself.
    - Each layer gates: tanh(·) ⊙ σ(·) of two halves of 2f maps (f = 2h maps per stack); the
      horizontal stack adds a 1 × 1 map of the shifted vertical pre-activations, and a
      residual connection around a 1 × 1 convolution.
    - The output: ReLU, 1 × 1, ReLU, 1 × 1 from the horizontal stack, as the other networks.

    ``first`` is the first layer's kernel width (7, as the other networks' mask-A layer), the
    later layers use ``kernel`` (3). Channels are modelled without an order inside a pixel.
    """

    def __init__(self, channels: int, outputs: int, hidden: int, layers: int,
                 output_features: int, kernel: int = 3, first: int = 7):
        super().__init__()
        f = 2 * hidden
        self.k0, self.k = first // 2, kernel // 2
        self.first_v = nn.Conv2d(channels, 2 * f, (self.k0 + 1, first))
        self.first_h = nn.Conv2d(channels, 2 * f, (1, self.k0 + 1))
        self.first_link = nn.Conv2d(2 * f, 2 * f, 1)
        self.v = nn.ModuleList(nn.Conv2d(f, 2 * f, (self.k + 1, kernel)) for _ in range(layers))
        self.h = nn.ModuleList(nn.Conv2d(f, 2 * f, (1, self.k + 1)) for _ in range(layers))
        self.link = nn.ModuleList(nn.Conv2d(2 * f, 2 * f, 1) for _ in range(layers))
        self.res = nn.ModuleList(nn.Conv2d(f, f, 1) for _ in range(layers))
        self.head = nn.Conv2d(f, output_features, 1)
        self.out = nn.Conv2d(output_features, channels * outputs, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        k0, k = self.k0, self.k
        v_pre = self.first_v(F.pad(image, (k0, k0, k0, 0)))  # rows r - k0 .. r
        shifted = F.pad(image, (1, 0))[..., :-1]  # column c receives column c - 1
        h_pre = self.first_h(F.pad(shifted, (k0, 0))) + self.first_link(_down(v_pre))
        v, h = _gate(v_pre), _gate(h_pre)
        for conv_v, conv_h, link, res in zip(self.v, self.h, self.link, self.res):
            v_pre = conv_v(F.pad(v, (k, k, k, 0)))  # rows r - k .. r
            h_pre = conv_h(F.pad(h, (k, 0))) + link(_down(v_pre))  # columns c - k .. c
            v, h = _gate(v_pre), h + res(_gate(h_pre))
        return self.out(F.relu(self.head(F.relu(h))))  # (B, C · outputs, H, W)


# ---------------------------------------------------------------------------------------------
# The models


class _PixelModel:
    """What the binary and the colour models share: the image layout and the network."""

    def _build(self, height, width, channels, kind, hidden, layers, output_features, colours):
        self.height = check_int("height", height)
        self.width = check_int("width", width)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
        self.kind = kind
        multiple = f"a multiple of {colours} (one group of maps per colour)" if colours > 1 else ""
        for name, value in (("hidden", hidden), ("output_features", output_features)):
            check_int(name, value, minimum=colours)
            if value % colours:
                raise ValueError(f"{name} must be {multiple}, got {value}")
        self.channels = channels
        if kind == "gated_pixelcnn":
            if colours > 1:
                raise ValueError("the gated PixelCNN here models the channels of a pixel "
                                 "without an order: use channel_order=False")
            self.network = GatedPixelNetwork(channels, self._outputs, hidden,
                                             check_int("layers", layers), output_features)
        else:
            self.network = PixelNetwork(kind, channels, self._outputs, hidden,
                                        check_int("layers", layers), output_features, colours)
        self.hidden, self.num_layers, self.output_features = hidden, layers, output_features

    def _shape_config(self) -> dict:
        return {"height": self.height, "width": self.width, "kind": self.kind,
                "hidden": self.hidden, "layers": self.num_layers,
                "output_features": self.output_features}

    def network_input(self, x: torch.Tensor) -> torch.Tensor:
        """Prepared (B, rows · W · C) values -> the network's image (B, C, rows, W) in [-1, 1]."""
        image = x.reshape(x.shape[0], -1, self.width, self.channels).permute(0, 3, 1, 2)
        return image.to(self.dtype) * (2 / (self._levels - 1)) - 1

    def logits_from_image(self, image: torch.Tensor) -> torch.Tensor:
        """The network on an image (B, C, rows, W) -> logits in the protocol's layout:
        (B, rows · W · C) for binary images, (B, rows · W · C, K) for colour."""
        b, ch, rows, width = image.shape
        out = self.network(image).view(b, ch, self._outputs, rows, width)
        out = out.permute(0, 3, 4, 1, 2).reshape(b, rows * width * ch, self._outputs)
        return out.squeeze(-1) if self._outputs == 1 else out

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from_image(self.network_input(x))

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        rows = i // (self.width * self.channels) + 1  # no output reads a row below its own
        return self._logits(x[:, :rows * self.width * self.channels])[:, i]

    def receptive_field(self, x: torch.Tensor, row: int, col: int, channel: int = 0):
        """|∂ log p(x_d | x_<d) / ∂ input| for the dimension d of pixel (row, col) and
        ``channel``, by autograd through the network at the image ``x`` (one (n,) or (1, n)
        row of the model's support): a (H, W, C) tensor, non-zero where the network reads."""
        row = check_int("row", row, 0, self.height - 1)
        col = check_int("col", col, 0, self.width - 1)
        channel = check_int("channel", channel, 0, self.channels - 1)
        x = x.reshape(1, -1)
        self._check(x)
        prepared = self._prepare(x)
        image = self.network_input(prepared).detach().requires_grad_(True)
        d = (row * self.width + col) * self.channels + channel
        logits = self.logits_from_image(image)[0, d]
        value = prepared[0, d].long()
        log_p = (-F.softplus(-logits) if value == 1 else -F.softplus(logits)) \
            if self._outputs == 1 else torch.log_softmax(logits, dim=-1)[value]
        (grad,) = torch.autograd.grad(log_p, image)
        return grad[0].abs().permute(1, 2, 0).detach()  # (H, W, C)


class PixelRNN(_PixelModel, BinaryAutoregressive):
    """A binary image model (x ∈ {0, 1}^{height · width}) built from PixelCNN blocks, Row LSTM
    or Diagonal BiLSTM layers.

    height, width: the image size (28, 28 for MNIST).
    kind: "pixelcnn", "row_lstm", "diagonal_bilstm" or "gated_pixelcnn".
    hidden: h; the layers carry 2h feature maps.
    layers: how many residual layers follow the 7×7 mask-A convolution (for the gated
        PixelCNN: how many gated layers follow its first one).
    output_features: the feature maps of the first 1×1 output layer (32 for MNIST).
    """

    _levels, _outputs = 2, 1

    def __init__(self, height: int, width: int, kind: str = "row_lstm", hidden: int = 16,
                 layers: int = 1, output_features: int = 32):
        super().__init__(check_int("height", height) * check_int("width", width))
        self._build(height, width, 1, kind, hidden, layers, output_features, colours=1)

    def config(self) -> dict:
        return self._shape_config()


class ColourPixelRNN(_PixelModel, CategoricalAutoregressive):
    """A colour image model: x ∈ {0..levels-1}^{height · width · 3}, pixel-major and
    channel-minor (R, G, B of pixel 0, then of pixel 1, ...), a softmax per channel.

    levels: values per channel (256 for 8-bit colour).
    channel_order: True for p(R | past) p(G | past, R) p(B | past, R, G); False for the three
        channels independent given the earlier pixels, p(R | past) p(G | past) p(B | past).
    hidden and output_features must be multiples of 3 (a third of the maps per colour) when
    channel_order is True; without the order, the maps form one group and any size will do.
    The other arguments are as for :class:`PixelRNN`.
    """

    _outputs = None  # set per model: the levels

    def __init__(self, height: int, width: int, levels: int = 256, kind: str = "row_lstm",
                 hidden: int = 24, layers: int = 1, output_features: int = 96,
                 channel_order: bool = True):
        super().__init__(check_int("height", height) * check_int("width", width) * 3, levels)
        if not isinstance(channel_order, bool):
            raise ValueError(f"channel_order must be True or False, got {channel_order!r}")
        self.channel_order = channel_order
        self._levels = self._outputs = self.levels
        self._build(height, width, 3, kind, hidden, layers, output_features,
                    colours=3 if channel_order else 1)

    def config(self) -> dict:
        return {**self._shape_config(), "levels": self.levels,
                "channel_order": self.channel_order}
