"""Small tools shared by the tests."""

from __future__ import annotations

import itertools

import torch


def all_binary(n: int) -> torch.Tensor:
    """Every x in {0,1}^n, shape (2^n, n), in lexicographic order."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)))


def randomize(model: torch.nn.Module, seed: int = 0, scale: float = 1.0) -> torch.nn.Module:
    """Fill every parameter (masked-out weights included) with N(0, scale²) noise."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * scale)
    return model


def codes(x: torch.Tensor) -> torch.Tensor:
    """Each binary row as the integer it spells (first column most significant)."""
    n = x.shape[1]
    weights = 2 ** torch.arange(n - 1, -1, -1)
    return (x.long() * weights).sum(dim=1)


# Upper 0.1% points of the chi-square distribution, by degrees of freedom (standard tables).
CHI2_999 = {3: 16.266, 7: 24.322, 8: 26.124, 15: 37.697}


def chi_square(observed: torch.Tensor, expected: torch.Tensor) -> float:
    return float(((observed - expected) ** 2 / expected).sum())
