"""Attention: each prediction looks back at every past state, weighted by relevance.

Attention in four steps (Bahdanau, Cho & Bengio 2015; Vaswani et al. 2017), for one query q
and the keys k_j and values v_j of the positions j it may see:

    1. scores      s_j = q · k_j / √d            (d: the size of q and k)
    2. weights     a_j = exp(s_j) / Σ_j' exp(s_j')  (a distribution over the visible past)
    3. summary     z = Σ_j a_j v_j
    4. prediction  the next symbol's logits from z together with the current state.

:func:`attend` is those steps in plain torch, the reference the models are tested against.

- :class:`AttentionRNN`: a recurrent network over strings (as in ``rnn``) whose prediction at
  step t also reads a summary of its own states h_0..h_t, weighted by attention with the query
  taken from h_t;
- :class:`Transformer` (strings) and :class:`PixelTransformer` (binary images, raster order):
  a decoder of causal self-attention blocks (pre-LayerNorm, several heads, learnt position
  embeddings, a two-layer MLP) in the manner of Vaswani et al. (2017) and GPT (Radford et al.
  2018). The input at position t is the symbol before it (a start token at position 0), so the
  output at t gives p(x_t | x_<t). Training runs every position in one pass with torch's fused
  ``scaled_dot_product_attention`` and a causal mask.

Sampling with a **cache**: the keys and values of earlier positions do not change when a new
symbol is drawn, so each step computes the new position's query, key and value only and
attends over the stored ones, O(t) work at step t instead of re-running the whole prefix.
:func:`uncached_sampling` switches a model to re-running the prefix, for comparison (the tests
prove that both give the same samples), :func:`seconds_per_position` times generation position
by position, and :func:`reference_logits` computes a decoder's logits by the step-by-step
equations from its own weights.
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from .base import BinaryAutoregressive, check_int, fast_path_off
from .rnn import Recurrence
from .text import StringModel


# ---------------------------------------------------------------------------------------------
# The four steps


def attend(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
           visible: torch.Tensor | None = None, scale: bool = True) -> dict[str, torch.Tensor]:
    """Attention step by step, for queries (..., Q, d), keys (..., T, d), values (..., T, dv).

    visible: (Q, T) bool, True where query i may see position j (None: everywhere).
    scale: divide the dot products by √d.
    Returns the scores (..., Q, T), the weights (a softmax over the visible positions, zero
    elsewhere) and the summaries (..., Q, dv).
    """
    scores = query @ keys.transpose(-2, -1)  # (..., Q, T): step 1
    if scale:
        scores = scores / math.sqrt(query.shape[-1])
    if visible is not None:
        scores = scores.masked_fill(~visible, -math.inf)
    weights = torch.softmax(scores, dim=-1)  # step 2
    return {"scores": scores, "weights": weights, "summary": weights @ values}  # step 3


# ---------------------------------------------------------------------------------------------
# A recurrent network with attention over its own states


class AttentionRNN(StringModel):
    """An RNN over strings whose every prediction also attends over its own states so far.

    After reading t symbols the network has states h_0..h_t (h_0 learnt). Its query is
    q_t = W_q h_t, the keys k_j = W_k h_j and the values the states themselves; the summary
    z_t = Σ_{j ≤ t} a_tj h_j (:func:`attend`, scaled), and the logits of the next symbol
    o_t = W_o [h_t; z_t] + b_o.

    chars, max_length: as for :class:`~autoregressive.rnn.CharRNN`.
    hidden, cell, layers: the recurrence (see :class:`~autoregressive.rnn.Recurrence`).
    key_size: d, the size of queries and keys.
    """

    def __init__(self, chars: str, max_length: int, hidden: int = 128, cell: str = "lstm",
                 layers: int = 1, key_size: int = 32):
        super().__init__(chars, max_length)
        self.recurrence = Recurrence(self.levels, hidden, cell, layers)  # checks the cell
        self.key_size = check_int("key_size", key_size)
        self.query = nn.Linear(hidden, self.key_size, bias=False)  # W_q
        self.key = nn.Linear(hidden, self.key_size, bias=False)  # W_k
        self.output = nn.Linear(2 * hidden, self.levels)  # W_o, b_o
        self.use_cache = True

    def config(self) -> dict:
        r = self.recurrence
        return {**super().config(), "hidden": r.hidden, "cell": r.cell, "layers": r.layers,
                "key_size": self.key_size}

    def _states(self, x: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(x[:, :-1], self.levels).to(self.dtype)  # reads x_1..x_{n-1}
        return self.recurrence(onehot)  # (B, n, H): h_0..h_{n-1}

    def attention(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The four steps at every position of the rows ``x``: scores and weights (B, n, n)
        (position t over states h_0..h_t) and summaries (B, n, H)."""
        self._check(x)
        states = self._states(self._prepare(x))
        visible = torch.ones(self.n, self.n, dtype=torch.bool, device=states.device).tril()
        return {**attend(self.query(states), self.key(states), states, visible),
                "states": states}

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        states = self._states(x)  # (B, n, H)
        summary = F.scaled_dot_product_attention(self.query(states), self.key(states), states,
                                                 is_causal=True)  # (B, n, H)
        return self.output(torch.cat([states, summary], dim=-1))  # (B, n, K)

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        if not self.use_cache:
            return super()._logit_at(x, i, state)
        if "rnn" not in state:  # the start: h_0, nothing read yet
            state["rnn"] = self.recurrence.start(x.shape[0])
            state["states"] = [Recurrence.top(state["rnn"])]
        if i > len(state["states"]) - 1:  # read the symbols fixed since the last step
            for t in range(len(state["states"]) - 1, i):
                onehot = F.one_hot(x[:, t:t + 1], self.levels).to(self.dtype)
                state["rnn"] = self.recurrence.step(onehot, state["rnn"])
                state["states"].append(Recurrence.top(state["rnn"]))
        states = torch.stack(state["states"], dim=1)  # (B, i + 1, H)
        h = states[:, -1:]  # (B, 1, H): the current state
        summary = F.scaled_dot_product_attention(self.query(h), self.key(states), states)
        logit = self.output(torch.cat([h, summary], dim=-1))[:, 0]  # (B, K)
        return self._force_end(x, i, logit)


# ---------------------------------------------------------------------------------------------
# The decoder: causal self-attention blocks


class CausalSelfAttention(nn.Module):
    """Several heads of scaled dot-product attention, each position over itself and the
    positions before it. Queries, keys and values are projections of the input, split into
    ``heads`` parts of size d / heads; the heads' summaries are concatenated and projected."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        if width % heads:
            raise ValueError(f"the width ({width}) must be a multiple of heads ({heads})")
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)  # W_q, W_k, W_v side by side
        self.proj = nn.Linear(width, width)  # W_o

    def split(self, a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, d) -> queries, keys, values, each (B, heads, T, d / heads)."""
        b, t, width = a.shape
        q, k, v = self.qkv(a).view(b, t, 3, self.heads, width // self.heads).unbind(2)
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)

    def merge(self, summary: torch.Tensor) -> torch.Tensor:
        """(B, heads, T, d / heads) summaries -> (B, T, d), projected."""
        b, _, t, _ = summary.shape
        return self.proj(summary.transpose(1, 2).reshape(b, t, -1))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        q, k, v = self.split(a)
        return self.merge(F.scaled_dot_product_attention(q, k, v, is_causal=True))

    def step(self, a: torch.Tensor, cache: dict, length: int) -> torch.Tensor:
        """One new position (B, 1, d), attending over the cached keys and values and its own.

        The cache holds buffers for ``length`` positions, allocated at the first step and
        filled one position per step, so that no step copies the keys already stored."""
        q, k, v = self.split(a)  # (B, heads, 1, d / heads) each
        if "k" not in cache:
            cache["k"] = k.new_empty(k.shape[0], k.shape[1], length, k.shape[3])
            cache["v"] = torch.empty_like(cache["k"])
            cache["t"] = 0
        t = cache["t"]
        cache["k"][:, :, t], cache["v"][:, :, t] = k[:, :, 0], v[:, :, 0]
        cache["t"] = t + 1
        keys, values = cache["k"][:, :, :t + 1], cache["v"][:, :, :t + 1]
        return self.merge(F.scaled_dot_product_attention(q, keys, values))


class Block(nn.Module):
    """a + attention(LN(a)), then a + MLP(LN(a)): the pre-LayerNorm decoder block."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(),
                                 nn.Linear(4 * width, width))

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        a = a + self.attention(self.ln1(a))
        return a + self.mlp(self.ln2(a))

    def step(self, a: torch.Tensor, cache: dict, length: int) -> torch.Tensor:
        a = a + self.attention.step(self.ln1(a), cache, length)
        return a + self.mlp(self.ln2(a))


class Decoder(nn.Module):
    """Symbols (B, T) of ``symbols`` kinds -> logits (B, T, outputs) of the next symbol.

    The input at position t is the symbol t - 1; position 0 reads a start token (id
    ``symbols``), so the output at t depends on symbols 0..t-1 only.
    """

    def __init__(self, symbols: int, outputs: int, length: int, width: int, heads: int,
                 layers: int):
        super().__init__()
        self.symbols = symbols
        self.embed = nn.Embedding(symbols + 1, width)  # the symbols and the start token
        self.position = nn.Embedding(length, width)  # learnt position embeddings
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, outputs)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T) symbols -> (B, T) inputs: the start token, then x shifted right by one."""
        return F.pad(x[:, :-1], (1, 0), value=self.symbols)

    def embedding(self, inputs: torch.Tensor, start: int = 0) -> torch.Tensor:
        positions = torch.arange(start, start + inputs.shape[1], device=inputs.device)
        return self.embed(inputs) + self.position(positions)  # (B, T, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.embedding(self.inputs(x))
        for block in self.blocks:
            a = block(a)
        return self.head(self.ln(a))  # (B, T, outputs)

    def step(self, x: torch.Tensor, i: int, cache: list[dict]) -> torch.Tensor:
        """The logits (B, outputs) of position i, when positions 0..i-1 are in ``cache``."""
        token = x[:, i - 1:i] if i > 0 else torch.full_like(x[:, :1], self.symbols)
        a = self.embedding(token, start=i)  # (B, 1, d)
        length = self.position.num_embeddings
        for block, layer_cache in zip(self.blocks, cache):
            a = block.step(a, layer_cache, length)
        return self.head(self.ln(a))[:, 0]


def _cached_logit(model, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
    """Logits of position i during sampling: the positions since the last call are fed to the
    decoder one by one, each adding its keys and values to the cache."""
    if not model.use_cache:  # re-run the whole prefix, for comparison
        return model.decoder(x[:, :i + 1])[:, i]
    if "cache" not in state:
        state["cache"], state["next"] = [{} for _ in model.decoder.blocks], 0
    while state["next"] < i:  # positions skipped (observed in a completion): feed them too
        model.decoder.step(x, state["next"], state["cache"])
        state["next"] += 1
    state["next"] = i + 1
    return model.decoder.step(x, i, state["cache"])


def uncached_sampling(model):
    """Within this block, ``model.sample`` re-runs the whole prefix at every step instead of
    keeping the keys and values of earlier positions: for comparison."""
    return fast_path_off(model, "use_cache", "cache (a recurrent network's carried state: "
                         "rnn.plain_sampling)")


@torch.no_grad()
def seconds_per_position(model, num: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``num`` samples and time the network's work for each position: (n,) seconds spent
    computing position i's logits (GPU synchronised), and the samples. Run it inside
    :func:`uncached_sampling` to time the uncached route."""
    seconds = torch.zeros(model.n, dtype=torch.float64)
    step = model._logit_at
    synchronise = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)

    def timed(x, i, state):
        synchronise()
        start = time.perf_counter()
        logit = step(x, i, state)
        synchronise()
        seconds[i] += time.perf_counter() - start
        return logit

    model._logit_at = timed  # an instance attribute, removed below
    try:
        drawn = model.sample(check_int("num", num), seed=seed)
    finally:
        del model._logit_at
    return seconds, drawn


def _decoder_config(model) -> dict:
    d = model.decoder
    return {"width": d.head.in_features, "heads": d.blocks[0].attention.heads,
            "layers": len(d.blocks)}


class Transformer(StringModel):
    """A decoder of causal self-attention over strings (see :class:`Decoder`).

    chars, max_length: as for :class:`~autoregressive.rnn.CharRNN`.
    width: d, the size of every position's vector, at least 2 (the LayerNorm of a single
    feature is constant, and the logits would ignore the input); heads: attention heads per
    block (d must be a multiple); layers: blocks.
    """

    def __init__(self, chars: str, max_length: int, width: int = 64, heads: int = 4,
                 layers: int = 2):
        super().__init__(chars, max_length)
        self.decoder = Decoder(self.levels, self.levels, self.n, check_int("width", width, minimum=2),
                               check_int("heads", heads), check_int("layers", layers))
        self.use_cache = True

    def config(self) -> dict:
        return {**super().config(), **_decoder_config(self)}

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(x)

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        return self._force_end(x, i, _cached_logit(self, x, i, state))


class PixelTransformer(BinaryAutoregressive):
    """A decoder of causal self-attention over n binary values (an image in raster order);
    the output at position t is the logit of p(x_t = 1 | x_<t).

    n: the data dimension (784 for MNIST); width, heads, layers: as for :class:`Transformer`.
    """

    def __init__(self, n: int, width: int = 32, heads: int = 4, layers: int = 2):
        super().__init__(n)
        self.decoder = Decoder(2, 1, self.n, check_int("width", width, minimum=2),
                               check_int("heads", heads), check_int("layers", layers))
        self.use_cache = True

    def config(self) -> dict:
        return {"n": self.n, **_decoder_config(self)}

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(x.long()).squeeze(-1)  # (B, n)

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        return _cached_logit(self, x.long(), i, state).squeeze(-1)  # (B,)


# ---------------------------------------------------------------------------------------------
# The reference: the decoder's equations, one head at a time


def reference_logits(model: Transformer | PixelTransformer, x: torch.Tensor,
                     return_weights: bool = False):
    """The model's logits from its own weights by the equations, with :func:`attend` for each
    head and an explicit causal mask. With ``return_weights``, also every block's attention
    weights (B, heads, n, n), block by block."""
    if not isinstance(model, (Transformer, PixelTransformer)):
        raise TypeError(f"reference_logits needs a Transformer or a PixelTransformer, got "
                        f"{type(model).__name__}")
    model._check(x)
    x = model._prepare(x).long()
    d = model.decoder
    a = d.embedding(d.inputs(x))  # (B, n, width)
    n = a.shape[1]
    visible = torch.ones(n, n, dtype=torch.bool, device=a.device).tril()
    all_weights = []
    for block in d.blocks:
        q, k, v = block.attention.split(block.ln1(a))  # (B, heads, n, d_head) each
        steps = attend(q, k, v, visible)
        all_weights.append(steps["weights"])
        a = a + block.attention.merge(steps["summary"])
        a = a + block.mlp(block.ln2(a))
    logits = d.head(d.ln(a))
    logits = logits.squeeze(-1) if isinstance(model, PixelTransformer) else logits
    return (logits, all_weights) if return_weights else logits
