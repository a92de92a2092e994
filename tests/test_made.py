"""MADE: masks from degrees, the autoregressive property for any ordering and depth, ensembles of
masks in probability space, and the connectivity the degree sampler promises."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import autoregressive as ar
from autoregressive.made import draw_connectivity, input_degrees, masks_from_degrees
from helpers import CHI2_999, all_binary, chi_square, codes, randomize

DEPTHS = [(7,), (9, 6), (8, 5, 7)]


def made(n, hidden, *, seed=0, **kwargs):
    return randomize(ar.MADE(n, hidden, seed=seed, **kwargs), seed=seed).eval()


def positions(order: torch.Tensor) -> torch.Tensor:
    """position[d]: when dimension d is generated (0 first)."""
    return input_degrees(order) - 1


# ---------------------------------------------------------------------------------------------
# Masks


def test_masks_follow_the_papers_rule_unit_by_unit():
    order, degrees = draw_connectivity(6, (5, 4), False, True, torch.Generator().manual_seed(3))
    masks = masks_from_degrees(order, degrees)
    m0 = {int(d): p + 1 for p, d in enumerate(order)}  # degree of input d: its position, from 1
    layers = [[m0[d] for d in range(6)]] + [layer.tolist() for layer in degrees]
    for l in range(2):  # hidden: connect when the unit's degree is >= the one below
        for k, mk in enumerate(layers[l + 1]):
            for j, mj in enumerate(layers[l]):
                assert masks[l][k, j] == (mk >= mj)
    for d in range(6):  # outputs: strictly greater
        for k, mk in enumerate(layers[-1]):
            assert masks[2][d, k] == (m0[d] > mk)


def test_masks_are_buffers_and_switching_masks_never_touches_the_weights():
    model = made(8, (6, 6), num_masks=3, natural_order=False)
    weights = {name: p.clone() for name, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    assert "layers.0.mask" in buffers and "orders" in buffers and "degrees1" in buffers
    assert not any("mask" in name for name, _ in model.named_parameters())
    before = model.layers[0].mask.clone()
    model.set_mask(2)
    assert not torch.equal(model.layers[0].mask, before)
    for name, p in model.named_parameters():
        assert torch.equal(p, weights[name]), name
    # A masked-out weight gets no gradient.
    model.log_prob(all_binary(8)[:5]).sum().backward()
    for layer in model.layers:
        assert torch.all(layer.weight.grad[layer.mask == 0] == 0)


@pytest.mark.parametrize("hidden", DEPTHS)
@pytest.mark.parametrize("natural_order", [True, False])
def test_every_output_depends_only_on_inputs_earlier_in_its_ordering(hidden, natural_order):
    n = 8
    model = made(n, hidden, num_masks=4, natural_order=natural_order, seed=len(hidden))
    generator = torch.Generator().manual_seed(0)
    for k in range(4):
        model.set_mask(k)
        pos = positions(model.order)
        if natural_order:
            assert torch.equal(model.order, torch.arange(n))
        allowed = pos[None, :] < pos[:, None]  # [d, j]: j comes before d
        paths = model.connectivity()
        assert not (paths & ~allowed).any()
        for _ in range(3):
            x = torch.bernoulli(torch.full((n,), 0.5), generator=generator)
            jacobian = ar.dependency_matrix(model.logits, x)  # (n, n)
            assert not ((jacobian != 0) & ~allowed).any(), f"mask {k} sees the future"
            assert not ((jacobian != 0) & ~paths).any()  # and only along the mask's paths


@pytest.mark.parametrize("hidden", [(3,), (5, 4), (2, 2, 2)])
def test_the_connected_draw_leaves_no_output_without_inputs(hidden):
    n = 30  # far more degrees (1..29) than hidden units: the plain draw often misses degree 1
    for seed in range(20):
        model = ar.MADE(n, hidden, num_masks=3, natural_order=False, seed=seed)
        for k in range(3):
            model.set_mask(k)
            first = int(model.order[0])
            seen = model.connectivity().sum(dim=1)
            assert seen[first] == 0  # the first dimension generated has nothing to condition on
            others = torch.ones(n, dtype=torch.bool)
            others[first] = False
            assert torch.all(seen[others] >= 1), f"seed {seed}, mask {k}: an output sees nothing"


def test_the_plain_draw_does_leave_outputs_without_inputs():
    # The pitfall the connected draw avoids is real: with the paper's uniform draw some
    # outputs after the first have no path from any input.
    n, disconnected = 30, 0
    for seed in range(20):
        model = ar.MADE(n, (5, 4), natural_order=False, connected=False, seed=seed)
        first = int(model.order[0])
        seen = model.connectivity().sum(dim=1)
        disconnected += int((seen == 0).sum()) - int(seen[first] == 0)
    assert disconnected > 0


@pytest.mark.parametrize("connected", [True, False])
def test_hidden_degrees_stay_within_their_range(connected):
    n = 12
    model = ar.MADE(n, (20, 20, 20), num_masks=5, natural_order=False, connected=connected, seed=1)
    for k in range(5):
        _, degrees = model.degrees(k)
        below = 1  # the smallest input degree
        for layer in degrees:
            assert int(layer.min()) >= below and int(layer.max()) <= n - 1
            if connected:  # the smallest allowed degree is present
                assert int(layer.min()) == below
            below = int(layer.min())


# ---------------------------------------------------------------------------------------------
# Exact likelihood, single masks and ensembles


@pytest.mark.parametrize("hidden", DEPTHS)
def test_every_mask_is_a_normalised_distribution(hidden):
    n = 7
    model = made(n, hidden, num_masks=3, natural_order=False, seed=5)
    for k in range(3):
        model.set_mask(k)
        with torch.no_grad():
            total = model.log_prob(all_binary(n)).double().exp().sum()
        assert abs(total.item() - 1.0) < 1e-5


def test_the_ensemble_is_normalised_and_is_the_log_mean_exp_of_its_members():
    n = 7
    model = made(n, (9, 6), num_masks=5, natural_order=False, seed=6)
    x = all_binary(n)
    ensemble = model.ensemble()
    with torch.no_grad():
        members = []
        for k in range(5):
            model.set_mask(k)
            members.append(model.log_prob(x).double())
        model.set_mask(0)
        by_hand = torch.log(torch.stack(members).exp().mean(dim=0))
        got = ensemble.log_prob(x).double()
    torch.testing.assert_close(got, by_hand, rtol=1e-5, atol=1e-5)
    assert abs(got.exp().sum().item() - 1.0) < 1e-5
    assert int(model.mask_index) == 0  # the ensemble gives back the mask it found
    subset = model.ensemble([1, 3])
    torch.testing.assert_close(subset.log_prob(x).double(),
                               torch.logsumexp(torch.stack([members[1], members[3]]), 0) - math.log(2),
                               rtol=1e-5, atol=1e-5)


def test_averaging_the_logits_of_masks_with_different_orderings_is_not_a_distribution():
    # The error the ensemble avoids: one "model" from the mean of the members' logits.
    n = 7
    model = randomize(ar.MADE(n, (9, 6), num_masks=4, natural_order=False, seed=7), scale=2.0)
    x = all_binary(n)
    with torch.no_grad():
        logits = []
        for k in range(4):
            model.set_mask(k)
            logits.append(model.logits(x))
        mean = torch.stack(logits).mean(dim=0)
        log_p = -torch.nn.functional.binary_cross_entropy_with_logits(
            mean, x, reduction="none").sum(dim=1)
    assert abs(log_p.double().exp().sum().item() - 1.0) > 0.01


def test_ensemble_samples_follow_the_mixture():
    n, draws = 3, 40_000
    model = made(n, (5,), num_masks=3, natural_order=False, seed=8)
    ensemble = model.ensemble()
    x = ensemble.sample(draws, seed=0)
    observed = torch.bincount(codes(x), minlength=2**n).double()
    expected = ensemble.log_prob(all_binary(n)).double().exp().detach() * draws
    assert chi_square(observed, expected) < CHI2_999[2**n - 1]
    assert torch.equal(x, ensemble.sample(draws, seed=0))


def test_ensemble_completion_samples_the_mixtures_exact_conditional():
    # Observe x_1 = 1, x_2 = 0: the mixture's conditional reweights its members by
    # p_k(x_1, x_2), so the completions must follow
    # Σ_k p_k(x_1, x_2) p_k(x_3, x_4 | x_1, x_2) / Σ_k p_k(x_1, x_2).
    n, draws = 4, 40_000
    model = randomize(ar.MADE(n, (6,), num_masks=3, seed=5), seed=16).eval()
    ensemble = model.ensemble()
    given = torch.tensor([[1.0, 0.0, 0.0, 0.0]]).expand(draws, n)
    mask = torch.tensor([True, True, False, False])
    x = ensemble.sample(x=given, mask=mask, seed=3)
    assert torch.all(x[:, :2] == given[:, :2])
    observed = torch.bincount(codes(x[:, 2:]), minlength=4).double()
    images = all_binary(n)
    rows = (images[:, 0] == 1) & (images[:, 1] == 0)
    joint = ensemble.log_prob(images).double().exp().detach()[rows]
    exact = joint / joint.sum()
    assert chi_square(observed, exact * draws) < CHI2_999[3]
    # The reweighting matters here: members chosen uniformly would give another distribution.
    members = ensemble.member_log_probs(images).double().exp().detach()[:, rows]  # (K, 4)
    uniform = (members / members.sum(dim=1, keepdim=True)).mean(dim=0)
    assert (uniform - exact).abs().sum() > 0.2
    assert torch.equal(x, ensemble.sample(x=given, mask=mask, seed=3))


def test_ensemble_completion_keeps_what_is_observed_whatever_the_orderings():
    n = 12
    model = made(n, (10, 10), num_masks=4, natural_order=False, seed=12)
    ensemble = model.ensemble()
    generator = torch.Generator().manual_seed(0)
    given = torch.bernoulli(torch.full((30, n), 0.5), generator=generator)
    mask = torch.rand(30, n, generator=generator) < 0.5
    x = ensemble.sample(x=given, mask=mask, seed=4)
    assert torch.equal(x[mask], given[mask]) and set(x.unique().tolist()) <= {0.0, 1.0}
    assert int(model.mask_index) == 0
    with pytest.raises(ValueError, match="both x"):
        ensemble.sample(x=given)


def test_an_ensemble_reports_its_members_orders():
    natural = ar.MADE(5, (4,), num_masks=3).ensemble()
    assert torch.equal(natural.order, torch.arange(5))
    shuffled = ar.MADE(5, (4,), num_masks=3, natural_order=False, seed=2)
    assert torch.equal(shuffled.ensemble().orders, shuffled.orders)
    assert torch.equal(shuffled.ensemble([1]).order, shuffled.orders[1])
    assert not torch.equal(shuffled.orders[1], torch.arange(5))
    with pytest.raises(ValueError, match="different orders"):
        shuffled.ensemble().order


def test_samples_follow_a_random_ordering():
    n, draws = 3, 40_000
    model = made(n, (6, 6), natural_order=False, seed=2)
    assert not torch.equal(model.order, torch.arange(n))
    x = model.sample(draws, seed=1)
    observed = torch.bincount(codes(x), minlength=2**n).double()
    expected = model.log_prob(all_binary(n)).double().exp().detach() * draws
    assert chi_square(observed, expected) < CHI2_999[2**n - 1]


# ---------------------------------------------------------------------------------------------
# Masks in use, training, checkpoints


def test_next_mask_cycles_and_connectivity_agnostic_training_visits_every_mask():
    model = ar.MADE(10, (8,), num_masks=3, seed=0)
    visited = []
    model.next_mask()
    assert int(model.mask_index) == 1
    data = torch.bernoulli(torch.full((40, 10), 0.3), generator=torch.Generator().manual_seed(0))

    def step():
        model.next_mask()
        visited.append(int(model.mask_index))

    ar.fit(model, data, data[:10], epochs=2, batch_size=10, before_step=step, progress=False,
           valid_loss=lambda x: -model.ensemble().log_prob(x))
    assert visited == [2, 0, 1, 2, 0, 1, 2, 0]  # 4 steps an epoch, 2 epochs


def test_gradients_flow_through_the_ensemble_as_a_softmax_weighting_of_the_members():
    # ∇ log (1/K) Σ_k p_k(x) = Σ_k w_k ∇ log p_k(x), with w_k = p_k(x) / Σ_j p_j(x).
    model = made(6, (7, 5), num_masks=3, natural_order=False, direct=True, seed=3).double()
    x = all_binary(6)[41:42].double()
    model.ensemble().log_prob(x).sum().backward()
    through_ensemble = [p.grad.clone() for p in model.parameters()]
    with torch.no_grad():
        weights = torch.softmax(model.ensemble().member_log_probs(x)[:, 0], dim=0)
    by_hand = [torch.zeros_like(p) for p in model.parameters()]
    for k in range(3):
        model.zero_grad()
        with model.using_mask(k):
            model.log_prob(x).sum().backward()
        for total, p in zip(by_hand, model.parameters()):
            total += weights[k] * p.grad
    for a, b in zip(through_ensemble, by_hand):
        torch.testing.assert_close(a, b)


def test_an_ensemble_follows_its_made_into_evaluation_mode():
    model = ar.MADE(5, (4,), num_masks=2).eval()
    ar.evaluate(model.ensemble(), all_binary(5))
    assert not model.training


def test_checkpoint_keeps_orderings_degrees_and_the_mask_in_use(tmp_path):
    model = made(9, (7, 5), num_masks=3, natural_order=False, seed=4)
    model.set_mask(2)
    ar.save(model, tmp_path / "made.pt")
    loaded = ar.load(tmp_path / "made.pt")
    assert int(loaded.mask_index) == 2 and torch.equal(loaded.order, model.order)
    x = all_binary(9)[::7]
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))
    assert torch.equal(loaded.ensemble().log_prob(x), model.ensemble().log_prob(x))
    with pytest.raises(TypeError, match="save the MADE"):
        ar.save(model.ensemble(), tmp_path / "ensemble.pt")
    other = ar.MADE(9, (7, 5), num_masks=3, natural_order=False, seed=99)  # other draws
    other.load_state_dict(model.state_dict())
    assert torch.equal(other.order, model.order)
    assert all(torch.equal(a.mask, b.mask) for a, b in zip(other.layers, model.layers))
    assert torch.equal(other.log_prob(x), model.log_prob(x))


def test_free_parameters_are_the_unmasked_weights_and_the_biases():
    model = ar.MADE(6, (5, 4), natural_order=False, seed=3)
    weights = sum(int(layer.mask.sum()) for layer in model.layers)
    assert model.num_parameters() == weights + 5 + 4 + 6


@pytest.mark.parametrize("kwargs, words", [
    ({"hidden": ()}, "non-empty tuple of them"),
    ({"hidden": (5, 0)}, "non-empty tuple of them"),
    ({"hidden": 0}, "positive int"),
    ({"hidden": "500"}, "positive int"),
    ({"num_masks": 0}, "num_masks"),
    ({"natural_order": "yes"}, "natural_order"),
    ({"connected": 1}, "connected"),
    ({"direct": None}, "direct"),
    ({"seed": -1}, "seed"),
])
def test_bad_settings_are_refused(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ar.MADE(6, **kwargs)


def test_bad_mask_numbers_are_refused():
    model = ar.MADE(6, (5,), num_masks=2)
    for bad in (2, -1, 1.0, True):
        with pytest.raises(ValueError, match="mask must be an int in 0..1"):
            model.set_mask(bad)
    with pytest.raises(ValueError, match="mask must be an int"):
        model.ensemble([0, 5])
    with pytest.raises(ValueError, match="iterable of mask numbers"):
        model.ensemble(2)
    with pytest.raises(ValueError, match="at least one mask"):
        model.ensemble([])
    with pytest.raises(TypeError, match="MADE"):
        ar.MaskEnsemble(ar.NADE(6, 3), [0])


def test_masks_need_a_seed_and_set_mask_a_number():
    with pytest.raises(ValueError, match="seed must be an int"):
        ar.MADE(6, (5,), seed=None)
    model = ar.MADE(6, (5,), num_masks=2)
    model.set_mask(1)
    with pytest.raises(ValueError, match="set_mask needs a mask number"):
        model.set_mask(None)
    assert int(model.mask_index) == 1


def test_sizes_and_mask_numbers_may_be_numpy_integers(tmp_path):
    model = ar.MADE(np.int64(6), np.int32(5), num_masks=np.int64(3), seed=np.uint16(2))
    twin = ar.MADE(6, (5,), num_masks=3, seed=2)
    assert model.config() == twin.config()
    assert all(type(v) is int for v in (model.n, model.num_masks, model.seed, *model.hidden))
    assert torch.equal(model.orders, twin.orders)
    model.set_mask(np.int64(2))
    assert int(model.mask_index) == 2
    assert ar.MADE(6, [np.int64(4), 3]).hidden == (4, 3)
    ar.save(model, tmp_path / "m.pt")
    assert ar.load(tmp_path / "m.pt").config() == model.config()
    ensemble = model.ensemble(np.arange(2))
    assert ensemble.masks == (0, 1) and ensemble.sample(np.int64(4), seed=0).shape == (4, 6)


def test_direct_connections_let_every_output_see_all_its_predecessors():
    n = 8
    model = made(n, (3, 3), num_masks=3, natural_order=False, direct=True, seed=9)
    for k in range(3):
        model.set_mask(k)
        pos = positions(model.order)
        allowed = pos[None, :] < pos[:, None]
        assert torch.equal(model.connectivity(), allowed)
        jacobian = ar.dependency_matrix(model.logits, all_binary(n)[100])
        assert torch.equal(jacobian != 0, allowed)  # random direct weights: no exact zeros
        with torch.no_grad():
            total = model.log_prob(all_binary(n)).double().exp().sum()
        assert abs(total.item() - 1.0) < 1e-5


def test_an_int_is_one_hidden_layer():
    assert ar.MADE(6, 5).hidden == (5,)


def test_a_checkpoint_stores_no_masks_and_rebuilds_them_from_the_degrees(tmp_path):
    model = made(9, (7, 5), num_masks=3, natural_order=False, seed=4, direct=True)
    model.set_mask(1)
    ar.save(model, tmp_path / "made.pt")
    stored = torch.load(tmp_path / "made.pt", weights_only=True)["state"]
    assert not any(key.endswith("mask") for key in stored)  # derived, so not stored
    assert model.derived_state() == {"layers.0.mask", "layers.1.mask", "layers.2.mask",
                                     "skip.mask"}
    loaded = ar.load(tmp_path / "made.pt")
    assert int(loaded.mask_index) == 1
    for a, b in zip([*loaded.layers, loaded.skip], [*model.layers, model.skip]):
        assert torch.equal(a.mask, b.mask)
    x = all_binary(9)[::7]
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))


def test_a_checkpoint_that_still_holds_its_masks_loads_as_before(tmp_path):
    from autoregressive import train

    model = made(6, (5,), num_masks=2, natural_order=False, seed=2)
    model.set_mask(1)
    state = {k: v.clone() for k, v in model.state_dict().items()}  # masks included
    name, config, dtype = "MADE", model.config(), "float32"
    torch.save({"model": name, "config": config, "dtype": dtype, "state": state,
                "sha256": train._checksum(name, config, dtype, state)}, tmp_path / "old.pt")
    loaded = ar.load(tmp_path / "old.pt")
    x = all_binary(6)
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))
    state.pop("layers.0.weight")
    torch.save({"model": name, "config": config, "dtype": dtype, "state": state,
                "sha256": train._checksum(name, config, dtype, state)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="missing keys.*layers.0.weight"):
        ar.load(tmp_path / "bad.pt")
