"""Strings: the vocabulary's layout and errors, models of strings (checks, END, the bigram's
counts), and the names corpus with its fixed split."""

from __future__ import annotations

import math

import pytest
import torch

import autoregressive as ar
from autoregressive import text
from autoregressive.data import MissingDataError


# ---------------------------------------------------------------------------------------------
# Vocabulary


def test_rows_hold_the_string_then_end_then_end_padding():
    vocab = text.Vocabulary("helo")
    assert len(vocab) == 5 and vocab.ids == {"h": 1, "e": 2, "l": 3, "o": 4}
    x = vocab.encode(["hello", "oh", "e"], length=7)
    assert x.dtype == torch.long and x.shape == (3, 7)
    assert x.tolist() == [[1, 2, 3, 3, 4, 0, 0], [4, 1, 0, 0, 0, 0, 0], [2, 0, 0, 0, 0, 0, 0]]
    assert vocab.decode(x) == ["hello", "oh", "e"]
    assert vocab.labels == [text.END_LABEL, "h", "e", "l", "o"]


def test_decode_stops_at_the_first_end():
    vocab = text.Vocabulary("ab")
    assert vocab.decode(torch.tensor([[1, 2, 0, 1, 2], [0, 1, 1, 1, 1]])) == ["ab", ""]


def test_from_strings_is_sorted_and_complete():
    vocab = text.Vocabulary.from_strings(["zoe", "ada", "bo"])
    assert vocab.chars == "abdeoz"
    assert vocab == text.Vocabulary("abdeoz") and vocab != text.Vocabulary("abdezo")


def test_prefixes_for_completion():
    vocab = text.Vocabulary("abc")
    x, mask = vocab.encode_prefix(["ca", ""], length=4)
    assert x.tolist() == [[3, 1, 0, 0], [0, 0, 0, 0]]
    assert mask.tolist() == [[True, True, False, False], [False] * 4]
    with pytest.raises(ValueError, match="at most 3"):
        vocab.encode_prefix(["abca"], length=4)


@pytest.mark.parametrize("strings, length, error, message", [
    (["hello", "hex"], 8, ValueError, r"string 1 \('hex'\) has character 'x'"),
    (["hello"], 5, ValueError, r"5 characters; with length=5 at most 4"),
    (["he", 3], 8, TypeError, "string 1 is a int"),
    ("hello", 8, TypeError, "not a bare string"),
    (torch.tensor([1, 2]), 8, TypeError, "list of str"),
    (["he"], 1, ValueError, "length must be an int of at least 2"),
    (["he"], 4.0, ValueError, "length must be an int"),
])
def test_bad_strings_are_refused(strings, length, error, message):
    with pytest.raises(error, match=message):
        text.Vocabulary("helo").encode(strings, length)


@pytest.mark.parametrize("chars, error, message", [
    ("abca", ValueError, r"more than once.*\['a'\]"),
    ("", ValueError, "at least one character"),
    (["a", "bc"], ValueError, "one character, got 'bc'"),
    (5, TypeError, "string of characters"),
])
def test_bad_vocabularies_are_refused(chars, error, message):
    with pytest.raises(error, match=message):
        text.Vocabulary(chars)


@pytest.mark.parametrize("ids, error, message", [
    (torch.tensor([1, 2, 0]), ValueError, r"shape \(B, length\)"),
    (torch.tensor([[1.0, 0.0]]), ValueError, "integer tensor"),
    (torch.tensor([[1, 5]]), ValueError, "0..2"),
    ([[1, 0]], TypeError, "torch.Tensor"),
])
def test_bad_ids_are_refused(ids, error, message):
    with pytest.raises(error, match=message):
        text.Vocabulary("ab").decode(ids)


# ---------------------------------------------------------------------------------------------
# Models of strings (through the bigram, the simplest one)


def test_bigram_counts_give_the_smoothed_frequencies():
    model = text.Bigram("ab", max_length=3)
    x = model.vocabulary.encode(["ab", "a", "b", "aa"], length=4)
    model.fit_counts(x, smoothing=0.5)
    p = model.conditionals(model.vocabulary.encode(["ab"], length=4))[0]  # (n, K)
    # From the start: a three times, b once, END never; 4 + 3 · 0.5 in all.
    torch.testing.assert_close(p[0], torch.tensor([0.5, 3.5, 1.5]) / 5.5)
    # After a: END twice ("a", "aa"), a once ("aa"), b once ("ab").
    torch.testing.assert_close(p[1], torch.tensor([2.5, 1.5, 1.5]) / 5.5)
    # After b: END twice ("ab", "b").
    torch.testing.assert_close(p[2], torch.tensor([2.5, 0.5, 0.5]) / 3.5)


def test_log_prob_counts_the_string_and_its_end_and_not_the_padding():
    model = text.Bigram("ab", max_length=4)
    with torch.no_grad():
        model.table.copy_(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))
    x = model.vocabulary.encode(["ab"], length=5)  # a b END END END
    log_p = torch.log_softmax(model.table, dim=-1)
    expected = log_p[0, 1] + log_p[1, 2] + log_p[2, 0]  # p(a) p(b | a) p(END | ab)
    torch.testing.assert_close(model.log_prob(x), expected[None])
    torch.testing.assert_close(model.nats_per_character(x), -expected.item() / 3)


def test_rows_that_are_not_strings_are_refused():
    model = text.Bigram("ab", max_length=3)
    with pytest.raises(ValueError, match="row 1 has a character at position 3, after its first"):
        model.log_prob(torch.tensor([[1, 2, 0, 0], [1, 0, 0, 2]]))
    with pytest.raises(ValueError, match="row 0 has no end token"):
        model.log_prob(torch.tensor([[1, 2, 1, 2]]))
    with pytest.raises(ValueError, match="integer tensor"):
        model.log_prob(torch.tensor([[1.0, float("nan"), 0.0, 0.0]]))
    with pytest.raises(ValueError, match=r"shape \(B, 4\)"):
        model.log_prob(torch.tensor([[1, 0, 0]]))
    with pytest.raises(ValueError, match="categories 0..2"):
        model.log_prob(torch.tensor([[3, 0, 0, 0]]))
    with pytest.raises(ValueError, match="smoothing"):
        model.fit_counts(torch.tensor([[1, 0, 0, 0]]), smoothing=0)


def test_samples_are_strings_and_completions_keep_the_prefix():
    model = text.Bigram("abc", max_length=5)
    model.fit_counts(model.vocabulary.encode(["abc", "cab", "bca", "aaaaa"], length=6))
    x = model.sample(200, seed=0)
    model._check(x)  # every row a string: END at the end at the latest, padding after it
    for prefix, s in zip(["ca", "b", ""], model.complete(["ca", "b", ""], seed=1)):
        assert s.startswith(prefix) and len(s) <= 5
    assert [s[:2] for s in model.complete(["ca"] * 20, seed=2)] == ["ca"] * 20
    with pytest.raises(ValueError, match="a beginning"):
        model.sample(x=torch.zeros(1, 6, dtype=torch.long),
                     mask=torch.tensor([True, False, True, False, False, False]))


def test_a_bigram_checkpoint_keeps_its_vocabulary(tmp_path):
    model = text.Bigram("xyz", max_length=4)
    model.fit_counts(model.vocabulary.encode(["xy", "zzz"], length=5))
    ar.save(model, tmp_path / "bigram.pt")
    loaded = ar.load(tmp_path / "bigram.pt")
    assert loaded.vocabulary == model.vocabulary and loaded.max_length == 4
    x = model.vocabulary.encode(["xz", "y"], length=5)
    assert torch.equal(loaded.log_prob(x), model.log_prob(x))


# ---------------------------------------------------------------------------------------------
# The names corpus


def test_the_split_is_fixed_disjoint_and_complete():
    strings = [f"{a}{b}" for a in "abcdefg" for b in "hijklmn"]  # 49
    one, again = text.split_corpus(strings, seed=3), text.split_corpus(reversed(strings), seed=3)
    assert one == again
    assert (len(one.train), len(one.valid), len(one.test)) == (39, 5, 5)
    assert sorted(one.train + one.valid + one.test) == sorted(strings)
    assert text.split_corpus(strings, seed=4).test != one.test
    assert one.max_length == 2 and one.encoded("valid").shape == (5, 3)
    with pytest.raises(ValueError, match="fractions"):
        text.split_corpus(strings, fractions=(0.5, 0.5, 0.1))
    with pytest.raises(ValueError, match="split must be"):
        one.encoded("validation")


def test_names_corpus():
    everything = text.names("all")
    assert len(everything) >= 30_000 and len(set(everything)) == len(everything)
    assert everything == sorted(everything) and all(s.islower() for s in everything)
    assert set(text.names("first")) | set(text.names("last")) == set(everything)
    corpus = text.names_corpus("all", seed=0)
    total = len(everything)
    assert len(corpus.train) == round(0.8 * total) and len(corpus.valid) == round(0.1 * total)
    assert sorted(corpus.train + corpus.valid + corpus.test) == everything
    assert corpus.vocabulary.chars == "abcdefghijklmnopqrstuvwxyz"
    train = corpus.encoded("train")
    assert train.shape == (len(corpus.train), corpus.max_length + 1)
    assert corpus.vocabulary.decode(train[:5]) == list(corpus.train[:5])


def test_a_missing_names_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(text.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDataError, match=r"pip install names==0\.3\.0"):
        text.names()
    with pytest.raises(ValueError, match="kind must be one of"):
        text.names("middle")


def test_bigram_on_names_beats_the_uniform_code():
    corpus = text.names_corpus("first", seed=0)
    model = text.Bigram(corpus.vocabulary.chars, corpus.max_length)
    model.fit_counts(corpus.encoded("train"))
    nats = model.nats_per_character(corpus.encoded("test"))
    assert nats < math.log(len(corpus.vocabulary)) - 0.5  # uniform: log 27 = 3.30 nats


def test_a_split_that_would_leave_a_part_empty_is_refused():
    strings = [f"s{k}" for k in range(10)]
    with pytest.raises(ValueError, match="leave a split empty"):
        text.split_corpus(strings, seed=0, fractions=(0.96, 0.02, 0.02))
    corpus = text.split_corpus(strings, seed=0, fractions=(0.8, 0.1, 0.1))
    assert (len(corpus.train), len(corpus.valid), len(corpus.test)) == (8, 1, 1)
