"""A recurrent layer's time loop written out, so that every state h_t is a tensor you can hold.

``mg.nn.RNN/LSTM/GRU`` run this same loop inside ``forward`` and return only the stacked
output; unrolled by hand, each h_t (and c_t) can ``retain_grad()`` and show dL/dh_t after
``backward()``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..nn import GRU, LSTM, RNN, gru_step, lstm_step, rnn_step
from ..tensor import Tensor

State = tuple[Tensor, ...]  # (h,) for the RNN and GRU, (h, c) for the LSTM


def check_layer(owner: str, layer: Any) -> None:
    """Accept one-layer, one-direction RNN/LSTM/GRU layers: their states form a single chain h_0..h_T."""
    if not isinstance(layer, (RNN, LSTM, GRU)):
        raise TypeError(f"{owner}: expected an mg.nn.RNN, LSTM or GRU layer, got {type(layer).__name__}")
    if layer.num_layers != 1 or layer.bidirectional:
        raise ValueError(f"{owner}: expected a layer with num_layers=1 and bidirectional=False, got "
                         f"num_layers={layer.num_layers}, bidirectional={layer.bidirectional}")


def unroll(layer: RNN | LSTM | GRU, x: Tensor, state: State, constant_weights: bool = False) -> list[State]:
    """[state_0, state_1, ..., state_T]: the layer's states over ``x`` (T, B, D), time first.

    With ``constant_weights`` the layer's parameters enter as constants, so a backward
    differentiates the states only and leaves the parameters' ``.grad`` alone.
    """
    check_layer("unroll", layer)
    if x.ndim != 3 or x.shape[-1] != layer.input_size:
        raise ValueError(f"unroll: expected x of shape (T, B, {layer.input_size}), got {x.shape}")

    def weight(name: str) -> Tensor | None:
        w = getattr(layer, f"{name}_l0", None)
        return Tensor(w.data) if constant_weights and w is not None else w

    w_ih, w_hh, b_ih, b_hh = weight("weight_ih"), weight("weight_hh"), weight("bias_ih"), weight("bias_hh")
    x_proj = x @ w_ih.T + b_ih if b_ih is not None else x @ w_ih.T
    states = [state]
    for t in range(x.shape[0]):
        if isinstance(layer, LSTM):
            states.append(lstm_step(x_proj[t], *states[-1], w_hh.T, b_hh))
        elif isinstance(layer, GRU):
            states.append((gru_step(x_proj[t], states[-1][0], w_hh.T, b_hh),))
        else:
            states.append((rnn_step(x_proj[t], states[-1][0], w_hh.T, b_hh, layer.nonlinearity),))
    return states


def initial_state(owner: str, layer: RNN | LSTM | GRU, batch: int, given: Any, dtype: np.dtype) -> State:
    """The initial state as leaf tensors that require grad: zeros, or the given h_0 (and c_0) of shape (B, H)."""
    names = ("h_0", "c_0") if isinstance(layer, LSTM) else ("h_0",)
    if given is None:
        arrays = [np.zeros((batch, layer.hidden_size))] * len(names)
    elif isinstance(layer, LSTM):
        if not isinstance(given, (tuple, list)) or len(given) != 2:
            raise ValueError(f"{owner}: the initial state of an LSTM is a tuple (h_0, c_0), got {type(given).__name__}")
        arrays = list(given)
    else:
        arrays = [given]
    state = []
    for name, array in zip(names, arrays, strict=True):
        array = np.asarray(array.data if isinstance(array, Tensor) else array)
        if array.shape != (batch, layer.hidden_size):
            raise ValueError(f"{owner}: expected {name} of shape ({batch}, {layer.hidden_size}), got {array.shape}")
        state.append(Tensor(array, requires_grad=True, dtype=dtype))
    return tuple(state)
