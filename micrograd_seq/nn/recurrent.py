"""RNN, LSTM and GRU: each cell is a few primitive ops; the layers loop the cell over time.

There is no hand-written backward here. Backpropagation through time is what the one
generic ``backward()`` does on the graph the time loop records.

Parameter names, shapes, gate order and return values are torch.nn's:
``weight_ih`` (G*H, D), ``weight_hh`` (G*H, H), ``bias_ih``, ``bias_hh`` with the gates
stacked i, f, g, o (LSTM) and r, z, n (GRU).

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
import warnings
from typing import Any

import numpy as np

from .. import ops
from ..autograd import collector_paused, name_scope
from ..tensor import Tensor
from .layers import _check_size, check_probability, dropout, uniform_parameter
from .module import Module

__all__ = ["rnn_step", "lstm_step", "gru_step", "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU"]


# ---- the cells: one time step each, from primitives ---------------------------
# ``x_proj`` is the input already projected, x W_ih^T + b_ih; layers project the whole
# sequence in one matmul before the time loop, cells project their one input.

def rnn_step(x_proj: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None, nonlinearity: str = "tanh") -> Tensor:
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh), or relu(...) with ``nonlinearity="relu"``."""
    pre = x_proj + h @ w_hh_t
    if b_hh is not None:
        pre = pre + b_hh
    if nonlinearity == "tanh":
        return pre.tanh().named("hidden")
    if nonlinearity == "relu":
        return pre.relu().named("hidden")
    raise ValueError(f"rnn_step: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")


def lstm_step(x_proj: Tensor, h: Tensor, c: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> tuple[Tensor, Tensor]:
    """i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh); c' = f c + i g; h' = o tanh(c')."""
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
    """r, z = sigmoid(x_r + h_r), sigmoid(x_z + h_z); n = tanh(x_n + r (W_hn h + b_hn)); h' = (1 - z) n + z h."""
    h_proj = h @ w_hh_t
    if b_hh is not None:
        h_proj = h_proj + b_hh
    x_r, x_z, x_n = x_proj.chunk(3, axis=-1)
    h_r, h_z, h_n = h_proj.chunk(3, axis=-1)
    r = (x_r + h_r).sigmoid().named("reset gate")
    z = (x_z + h_z).sigmoid().named("update gate")
    n = (x_n + r * h_n).tanh().named("candidate")
    return ((1 - z) * n + z * h).named("hidden")


# ---- shared machinery -----------------------------------------------------------

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}

# Layers project the input of this many time steps in one matmul: few matmuls, and only one
# block of projections alive at a time (a whole sequence's would dominate peak memory).
PROJECTION_BLOCK = 16


def _zeros(shape: tuple[int, ...], like: Tensor) -> Tensor:
    return Tensor._from_op(np.zeros(shape, dtype=like.dtype), None)


def _as_tensor(x: Any, like: Tensor) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x, dtype=like.dtype)


def _steps(x: Tensor, lo: int, hi: int) -> Tensor:
    """Time steps lo..hi-1 of a sequence (the whole of it when that is all), keeping its name."""
    if lo == 0 and hi == x.shape[0]:
        return x
    block = x[lo:hi]
    if block.node is None and x.name is not None:  # a plain input: label its slice for drawings
        block.name = f"{x.name}[{lo}:{hi}]"
    return block


def _check_state(owner: str, what: str, state: Any, expected: tuple[int, ...], like: Tensor) -> Tensor:
    state = _as_tensor(state, like)
    if state.shape != expected:
        raise ValueError(f"{owner}: expected {what} of shape {expected}, got {state.shape}")
    return state


class _CellBase(Module):
    """Parameters of one cell, shaped and named as torch's RNNCell/LSTMCell/GRUCell."""

    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        _check_size(name, "input_size", input_size)
        _check_size(name, "hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        gates, bound = _GATES[self.kind] * hidden_size, 1.0 / math.sqrt(hidden_size)
        self.weight_ih = uniform_parameter((gates, input_size), bound)
        self.weight_hh = uniform_parameter((gates, hidden_size), bound)
        self.bias_ih = uniform_parameter((gates,), bound) if bias else None
        self.bias_hh = uniform_parameter((gates,), bound) if bias else None

    def _input(self, x: Any) -> tuple[Tensor, bool]:
        x = _as_tensor(x, self.weight_ih)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{type(self).__name__}: expected input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},), got {x.shape}")
        return (x[None] if x.ndim == 1 else x), x.ndim == 1

    def _state(self, state: Any, batch: int, unbatched: bool, what: str = "hidden state") -> Tensor:
        if state is None:
            return _zeros((batch, self.hidden_size), self.weight_ih)
        expected = (self.hidden_size,) if unbatched else (batch, self.hidden_size)
        state = _check_state(type(self).__name__, what, state, expected, self.weight_ih)
        return state[None] if unbatched else state

    def _project(self, x: Tensor) -> Tensor:
        x_proj = x @ self.weight_ih.T
        return x_proj + self.bias_ih if self.bias_ih is not None else x_proj

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")
        nonlinearity = getattr(self, "nonlinearity", "tanh")
        return text + (f", nonlinearity={nonlinearity}" if nonlinearity != "tanh" else "")


class RNNCell(_CellBase):
    """One Elman RNN step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, x: Any, h: Any = None) -> Tensor:
        x, unbatched = self._input(x)
        h = self._state(h, x.shape[0], unbatched)
        h = rnn_step(self._project(x), h, self.weight_hh.T, self.bias_hh, self.nonlinearity)
        return h[0] if unbatched else h


class LSTMCell(_CellBase):
    """One LSTM step; ``state`` is (h, c); returns (h', c')."""

    kind = "LSTM"

    def forward(self, x: Any, state: tuple[Any, Any] | None = None) -> tuple[Tensor, Tensor]:
        x, unbatched = self._input(x)
        if state is not None and (not isinstance(state, (tuple, list)) or len(state) != 2):
            raise ValueError(f"LSTMCell: the state must be a tuple (h, c), got {type(state).__name__}")
        h, c = (None, None) if state is None else state
        h = self._state(h, x.shape[0], unbatched)
        c = self._state(c, x.shape[0], unbatched, "cell state")
        h, c = lstm_step(self._project(x), h, c, self.weight_hh.T, self.bias_hh)
        return (h[0], c[0]) if unbatched else (h, c)


class GRUCell(_CellBase):
    """One GRU step (torch's form, with r applied to W_hn h + b_hn); returns h'."""

    kind = "GRU"

    def forward(self, x: Any, h: Any = None) -> Tensor:
        x, unbatched = self._input(x)
        h = self._state(h, x.shape[0], unbatched)
        h = gru_step(self._project(x), h, self.weight_hh.T, self.bias_hh)
        return h[0] if unbatched else h


# ---- layers: the cell looped over time ----------------------------------------

class _RecurrentBase(Module):
    """Stacked, optionally bidirectional recurrent layer with torch's names and return values."""

    kind = "RNN"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False) -> None:
        super().__init__()
        name = type(self).__name__
        _check_size(name, "input_size", input_size)
        _check_size(name, "hidden_size", hidden_size)
        _check_size(name, "num_layers", num_layers)
        dropout = check_probability(name, dropout)
        if dropout and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between stacked layers only, so with num_layers=1 "
                          "it does nothing", UserWarning, stacklevel=2)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional = bidirectional
        directions = 2 if bidirectional else 1
        gates, bound = _GATES[self.kind] * hidden_size, 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                setattr(self, f"weight_ih_l{layer}{suffix}", uniform_parameter((gates, layer_input), bound))
                setattr(self, f"weight_hh_l{layer}{suffix}", uniform_parameter((gates, hidden_size), bound))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", uniform_parameter((gates,), bound))
                    setattr(self, f"bias_hh_l{layer}{suffix}", uniform_parameter((gates,), bound))

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _step(self, x_proj: Tensor, state: tuple, w_hh_t: Tensor, b_hh: Tensor | None) -> tuple:
        """One time step; ``state`` is the tuple of recurrent tensors ((h,) or (h, c))."""
        raise NotImplementedError

    def _run_direction(self, x: Tensor, state: tuple, layer: int, reverse: bool) -> tuple[Tensor, tuple]:
        """Loop the cell over time, projecting the input for a block of steps in one matmul."""
        suffix = "_reverse" if reverse else ""
        w_ih_t = getattr(self, f"weight_ih_l{layer}{suffix}").T
        w_hh_t = getattr(self, f"weight_hh_l{layer}{suffix}").T
        bias = b_hh = None
        if self.bias:
            bias, b_hh = getattr(self, f"bias_ih_l{layer}{suffix}"), getattr(self, f"bias_hh_l{layer}{suffix}")
            if self.kind != "GRU":  # b_hh sits outside every nonlinearity: add it once, not per step
                bias, b_hh = bias + b_hh, None
        steps = x.shape[0]
        blocks = [(lo, min(lo + PROJECTION_BLOCK, steps)) for lo in range(0, steps, PROJECTION_BLOCK)]
        outputs: list[Tensor | None] = [None] * steps
        with collector_paused():  # the unrolled graph holds no cycles: skip the GC's scans of it
            for lo, hi in (reversed(blocks) if reverse else blocks):
                x_proj = _steps(x, lo, hi) @ w_ih_t
                if bias is not None:
                    x_proj = x_proj + bias
                for t in (range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)):
                    with name_scope(f"t={t}"):
                        state = self._step(x_proj[t - lo], state, w_hh_t, b_hh)
                    outputs[t] = state[0]
        return ops.stack(outputs, axis=0), state

    def forward(self, x: Any, state: Any = None) -> tuple[Tensor, Any]:
        name = type(self).__name__
        first = self.weight_ih_l0
        x = _as_tensor(x, first)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            layout = "(batch, seq, {0})" if self.batch_first else "(seq, batch, {0})"
            raise ValueError(f"{name}: expected input of shape {layout.format(self.input_size)} or "
                             f"(seq, {self.input_size}), got {x.shape}")
        unbatched = x.ndim == 2
        if unbatched:
            x = x[:, None, :]
        elif self.batch_first:
            x = x.transpose(1, 0, 2)
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise ValueError(f"{name}: the input sequence is empty (shape {x.shape})")
        stacks = self.num_layers * self.num_directions
        states = self._initial_states(state, stacks, batch, unbatched, first)
        final: list[list[Tensor]] = [[] for _ in states]
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                scopes = ([f"layer {layer}"] if self.num_layers > 1 else []) + \
                         (["reverse" if direction else "forward"] if self.bidirectional else [])
                start = tuple(s[k] for s in states)
                with _scopes(scopes):
                    out, end = self._run_direction(layer_input, start, layer, reverse=bool(direction))
                outputs.append(out)
                for slot, s in zip(final, end, strict=True):
                    slot.append(s)
            layer_input = outputs[0] if len(outputs) == 1 else ops.concat(outputs, axis=-1)
            if layer < self.num_layers - 1:
                layer_input = dropout(layer_input, self.dropout, self.training)
        output = layer_input
        finals = tuple(ops.stack(slot, axis=0) for slot in final)
        if unbatched:
            output, finals = output[:, 0], tuple(f[:, 0] for f in finals)
        elif self.batch_first:
            output = output.transpose(1, 0, 2)
        return output, self._pack(finals)

    def _initial_states(self, state: Any, stacks: int, batch: int, unbatched: bool, like: Tensor) -> list[Tensor]:
        """The initial states as (layers * directions, B, H) tensors; zeros where not given."""
        names = self._state_names()
        given = (state,) if len(names) == 1 else (state if state is not None else (None,) * len(names))
        if len(names) > 1 and (not isinstance(given, (tuple, list)) or len(given) != len(names)):
            raise ValueError(f"{type(self).__name__}: the initial state must be a tuple ({', '.join(names)})")
        out = []
        for what, s in zip(names, given, strict=True):
            if s is None:
                out.append(_zeros((stacks, batch, self.hidden_size), like))
                continue
            expected = (stacks, self.hidden_size) if unbatched else (stacks, batch, self.hidden_size)
            s = _check_state(type(self).__name__, what, s, expected, like)
            out.append(s[:, None, :] if unbatched else s)
        return out

    def _state_names(self) -> tuple[str, ...]:
        return ("h_0",)

    def _pack(self, finals: tuple[Tensor, ...]) -> Any:
        return finals[0]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for flag, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, flag) != default:
                text += f", {flag}={getattr(self, flag)}"
        return text


class _scopes:
    """Enter several name scopes at once (none when the list is empty)."""

    def __init__(self, names: list[str]) -> None:
        self.scopes = [name_scope(n) for n in names]

    def __enter__(self) -> None:
        for s in self.scopes:
            s.__enter__()

    def __exit__(self, *exc: Any) -> None:
        for s in reversed(self.scopes):
            s.__exit__(*exc)


class RNN(_RecurrentBase):
    """Elman RNN layer: returns ``output, h_n``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        self.nonlinearity = nonlinearity

    def _step(self, x_proj, state, w_hh_t, b_hh):
        return (rnn_step(x_proj, state[0], w_hh_t, b_hh, self.nonlinearity),)


class LSTM(_RecurrentBase):
    """LSTM layer: returns ``output, (h_n, c_n)``; the initial state is ``(h_0, c_0)``."""

    kind = "LSTM"

    def _step(self, x_proj, state, w_hh_t, b_hh):
        return lstm_step(x_proj, state[0], state[1], w_hh_t, b_hh)

    def _state_names(self) -> tuple[str, ...]:
        return ("h_0", "c_0")

    def _pack(self, finals):
        return finals


class GRU(_RecurrentBase):
    """GRU layer: returns ``output, h_n``."""

    kind = "GRU"

    def _step(self, x_proj, state, w_hh_t, b_hh):
        return (gru_step(x_proj, state[0], w_hh_t, b_hh),)
