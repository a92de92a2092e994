"""Building blocks shared by the models: layers whose connectivity is fixed by a mask.

- :class:`MaskedLinear`: a linear layer (FVSBN, MADE);
- :class:`MaskedConv2d`: a convolution that sees only the pixels above and to the left, and
  within a pixel only the earlier colour channels (PixelCNN and PixelRNN's masks A and B).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MaskedLinear(nn.Linear):
    """``y = x @ (mask * weight).T + bias``: a linear layer that may only use some connections.

    The mask is a registered buffer of the weight's shape (out_features, in_features), 1 where a
    connection exists and 0 where it must not. It is applied in ``forward``; the weights are never
    edited in place, so a masked-out weight has no effect and receives zero gradient.
    """

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        if mask.shape != (out_features, in_features):
            raise ValueError(f"mask must have shape ({out_features}, {in_features}), "
                             f"got {tuple(mask.shape)}")
        self.register_buffer("mask", mask.to(torch.get_default_dtype()))

    def masked_weight(self) -> torch.Tensor:
        return self.mask * self.weight  # (out, in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.masked_weight(), self.bias)


def channel_groups(count: int, colours: int) -> torch.Tensor:
    """(count,) the colour group of each of ``count`` feature maps: the first third R (0), the
    next G (1), the last B (2) for ``colours`` = 3; all 0 for ``colours`` = 1."""
    return torch.arange(count) * colours // count


class MaskedConv2d(nn.Conv2d):
    """A convolution whose output at pixel (r, c) reads only the input pixels before (r, c) in
    raster order, and at (r, c) itself only the feature maps that its colour group may see.

    in_groups, out_groups: (in,) and (out,) colour groups (see :func:`channel_groups`); their
        lengths are the numbers of input and output feature maps.
    kernel: (height, width), both odd; the output pixel sits at the kernel's centre.
    mask_type: "A" (the first layer: a feature map of group g sees at its own pixel the
        groups before g, so a pixel never sees itself) or "B" (every later layer: the groups up
        to g, itself included, which by then only carry what mask A allowed).

    The mask (out, in, height, width) is a buffer built once by broadcast comparisons and
    applied as ``mask * weight`` in ``forward``; zero padding keeps the image's size.
    """

    def __init__(self, in_groups: torch.Tensor, out_groups: torch.Tensor,
                 kernel: tuple[int, int], mask_type: str, bias: bool = True):
        height, width = kernel
        if height % 2 == 0 or width % 2 == 0:
            raise ValueError(f"kernel sizes must be odd, got {kernel}")
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        super().__init__(len(in_groups), len(out_groups), kernel,
                         padding=(height // 2, width // 2), bias=bias)
        self.mask_type = mask_type
        r, c = height // 2, width // 2  # the centre: the output's own pixel
        rows = torch.arange(height)[:, None].expand(height, width)
        cols = torch.arange(width)[None, :].expand(height, width)
        before = (rows < r) | ((rows == r) & (cols < c))  # (h, w) pixels earlier in raster order
        own = (rows == r) & (cols == c)
        allowed = out_groups[:, None] > in_groups[None, :] if mask_type == "A" else \
            out_groups[:, None] >= in_groups[None, :]  # (out, in) at the own pixel
        mask = before[None, None] | (own[None, None] & allowed[:, :, None, None])
        self.register_buffer("mask", mask.to(torch.get_default_dtype()))  # (out, in, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.mask * self.weight, self.bias)  # (B, out, H, W)
