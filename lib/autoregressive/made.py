"""Masked autoencoder for distribution estimation (MADE), following Germain et al. (2015).

An ordinary autoencoder x → h¹ → … → h^L → x̂ becomes an autoregressive model once some of its
connections are removed, so that output x̂_d sees only the inputs that come before d in an
ordering. The connections to keep follow from a number per unit, its *degree*:

- input d has degree m⁰(d) ∈ {1..n}, its position in the ordering (the first dimension
  generated has degree 1);
- hidden unit k of layer l has a degree m^l(k) ∈ {min m^{l-1}, ..., n-1}: the most inputs it
  may depend on are those of degree ≤ m^l(k);
- a hidden unit connects to a unit of the layer below when its degree is ≥ that unit's,
  M^l[k, k'] = 1[m^l(k) ≥ m^{l-1}(k')],
  and output d connects to a last-layer unit only when its degree is strictly greater,
  M^V[d, k] = 1[m⁰(d) > m^L(k)].

Every path from input j to output d then climbs through degrees m⁰(j) ≤ m¹ ≤ … ≤ m^L < m⁰(d),
so x̂_d depends on earlier inputs only, and one pass of the network gives all n conditionals.
Sampling still needs n passes, one per dimension.

A model holds ``num_masks`` connectivities (an ordering and hidden degrees each), drawn once from
``seed`` and stored as buffers; :meth:`MADE.set_mask` switches between them by rebuilding the
layers' mask buffers (the weights are never edited). Training with a different mask at every
step is the paper's connectivity-agnostic training; :meth:`MADE.ensemble` is the uniform mixture
of several masks, p(x) = (1/K) Σ_k p_k(x), whose log-likelihood is the log-mean-exp of the
members' log-likelihoods.

Degrees drawn uniformly as above can leave a layer without a unit of the smallest degree, and
then early outputs have no hidden unit they may use: their conditional is a constant. With
``connected=True`` (the default) each hidden layer is given at least one unit of the smallest
allowed degree, which guarantees every output after the first a path from the first input.
"""

from __future__ import annotations

import math
import numbers
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .base import (BinaryAutoregressive, DensityModel, check_int, check_temperature, draw_category,
                   make_generator)
from .layers import MaskedLinear


# ---------------------------------------------------------------------------------------------
# Degrees and masks


def draw_connectivity(n: int, hidden: tuple[int, ...], natural_order: bool, connected: bool,
                      generator: torch.Generator) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One ordering and the hidden degrees: (order (n,), [degrees of each hidden layer (H_l,)]).

    order[p] is the dimension generated p-th. Hidden degrees are uniform on
    {min of the layer below, ..., n-1}; with ``connected`` one unit per layer, chosen at random,
    takes the smallest value.
    """
    order = torch.arange(n) if natural_order else torch.randperm(n, generator=generator)
    below = input_degrees(order)
    degrees = []
    for size in hidden:
        low = int(below.min())
        high = max(n - 1, low)
        layer = torch.randint(low, high + 1, (size,), generator=generator)
        if connected:
            layer[torch.randint(size, (1,), generator=generator)] = low
        degrees.append(layer)
        below = layer
    return order, degrees


def input_degrees(order: torch.Tensor) -> torch.Tensor:
    """m⁰: the degree of each input, its 1-based position in the ordering."""
    degrees = torch.empty_like(order)
    degrees[order] = torch.arange(1, len(order) + 1, device=order.device)
    return degrees


def masks_from_degrees(order: torch.Tensor, degrees: list[torch.Tensor]) -> list[torch.Tensor]:
    """The masks, input to output, as broadcast comparisons of degrees: each (out, in)."""
    m0 = input_degrees(order)
    below, masks = m0, []
    for layer in degrees:
        masks.append(layer[:, None] >= below[None, :])  # (H_l, H_{l-1}): M^l
        below = layer
    masks.append(m0[:, None] > below[None, :])  # (n, H_L): M^V, strictly greater
    return masks


# ---------------------------------------------------------------------------------------------
# The model


class MADE(BinaryAutoregressive):
    """MADE over n binary dimensions.

    n: the data dimension (784 for MNIST).
    hidden: the size of each hidden layer, e.g. (500,) or (500, 500); an int is one layer.
    num_masks: how many connectivities (ordering and hidden degrees) the model holds; 1 is a
        single fixed autoregressive model, more allow connectivity-agnostic training.
    natural_order: True keeps the raster ordering 0, 1, ..., n-1 in every mask; False draws
        an ordering per mask (order-agnostic training).
    connected: give every hidden layer a unit of the smallest allowed degree, so that no output
        after the first is left with no input to use (False: the plain uniform draw).
    direct: also connect every input straight to the outputs after it in the ordering (a
        masked n×n layer, FVSBN's, added to the last layer's output), so that each output
        sees all its predecessors whatever the hidden degrees.
    seed: the draws of orderings and degrees.
    """

    def __init__(self, n: int, hidden: tuple[int, ...] = (500,), *, num_masks: int = 1,
                 natural_order: bool = True, connected: bool = True, direct: bool = False,
                 seed: int = 0):
        super().__init__(n)
        if isinstance(hidden, numbers.Integral) and not isinstance(hidden, bool):
            hidden = (hidden,)  # one hidden layer
        if not isinstance(hidden, (tuple, list)) or not hidden or any(
                isinstance(h, bool) or not isinstance(h, numbers.Integral) or h < 1
                for h in hidden):
            raise ValueError(f"hidden must be a positive int or a non-empty tuple of them, "
                             f"got {hidden!r}")
        hidden = tuple(int(h) for h in hidden)
        num_masks = check_int("num_masks", num_masks)
        if seed is None:
            raise ValueError("seed must be an int: the masks are drawn from it, and a checkpoint "
                             "rebuilds them from it")
        seed = check_int("seed", seed, minimum=0)
        n = self.n  # a Python int
        for name, value in (("natural_order", natural_order), ("connected", connected),
                            ("direct", direct)):
            if not isinstance(value, bool):
                raise ValueError(f"{name} must be True or False, got {value!r}")
        self.hidden, self.num_masks = hidden, num_masks
        self.natural_order, self.connected, self.seed = natural_order, connected, seed
        self.direct = direct

        generator = make_generator(seed, None)
        draws = [draw_connectivity(n, hidden, natural_order, connected, generator)
                 for _ in range(num_masks)]
        self.register_buffer("orders", torch.stack([order for order, _ in draws]))  # (K, n)
        for l in range(len(hidden)):
            self.register_buffer(f"degrees{l}", torch.stack([d[l] for _, d in draws]))  # (K, H_l)
        self.register_buffer("mask_index", torch.zeros((), dtype=torch.long))

        sizes = (n,) + hidden + (n,)
        self.layers = nn.ModuleList(
            MaskedLinear(a, b, torch.ones(b, a)) for a, b in zip(sizes[:-1], sizes[1:]))
        self.skip = MaskedLinear(n, n, torch.ones(n, n), bias=False) if direct else None
        if direct:
            nn.init.zeros_(self.skip.weight)  # starts as the network without the direct layer
        self.set_mask(0)

    def config(self) -> dict:
        return {"n": self.n, "hidden": self.hidden, "num_masks": self.num_masks,
                "natural_order": self.natural_order, "connected": self.connected,
                "direct": self.direct, "seed": self.seed}

    # -- masks --------------------------------------------------------------------------------

    def degrees(self, k: int | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Mask k's ordering and hidden degrees (default: the mask in use)."""
        k = self._mask_number(k)
        return self.orders[k], [getattr(self, f"degrees{l}")[k] for l in range(len(self.hidden))]

    def set_mask(self, k: int) -> None:
        """Use connectivity k (0 ≤ k < num_masks) from now on."""
        if k is None:
            raise ValueError(f"set_mask needs a mask number in 0..{self.num_masks - 1}, got None")
        k = self._mask_number(k)
        order, degrees = self.degrees(k)
        # New mask tensors, not writes into the old ones: a graph that used the previous masks
        # (an ensemble's earlier members) still needs them for its backward pass.
        for layer, mask in zip(self.layers, masks_from_degrees(order, degrees)):
            layer.mask = mask.to(layer.weight.dtype)
        if self.skip is not None:
            m0 = input_degrees(order)
            self.skip.mask = (m0[:, None] > m0[None, :]).to(self.skip.weight.dtype)  # strictly earlier
        self.mask_index = torch.tensor(k, device=self.mask_index.device)

    def derived_state(self) -> set[str]:
        """The masks: the current connectivity's, rebuilt from ``orders``, ``degrees*`` and
        ``mask_index`` (a checkpoint need not store them)."""
        keys = {f"layers.{i}.mask" for i in range(len(self.layers))}
        return keys | ({"skip.mask"} if self.skip is not None else set())

    def restore_derived(self) -> None:
        self.set_mask(int(self.mask_index))

    def next_mask(self) -> None:
        """Move to the next connectivity, cyclically (call before each training step)."""
        self.set_mask((int(self.mask_index) + 1) % self.num_masks)

    @contextmanager
    def using_mask(self, k: int):
        """Use connectivity k inside a ``with`` block, then go back to the one in use before."""
        before = int(self.mask_index)
        self.set_mask(k)
        try:
            yield self
        finally:
            self.set_mask(before)

    def _mask_number(self, k: int | None) -> int:
        if k is None:
            return int(self.mask_index)
        if (isinstance(k, bool) or not isinstance(k, numbers.Integral)
                or not 0 <= k < self.num_masks):
            raise ValueError(f"mask must be an int in 0..{self.num_masks - 1}, got {k!r}")
        return int(k)

    @property
    def order(self) -> torch.Tensor:
        """order[k] is the k-th dimension generated, under the mask in use."""
        return self.orders[int(self.mask_index)].cpu()

    def connectivity(self) -> torch.Tensor:
        """(n, n) bool: entry [d, j] is True when some path of the masked network carries input j
        to output d (the mask in use). Strictly earlier in the ordering, by construction."""
        paths = self.layers[0].mask
        for layer in self.layers[1:]:
            paths = layer.mask @ paths  # counts of paths, (out, n)
        if self.skip is not None:
            paths = paths + self.skip.mask
        return paths > 0

    # -- the conditionals ---------------------------------------------------------------------

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        h = x  # (B, n)
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))  # (B, H_l)
        logits = self.layers[-1](h)  # (B, n): one pass, every conditional
        return logits if self.skip is None else logits + self.skip(x)

    def ensemble(self, masks=None) -> "MaskEnsemble":
        """The uniform mixture of the model under several masks (default: all of them)."""
        return MaskEnsemble(self, range(self.num_masks) if masks is None else masks)


# ---------------------------------------------------------------------------------------------
# Ensembles of masks


class MaskEnsemble(DensityModel):
    """p(x) = (1/K) Σ_k p_k(x): a MADE under K of its masks, mixed with equal weights.

    The members are combined in probability space: log p(x) = logsumexp_k log p_k(x) − log K.
    (Averaging the members' logits instead gives a different model, and when the members'
    orderings differ not a normalised one.) Sampling picks a member for each sample, then
    samples it. The members may generate in different orders: :attr:`orders` has them all,
    and :attr:`order` exists only when they agree. The ensemble shares the MADE's weights;
    save the MADE, not the ensemble.
    """

    def __init__(self, made: MADE, masks):
        if not isinstance(made, MADE):
            raise TypeError(f"an ensemble is made of a MADE's masks, got {type(made).__name__}")
        super().__init__(made.n)
        if not hasattr(masks, "__iter__"):
            raise ValueError(f"masks must be an iterable of mask numbers, e.g. range(4), "
                             f"got {masks!r}")
        masks = [made._mask_number(k) for k in masks]
        if not masks:
            raise ValueError("an ensemble needs at least one mask")
        self.made, self.masks = made, tuple(masks)
        self.train(made.training)  # a new module would start in training mode; follow the MADE

    def config(self) -> dict:
        raise TypeError("an ensemble shares its MADE's weights: save the MADE and rebuild the "
                        "ensemble with made.ensemble(masks)")

    def _check(self, x: torch.Tensor, name: str = "x") -> None:
        self.made._check(x, name)

    @property
    def orders(self) -> torch.Tensor:
        """(K, n): orders[k] is the ordering of the k-th member."""
        return self.made.orders[list(self.masks)].cpu()

    @property
    def order(self) -> torch.Tensor:
        """The members' ordering, when they all share one (otherwise ``ValueError``)."""
        orders = self.orders
        if not (orders == orders[0]).all():
            raise ValueError("the members of this ensemble generate in different orders, so it "
                             "has no single order: see .orders")
        return orders[0]

    def member_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """(K, B): log p_k(x) of every member."""
        members = []
        for k in self.masks:
            with self.made.using_mask(k):
                members.append(self.made.log_prob(x))
        return torch.stack(members)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) log (1/K) Σ_k p_k(x) in nats."""
        return torch.logsumexp(self.member_log_probs(x), dim=0) - math.log(len(self.masks))

    @torch.no_grad()
    def sample(self, num: int | None = None, *, seed: int | None = None,
               generator: torch.Generator | None = None, temperature: float = 1.0,
               x: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(num, n) samples of the mixture: a member chosen for each sample, then sampled.

        Arguments as for :meth:`Autoregressive.sample`. Without ``x`` each member is chosen
        with probability 1/K. Completing ``x`` where ``mask`` is True samples the mixture's
        conditional, p(x_u | x_o) = Σ_k w_k p_k(x_u | x_o) with w_k ∝ p_k(x_o): a member is
        chosen in proportion to how well it explains the observed values, then completes them.
        p_k(x_o) is the product of member k's conditionals of the observed dimensions that come
        before its first unobserved one, so this is exact when every observed dimension comes
        before every unobserved one in every member's ordering (members in raster order and
        the top rows of an image observed, say). Otherwise each member is weighted by that
        observed prefix alone, and, as for one model, later observations are clamped but do
        not inform earlier samples. ``temperature`` tempers the members' conditionals, not the
        choice of member.
        """
        temperature = check_temperature(temperature)
        generator = make_generator(seed, generator)
        where = generator.device if generator is not None else "cpu"
        if x is None and mask is None:
            num = check_int("num", num)
            choice = torch.randint(len(self.masks), (num,), generator=generator, device=where)
            observed = known = None
        else:
            observed, known = self.made._completion_inputs(num, x, mask)  # checked, prepared
            num = observed.shape[0]
            log_w = self._observed_log_probs(observed, known)  # (K, B): log p_k(x_o)
            u = torch.rand(num, generator=generator, device=where)
            choice = draw_category(log_w.T, u.to(log_w.device))
        out = torch.zeros(num, self.n, device=self.made.device, dtype=self.made.dtype)
        for member, k in enumerate(self.masks):
            rows = (choice == member).nonzero().flatten().to(out.device)
            if not len(rows):
                continue
            with self.made.using_mask(k):
                if observed is None:
                    out[rows] = self.made.sample(len(rows), generator=generator,
                                                 temperature=temperature)
                else:
                    out[rows] = self.made.sample(x=observed[rows], mask=known[rows],
                                                 generator=generator, temperature=temperature)
        return out

    def _observed_log_probs(self, x: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """(K, B): each member's log-probability of the observed dimensions that come before
        its first unobserved one, Σ log p_k(x_i | x_<i) over them (a marginal of the member,
        as every conditional in it sees observed values alone)."""
        rows = []
        for k in self.masks:
            with self.made.using_mask(k):
                logits = self.made._logits(x)  # (B, n)
                terms = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
                position = (input_degrees(self.made.order) - 1).to(x.device)  # (n,)
            first_unknown = torch.where(known, self.n, position).min(dim=1).values  # (B,)
            prefix = known & (position < first_unknown[:, None])  # (B, n)
            rows.append(torch.where(prefix, terms, torch.zeros_like(terms)).sum(dim=1))
        return torch.stack(rows).double()
