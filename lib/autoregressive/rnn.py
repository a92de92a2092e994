"""Recurrent networks as autoregressive models: a fixed-size summary of a growing past.

The tanh RNN (Elman 1990) reads one symbol per step, x one-hot, and keeps a hidden state h:

    h_0     = b_0                                  (learnt)
    h_{t+1} = tanh(W_hh h_t + W_xh x_{t+1})
    o_t     = W_hy h_t + b_y

o_t, computed from x_1..x_t alone, gives the conditional of the next symbol:
o_0 = W_hy b_0 + b_y gives p(x_1), o_1 (after reading x_1) gives p(x_2 | x_1), ...,
o_{n-1} gives p(x_n | x_<n). So the network reads x_1..x_{n-1}, and x_n is never an input.
With ``cell="lstm"`` or ``cell="gru"``, torch's LSTM (Hochreiter & Schmidhuber 1997; its memory
cell's start c_0 is learnt too) or GRU (Cho et al. 2014) replaces the tanh rule; inputs and
outputs stay the same. The tanh cell has no biases, as in the rule: for a one-hot x,
W_xh x + b = (W_xh + b 1ᵀ) x, so a bias would add nothing that W_xh cannot hold. That holds
for the first layer; with ``layers`` > 1 the upper tanh layers, which read the continuous
state below, have no biases either (torch's ``bias=False`` covers every layer), a restriction
the LSTM and GRU stacks do not share.

- :class:`CharRNN`: strings (a :class:`~autoregressive.text.StringModel`, with END);
- :class:`BinaryRNN`: binary vectors such as images, one pixel per step in raster order.

Three routes to the same conditionals live here:

- ``_logits``: torch's own nn.RNN / nn.LSTM / nn.GRU over the whole sequence at once (its fast
  kernels on CPU and GPU; no Python loop over time), for ``log_prob`` and training;
- ``_logit_at``: sampling that carries the hidden state from step to step, one step of new
  work per dimension; :func:`plain_sampling` switches a model to re-reading the whole prefix
  at every step instead, which the tests prove gives the same samples;
- :func:`reference_logits`: each cell's equations in a Python loop over time, from the model's
  own weights, for the tests and for building the network by hand; :func:`reference_forward`
  also returns the state of every step, for gradients with respect to it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import BinaryAutoregressive, check_int, fast_path_off
from .text import StringModel

CELLS = {"tanh": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


# ---------------------------------------------------------------------------------------------
# The recurrence both models share


class Recurrence(nn.Module):
    """A stack of recurrent layers with a learnt start state.

    inputs: the size of each one-hot input (the number of values a symbol takes).
    hidden: H, the size of the hidden state.
    cell: "tanh" (the rule above), "lstm" or "gru".
    layers: how many layers are stacked (layer l reads the hidden states of layer l - 1).
    """

    def __init__(self, inputs: int, hidden: int, cell: str, layers: int):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.inputs, self.hidden = check_int("inputs", inputs), check_int("hidden", hidden)
        self.cell, self.layers = cell, check_int("layers", layers)
        extra = {"nonlinearity": "tanh", "bias": False} if cell == "tanh" else {}
        self.rnn = CELLS[cell](self.inputs, self.hidden, self.layers, batch_first=True, **extra)
        self.h0 = nn.Parameter(torch.zeros(self.layers * self.hidden))  # b_0, every layer's
        if cell == "lstm":
            self.c0 = nn.Parameter(torch.zeros(self.layers * self.hidden))  # the cell's c_0

    def start(self, batch: int):
        """The state before any input, for ``batch`` rows: (layers, B, H), and for an LSTM the
        pair (h, c)."""
        def expand(p):
            return p.view(self.layers, 1, self.hidden).expand(-1, batch, -1).contiguous()
        return (expand(self.h0), expand(self.c0)) if self.cell == "lstm" else expand(self.h0)

    @staticmethod
    def top(state) -> torch.Tensor:
        """(B, H) hidden state of the top layer."""
        return (state[0] if isinstance(state, tuple) else state)[-1]

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:
        """(B, T, inputs) inputs x_1..x_T -> (B, T + 1, H) top-layer states h_0..h_T."""
        batch = onehot.shape[0]
        first = self.top(self.start(batch))[:, None]  # (B, 1, H): h_0
        if onehot.shape[1] == 0:
            return first
        states, _ = self.rnn(onehot, self.start(batch))  # (B, T, H): h_1..h_T
        return torch.cat([first, states], dim=1)

    def step(self, onehot: torch.Tensor, state):
        """The state after reading (B, T, inputs) more inputs from ``state`` (None: the start)."""
        if state is None:
            state = self.start(onehot.shape[0])
        if onehot.shape[1] == 0:
            return state
        return self.rnn(onehot, state)[1]


def _carried_logit(model, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
    """The output of position i during sampling, carrying the state from step to step: the
    symbols fixed since the last call (one, in raster order) are read once each."""
    if not getattr(model, "carry_state", True):  # the plain route, for comparison
        return model._logits(x)[:, i]
    if "state" not in state:
        state["state"], state["read"] = model.recurrence.start(x.shape[0]), 0
    if i > state["read"]:
        state["state"] = model.recurrence.step(model._onehot(x[:, state["read"]:i]), state["state"])
        state["read"] = i
    return model._head(Recurrence.top(state["state"]))


def plain_sampling(model):
    """Within this block, ``model.sample`` re-reads the whole prefix at every step (O(n) work
    per step, O(n²) per sample) instead of carrying the hidden state: for comparison."""
    return fast_path_off(model, "carry_state", "carried state (a decoder's cache: "
                         "attention.uncached_sampling)")


# ---------------------------------------------------------------------------------------------
# The models


class CharRNN(StringModel):
    """An RNN over strings of at most ``max_length`` characters from ``chars`` (with END).

    chars: the characters, e.g. "abcdefghijklmnopqrstuvwxyz" (END is added as id 0).
    max_length: the longest string a row holds (n = max_length + 1 positions).
    hidden, cell, layers: as for :class:`Recurrence`.
    """

    def __init__(self, chars: str, max_length: int, hidden: int = 128, cell: str = "tanh",
                 layers: int = 1):
        super().__init__(chars, max_length)
        self.recurrence = Recurrence(self.levels, hidden, cell, layers)
        self.output = nn.Linear(self.recurrence.hidden, self.levels)  # W_hy, b_y
        self.carry_state = True

    def config(self) -> dict:
        r = self.recurrence
        return {**super().config(), "hidden": r.hidden, "cell": r.cell, "layers": r.layers}

    def _onehot(self, x: torch.Tensor) -> torch.Tensor:
        return F.one_hot(x, self.levels).to(self.dtype)  # (B, T) -> (B, T, K)

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        return self.output(h)  # (..., H) -> (..., K): o = W_hy h + b_y

    def logits_from_onehot(self, onehot: torch.Tensor) -> torch.Tensor:
        """(B, n, K) one-hot rows -> (B, n, K) logits; only x_1..x_{n-1} are read."""
        return self._head(self.recurrence(onehot[:, :-1]))  # (B, n, H) -> (B, n, K)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from_onehot(self._onehot(x))

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """(B, n, H) top-layer states h_0..h_{n-1}: h_t has read the first t symbols of x."""
        self._check(x)
        return self.recurrence(self._onehot(self._prepare(x))[:, :-1])

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        return self._force_end(x, i, _carried_logit(self, x, i, state))


class BinaryRNN(BinaryAutoregressive):
    """An RNN over n binary values in raster order (an image read pixel by pixel); each pixel
    is read one-hot (two values), and o_t is the logit of p(x_{t+1} = 1 | x_{1:t}).

    n: the data dimension (784 for MNIST).
    hidden, cell, layers: as for :class:`Recurrence`.
    """

    def __init__(self, n: int, hidden: int = 128, cell: str = "tanh", layers: int = 1):
        super().__init__(n)
        self.recurrence = Recurrence(2, hidden, cell, layers)
        self.output = nn.Linear(self.recurrence.hidden, 1)  # W_hy, b_y
        self.carry_state = True

    def config(self) -> dict:
        r = self.recurrence
        return {"n": self.n, "hidden": r.hidden, "cell": r.cell, "layers": r.layers}

    def _onehot(self, x: torch.Tensor) -> torch.Tensor:
        return F.one_hot(x.long(), 2).to(self.dtype)  # (B, T) -> (B, T, 2)

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        return self.output(h).squeeze(-1)  # (..., H) -> (...): the logit of x = 1

    def logits_from_onehot(self, onehot: torch.Tensor) -> torch.Tensor:
        """(B, n, 2) one-hot rows -> (B, n) logits; only x_1..x_{n-1} are read."""
        return self._head(self.recurrence(onehot[:, :-1]))  # (B, n, H) -> (B, n)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits_from_onehot(self._onehot(x))

    hidden_states = CharRNN.hidden_states

    def _logit_at(self, x: torch.Tensor, i: int, state: dict) -> torch.Tensor:
        return _carried_logit(self, x, i, state)  # (B,)


# ---------------------------------------------------------------------------------------------
# The reference: the equations in a loop over time


def reference_logits(model: CharRNN | BinaryRNN, x: torch.Tensor) -> torch.Tensor:
    """The model's logits, ``model.logits(x)``, from its weights by the cell's equations in a
    Python loop over time (torch's documented gate order: LSTM i, f, g, o; GRU r, z, n)."""
    return reference_forward(model, x)[0]


def reference_forward(model: CharRNN | BinaryRNN, x: torch.Tensor):
    """(logits, states): :func:`reference_logits`, and the top layer's state after reading t
    symbols, for t = 0..n-1: the tensor h_t (B, H), or for an LSTM the pair (h_t, c_t). Each is
    the very tensor the later steps read, so autograd gives ∂ log p(x_T | x_<T) / ∂ h_t."""
    model._check(x)
    x = model._prepare(x)
    onehot = model._onehot(x)  # (B, n, K)
    r = model.recurrence
    batch, layers, hidden = x.shape[0], r.layers, r.hidden
    h = list(r.h0.view(layers, hidden).expand(batch, -1, -1).unbind(1))  # per layer (B, H)
    if r.cell == "lstm":
        c = list(r.c0.view(layers, hidden).expand(batch, -1, -1).unbind(1))
    outputs, states = [], []
    for t in range(model.n):
        states.append((h[-1], c[-1]) if r.cell == "lstm" else h[-1])
        outputs.append(h[-1] @ model.output.weight.T + model.output.bias)  # o_t
        if t == model.n - 1:
            break
        below = onehot[:, t]  # x_{t+1}, the input of the first layer
        for l in range(layers):
            W_ih, W_hh = getattr(r.rnn, f"weight_ih_l{l}"), getattr(r.rnn, f"weight_hh_l{l}")
            if r.cell == "tanh":
                h[l] = torch.tanh(h[l] @ W_hh.T + below @ W_ih.T)
            else:
                a = below @ W_ih.T + getattr(r.rnn, f"bias_ih_l{l}")  # from the input
                b = h[l] @ W_hh.T + getattr(r.rnn, f"bias_hh_l{l}")  # from the state
                if r.cell == "lstm":
                    i, f, g, o = (a + b).chunk(4, dim=1)
                    c[l] = torch.sigmoid(f) * c[l] + torch.sigmoid(i) * torch.tanh(g)
                    h[l] = torch.sigmoid(o) * torch.tanh(c[l])
                else:
                    a_r, a_z, a_n = a.chunk(3, dim=1)
                    b_r, b_z, b_n = b.chunk(3, dim=1)
                    reset, update = torch.sigmoid(a_r + b_r), torch.sigmoid(a_z + b_z)
                    new = torch.tanh(a_n + reset * b_n)
                    h[l] = (1 - update) * new + update * h[l]
            below = h[l]
    logits = torch.stack(outputs, dim=1)  # (B, n, outputs)
    return (logits.squeeze(-1) if isinstance(model, BinaryRNN) else logits), states
