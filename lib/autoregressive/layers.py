"""Building blocks shared by the models: a linear layer whose connectivity is fixed by a mask."""

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
