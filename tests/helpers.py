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


def assert_same_draws(a: torch.Tensor, b: torch.Tensor, precision: torch.dtype) -> None:
    """Samples drawn with the same uniforms by two routes to the same conditionals (a fast
    sampler and the plain one), of a model computing in ``precision``. The routes round
    differently, so a draw may differ where its uniform falls within rounding of the
    probability: in float64 (about 1e-16) that never happens in a test's draws, and the
    samples must be identical; in float32 (about 1e-7) a draw in 10^5 may, so at most 1% of
    the rows may differ, where a wrong route would change most of them."""
    assert a.shape == b.shape and a.dtype == b.dtype
    if precision == torch.float64:
        assert torch.equal(a, b), "the two routes drew different samples"
        return
    differ = (a != b).any(dim=1).sum().item()
    assert differ <= len(a) // 100, f"{differ} of {len(a)} rows differ between the two routes"


# Upper 0.1% points of the chi-square distribution, by degrees of freedom (standard tables).
CHI2_999 = {3: 16.266, 7: 24.322, 8: 26.124, 15: 37.697}


def chi_square(observed: torch.Tensor, expected: torch.Tensor) -> float:
    return float(((observed - expected) ** 2 / expected).sum())


def all_strings(vocabulary, max_length: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every string over the vocabulary with 0..max_length characters, as rows of n ids, and
    their lengths."""
    from autoregressive.text import END

    rows, lengths = [], []
    for length in range(max_length + 1):
        for ids in itertools.product(range(1, len(vocabulary)), repeat=length):
            rows.append(list(ids) + [END] * (n - length))
            lengths.append(length)
    return torch.tensor(rows), torch.tensor(lengths)


def assert_strings_of_any_length_form_a_distribution(model, max_length: int = 10) -> None:
    """p(s) = Π p(c_t | c_<t) · p(END | s) over all strings s, for a float64 string model with
    max_length ``max_length``: the mass of strings of at most L characters is at most 1, grows
    with L, and the rest is exactly the mass of strings longer than L,
    Σ_{|s| = L} p(c_1..c_L) (1 − p(END | s))."""
    from autoregressive.text import END

    x, lengths = all_strings(model.vocabulary, max_length, model.n)
    p = model.log_prob(x).exp()
    conditionals = model.conditionals(x)  # (rows, n, K), unconstrained
    chosen = conditionals.gather(-1, x[..., None]).squeeze(-1)  # (rows, n)
    masses = []
    for L in range(max_length + 1):
        mass = p[lengths <= L].sum()
        at_L = lengths == L
        prefix = chosen[at_L, :L].prod(dim=1)  # p(c_1..c_L) of each string of length L
        longer = (prefix * (1 - conditionals[at_L, L, END])).sum()
        torch.testing.assert_close(mass + longer, torch.tensor(1.0, dtype=torch.float64),
                                   atol=1e-12, rtol=0)
        masses.append(mass.item())
    assert all(a < b <= 1 for a, b in zip(masses, masses[1:]))
    assert 1 - masses[-1] < (1 - masses[0]) / 4  # towards 1
