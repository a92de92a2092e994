"""What every model of the library shares, checked on all of them at once: an empty batch gives
empty results, a broken model (NaN weights) cannot sample in silence, the temperature is a real
number and nothing else, and a checkpoint that does not fit its class says so. Then the edge
cases of the string tools: empty sets, empty strings, unordered vocabularies, the fast-path
switches, and what ``evaluate`` reports for strings."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import autoregressive as ar
from autoregressive import attention, rnn, text
from autoregressive.attention import AttentionRNN, PixelTransformer, Transformer
from autoregressive.base import Autoregressive, DensityModel
from helpers import randomize

ABSTRACT = {"Autoregressive", "BinaryAutoregressive", "CategoricalAutoregressive", "StringModel"}

ZOO = {  # one small instance of every concrete model in the library
    "IndependentBernoulli": lambda: ar.IndependentBernoulli(6),
    "FVSBN": lambda: ar.FVSBN(6),
    "NADE": lambda: ar.NADE(6, hidden=4, block=4),
    "MADE": lambda: ar.MADE(6, (8,), num_masks=2, natural_order=False),
    "MaskEnsemble": lambda: ar.MADE(6, (8,), num_masks=2, natural_order=False).ensemble(),
    "SoftmaxNADE": lambda: ar.SoftmaxNADE(6, levels=3, hidden=4),
    "RNADE": lambda: ar.RNADE(4, components=2, hidden=4),
    "Bigram": lambda: ar.Bigram("ab", 4),
    "CharRNN": lambda: ar.CharRNN("ab", 4, hidden=4, cell="lstm"),
    "BinaryRNN": lambda: ar.BinaryRNN(6, hidden=4, cell="gru"),
    "PixelRNN": lambda: ar.PixelRNN(3, 3, kind="diagonal_bilstm", hidden=4, output_features=4),
    "ColourPixelRNN": lambda: ar.ColourPixelRNN(2, 2, levels=4, kind="row_lstm", hidden=6,
                                                output_features=6),
    "AttentionRNN": lambda: AttentionRNN("ab", 4, hidden=4, key_size=2),
    "Transformer": lambda: Transformer("ab", 4, width=4, heads=2, layers=1),
    "PixelTransformer": lambda: PixelTransformer(6, width=4, heads=2, layers=1),
}
SAMPLERS = [k for k in ZOO]  # every model samples


def build(kind: str, seed: int = 0):
    model = ZOO[kind]()
    inner = model.made if kind == "MaskEnsemble" else model
    randomize(inner, seed=seed, scale=0.5)
    return model.eval()


def some_rows(model, rows: int = 3) -> torch.Tensor:
    """Rows in the model's support."""
    g = torch.Generator().manual_seed(0)
    if isinstance(model, text.StringModel):
        return model.vocabulary.encode(["ab", "b", "abba"][:rows], model.n)
    if isinstance(model, ar.RNADE):
        return torch.randn(rows, model.n, generator=g)
    if isinstance(model, ar.CategoricalAutoregressive):
        return torch.randint(model.levels, (rows, model.n), generator=g)
    return torch.bernoulli(torch.full((rows, model.n), 0.5), generator=g)


def test_the_zoo_holds_every_model_of_the_library():
    concrete = set(DensityModel.registry) - ABSTRACT
    assert concrete == set(ZOO), "add the new model to ZOO, so these checks cover it"


# ---------------------------------------------------------------------------------------------
# An empty batch: empty results of the right shape, for every model


@pytest.mark.parametrize("kind", sorted(ZOO))
def test_an_empty_batch_gives_empty_results(kind):
    model = build(kind)
    x = some_rows(model)
    empty = x[:0]
    log_p = model.log_prob(empty)
    assert log_p.shape == (0,) and log_p.dtype == model.log_prob(x).dtype
    if isinstance(model, Autoregressive):
        assert model.logits(empty).shape == (0,) + model.logits(x).shape[1:]
        conditionals = model.conditionals(empty)
        if isinstance(conditionals, dict):  # RNADE: the mixtures' parts
            full = model.conditionals(x)
            assert {k: v.shape[1:] for k, v in conditionals.items()} == \
                {k: v.shape[1:] for k, v in full.items()}
            assert all(len(v) == 0 for v in conditionals.values())
        else:
            assert conditionals.shape == (0,) + model.conditionals(x).shape[1:]
    drawn = model.sample(x=empty, mask=torch.zeros(model.n, dtype=torch.bool), seed=0)
    assert drawn.shape == (0, model.n)


def test_an_empty_list_of_prefixes_completes_to_an_empty_list():
    for kind in ("CharRNN", "AttentionRNN", "Transformer", "Bigram"):
        assert build(kind).complete([], seed=0) == [], kind


# ---------------------------------------------------------------------------------------------
# A broken model raises instead of sampling in silence


@pytest.mark.parametrize("kind", sorted(ZOO))
def test_sampling_a_model_with_nan_weights_raises(kind):
    model = build(kind)
    inner = model.made if kind == "MaskEnsemble" else model
    with torch.no_grad():
        for p in inner.parameters():
            p.fill_(math.nan)
    assert torch.isnan(model.log_prob(some_rows(model))).all()
    with pytest.raises(FloatingPointError, match="NaN"):
        model.sample(4, seed=0)


def test_the_error_names_the_dimension_whose_conditional_is_nan():
    model = build("NADE")
    with torch.no_grad():
        model.b[4] = math.nan  # the conditional of x_4 alone
    assert torch.isnan(model.logits(some_rows(model))).sum(dim=0).nonzero().tolist() == [[4]]
    with pytest.raises(FloatingPointError, match="dimension 4 "):
        model.sample(2, seed=0)


# ---------------------------------------------------------------------------------------------
# The temperature: a positive real number, of any real type, never a bool


@pytest.mark.parametrize("kind", ["NADE", "CharRNN", "RNADE", "MaskEnsemble"])
def test_the_temperature_is_a_real_number_not_a_bool(kind):
    model = build(kind)
    for bad in (True, False, "1", None, math.nan, -1.0, 0):
        with pytest.raises(ValueError, match="temperature"):
            model.sample(2, seed=0, temperature=bad)
    half = model.sample(3, seed=1, temperature=0.5)
    for same in (np.float32(0.5), np.float64(0.5)):
        torch.testing.assert_close(model.sample(3, seed=1, temperature=same), half,
                                   rtol=0, atol=0)
    torch.testing.assert_close(model.sample(3, seed=1, temperature=np.int64(2)),
                               model.sample(3, seed=1, temperature=2.0), rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# Checkpoints


def test_a_checkpoint_whose_class_does_not_fit_its_contents_names_the_file(tmp_path):
    path = tmp_path / "nade.pt"
    ar.save(build("NADE"), path)
    saved = torch.load(path, weights_only=True)
    for name, change in {
        "config": lambda c: c.update(config={**c["config"], "width": 3}),  # no such argument
        "class": lambda c: c.update(model="FVSBN", config={"n": 6}),  # other weights
        "shape": lambda c: c.update(config={**c["config"], "hidden": 5}),  # wrong sizes
    }.items():
        broken = {k: (dict(v) if isinstance(v, dict) else v) for k, v in saved.items()}
        change(broken)
        broken["sha256"] = ar.train._checksum(broken["model"], broken["config"],
                                              broken["dtype"], broken["state"])
        torch.save(broken, tmp_path / f"{name}.pt")
        with pytest.raises(ValueError, match=f"{name}.pt"):
            ar.load(tmp_path / f"{name}.pt")


def test_save_refuses_what_is_not_a_model_of_the_library(tmp_path):
    for bad in (torch.nn.Linear(2, 2), "model", None):
        with pytest.raises(TypeError, match="save takes a model of the library"):
            ar.save(bad, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


# ---------------------------------------------------------------------------------------------
# Strings


def test_the_empty_string_is_a_string_the_models_score_and_encode():
    model = build("CharRNN")
    x = model.vocabulary.encode(["", "ab"], model.n)
    assert x[0].tolist() == [text.END] * model.n
    assert model.vocabulary.decode(x) == ["", "ab"]
    assert torch.isfinite(model.log_prob(x)).all()
    drawn = model.vocabulary.decode(model.sample(2000, seed=0))
    assert "" in drawn  # p(END first) > 0: the empty string is drawn, and encodes back
    torch.testing.assert_close(model.vocabulary.encode(drawn, model.n),
                               model.sample(2000, seed=0), rtol=0, atol=0)


def test_a_vocabulary_needs_an_order():
    for unordered in ({"a", "b"}, frozenset("ab"), {"a": 1, "b": 2}.keys()):
        with pytest.raises(TypeError, match="order"):
            text.Vocabulary(unordered)
    assert text.Vocabulary(sorted({"b", "a"})).chars == "ab"
    assert text.Vocabulary(c for c in "ba").chars == "ba"  # an ordered iterable is fine


def test_nats_per_character_of_an_empty_set_is_refused():
    model = build("CharRNN")
    with pytest.raises(ValueError, match="empty"):
        model.nats_per_character(model.vocabulary.encode([], model.n))


def test_a_corpus_length_of_zero_is_refused_not_replaced():
    corpus = text.split_corpus(["anna", "bob", "eve", "otto"], seed=0,
                               fractions=(0.5, 0.25, 0.25))
    with pytest.raises(ValueError, match="length"):
        corpus.encoded("train", length=0)
    assert corpus.encoded("train").shape[1] == corpus.max_length + 1


def test_evaluate_reports_strings_per_character():
    model = build("CharRNN")
    short = model.vocabulary.encode(["ab", "b", "abba"], 5)
    twin = ar.CharRNN("ab", 9, hidden=4, cell="lstm")
    twin.load_state_dict(model.state_dict())
    long = twin.vocabulary.encode(["ab", "b", "abba"], 10)  # the same strings, more padding
    a, b = ar.evaluate(model, short), ar.evaluate(twin.eval(), long)
    torch.testing.assert_close(a.nats, b.nats, rtol=1e-6, atol=0)  # one distribution
    assert a.bits_per_dim is None and b.bits_per_dim is None
    per_char = model.nats_per_character(short) / math.log(2)
    torch.testing.assert_close(a.bits_per_character, per_char, rtol=1e-9, atol=0)
    torch.testing.assert_close(b.bits_per_character, per_char, rtol=1e-6, atol=0)
    assert "bits/character" in str(a)
    assert ar.evaluate(build("NADE"), some_rows(build("NADE"))).bits_per_character is None


@pytest.mark.parametrize("model_class", [Transformer, PixelTransformer])
def test_a_decoder_one_feature_wide_is_refused(model_class):
    args = ("ab", 4) if model_class is Transformer else (6,)
    with pytest.raises(ValueError, match="width"):
        model_class(*args, width=1, heads=1)
    model_class(*args, width=2, heads=1)


# ---------------------------------------------------------------------------------------------
# The fast-path switches restore what they found


@pytest.mark.parametrize("kind, switch, flag", [
    ("CharRNN", rnn.plain_sampling, "carry_state"),
    ("Transformer", attention.uncached_sampling, "use_cache"),
])
def test_a_fast_path_switch_restores_the_value_it_found(kind, switch, flag):
    model = build(kind)
    with switch(model):
        with switch(model):
            assert getattr(model, flag) is False
        assert getattr(model, flag) is False, "the inner block turned the fast path back on"
    assert getattr(model, flag) is True
    setattr(model, flag, False)  # a reader switched it off by hand
    with switch(model):
        pass
    assert getattr(model, flag) is False


# ---------------------------------------------------------------------------------------------
# Training where the reader's GPU is


def test_fit_says_so_when_a_gpu_is_present_and_the_model_is_on_the_cpu(monkeypatch):
    model = ar.NADE(6, hidden=4)
    x = some_rows(model, rows=4)
    ar.fit(model, x, x, epochs=1, progress=False)  # no GPU here: nothing to say
    monkeypatch.setattr(ar.runtime, "device", lambda: torch.device("cuda:0"))
    with pytest.warns(UserWarning, match=r"on the CPU although cuda:0 is present.*ar\.device"):
        ar.fit(model, x, x, epochs=1, progress=False)
