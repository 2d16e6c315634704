"""RNN, LSTM and GRU: each cell is a few primitive ops; the layers are ``Recurrent`` over them.

There is no hand-written backward here. Backpropagation through time is what the one
generic ``backward()`` does on the graph the time loop (``mg.nn.unroll``) records.

Parameter names, shapes, gate order and return values are torch.nn's:
``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` with the gates
stacked i, f, g, o (LSTM) and r, z, n (GRU); in a layer they are ``weight_ih_l0``,
``weight_hh_l1_reverse``, ...

Truncated BPTT is ``detach()`` between chunks: the state carries on into the next chunk,
but its gradient stops there, so each ``backward()`` runs through one chunk only::

    >>> import numpy as np
    >>> import micrograd_seq as mg
    >>> lstm, head = mg.nn.LSTM(1, 8), mg.nn.Linear(8, 1)
    >>> opt = mg.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-2)
    >>> wave = np.sin(np.linspace(0, 12, 61)).reshape(-1, 1, 1)  # (time, batch, features)
    >>> state = None
    >>> for start in range(0, 60, 20):                         # three chunks of 20 steps
    ...     x, y = wave[start:start + 20], wave[start + 1:start + 21]
    ...     output, (h, c) = lstm(x, state)
    ...     loss = mg.functional.mse_loss(head(output), y)
    ...     opt.zero_grad()
    ...     loss.backward()                                     # BPTT through this chunk only
    ...     opt.step()
    ...     state = (h.detach(), c.detach())                    # carry the state on, cut its gradient
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from ..tensor import Tensor
from .cell import Recurrent, RecurrentCell, register_cell
from .layers import uniform_parameter

__all__ = ["rnn_step", "lstm_step", "gru_step", "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]


# ---- the steps: one time step each, from primitives -------------------------------------------
# ``x_proj`` is the input already projected, x W_ih^T + b_ih: a layer projects a block of
# steps in one matmul before their loop, a cell called on its own projects its one input.

def rnn_step(x_proj: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None, nonlinearity: str = "tanh") -> Tensor:
    r"""One Elman step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), or relu(...) with ``nonlinearity="relu"``.

    Inputs: x_proj (B, H) = x W_ih^T + b_ih; h (B, H); w_hh_t (H, H) = W_hh^T; b_hh (H,) or None.
    Outputs: h' (B, H).
    """
    pre = x_proj + h @ w_hh_t
    if b_hh is not None:
        pre = pre + b_hh
    if nonlinearity == "tanh":
        return pre.tanh().named("hidden")
    if nonlinearity == "relu":
        return pre.relu().named("hidden")
    raise ValueError(f"rnn_step: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def lstm_step(x_proj: Tensor, h: Tensor, c: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    r"""One LSTM step: i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh); c' = f c + i g; h' = o tanh(c').

    Inputs: x_proj (B, 4H) = x W_ih^T + b_ih; h, c (B, H); w_hh_t (H, 4H) = W_hh^T; b_hh (4H,) or None.
    Outputs: (h', c'), each (B, H).
    """
    gates = x_proj + h @ w_hh_t
    if b_hh is not None:
        gates = gates + b_hh
    i, f, g, o = gates.chunk(4, axis=-1)
    i = i.sigmoid().named("input gate")
    f = f.sigmoid().named("forget gate")
    g = g.tanh().named("candidate")
    o = o.sigmoid().named("output gate")
    c = (f * c + i * g).named("cell")
    h = (o * c.tanh()).named("hidden")
    return h, c


def gru_step(x_proj: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    r"""One GRU step, torch's form, with the reset gate applied to W_hn h + b_hn:

        r = σ(x_r + h_r)    z = σ(x_z + h_z)    n = tanh(x_n + r (W_hn h + b_hn))    h' = (1 - z) n + z h

    Inputs: x_proj (B, 3H) = x W_ih^T + b_ih; h (B, H); w_hh_t (H, 3H) = W_hh^T; b_hh (3H,) or None.
    Outputs: h' (B, H).
    """
    h_proj = h @ w_hh_t
    if b_hh is not None:
        h_proj = h_proj + b_hh
    x_r, x_z, x_n = x_proj.chunk(3, axis=-1)
    h_r, h_z, h_n = h_proj.chunk(3, axis=-1)
    r = (x_r + h_r).sigmoid().named("reset gate")
    z = (x_z + h_z).sigmoid().named("update gate")
    n = (x_n + r * h_n).tanh().named("candidate")
    return ((1 - z) * n + z * h).named("hidden")


# ---- the cells --------------------------------------------------------------------------------

class _Shared(NamedTuple):
    """What every step of a run shares, recorded once per run by ``prepare``."""

    w_ih_t: Tensor          # W_ih^T (D, G*H)
    w_hh_t: Tensor          # W_hh^T (H, G*H), or (P, G*H) with a projection
    bias: Tensor | None     # added to x W_ih^T: b_ih, and b_hh too where it sits outside every nonlinearity
    w_hr_t: Tensor | None = None  # W_hr^T (H, P): an LSTM's projection of h (torch's proj_size)


class _TorchCell(RecurrentCell):
    """Torch's parameters for ``gates`` stacked gates, each ~ U(-1/sqrt(H), 1/sqrt(H)): weight_ih
    (gates*H, D), weight_hh (gates*H, H) (H is ``proj_size`` for an LSTM that projects h), bias_ih
    and bias_hh (gates*H,).

    ``forward`` is the textbook step. The loop runs ``prepare`` once per sequence (the
    transposes, and b_ih + b_hh added once where b_hh sits outside every nonlinearity),
    ``project_input`` once per block of steps, and ``step`` once per step: the same numbers.
    """

    gates = 1
    folds_b_hh = True  # b_hh can join b_ih in the input's projection (not the GRU's: r scales it)

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, proj_size: int = 0) -> None:
        super().__init__(input_size, hidden_size)
        self.bias, self.proj_size = bias, proj_size
        rows, bound = self.gates * hidden_size, 1.0 / math.sqrt(hidden_size)
        self.weight_ih = uniform_parameter((rows, input_size), bound)
        self.weight_hh = uniform_parameter((rows, proj_size or hidden_size), bound)
        self.bias_ih = uniform_parameter((rows,), bound) if bias else None
        self.bias_hh = uniform_parameter((rows,), bound) if bias else None

    def prepare(self) -> _Shared:
        bias: Tensor | None = self.bias_ih
        if bias is not None and self.bias_hh is not None and self.folds_b_hh:
            bias = bias + self.bias_hh
        return _Shared(self.weight_ih.T, self.weight_hh.T, bias)

    def project_input(self, x: Tensor, shared: _Shared) -> Tensor:
        x_proj = x @ shared.w_ih_t
        return x_proj + shared.bias if shared.bias is not None else x_proj

    def _projected(self, x: Tensor) -> Tensor:
        """x W_ih^T + b_ih, for one step called on its own."""
        x_proj = x @ self.weight_ih.T
        return x_proj + self.bias_ih if self.bias_ih is not None else x_proj

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(_TorchCell):
    r"""One Elman RNN step, as torch.nn.RNNCell: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).

    Inputs: x, h
        x: (B, H_in) or (H_in,).
        h: (B, H) or (H,); default zeros.
    Outputs: h', (B, H) or (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return rnn_step(self._projected(x), h, self.weight_hh.T, self.bias_hh, self.nonlinearity)

    def step(self, x_proj: Tensor, h: Tensor, shared: _Shared) -> Tensor:
        return rnn_step(x_proj, h, shared.w_hh_t, None, self.nonlinearity)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", nonlinearity={self.nonlinearity}" if self.nonlinearity != "tanh" else "")


class LSTMCell(_TorchCell):
    r"""One LSTM step, as torch.nn.LSTMCell (gates stacked i, f, g, o in the weights):

        i = σ(W_ii x + b_ii + W_hi h + b_hi)      f = σ(W_if x + b_if + W_hf h + b_hf)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)   o = σ(W_io x + b_io + W_ho h + b_ho)
        c' = f c + i g                             h' = o tanh(c')

    Inputs: x, (h, c)
        x: (B, H_in) or (H_in,).
        h, c: each (B, H) or (H,); default zeros.
    Outputs: (h', c'), each (B, H) or (H,).
    """

    gates = 4
    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, proj_size: int = 0) -> None:
        _check_proj_size("LSTMCell", proj_size, hidden_size)
        super().__init__(input_size, hidden_size, bias, proj_size)
        self.weight_hr = uniform_parameter((proj_size, hidden_size), 1.0 / math.sqrt(hidden_size)) \
            if proj_size else None

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.proj_size or self.hidden_size, self.hidden_size)

    def prepare(self) -> _Shared:
        shared = super().prepare()
        return shared if self.weight_hr is None else shared._replace(w_hr_t=self.weight_hr.T)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        h, c = lstm_step(self._projected(x), *state, self.weight_hh.T, self.bias_hh)
        return (h, c) if self.weight_hr is None else ((h @ self.weight_hr.T).named("projected hidden"), c)

    def step(self, x_proj: Tensor, state: tuple[Tensor, Tensor], shared: _Shared) -> tuple[Tensor, Tensor]:
        h, c = lstm_step(x_proj, *state, shared.w_hh_t, None)
        return (h, c) if shared.w_hr_t is None else ((h @ shared.w_hr_t).named("projected hidden"), c)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", proj_size={self.proj_size}" if self.proj_size else "")


def _check_proj_size(owner: str, proj_size: Any, hidden_size: int) -> None:
    """torch's checks of an LSTM's proj_size: an int, 0 (no projection) or in [1, hidden_size)."""
    if isinstance(proj_size, bool) or not isinstance(proj_size, (int, np.integer)):
        raise TypeError(f"{owner}: proj_size must be an int, got {type(proj_size).__name__} {proj_size!r}")
    if proj_size < 0:
        raise ValueError(f"{owner}: proj_size should be a positive integer or zero to disable projections, "
                         f"got {proj_size}")
    if proj_size and proj_size >= hidden_size:
        raise ValueError(f"{owner}: proj_size has to be smaller than hidden_size, got proj_size={proj_size} "
                         f"and hidden_size={hidden_size}")


class GRUCell(_TorchCell):
    r"""One GRU step, as torch.nn.GRUCell (gates stacked r, z, n in the weights):

        r = σ(W_ir x + b_ir + W_hr h + b_hr)      z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r (W_hn h + b_hn))
        h' = (1 - z) n + z h

    Inputs: x, h
        x: (B, H_in) or (H_in,).
        h: (B, H) or (H,); default zeros.
    Outputs: h', (B, H) or (H,).
    """

    gates = 3
    folds_b_hh = False

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return gru_step(self._projected(x), h, self.weight_hh.T, self.bias_hh)

    def step(self, x_proj: Tensor, h: Tensor, shared: _Shared) -> Tensor:
        return gru_step(x_proj, h, shared.w_hh_t, self.bias_hh)


# ---- the layers: Recurrent over the cells, with torch's signatures ----------------------------

class _TorchLayer(Recurrent):
    """What RNN, LSTM and GRU share beyond Recurrent: the ``bias`` flag and torch's repr."""

    def __init__(self, cell: type[_TorchCell], input_size: int, hidden_size: int, num_layers: int, bias: bool,
                 batch_first: bool, dropout: float, bidirectional: bool, **cell_kwargs: Any) -> None:
        super().__init__(cell, input_size, hidden_size, num_layers, batch_first, dropout, bidirectional,
                         bias=bias, **cell_kwargs)
        self.bias = bias

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for flag, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, flag) != default:
                text += f", {flag}={getattr(self, flag)}"
        return text


class RNN(_TorchLayer):
    r"""Elman RNN layer, as torch.nn.RNN: ``output, h_n = rnn(x, h_0=None)``.

    Each layer runs h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu) over time;
    ``forward`` (from ``Recurrent``) gives the shapes: input (T, B, H_in), h_0 and h_n
    (num_layers * num_directions, B, H), output (T, B, num_directions * H).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(RNNCell, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         nonlinearity=nonlinearity)
        self.nonlinearity = nonlinearity


class LSTM(_TorchLayer):
    r"""LSTM layer, as torch.nn.LSTM: ``output, (h_n, c_n) = lstm(x, (h_0, c_0)=None)``.

    Each layer runs the ``LSTMCell`` equations over time; ``forward`` (from ``Recurrent``) gives
    the shapes: input (T, B, H_in), h_0, c_0, h_n, c_n (num_layers * num_directions, B, H),
    output (T, B, num_directions * H).

    With ``proj_size`` P > 0 the hidden state is projected at every step, h_t = W_hr (o_t tanh(c_t)),
    by ``weight_hr_l{k}`` (P, H), as in torch: h_0 and h_n are (num_layers * num_directions, B, P),
    c_0 and c_n stay (..., B, H), the output is (T, B, num_directions * P), and ``weight_hh_l{k}`` is (4H, P).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0) -> None:
        _check_proj_size("LSTM", proj_size, hidden_size)
        super().__init__(LSTMCell, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         **({"proj_size": int(proj_size)} if proj_size else {}))
        self.proj_size = int(proj_size)

    def extra_repr(self) -> str:
        if not self.proj_size:
            return super().extra_repr()
        sizes = f"{self.input_size}, {self.hidden_size}"
        return super().extra_repr().replace(sizes, f"{sizes}, proj_size={self.proj_size}", 1)


class GRU(_TorchLayer):
    r"""GRU layer, as torch.nn.GRU: ``output, h_n = gru(x, h_0=None)``.

    Each layer runs the ``GRUCell`` equations over time; ``forward`` (from ``Recurrent``) gives
    the shapes: input (T, B, H_in), h_0 and h_n (num_layers * num_directions, B, H), output
    (T, B, num_directions * H).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__(GRUCell, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)


register_cell("rnn", RNNCell, RNN)
register_cell("lstm", LSTMCell, LSTM)
register_cell("gru", GRUCell, GRU)
