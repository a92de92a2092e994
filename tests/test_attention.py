"""Attention: the four steps by hand, each conditional reads only the past (by autograd and by
changing one symbol), the fused attention equals the step-by-step equations, the distributions
normalise (over binary vectors, and over strings of any length), the key-value cache gives the
samples and logits of re-running the prefix, sampling draws the exact probabilities, bad
inputs are refused, checkpoints round-trip and the parameters are the ones the architecture
counts."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

import autoregressive as ar
from autoregressive import attention, text
from autoregressive.attention import AttentionRNN, PixelTransformer, Transformer
from helpers import (CHI2_999, all_binary, all_strings, assert_same_draws,
                     assert_strings_of_any_length_form_a_distribution, chi_square, codes,
                     randomize)

CHI2_999_6 = 22.458  # upper 0.1% point of the chi-square distribution, 6 dof (standard tables)


def attention_rnn(chars="helo", max_length=6, hidden=5, cell="lstm", layers=2, key_size=3,
                  seed=0, scale=0.7):
    model = AttentionRNN(chars, max_length, hidden=hidden, cell=cell, layers=layers,
                         key_size=key_size)
    return randomize(model, seed=seed, scale=scale).double()


def transformer(chars="helo", max_length=6, width=8, heads=2, layers=2, seed=0, scale=0.5):
    model = Transformer(chars, max_length, width=width, heads=heads, layers=layers)
    return randomize(model, seed=seed, scale=scale).double()


def pixel_transformer(n=9, width=8, heads=2, layers=2, seed=0, scale=0.5):
    model = PixelTransformer(n, width=width, heads=heads, layers=layers)
    return randomize(model, seed=seed, scale=scale).double()


MODELS = {"attention_rnn": attention_rnn, "transformer": transformer,
          "pixel_transformer": pixel_transformer}
STRING_MODELS = {"attention_rnn": attention_rnn, "transformer": transformer}
DECODERS = {"transformer": transformer, "pixel_transformer": pixel_transformer}


def binary(rows, n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.bernoulli(torch.full((rows, n), 0.5), generator=g).double()


def some_rows(model, seed=0):
    """Rows of the model's support: strings of every length (binary vectors for pixels)."""
    if isinstance(model, PixelTransformer):
        return binary(5, model.n, seed)
    return model.vocabulary.encode(["helloh", "oh", "l", "eeeel", "hole"], model.n)



# ---------------------------------------------------------------------------------------------
# The four steps


def test_attend_by_hand():
    # q = √2 (ln 2, ln 3) and d = 2: the scaled scores against the keys (1, 0), (0, 1), (0, 0)
    # are ln 2, ln 3, 0; their exponentials 2, 3, 1 give the weights 1/3, 1/2, 1/6, and the
    # summary of the values (6, 0), (0, 6), (6, 6) is (2, 0) + (0, 3) + (1, 1) = (3, 4).
    q = math.sqrt(2) * torch.tensor([[math.log(2), math.log(3)]], dtype=torch.float64)
    k = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    v = torch.tensor([[6.0, 0.0], [0.0, 6.0], [6.0, 6.0]], dtype=torch.float64)
    steps = attention.attend(q, k, v)
    ln = torch.tensor([[math.log(2), math.log(3), 0.0]], dtype=torch.float64)
    torch.testing.assert_close(steps["scores"], ln, rtol=0, atol=1e-15)
    torch.testing.assert_close(steps["weights"], torch.tensor([[1 / 3, 1 / 2, 1 / 6]],
                                                              dtype=torch.float64))
    torch.testing.assert_close(steps["summary"], torch.tensor([[3.0, 4.0]], dtype=torch.float64))
    # Unscaled, the scores are √2 times larger: weights 2^√2 : 3^√2 : 1.
    plain = attention.attend(q, k, v, scale=False)
    torch.testing.assert_close(plain["scores"], math.sqrt(2) * ln)
    raw = torch.tensor([2 ** math.sqrt(2), 3 ** math.sqrt(2), 1.0], dtype=torch.float64)
    torch.testing.assert_close(plain["weights"][0], raw / raw.sum())
    # Hiding the first key: weights 0, 3/4, 1/4 and summary (0, 4.5) + (1.5, 1.5) = (1.5, 6).
    hidden = attention.attend(q, k, v, visible=torch.tensor([[False, True, True]]))
    assert hidden["scores"][0, 0] == -math.inf
    assert hidden["weights"][0, 0] == 0.0
    torch.testing.assert_close(hidden["weights"][0, 1:],
                               torch.tensor([0.75, 0.25], dtype=torch.float64))
    torch.testing.assert_close(hidden["summary"], torch.tensor([[1.5, 6.0]],
                                                               dtype=torch.float64))


def test_attention_weights_are_distributions_over_the_visible_positions():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(2, 3, 4, 4, generator=g), torch.randn(2, 3, 6, 4, generator=g)
    v = torch.randn(2, 3, 6, 5, generator=g)
    visible = torch.rand(4, 6, generator=g) < 0.5
    visible[:, 2] = True  # every query sees at least one position
    steps = attention.attend(q.double(), k.double(), v.double(), visible)
    weights = steps["weights"]  # (2, 3, 4, 6)
    assert weights.shape == (2, 3, 4, 6) and steps["summary"].shape == (2, 3, 4, 5)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(2, 3, 4, dtype=torch.float64))
    hidden = ~visible.expand_as(weights)
    assert torch.equal(weights[hidden], torch.zeros_like(weights[hidden]))
    assert (weights[~hidden] > 0).all()
    torch.testing.assert_close(steps["summary"], weights @ v.double())
    # scale divides every dot product by √d = 2 (d = 4: exact in floating point)
    plain = attention.attend(q.double(), k.double(), v.double(), visible, scale=False)
    shown = visible.expand_as(weights)
    assert torch.equal(steps["scores"][shown], plain["scores"][shown] / 2)
    dots = q.double() @ k.double().transpose(-2, -1)
    torch.testing.assert_close(plain["scores"][shown], dots[shown])
    assert not torch.allclose(steps["weights"], plain["weights"])


# ---------------------------------------------------------------------------------------------
# Each conditional reads only the past


def pixel_logits_of_real_input(model, x):
    """The decoder's logits with each pixel x_j read through its embedding as
    E_0 + x_j (E_1 − E_0): the decoder's own embedding at binary x, differentiable in x."""
    table = model.decoder.embed.weight  # rows: the values 0 and 1, then the start token
    read = F.pad(x[:, :-1], (1, 0))  # the pixel each position reads (position 0: the start)
    start = torch.arange(model.n) == 0

    def embed_x(module, inputs, out):
        linear = table[0] + read[..., None] * (table[1] - table[0])
        return torch.where(start[:, None], out, linear)

    handle = model.decoder.embed.register_forward_hook(embed_x)
    try:
        return model.decoder(x.detach().long()).squeeze(-1)
    finally:
        handle.remove()


def test_each_pixel_logit_depends_on_earlier_pixels_only():
    model = pixel_transformer(seed=1)
    x = binary(1, 9, seed=2).requires_grad_(True)
    logits = pixel_logits_of_real_input(model, x)
    torch.testing.assert_close(logits, model.logits(x.detach()), rtol=0, atol=1e-14)
    for i in range(model.n):
        (grad,) = torch.autograd.grad(logits[0, i], x, retain_graph=True)
        assert torch.equal(grad[0, i:], torch.zeros_like(grad[0, i:])), f"logit {i}"
        assert (grad[0, :i] != 0).all(), f"logit {i} ignores some of x_<{i}"


@pytest.mark.parametrize("kind", MODELS)
def test_changing_a_symbol_changes_the_later_logits_only(kind):
    model = MODELS[kind](seed=3)
    x = some_rows(model)[:1]  # a string of max_length characters (or 9 pixels)
    last = model.n - 1 if kind in STRING_MODELS else model.n  # END stays at the end
    before = model.logits(x)
    for j in range(last):
        changed = x.clone()
        changed[0, j] = 1 - x[0, j] if kind == "pixel_transformer" else x[0, j] % 4 + 1
        # Each row scored alone, in float64: a leak moves a logit by far more than 1e-12, and
        # rounding (a kernel may round two rows of one batch differently) by far less.
        after = model.logits(changed)
        torch.testing.assert_close(after[0, :j + 1], before[0, :j + 1], rtol=0, atol=1e-12,
                                   msg=f"x_{j} reaches back")
        for t in range(j + 1, model.n):
            assert (after[0, t] - before[0, t]).abs().max() > 1e-6, f"logit {t} ignores x_{j}"


def test_the_rnn_attends_over_its_states_so_far():
    model = attention_rnn(seed=4)
    x = some_rows(model)
    steps = model.attention(x)
    weights, states = steps["weights"], steps["states"]  # (B, n, n), (B, n, H)
    b, n = x.shape
    assert weights.shape == (b, n, n) and states.shape == (b, n, 5)
    future = torch.ones(n, n, dtype=torch.bool).triu(1).expand_as(weights)
    assert torch.equal(weights[future], torch.zeros_like(weights[future]))
    assert (weights[~future] > 0).all()
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(b, n, dtype=torch.float64))
    assert torch.equal(weights[:, 0, 0], torch.ones(b, dtype=torch.float64))  # h_0 alone
    torch.testing.assert_close(steps["summary"], weights @ states)
    # the query and key are the model's: q_t · k_j / √d below the diagonal
    scores = model.query(states) @ model.key(states).transpose(1, 2) / math.sqrt(3)
    torch.testing.assert_close(steps["scores"][~future], scores[~future])


# ---------------------------------------------------------------------------------------------
# The fused attention equals the equations


@pytest.mark.parametrize("kind", DECODERS)
def test_the_decoder_equals_its_equations(kind):
    model = DECODERS[kind](layers=3, heads=4, seed=5)
    x = some_rows(model, seed=6)
    logits, weights = attention.reference_logits(model, x, return_weights=True)
    torch.testing.assert_close(attention.reference_logits(model, x), logits, rtol=0, atol=0)
    torch.testing.assert_close(model.logits(x), logits, rtol=1e-10, atol=1e-12)
    assert len(weights) == 3
    b, n = x.shape
    future = torch.ones(n, n, dtype=torch.bool).triu(1).expand(b, 4, n, n)
    for w in weights:
        assert w.shape == (b, 4, n, n)
        assert torch.equal(w[future], torch.zeros_like(w[future]))
        torch.testing.assert_close(w.sum(dim=-1), torch.ones(b, 4, n, dtype=torch.float64))
    assert not torch.allclose(weights[0], weights[1])  # each block its own


def test_the_rnn_fused_attention_equals_attend():
    for cell in ("tanh", "lstm", "gru"):
        model = attention_rnn(cell=cell, seed=7)
        x = some_rows(model)
        steps = model.attention(x)
        by_hand = model.output(torch.cat([steps["states"], steps["summary"]], dim=-1))
        torch.testing.assert_close(model.logits(x), by_hand, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# Normalisation


def test_probabilities_of_all_binary_vectors_add_up_to_one():
    model = pixel_transformer(seed=8, scale=1.0)
    total = model.log_prob(all_binary(9).double()).exp().sum()
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=torch.float64), atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", STRING_MODELS)
def test_strings_of_any_length_form_a_distribution(kind):
    model = STRING_MODELS[kind](chars="ab", max_length=10, seed=9)
    head = model.output if kind == "attention_rnn" else model.decoder.head
    with torch.no_grad():
        head.bias[text.END] += 1.0  # ends come a little sooner than at random
    assert_strings_of_any_length_form_a_distribution(model, max_length=10)


# ---------------------------------------------------------------------------------------------
# The key-value cache


def count_work(model, monkeypatch):
    """Counters of the cached steps and of the full passes the model makes from now on."""
    calls = {"step": 0, "full": 0}
    if isinstance(model, AttentionRNN):
        stepped, full = model.recurrence, model.recurrence
    else:  # the first block's attention: step on a cache, or forward over a whole prefix
        stepped = full = model.decoder.blocks[0].attention
    step = stepped.step

    def counted_step(*args, **kwargs):
        calls["step"] += 1
        return step(*args, **kwargs)

    monkeypatch.setattr(stepped, "step", counted_step)
    full.register_forward_hook(lambda *_: calls.__setitem__("full", calls["full"] + 1))
    return calls


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("kind", MODELS)
def test_cached_sampling_gives_the_samples_of_rerunning_the_prefix(kind, dtype, monkeypatch):
    model = MODELS[kind](seed=10).to(dtype)
    calls = count_work(model, monkeypatch)
    cached, one = model.sample(300, seed=1), model.sample(1, seed=4)
    # each position is computed once: n steps (n - 1 symbols read by the RNN), no full pass
    per_run = model.n - 1 if kind == "attention_rnn" else model.n
    assert calls == {"step": 2 * per_run, "full": 0}
    with attention.uncached_sampling(model):
        uncached = model.sample(300, seed=1)
        assert_same_draws(model.sample(1, seed=4), one, dtype)
    assert model.use_cache  # switched back
    assert calls["full"] == 2 * model.n and calls["step"] == 2 * per_run
    assert_same_draws(cached, uncached, dtype)
    assert one.shape == (1, model.n)
    if kind == "pixel_transformer":
        x, mask = binary(4, 9, seed=2).to(dtype), torch.arange(9) < 4
    else:
        x, mask = model.vocabulary.encode_prefix(["he", "o", "", "lll"], model.n)
    completed = model.sample(x=x, mask=mask, seed=3)
    with attention.uncached_sampling(model):
        assert_same_draws(completed, model.sample(x=x, mask=mask, seed=3), dtype)
    known = mask.expand_as(x)
    assert torch.equal(completed[known], x[known].to(completed.dtype))
    assert not torch.equal(completed, model.sample(x=x, mask=mask, seed=5))  # the rest is drawn


def expected_logit_at(model, x, i):
    """What sampling needs at position i: the logits of the conditional, and for strings END
    certain once a row has ended or at the last position."""
    logits = model.logits(x)[:, i]
    if isinstance(model, PixelTransformer):
        return logits
    forced = torch.full_like(logits, -math.inf)
    forced[:, text.END] = 0.0
    free = text.in_string(x)[:, i] & (i < model.n - 1)
    return torch.where(free[:, None], logits, forced)


@pytest.mark.parametrize("kind", MODELS)
def test_the_cache_gives_the_logits_of_every_position_in_order(kind):
    model = MODELS[kind](seed=11)
    x = some_rows(model, seed=12)
    state: dict = {}
    with torch.no_grad():
        for i in range(model.n):
            torch.testing.assert_close(model._logit_at(x, i, state),
                                       expected_logit_at(model, x, i), rtol=1e-10, atol=1e-12,
                                       msg=f"position {i}")


@pytest.mark.parametrize("first", [[3], [0, 3]], ids=["3 first", "0 then 3"])
@pytest.mark.parametrize("kind", MODELS)
def test_the_cache_catches_up_on_positions_it_was_not_asked_for(kind, first):
    # Completion with x_0..x_2 observed: the cache may first be asked for position 3, or for
    # position 0 and then 3; either way it must read the positions in between.
    model = MODELS[kind](seed=13)
    x = some_rows(model, seed=14)
    state: dict = {}
    with torch.no_grad():
        for i in [*first, *range(4, model.n)]:
            torch.testing.assert_close(model._logit_at(x, i, state),
                                       expected_logit_at(model, x, i), rtol=1e-10, atol=1e-12,
                                       msg=f"position {i}, asked first for {first}")


# ---------------------------------------------------------------------------------------------
# Sampled frequencies


def test_sampled_binary_vectors_have_the_exact_frequencies():
    model = pixel_transformer(n=3, seed=15, scale=1.0)
    p = model.log_prob(all_binary(3).double()).exp().detach()
    num = 20_000
    counts = torch.bincount(codes(model.sample(num, seed=16)), minlength=8).double()
    assert chi_square(counts, num * p) < CHI2_999[7]


@pytest.mark.parametrize("kind", STRING_MODELS)
def test_sampled_strings_have_the_exact_frequencies(kind):
    model = STRING_MODELS[kind](chars="ab", max_length=2, seed=17, scale=0.3)
    x, lengths = all_strings(model.vocabulary, 2, model.n)  # "", a, b, aa, ab, ba, bb
    # The sampler's distribution: p(s) for shorter strings; strings of max_length characters
    # take their prefix's probability, as the sampler ends them there.
    conditionals = model.conditionals(x)
    chosen = conditionals.gather(-1, x[..., None]).squeeze(-1)
    expected = torch.where(lengths < 2, model.log_prob(x).exp(), chosen[:, :2].prod(dim=1))
    expected = expected.detach()
    torch.testing.assert_close(expected.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert expected.min() > 0.01  # every count expected well above 5
    num = 20_000
    drawn = model.strings(num, seed=18)
    index = {s: k for k, s in enumerate(model.vocabulary.decode(x))}
    counts = torch.bincount(torch.tensor([index[s] for s in drawn]), minlength=len(x))
    assert chi_square(counts.double(), num * expected) < CHI2_999_6


# ---------------------------------------------------------------------------------------------
# Bad inputs, checkpoints and parameter counts


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match=r"width \(10\) must be a multiple of heads \(4\)"):
        Transformer("ab", 4, width=10, heads=4)
    with pytest.raises(ValueError, match=r"width \(6\) must be a multiple of heads \(4\)"):
        PixelTransformer(9, width=6, heads=4)
    with pytest.raises(ValueError, match="cell must be one of"):
        AttentionRNN("ab", 4, cell="elman")
    for build, match in [(lambda: Transformer("ab", 4, width=0), "width must be an int of at"),
                         (lambda: Transformer("ab", 4, heads=-1), "heads must be a positive int"),
                         (lambda: Transformer("ab", 4, width=8.0), "width must be an int of at"),
                         (lambda: Transformer("ab", 0), "max_length must be a positive int"),
                         (lambda: PixelTransformer(9, layers=0), "layers must be a positive"),
                         (lambda: PixelTransformer(0), "n must be a positive int"),
                         (lambda: AttentionRNN("ab", 4, key_size=0), "key_size must be a pos"),
                         (lambda: AttentionRNN("ab", 4, hidden=-3), "hidden must be a pos"),
                         (lambda: AttentionRNN("ab", 4, layers=0), "layers must be a pos")]:
        with pytest.raises(ValueError, match=match):
            build()
    strings, rnn_strings, pixels = transformer(), attention_rnn(), pixel_transformer()
    for model in (strings, rnn_strings):  # n = 7: six characters and END
        with pytest.raises(ValueError, match=r"shape \(B, 7\)"):
            model.log_prob(torch.zeros(2, 6, dtype=torch.long))
        with pytest.raises(ValueError, match=r"categories 0\.\.4, got values from 0 to 5"):
            model.log_prob(torch.tensor([[1, 5, 0, 0, 0, 0, 0]]))
        with pytest.raises(ValueError, match="integer tensor"):
            model.log_prob(torch.full((1, 7), float("nan")))
        with pytest.raises(ValueError, match="character 'x'"):
            model.complete(["hex"])
        with pytest.raises(TypeError, match="torch.Tensor"):
            model.log_prob([[1, 0, 0, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match=r"shape \(B, 7\)"):
        rnn_strings.attention(torch.zeros(1, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"categories 0\.\.4"):
        attention.reference_logits(strings, torch.tensor([[-1, 0, 0, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"shape \(B, 9\)"):
        pixels.log_prob(torch.zeros(3, 8))
    with pytest.raises(ValueError, match="binary"):
        pixels.log_prob(torch.tensor([[0.0, 1.0, 2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]))
    with pytest.raises(ValueError, match="binary"):
        pixels.sample(x=torch.full((1, 9), 2.0), mask=torch.arange(9) < 3)
    with pytest.raises(ValueError, match="NaN"):
        pixels.log_prob(torch.full((1, 9), float("nan")))
    with pytest.raises(ValueError, match="NaN"):
        attention.reference_logits(pixels, torch.full((1, 9), float("nan")))


@pytest.mark.parametrize("kind", MODELS)
def test_checkpoints_round_trip(tmp_path, kind):
    model = MODELS[kind](seed=19)
    ar.save(model, tmp_path / "model.pt")
    loaded = ar.load(tmp_path / "model.pt")
    assert type(loaded) is type(model) and loaded.config() == model.config()
    assert loaded.dtype == torch.float64
    x = some_rows(model, seed=20)
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))
    assert torch.equal(loaded.sample(5, seed=0), model.sample(5, seed=0))
    expected = {"attention_rnn": {"chars": "helo", "max_length": 6, "hidden": 5, "cell": "lstm",
                                  "layers": 2, "key_size": 3},
                "transformer": {"chars": "helo", "max_length": 6, "width": 8, "heads": 2,
                                "layers": 2},
                "pixel_transformer": {"n": 9, "width": 8, "heads": 2, "layers": 2}}[kind]
    assert loaded.config() == expected


def test_a_checkpoint_loads_where_only_the_package_is_imported(tmp_path):
    # A reader who saved a Transformer loads it later with `import autoregressive` alone.
    ar.save(transformer(seed=21), tmp_path / "model.pt")
    script = ("import autoregressive as ar, sys; "
              "print(type(ar.load(sys.argv[1])).__name__)")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.pt")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.strip() == "Transformer"


def test_the_parameters_are_those_the_architecture_counts():
    d, n, k = 8, 7, 5  # width, positions (max_length 6 and END), symbols with END
    block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d + 4 * d * d + d)
    by_hand = (k + 1) * d + n * d + 2 * block + 2 * d + (d * k + k)
    assert Transformer("helo", 6, width=d, heads=2, layers=2).num_parameters() == by_hand
    assert Transformer("helo", 6, width=d, heads=8, layers=2).num_parameters() == by_hand
    assert Transformer("helo", 6, width=d, heads=2, layers=3).num_parameters() == by_hand + block
    # pixels: two values and the start token in, one logit out
    by_hand = 3 * d + 9 * d + block + 2 * d + (d + 1)
    assert PixelTransformer(9, width=d, heads=4, layers=1).num_parameters() == by_hand
    # the RNN: an LSTM (four gates, two biases each), h_0 and c_0, W_q, W_k, W_o and b_o
    h, key = 5, 3
    lstm = 4 * h * k + 4 * h * h + 8 * h + 2 * h
    by_hand = lstm + 2 * h * key + (2 * h * k + k)
    assert AttentionRNN("helo", 6, hidden=h, cell="lstm", key_size=key).num_parameters() \
        == by_hand
    tanh = h * k + h * h + h  # no biases; h_0
    assert AttentionRNN("helo", 6, hidden=h, cell="tanh", key_size=key).num_parameters() \
        == tanh + 2 * h * key + (2 * h * k + k)
