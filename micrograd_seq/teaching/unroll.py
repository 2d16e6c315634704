"""Every state h_t of a recurrent layer as a tensor you can hold, from the library's one time loop.

``layer(x)`` returns only the stacked output. ``unroll`` runs the same loop (``mg.nn.unroll``)
and returns every state, so each h_t (and c_t) can ``retain_grad()`` and show dL/dh_t after
``backward()``. It takes any cell: the built-in RNN, LSTM and GRU, the zoo's, or your own.
"""
from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ..nn import Recurrent, RecurrentCell
from ..nn import unroll as run_cell
from ..tensor import Tensor

State = tuple[Tensor, ...]  # a cell's state in state_names order: (h,) for the RNN and GRU, (h, c) for the LSTM


def check_layer(owner: str, layer: Any) -> RecurrentCell:
    """The one cell whose states form a single chain h_0..h_T: a cell itself, or that of a one-layer,
    one-direction recurrent layer."""
    if isinstance(layer, RecurrentCell):
        return layer
    if not isinstance(layer, Recurrent):
        raise TypeError(f"{owner}: expected a recurrent layer (mg.nn.RNN, LSTM, GRU or Recurrent) or a "
                        f"RecurrentCell, got {type(layer).__name__}")
    if layer.num_layers != 1 or layer.bidirectional:
        raise ValueError(f"{owner}: expected a layer with num_layers=1 and bidirectional=False, got "
                         f"num_layers={layer.num_layers}, bidirectional={layer.bidirectional}")
    return layer.cell(0)


def unroll(layer: Recurrent | RecurrentCell, x: Tensor, state: Any, constant_weights: bool = False) -> list[State]:
    """[state_0, state_1, ..., state_T]: the layer's states over ``x`` (T, B, D), time first, each a tuple.

    ``state`` is the initial state in the cell's form (h_0, or a tuple (h_0, c_0), each (B, H)).
    With ``constant_weights`` the layer's parameters are recorded as constants, so a backward
    differentiates the states only and leaves the parameters' ``.grad`` alone.
    """
    cell = check_layer("unroll", layer)
    if x.ndim != 3 or x.shape[-1] != cell.input_size:
        raise ValueError(f"unroll: expected x of shape (T, B, {cell.input_size}), got {x.shape}")
    return run_cell(constant_copy(cell) if constant_weights else cell, x, state)


def constant_copy(cell: RecurrentCell) -> RecurrentCell:
    """A copy of ``cell`` whose parameters are constants: a graph it records sends them no gradient."""
    owner = cell.__dict__.get("_owner")  # the layer holding the cell is shared, not copied
    frozen = copy.deepcopy(cell, {} if owner is None else {id(owner[0]): owner[0]})
    for p in frozen.parameters():
        p.requires_grad = False
    return frozen


def initial_state(owner: str, layer: Any, batch: int, given: Any, dtype: np.dtype) -> State:
    """The initial state as leaf tensors that require grad: the cell's own (zeros unless it says otherwise),
    or the given h_0 (and c_0, ...) of shape (B, H)."""
    cell = check_layer(owner, layer)
    names = tuple(f"{name}_0" for name in cell.state_names)
    if given is None:
        made = cell.initial_state(batch, Tensor(np.zeros(()), dtype=dtype))
        arrays = [made] if len(names) == 1 else list(made)
    elif len(names) > 1:
        if not isinstance(given, (tuple, list)) or len(given) != len(names):
            raise ValueError(f"{owner}: the initial state of {type(cell).__name__} is a tuple ({', '.join(names)}), "
                             f"got {type(given).__name__}")
        arrays = list(given)
    else:
        arrays = [given]
    state = []
    for name, array in zip(names, arrays, strict=True):
        array = np.asarray(array.data if isinstance(array, Tensor) else array)
        if array.shape != (batch, cell.hidden_size):
            raise ValueError(f"{owner}: expected {name} of shape ({batch}, {cell.hidden_size}), got {array.shape}")
        state.append(Tensor(array, requires_grad=True, dtype=dtype))
    return tuple(state)
