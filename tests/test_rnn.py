"""Recurrent networks: torch's layers equal the equations in a loop, the past alone feeds each
conditional, the distributions normalise (over binary vectors, and over strings of any length),
the state-carrying sampler equals the plain one, and a tiny network learns to spell "hello"."""

from __future__ import annotations

import math

import pytest
import torch

import autoregressive as ar
from autoregressive import rnn, text
from helpers import (CHI2_999, all_binary, all_strings, assert_same_draws,
                     assert_strings_of_any_length_form_a_distribution,
                     chi_square, codes, randomize)

CELLS = ["tanh", "lstm", "gru"]


def char_rnn(cell, chars="helo", max_length=6, hidden=5, layers=1, seed=0, scale=0.7):
    model = rnn.CharRNN(chars, max_length, hidden=hidden, cell=cell, layers=layers)
    return randomize(model, seed=seed, scale=scale).double()


def binary_rnn(cell, n=9, hidden=4, layers=1, seed=0, scale=0.7):
    model = rnn.BinaryRNN(n, hidden=hidden, cell=cell, layers=layers)
    return randomize(model, seed=seed, scale=scale).double()


def binary(rows, n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((rows, n), 0.5), generator=g).double()


# ---------------------------------------------------------------------------------------------
# The layers equal the equations


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_torch_layers_equal_the_loop_over_time(cell, layers):
    strings = char_rnn(cell, layers=layers, seed=1)
    x = strings.vocabulary.encode(["hello", "oh", "l", "eeeeee"], length=7)
    assert torch.allclose(strings.logits(x), rnn.reference_logits(strings, x), atol=1e-12)
    pixels = binary_rnn(cell, layers=layers, seed=2)
    x = binary(5, 9, seed=3)
    assert torch.allclose(pixels.logits(x), rnn.reference_logits(pixels, x), atol=1e-12)


@pytest.mark.parametrize("cell", CELLS)
def test_the_loop_has_the_gradients_of_the_layers(cell):
    model = char_rnn(cell, layers=2, seed=22)
    x = model.vocabulary.encode(["hello", "leo"], length=7)
    weights = list(model.parameters())
    fast = torch.autograd.grad(model.log_prob(x).sum(), weights)
    log_p = torch.log_softmax(rnn.reference_logits(model, x), dim=-1)
    chosen = log_p.gather(-1, x[..., None]).squeeze(-1)
    loop = torch.autograd.grad((chosen * text.in_string(x)).sum(), weights)
    for (name, _), a, b in zip(model.named_parameters(), fast, loop):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.parametrize("cell", CELLS)
def test_the_loop_states_are_the_hidden_states(cell):
    model = binary_rnn(cell, seed=23)
    x = binary(3, 9, seed=24)
    logits, states = rnn.reference_forward(model, x)
    tops = [s[0] if cell == "lstm" else s for s in states]
    torch.testing.assert_close(torch.stack(tops, dim=1), model.hidden_states(x))
    # and they feed the later conditionals: the last logit depends on h_3
    (grad,) = torch.autograd.grad(logits[:, -1].sum(), tops[3])
    assert grad.abs().sum() > 0


def test_the_tanh_cell_is_the_rule_with_no_biases():
    model = char_rnn("tanh", hidden=3)
    names = {name for name, _ in model.named_parameters()}
    assert names == {"recurrence.rnn.weight_ih_l0", "recurrence.rnn.weight_hh_l0",
                     "recurrence.h0", "output.weight", "output.bias"}
    h, k = 3, 5  # hidden units; the symbols with END
    assert model.num_parameters() == h * k + h * h + h + k * h + k


@pytest.mark.parametrize("cell", CELLS)
def test_each_logit_depends_on_earlier_symbols_only(cell):
    for model, x in ((char_rnn(cell, seed=4), torch.tensor([[1, 2, 3, 3, 4, 2, 0]])),
                     (binary_rnn(cell, seed=5), binary(1, 9, seed=6))):
        onehot = model._onehot(model._prepare(x)).requires_grad_(True)  # (1, n, K)
        logits = model.logits_from_onehot(onehot)
        for t in range(model.n):
            (grad,) = torch.autograd.grad(logits[0, t].sum(), onehot, retain_graph=True)
            assert torch.equal(grad[0, t:], torch.zeros_like(grad[0, t:])), f"logit {t}"
            if t > 0:  # and it does read the past
                assert grad[0, :t].abs().sum() > 0, f"logit {t} ignores x_<{t + 1}"


# ---------------------------------------------------------------------------------------------
# Normalisation


@pytest.mark.parametrize("cell", CELLS)
def test_probabilities_of_all_binary_vectors_add_up_to_one(cell):
    model = binary_rnn(cell, n=8, seed=7, scale=1.0)
    total = model.log_prob(all_binary(8).double()).exp().sum()
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=torch.float64), atol=1e-12, rtol=0)



@pytest.mark.parametrize("cell", CELLS)
def test_strings_of_any_length_form_a_distribution(cell):
    model = char_rnn(cell, chars="ab", max_length=10, hidden=4, seed=8, scale=1.0)
    with torch.no_grad():
        model.output.bias[text.END] += 1.0  # ends come a little sooner than at random
    assert_strings_of_any_length_form_a_distribution(model, max_length=10)


@pytest.mark.parametrize("cell", CELLS)
def test_the_overflow_estimate_agrees_with_enumeration(cell):
    # The sampler cuts strings at max_length; overflow() estimates the mass that concerns:
    # 1 minus the mass of all strings of at most max_length characters.
    model = char_rnn(cell, chars="ab", max_length=3, hidden=4, seed=21, scale=1.0)
    x, _ = all_strings(model.vocabulary, 3, model.n)
    exact = 1 - model.log_prob(x).exp().sum().item()
    estimate, error = model.overflow(num=20_000, seed=0)
    assert 0.01 < exact and abs(estimate - exact) < 4 * error


# ---------------------------------------------------------------------------------------------
# Sampling


class_of = {"strings": char_rnn, "pixels": binary_rnn}


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("kind", ["strings", "pixels"])
def test_carrying_the_state_gives_the_samples_of_the_plain_route(kind, cell):
    model = class_of[kind](cell, seed=9, layers=2)
    carried, one = model.sample(300, seed=1), model.sample(1, seed=4)
    with rnn.plain_sampling(model):
        plain = model.sample(300, seed=1)
        assert_same_draws(model.sample(1, seed=4), one, model.dtype)
    assert model.carry_state  # switched back
    assert_same_draws(carried, plain, model.dtype)
    assert one.shape == (1, model.n)
    if kind == "strings":
        x, mask = model.vocabulary.encode_prefix(["he", "o", "", "lll"], model.n)
    else:
        x, mask = binary(4, 9, seed=2), torch.arange(9) < 4
    completed = model.sample(x=x, mask=mask, seed=3)
    with rnn.plain_sampling(model):
        assert_same_draws(completed, model.sample(x=x, mask=mask, seed=3), model.dtype)
    assert torch.equal(completed[mask.expand_as(x)], x[mask.expand_as(x)].to(completed.dtype))


def test_sampled_strings_have_the_exact_frequencies():
    model = char_rnn("gru", chars="ab", max_length=3, hidden=3, seed=10, scale=1.0)
    x, lengths = all_strings(model.vocabulary, 3, model.n)  # 15 strings
    # The sampler's distribution: p(s) for shorter strings; strings of max_length characters
    # take their prefix's probability, as the sampler ends them there.
    conditionals = model.conditionals(x)
    chosen = conditionals.gather(-1, x[..., None]).squeeze(-1)
    expected = torch.where(lengths < 3, model.log_prob(x).exp(), chosen[:, :3].prod(dim=1))
    torch.testing.assert_close(expected.sum(), torch.tensor(1.0, dtype=torch.float64))
    num = 20_000
    drawn = model.vocabulary.decode(model.sample(num, seed=11))
    index = {s: k for k, s in enumerate(model.vocabulary.decode(x))}
    counts = torch.bincount(torch.tensor([index[s] for s in drawn]), minlength=len(x))
    assert chi_square(counts.double(), num * expected.detach()) < 36.123  # chi-square 0.1%, 14 dof


def test_sampled_binary_vectors_have_the_exact_frequencies():
    model = binary_rnn("lstm", n=3, seed=12, scale=1.0)
    p = model.log_prob(all_binary(3).double()).exp().detach()
    num = 20_000
    counts = torch.bincount(codes(model.sample(num, seed=13)), minlength=8).double()
    assert chi_square(counts, num * p) < CHI2_999[7]


def test_samples_end_and_pad_and_a_tiny_temperature_takes_the_mode():
    model = char_rnn("lstm", seed=14)
    x = model.sample(500, seed=15)
    model._check(x)  # a string in every row: END by the last position, then END
    assert (x[:, -1] == text.END).all()
    coldest = model.sample(20, seed=16, temperature=1e-6)
    assert (coldest == coldest[0]).all()
    by_hand, state = torch.zeros(1, model.n, dtype=torch.long), {}
    for i in range(model.n):
        by_hand[0, i] = model._logit_at(by_hand, i, state).argmax()
    assert torch.equal(coldest[0], by_hand[0])


# ---------------------------------------------------------------------------------------------
# The worked example and training


def test_the_hello_arithmetic():
    # With o_1 = (1.0, 2.2, -3.0, 4.1) over (h, e, l, o) after reading h,
    # p(x_2 = e | x_1 = h) = e^2.2 / (e^1.0 + e^2.2 + e^-3.0 + e^4.1).
    model = char_rnn("tanh", chars="helo", max_length=5, hidden=3, seed=17)
    x = model.vocabulary.encode(["hello"], length=6)
    with torch.no_grad():  # choose b_y so that o_1 = W_hy h_1 + b_y is the example's
        r = model.recurrence.rnn
        h_1 = torch.tanh(r.weight_hh_l0 @ model.recurrence.h0 + r.weight_ih_l0[:, 1])
        target = torch.tensor([-50.0, 1.0, 2.2, -3.0, 4.1], dtype=torch.float64)  # END first
        model.output.bias.copy_(target - model.output.weight @ h_1)
    p = model.conditionals(x)[0]  # (6, 5): p(x_1), p(x_2 | h), ...
    by_hand = math.exp(2.2) / (math.exp(1.0) + math.exp(2.2) + math.exp(-3.0) + math.exp(4.1))
    assert by_hand == pytest.approx(0.1251, abs=5e-5)
    assert p[1, 2].item() == pytest.approx(by_hand, rel=1e-12)
    assert p[0, 2].item() != pytest.approx(by_hand, rel=1e-3)  # o_0 is not o_1
    # p(hello) = p(h) p(e | h) p(l | he) p(l | hel) p(o | hell) p(END | hello)
    chain = p[torch.arange(6), x[0]].prod()
    torch.testing.assert_close(model.log_prob(x).exp()[0], chain)


@pytest.mark.parametrize("cell", CELLS)
def test_fit_teaches_a_tiny_network_to_spell_hello(cell):
    torch.manual_seed(0)
    model = rnn.CharRNN("helo", max_length=7, hidden=12, cell=cell)
    data = model.vocabulary.encode(["hello"] * 16, length=8)
    history = ar.fit(model, data, data, epochs=150, batch_size=16, lr=0.03, patience=None,
                     progress=False)
    assert history.best_valid_nll < 0.05  # p(hello) > 0.95
    assert model.strings(3, seed=0, temperature=1e-3) == ["hello"] * 3
    assert model.complete(["hel"], seed=0, temperature=1e-3) == ["hello"]


# ---------------------------------------------------------------------------------------------
# Bad inputs and checkpoints


def test_bad_inputs_raise_clear_errors():
    strings, pixels = char_rnn("gru"), binary_rnn("gru")
    with pytest.raises(ValueError, match=r"shape \(B, 7\)"):
        strings.log_prob(torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="integer tensor"):
        strings.log_prob(torch.full((1, 7), float("nan")))
    with pytest.raises(ValueError, match="after its first end token"):
        strings.log_prob(torch.tensor([[1, 0, 2, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="no end token"):
        strings.log_prob(torch.tensor([[1, 2, 3, 3, 4, 1, 2]]))
    with pytest.raises(ValueError, match="character 'x'"):
        strings.complete(["hex"])
    with pytest.raises(ValueError, match="NaN"):
        pixels.log_prob(torch.full((1, 9), float("nan")))
    with pytest.raises(ValueError, match=r"shape \(B, 9\)"):
        pixels.log_prob(torch.zeros(3, 8))
    with pytest.raises(TypeError, match="torch.Tensor"):
        pixels.log_prob([[0.0] * 9])
    with pytest.raises(ValueError, match="cell must be one of"):
        rnn.CharRNN("ab", 4, cell="elman")
    with pytest.raises(ValueError, match="hidden must be a positive int"):
        rnn.BinaryRNN(4, hidden=0)
    with pytest.raises(ValueError, match="max_length must be a positive int"):
        rnn.CharRNN("ab", 0)
    with pytest.raises(ValueError, match="more than once"):
        rnn.CharRNN("abb", 4)


@pytest.mark.parametrize("cell", CELLS)
def test_checkpoints_round_trip(tmp_path, cell):
    strings = char_rnn(cell, layers=2, seed=18)
    ar.save(strings, tmp_path / "strings.pt")
    loaded = ar.load(tmp_path / "strings.pt")
    assert type(loaded) is rnn.CharRNN and loaded.config() == strings.config()
    assert loaded.vocabulary == strings.vocabulary and loaded.dtype == torch.float64
    x = strings.vocabulary.encode(["hello", "lo"], length=7)
    assert torch.equal(loaded.log_prob(x), strings.log_prob(x))
    assert torch.equal(loaded.sample(5, seed=0), strings.sample(5, seed=0))
    pixels = binary_rnn(cell, seed=19)
    ar.save(pixels, tmp_path / "pixels.pt")
    loaded = ar.load(tmp_path / "pixels.pt")
    assert loaded.config() == {"n": 9, "hidden": 4, "cell": cell, "layers": 1}
    x = binary(3, 9, seed=20)
    assert torch.equal(loaded.log_prob(x), pixels.log_prob(x))


# ---------------------------------------------------------------------------------------------
# Widgets for models of strings


def test_completion_widget_links_every_beginning_and_temperature_to_its_samples():
    from autoregressive import sequence_widgets as sw
    model = char_rnn("gru", seed=25).float()
    widget = sw.completions(model, ["", "he"], temperatures=(0.5, 1.0), num=3, seed=0)
    chosen, temperature, frame = widget.children
    assert chosen.options == ("(none)", "he") and temperature.index == 1  # starts at 1.0
    assert [len(stack.children) for stack in frame.children] == [2, 2]
    for j, prefix in enumerate(["", "he"]):
        for k, t in enumerate((0.5, 1.0)):
            shown = frame.children[j].children[k].value
            drawn = model.complete([prefix] * 3, seed=0, temperature=t)
            assert all(f"<b>{prefix}</b>{s[len(prefix):]}" in shown for s in drawn)
    bundle = widget._repr_mimebundle_()
    assert bundle["text/plain"].startswith("3 continuations") and "image/png" in bundle
    with pytest.raises(TypeError, match="model of strings"):
        sw.completions(binary_rnn("gru"), ["he"])
    with pytest.raises(ValueError, match="character 'x'"):
        sw.completions(model, ["hex"])


def test_next_character_widget_has_a_frame_per_letter_read():
    from autoregressive import sequence_widgets as sw
    model = char_rnn("lstm", seed=26).float()
    widget = sw.next_character(model, ["hello", "oh"])
    chosen, read, _, frame = widget.children
    assert chosen.options == ("hello", "oh") and read.options == tuple("012345")
    pictures = [[leaf.value for leaf in stack.children] for stack in frame.children]
    assert len(set(pictures[0])) == 6  # a different picture after each letter of "hello"
    assert pictures[1][2:] == [pictures[1][2]] * 4  # past the end of "oh": its last step
    fig = sw.next_character_figure(model, "oh", 1)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    p = model.conditionals(model.vocabulary.encode(["oh"], model.n))[0, 1]
    assert torch.allclose(torch.tensor(heights), p.detach().double(), atol=1e-6)
    assert abs(sum(heights) - 1) < 1e-5
    with pytest.raises(ValueError, match="1 to 6 non-empty"):
        sw.next_character(model, [])
