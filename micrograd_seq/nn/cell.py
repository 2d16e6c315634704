"""Your own recurrent cell, first class: ``RecurrentCell``, the one time loop ``unroll``, the ``Recurrent`` layer.

A cell is one time step written from primitive tensor ops. ``Recurrent`` runs it over a
sequence with everything ``torch.nn.LSTM`` offers: stacked layers, both directions,
``batch_first``, unbatched input, given initial states and dropout between layers, with
torch's conventions for shapes and return values. ``mg.nn.RNN``, ``LSTM`` and ``GRU`` are
``Recurrent`` over the built-in cells, so there is one time loop in the library: ``unroll``.

    >>> import numpy as np
    >>> import micrograd_seq as mg
    >>> class MinimalCell(mg.nn.RecurrentCell):      # h' = tanh(x W^T + h U^T): one state, "h"
    ...     def __init__(self, input_size, hidden_size):
    ...         super().__init__(input_size, hidden_size)
    ...         self.W = mg.nn.Parameter(np.full((hidden_size, input_size), 0.1))
    ...         self.U = mg.nn.Parameter(np.eye(hidden_size) * 0.5)
    ...     def forward(self, x, h):
    ...         return (x @ self.W.T + h @ self.U.T).tanh()
    >>> layer = mg.nn.Recurrent(MinimalCell, input_size=2, hidden_size=3, num_layers=2, bidirectional=True)
    >>> output, h_n = layer(np.ones((5, 4, 2)))          # (T, B, D) in: output (T, B, 2 H), h_n (2 * 2, B, H)
    >>> output.shape, h_n.shape, sorted(name for name, _ in layer.named_parameters())[:3]
    ((5, 4, 6), (4, 4, 3), ['U_l0', 'U_l0_reverse', 'U_l1'])

The layer names the cells' parameters as torch names an LSTM's: ``<name>_l<layer>`` and
``..._reverse``, so the built-in layers keep ``weight_ih_l0``, ``bias_hh_l1_reverse``, ...
"""
from __future__ import annotations

import importlib
import inspect
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .. import ops
from ..autograd import collector_paused, name_scope
from ..tensor import Tensor, get_default_dtype
from .layers import _check_size, check_probability, dropout
from .module import Module, Parameter
from .utils.rnn import PackedSequence, invert_permutation

__all__ = ["RecurrentCell", "Recurrent", "unroll", "CellKind", "CELLS", "register_cell", "cell_kind"]

State = tuple[Tensor, ...]  # a cell's state, in the order of its state_names

# The loop projects the input of this many time steps in one call of a cell's project_input:
# few matmuls, and only one block of projections alive at a time (a whole sequence's would
# dominate peak memory).
PROJECTION_BLOCK = 16

_STATE_WORDS = {"h": "hidden state", "c": "cell state"}


class RecurrentCell(Module):
    r"""One time step of a recurrent network, from primitive tensor ops; subclass it for your own cell.

    A subclass sets ``state_names`` (the recurrent state; the first entry is the step's output),
    calls ``super().__init__(input_size, hidden_size)``, creates its parameters, and defines
    ``forward(x, state)``:

    Inputs: x, state
        x: (B, input_size).
        state: the state before the step: a (B, hidden_size) tensor when the cell has one state
            name (as ``torch.nn.GRUCell``), else a tuple of them in ``state_names`` order.
    Outputs: the state after the step, in the same form.

    Optional, for speed: ``project_input(x)`` computes the part of a step that depends on the
    input only, for a block of steps at once; ``step(x_proj, state)`` is the rest of the step;
    and ``prepare()`` records what every step of a run shares (transposed weights, say) once
    per run instead of once per step. The built-in cells do this: the input's matmul runs once
    per block of steps, and ``W_hh^T`` once per sequence.

    Over a packed batch (``mg.nn.utils.rnn``) the batch a step sees shrinks as sequences end.
    A state wider or narrower than ``hidden_size`` (an LSTM's projected h) is declared by
    overriding ``state_sizes``.

    Calling a cell, ``cell(x)`` or ``cell(x, state)``, runs one checked step as torch's cells
    do: arrays become tensors, ``x`` may be unbatched (input_size,), and a missing state starts
    from ``initial_state``.
    """

    state_names: tuple[str, ...] = ("h",)

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        name = type(self).__name__
        _check_size(name, "input_size", input_size)
        _check_size(name, "hidden_size", hidden_size)
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)

    # ---- what a cell defines ----------------------------------------------------------------
    def forward(self, x: Tensor, state: Any) -> Any:
        """One step: the new state from the input ``x`` (B, input_size) and ``state``."""
        if not _projects(self):
            raise NotImplementedError(f"{type(self).__name__} must define forward(x, state), "
                                      "or project_input(x) and step(x_proj, state)")
        prepared = _prepared(self)
        return self.step(self.project_input(x, *prepared), state, *prepared)

    def project_input(self, x: Tensor, *prepared: Any) -> Tensor:
        """Optional hook, for speed: what a step needs from its input alone, for a block of steps at once.

        ``x`` is (T, B, input_size) for a block of T steps (or (B, input_size) for one step, or
        (rows, input_size) for a block of a packed batch's rows); return its projection with those
        leading axes first, for example ``x @ self.weight_ih.T + self.bias``.
        The loop then calls ``step(projection[t], state)`` for each step of the block, and never
        ``forward``. A cell without this hook is run one ``forward`` per step. ``prepared`` is
        what ``prepare()`` returned, for a cell that defines it.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define project_input")

    def step(self, x_proj: Tensor, state: Any, *prepared: Any) -> Any:
        """For a cell that defines ``project_input``: the rest of a step, the new state from one step's
        projection ``x_proj`` and ``state`` (and what ``prepare()`` returned, for a cell that defines it)."""
        raise NotImplementedError(f"{type(self).__name__} defines project_input but not step(x_proj, state)")

    def prepare(self) -> Any:
        """Optional, with ``project_input``: what every step of a run shares, recorded once per run.

        For example ``self.weight_hh.T``: made inside ``step`` it would be a new graph node at
        every step. Whatever ``prepare()`` returns (a tensor, a tuple, a NamedTuple) is passed as
        the last argument of ``project_input(x, prepared)`` and ``step(x_proj, state, prepared)``.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define prepare")

    @property
    def state_sizes(self) -> tuple[int, ...]:
        """The width of each state, in ``state_names`` order: ``hidden_size`` for each unless a cell says
        otherwise (an LSTM with ``proj_size`` has h of width proj_size). The first is the step's output."""
        return (self.hidden_size,) * len(self.state_names)

    def initial_state(self, batch: int, like: Tensor) -> Any:
        """The state a sequence starts from when none is given: zeros (batch, size) for each of ``state_sizes``,
        in ``like``'s dtype.

        Override it for, say, a learned initial state; return the same form ``forward`` takes.
        """
        zeros = tuple(Tensor(np.zeros((batch, size)), dtype=like.dtype) for size in self.state_sizes)
        return zeros[0] if len(zeros) == 1 else zeros

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        owner = self.__dict__.get("_owner")
        if owner is not None and isinstance(value, Parameter):  # inside a Recurrent: it lists the new one
            owner[0]._adopt(self, name, value)

    # ---- one checked step, as torch's cells are called ---------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._checked_step(*args, **kwargs)

    def _checked_step(self, x: Any, state: Any = None) -> Any:
        name = type(self).__name__
        x = _as_tensor(x, _dtype_of(self))
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input of shape (batch, {self.input_size}) or "
                             f"({self.input_size},), got {x.shape}")
        unbatched = x.ndim == 1
        if unbatched:
            x = x[None]
        if state is None:
            start = _as_state(self, self.initial_state(x.shape[0], x), "initial_state", x.shape[0])
        else:
            lead = () if unbatched else (x.shape[0],)
            start = tuple(s[None] if unbatched else s for s in _given_state(self, name, state, lead, x.dtype))
        new = _as_state(self, self.forward(x, _pack(start)), "forward", x.shape[0])
        return _pack(tuple(s[0] for s in new) if unbatched else new)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def _projects(cell: RecurrentCell) -> bool:
    """Does the cell define the project_input hook (then the loop calls step, not forward)?"""
    return type(cell).project_input is not RecurrentCell.project_input


def _prepared(cell: RecurrentCell) -> tuple:
    """The extra argument of project_input and step: (cell.prepare(),), or () for a cell without prepare."""
    return () if type(cell).prepare is RecurrentCell.prepare else (cell.prepare(),)


def _pack(state: State) -> Any:
    """A state in the form cells take: the bare tensor for one state name, else the tuple."""
    return state[0] if len(state) == 1 else state


def _as_state(cell: RecurrentCell, made: Any, source: str, batch: int) -> State:
    """What a cell's ``forward``/``step``/``initial_state`` returned, checked, as a tuple of (B, H) tensors."""
    names = cell.state_names
    items = (made,) if len(names) == 1 and isinstance(made, Tensor) else made
    form = "a tensor" if len(names) == 1 else f"a tuple ({', '.join(names)})"
    if not isinstance(items, (tuple, list)) or len(items) != len(names) \
            or not all(isinstance(s, Tensor) for s in items):
        got = f"a tuple of {len(items)}" if isinstance(items, (tuple, list)) else type(made).__name__
        raise TypeError(f"{type(cell).__name__}.{source} must return the state as {form} "
                        f"(state_names = {names}), got {got}")
    for what, size, s in zip(names, cell.state_sizes, items, strict=True):
        if s.shape != (batch, size):
            raise ValueError(f"{type(cell).__name__}.{source}: state {what!r} has shape {s.shape}, expected "
                             f"(batch, state size) = {(batch, size)}")
    return tuple(items)


def _given_state(cell: RecurrentCell, owner: str, state: Any, lead: tuple[int, ...], dtype: np.dtype,
                 suffix: str = "") -> State:
    """A user's state (bare tensor or tuple, arrays allowed) as a tuple of tensors of shape ``lead`` + (size,),
    one for each of the cell's ``state_sizes``."""
    names = cell.state_names
    if len(names) == 1:
        items = state if isinstance(state, tuple) and len(state) == 1 else (state,)  # (h,) is h
    elif isinstance(state, (tuple, list)) and len(state) == len(names):
        items = tuple(state)
    else:
        raise ValueError(f"{owner}: the {'initial ' if suffix else ''}state must be a tuple "
                         f"({', '.join(n + suffix for n in names)}), got {type(state).__name__}")
    out = []
    for what, size, s in zip(names, cell.state_sizes, items, strict=True):
        s, expected = _as_tensor(s, dtype), (*lead, size)
        if s.shape != expected:
            word = f"{what}{suffix}" if suffix else _STATE_WORDS.get(what, f"state {what!r}")
            raise ValueError(f"{owner}: expected {word} of shape {expected}, got {s.shape}")
        out.append(s)
    return tuple(out)


def _as_tensor(x: Any, dtype: np.dtype) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x, dtype=dtype)


def _dtype_of(module: Module) -> np.dtype:
    """The dtype of a module's first parameter (the default float dtype if it has none)."""
    for p in module.parameters():
        return p.dtype
    return get_default_dtype()


# ---- the one time loop --------------------------------------------------------------------

def unroll(cell: RecurrentCell, x: Any, state: Any = None, reverse: bool = False) -> list[State]:
    """Run ``cell`` over the sequence ``x``: the states [state_0, state_1, ..., state_T], each a tuple.

    Inputs: cell, x, state
        x: (T, B, input_size), time first.
        state: the initial state (the cell's form: a (B, hidden_size) tensor, or a tuple of them);
            default ``cell.initial_state``.
    Outputs: a list of T + 1 states (just state_0 when T = 0), each a tuple of (B, hidden_size)
        tensors in ``state_names`` order: state_0 (the initial state), then the state after each
        step in the order the steps ran (t = 0, 1, ... or, with ``reverse=True``, t = T-1, T-2, ...).

    This is the loop ``Recurrent`` runs for each layer and direction: every step inside
    ``name_scope("t=k")``, and cells with a ``project_input`` hook fed a block of steps at a time.
    Holding every state lets you ``retain_grad()`` any h_t to see dL/dh_t after ``backward()``.
    """
    if not isinstance(cell, RecurrentCell):
        raise TypeError(f"unroll: expected a RecurrentCell, got {type(cell).__name__}")
    x = _as_tensor(x, _dtype_of(cell))
    if x.ndim != 3 or x.shape[-1] != cell.input_size:
        raise ValueError(f"unroll: expected x of shape (T, B, {cell.input_size}), got {x.shape}")
    batch = x.shape[1]
    if state is None:
        start = _as_state(cell, cell.initial_state(batch, x), "initial_state", batch)
    else:
        start = _given_state(cell, "unroll", state, (batch,), x.dtype)
    return _run(cell, x, start, reverse)


def _run(cell: RecurrentCell, x: Tensor, state: State, reverse: bool) -> list[State]:
    """The time loop itself, on checked inputs: ``x`` (T, B, D) and ``state`` a tuple of (B, H) tensors."""
    steps, batch = x.shape[0], x.shape[1]
    single = len(state) == 1
    states = [state]
    with collector_paused():  # the unrolled graph holds no cycles: skip the GC's scans of it
        if _projects(cell):
            step, prepared = cell.step, _prepared(cell)
            blocks = [(lo, min(lo + PROJECTION_BLOCK, steps)) for lo in range(0, steps, PROJECTION_BLOCK)]
            for lo, hi in (reversed(blocks) if reverse else blocks):
                x_proj = cell.project_input(_steps(x, lo, hi), *prepared)
                if len(states) == 1 and not (isinstance(x_proj, Tensor) and x_proj.ndim >= 2
                                             and x_proj.shape[0] == hi - lo):
                    got = f"shape {x_proj.shape}" if isinstance(x_proj, Tensor) else f"a {type(x_proj).__name__}"
                    raise ValueError(f"{type(cell).__name__}.project_input: expected a tensor projecting {hi - lo} "
                                     f"steps, with time first, got {got}")
                for t in (range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)):
                    with name_scope(f"t={t}"):
                        new = step(x_proj[t - lo], state[0] if single else state, *prepared)
                    state = _as_state(cell, new, "step", batch) if len(states) == 1 else (new,) if single else new
                    states.append(state)
        else:
            forward = cell.forward
            for t in (range(steps - 1, -1, -1) if reverse else range(steps)):
                with name_scope(f"t={t}"):
                    new = forward(_step_input(x, t), state[0] if single else state)
                state = _as_state(cell, new, "forward", batch) if len(states) == 1 else (new,) if single else new
                states.append(state)
    return states


def _run_packed(cell: RecurrentCell, data: Tensor, batch_sizes: list[int], state: State,
                reverse: bool) -> tuple[list[Tensor], State]:
    """The time loop over a packed batch: at step t only the first ``batch_sizes[t]`` rows of the state step.

    ``data`` (rows, D) holds the steps' inputs time step by time step, ``state`` the (B, H)
    initial states. Returns each step's output (its first state, batch_sizes[t] rows) in time
    order, and each sequence's state after its own last step. Going forward, the rows of the
    sequences that have ended are set aside as the batch shrinks; in reverse, each sequence
    joins from its initial state at its own last step, as the batch grows.
    """
    steps = len(batch_sizes)
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)]).tolist()
    projects = _projects(cell)
    advance, prepared = (cell.step, _prepared(cell)) if projects else (cell.forward, ())
    initial, single = state, len(state) == 1
    ended: list[State] = []
    outputs: list[Tensor] = []
    running = batch_sizes[-1] if reverse else batch_sizes[0]
    state = tuple(s[:running] for s in state) if running < batch_sizes[0] else state
    with collector_paused():
        blocks = [(lo, min(lo + PROJECTION_BLOCK, steps)) for lo in range(0, steps, PROJECTION_BLOCK)]
        for lo, hi in (reversed(blocks) if reverse else blocks):
            rows = _steps(data, offsets[lo], offsets[hi])
            x_in = cell.project_input(rows, *prepared) if projects else rows
            if projects and not (isinstance(x_in, Tensor) and x_in.ndim >= 2 and x_in.shape[0] == rows.shape[0]):
                got = f"shape {x_in.shape}" if isinstance(x_in, Tensor) else f"a {type(x_in).__name__}"
                raise ValueError(f"{type(cell).__name__}.project_input: expected a tensor projecting the "
                                 f"{rows.shape[0]} rows of a packed block, rows first, got {got}")
            for t in (range(hi - 1, lo - 1, -1) if reverse else range(lo, hi)):
                size = batch_sizes[t]
                label = f"t={t} · batch {size}"
                if size != running:
                    label += f" ({'shrinks' if size < running else 'grows'} from {running})"
                with name_scope(label):
                    if size < running:
                        ended.append(tuple(s[size:] for s in state))
                        state = tuple(s[:size] for s in state)
                    elif size > running:
                        joining = (s0[running:size] for s0 in initial)  # they start here, from their h_0
                        state = tuple(ops.concat([s, s0], axis=0) for s, s0 in zip(state, joining, strict=True))
                    running, first = size, offsets[t] - offsets[lo]
                    new = advance(x_in.narrow(0, first, size), _pack(state), *prepared)  # blocks: one-copy grad
                if outputs:  # checked at the first step, as _run does
                    state = (new,) if single else new
                else:
                    state = _as_state(cell, new, "step" if projects else "forward", size)
                outputs.append(state[0])
    if ended:  # the sequences that ended early, in row order: the last to end holds the lowest rows
        state = tuple(ops.concat([s, *reversed(parts)], axis=0) for s, *parts in zip(state, *ended, strict=True))
    return outputs[::-1] if reverse else outputs, state


def _run_direction(cell: RecurrentCell, x: Tensor, state: State, reverse: bool,
                   batch_sizes: list[int] | None) -> tuple[list[Tensor], State]:
    """One layer and direction: each step's output in time order, and the final state (each
    sequence's own, for a packed batch, whose ``batch_sizes`` are given)."""
    if batch_sizes is not None:
        return _run_packed(cell, x, batch_sizes, state, reverse)
    states = _run(cell, x, state, reverse)
    outputs = [s[0] for s in states[1:]]
    return outputs[::-1] if reverse else outputs, states[-1]


def _steps(x: Tensor, lo: int, hi: int) -> Tensor:
    """Time steps lo..hi-1 of a sequence (the whole of it when that is all), keeping its name."""
    if lo == 0 and hi == x.shape[0]:
        return x
    block = x[lo:hi]
    if block.node is None and x.name is not None:  # a plain input: label its slice for drawings
        block.name = f"{x.name}[{lo}:{hi}]"
    return block


def _step_input(x: Tensor, t: int) -> Tensor:
    """Time step t of a sequence, keeping its name."""
    one = x[t]
    if one.node is None and x.name is not None:
        one.name = f"{x.name}[{t}]"
    return one


# ---- the layer ----------------------------------------------------------------------------

class Recurrent(Module):
    r"""A recurrent cell run over sequences: stacked, optionally bidirectional, with torch.nn.LSTM's conventions.

    ``Recurrent(cell, input_size, hidden_size, num_layers=1, batch_first=False, dropout=0.0,
    bidirectional=False, **cell_kwargs)`` builds one ``cell(layer_input_size, hidden_size,
    **cell_kwargs)`` per layer and direction: layer 0 reads ``input_size`` features, later
    layers the ``hidden_size * num_directions`` outputs of the layer below. ``layer.cell(k,
    reverse=False)`` is the cell of layer k. Its parameters appear in the layer under torch's
    names: a cell's ``weight_ih`` is ``weight_ih_l0``, ``weight_ih_l0_reverse``, ``weight_ih_l1``, ...
    Assign through those names (``layer.weight_ih_l0 = Parameter(...)``) to replace one; the cell
    follows.

    ``dropout`` zeroes the outputs of every layer but the last in training, as torch does.
    Time steps are recorded inside ``name_scope("t=k")``, and, when there are several, layers
    and directions inside ``"layer k"`` and ``"forward"``/``"reverse"``, so drawings show them.
    """

    _cells: dict[tuple[int, bool], RecurrentCell]       # (layer, reverse) -> cell
    _shared: dict[str, tuple[RecurrentCell, str]]       # torch-style name -> (cell, the name in the cell)

    def __init__(self, cell: type[RecurrentCell], input_size: int, hidden_size: int, num_layers: int = 1,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 **cell_kwargs: Any) -> None:
        super().__init__()
        name = type(self).__name__
        if not (isinstance(cell, type) and issubclass(cell, RecurrentCell)):
            hint = " (pass the class: the layer makes one cell per layer and direction)" \
                if isinstance(cell, RecurrentCell) else ""
            raise TypeError(f"{name}: cell must be a subclass of mg.nn.RecurrentCell, got {cell!r}{hint}")
        _check_size(name, "input_size", input_size)
        _check_size(name, "hidden_size", hidden_size)
        _check_size(name, "num_layers", num_layers)
        dropout = check_probability(name, dropout)
        if dropout and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} acts between stacked layers only, so with num_layers=1 "
                          "it does nothing", UserWarning, stacklevel=3 if type(self) is not Recurrent else 2)
        self.cell_type = cell
        self.cell_kwargs = dict(cell_kwargs)
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.batch_first, self.dropout, self.bidirectional = batch_first, dropout, bidirectional
        # The cells are not sub-modules (torch's LSTM has none): the layer registers their parameters
        # under torch-style names, and a cell tells its layer when one of its parameters is replaced.
        object.__setattr__(self, "_cells", {})
        object.__setattr__(self, "_shared", {})
        for layer in range(num_layers):
            below = self._cells[layer - 1, False].state_sizes[0] if layer else 0  # the width of its output
            layer_input = input_size if layer == 0 else below * self.num_directions
            for reverse in (False, True)[:self.num_directions]:
                made = cell(layer_input, hidden_size, **cell_kwargs)
                _check_cell(name, made, layer_input, hidden_size)
                self._cells[layer, reverse] = made
                object.__setattr__(made, "_owner", (self, f"_l{layer}{'_reverse' if reverse else ''}"))
                for inner, p in made.named_parameters():
                    self._adopt(made, inner, p)
        self.state_names = self.cell(0).state_names

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def cell(self, layer: int, reverse: bool = False) -> RecurrentCell:
        """The cell of layer ``layer`` (0 is the one reading the input), forward or reverse direction."""
        if not isinstance(layer, (int, np.integer)) or not 0 <= layer < self.num_layers:
            raise IndexError(f"{type(self).__name__}.cell: layer must be in [0, {self.num_layers}), got {layer!r}")
        if reverse and not self.bidirectional:
            raise ValueError(f"{type(self).__name__}.cell: reverse=True needs bidirectional=True")
        cell: RecurrentCell = self._cells[int(layer), bool(reverse)]
        return cell

    def cells(self) -> Iterator[tuple[int, bool, RecurrentCell]]:
        """(layer, reverse, cell) for every cell, layer by layer, forward direction first."""
        for (layer, reverse), cell in self._cells.items():
            yield layer, reverse, cell

    def train(self, mode: bool = True) -> Recurrent:
        """Training mode here and in every cell (see ``Module.train``); returns self."""
        super().train(mode)
        for cell in self._cells.values():
            cell.train(mode)
        return self

    def forward(self, x: Any, state: Any = None) -> tuple[Any, Any]:
        r"""Run every layer and direction over the sequence ``x``; return ``output, state_n``, as torch.nn.LSTM.

        Inputs: input, state
            input: (T, B, H_in), or (B, T, H_in) with ``batch_first=True``, or unbatched (T, H_in),
                or a ``PackedSequence`` (``mg.nn.utils.rnn``) of sequences of different lengths.
            state: the initial state, one tensor per state name (``h_0``, or ``(h_0, c_0)``, ...),
                each (num_layers * num_directions, B, H), or (num_layers * num_directions, H)
                unbatched. Default: each cell's ``initial_state`` (zeros).
        Outputs: output, state_n
            output: (T, B, num_directions * H) (batch first or unbatched as the input was): the
                first state (the step's output) of the last layer at every step, the directions
                concatenated; a ``PackedSequence`` for a packed input.
            state_n: the final states, shaped as ``state``: a bare tensor when the cell has one
                state name (``output, h_n``), else a tuple (``output, (h_n, c_n)``).

        Here T is the sequence length, B the batch size, H_in = ``input_size`` and H the width of
        each state (``hidden_size``, or the cell's ``state_sizes``). A packed batch runs as torch's
        packed kernels do: at step t only the first ``batch_sizes[t]`` sequences step, so each
        sequence's final state is its state after its own last step, and the reverse direction
        starts there; ``state`` and ``state_n`` are in the caller's batch order.
        """
        name = type(self).__name__
        packed = x if isinstance(x, PackedSequence) else None
        if packed is not None:
            x = packed.data
        x = _as_tensor(x, _dtype_of(self))
        if packed is not None:
            if x.ndim != 2 or x.shape[-1] != self.input_size:
                raise ValueError(f"{name}: expected packed data of shape (rows, {self.input_size}), got {x.shape}")
            sizes = [int(b) for b in packed.batch_sizes.numpy()]
            batch_sizes: list[int] | None = sizes
            batch, unbatched = sizes[0], False
        else:
            batch_sizes = None
            if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
                layout = "(batch, seq, {0})" if self.batch_first else "(seq, batch, {0})"
                raise ValueError(f"{name}: expected input of shape {layout.format(self.input_size)} or "
                                 f"(seq, {self.input_size}), got {x.shape}")
            unbatched = x.ndim == 2
            if unbatched:
                x = x[:, None, :]
            elif self.batch_first:
                x = x.transpose(1, 0, 2)
            batch = x.shape[1]
            if x.shape[0] == 0:
                raise ValueError(f"{name}: the input sequence is empty (shape {x.shape})")
        given = None if state is None else self._given_states(state, batch, unbatched, x.dtype)
        if given is not None and packed is not None and packed.sorted_indices is not None:
            given = tuple(s[:, packed.sorted_indices] for s in given)  # into the packed rows' order, as torch
        for cell in self._cells.values():  # a parent module's train() sets the layer's mode only
            if cell.training != self.training:
                cell.train(self.training)
        finals: list[State] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                k = layer * self.num_directions + direction
                cell = self.cell(layer, bool(direction))
                scopes = ([f"layer {layer}"] if self.num_layers > 1 else []) + \
                         (["reverse" if direction else "forward"] if self.bidirectional else [])
                with _scopes(scopes):
                    if given is None:
                        start = _as_state(cell, cell.initial_state(batch, x), "initial_state", batch)
                    else:
                        start = tuple(s[k] for s in given)
                    steps_out, final = _run_direction(cell, layer_input, start, bool(direction), batch_sizes)
                outputs.append(ops.stack(steps_out, axis=0) if packed is None else ops.concat(steps_out, axis=0))
                finals.append(final)
            layer_input = outputs[0] if len(outputs) == 1 else ops.concat(outputs, axis=-1)
            if layer < self.num_layers - 1:
                layer_input = dropout(layer_input, self.dropout, self.training)
        output = layer_input
        final = tuple(ops.stack([f[i] for f in finals], axis=0) for i in range(len(self.state_names)))
        if packed is not None:
            unsorted = packed.unsorted_indices
            if unsorted is None and packed.sorted_indices is not None:  # a PackedSequence made by hand
                unsorted = invert_permutation(packed.sorted_indices)
            if unsorted is not None:  # back to the caller's order, as torch
                final = tuple(f[:, unsorted] for f in final)
            return PackedSequence(output, *packed[1:]), _pack(final)
        if unbatched:
            output, final = output[:, 0], tuple(f[:, 0] for f in final)
        elif self.batch_first:
            output = output.transpose(1, 0, 2)
        return output, _pack(final)

    def _given_states(self, state: Any, batch: int, unbatched: bool, dtype: np.dtype) -> State:
        """The user's initial state as (layers * directions, B, H) tensors, one per state name."""
        stacks = self.num_layers * self.num_directions
        lead = (stacks,) if unbatched else (stacks, batch)
        given = _given_state(self.cell(0), type(self).__name__, state, lead, dtype, suffix="_0")
        return tuple(s[:, None, :] for s in given) if unbatched else given

    # ---- keeping the torch-style names and the cells' parameters one and the same ------------
    def __setattr__(self, name: str, value: Any) -> None:
        shared = self.__dict__.get("_shared", {}).get(name)
        if shared is None:
            super().__setattr__(name, value)
            return
        if not isinstance(value, Parameter):
            raise TypeError(f"{type(self).__name__}: {name} must be a Parameter, got {type(value).__name__}")
        owner, last = self._home_of(name)
        setattr(owner, last, value)  # the cell computes with it ...
        self._adopt(shared[0], shared[1], value)  # ... and the layer lists it under the torch-style name

    def _home_of(self, name: str) -> tuple[Any, str]:
        """A torch-style name's parameter lives in a cell: (the cell or its sub-module, the attribute)."""
        shared = self._shared.get(name)
        if shared is None:
            return self, name
        owner, inner = shared
        *path, last = inner.split(".")
        for part in path:
            owner = getattr(owner, part)
        return owner, last

    def _adopt(self, cell: RecurrentCell, inner: str, value: Parameter) -> None:
        """Register a cell's parameter ``inner`` as the layer's ``<inner>_l<k>[_reverse]``."""
        _, suffix = cell.__dict__["_owner"]
        self._shared[inner + suffix] = (cell, inner)
        super().__setattr__(inner + suffix, value)

    def extra_repr(self) -> str:
        text = f"{self.cell_type.__name__}, " if type(self) is Recurrent else ""
        text += f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        for flag, default in (("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, flag) != default:
                text += f", {flag}={getattr(self, flag)}"
        defaults = inspect.signature(self.cell_type).parameters
        for key, value in self.cell_kwargs.items():
            if key not in defaults or defaults[key].default != value:
                text += f", {key}={value!r}"
        return text


def _check_cell(owner: str, cell: Any, input_size: int, hidden_size: int) -> None:
    """A freshly built cell is a RecurrentCell of the sizes asked for, with usable state names."""
    kind = type(cell).__name__
    if "input_size" not in cell.__dict__:
        raise TypeError(f"{owner}: {kind}.__init__ must call super().__init__(input_size, hidden_size)")
    if (cell.input_size, cell.hidden_size) != (input_size, hidden_size):
        raise ValueError(f"{owner}: {kind} was built for input_size={input_size}, hidden_size={hidden_size} "
                         f"but says {cell.input_size}, {cell.hidden_size}")
    names = cell.state_names
    if not isinstance(names, tuple) or not names or not all(isinstance(n, str) and n for n in names) \
            or len(set(names)) != len(names):
        raise TypeError(f"{owner}: {kind}.state_names must be a non-empty tuple of distinct names, got {names!r}")


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


# ---- one registry of cell kinds ------------------------------------------------------------

@dataclass(frozen=True)
class CellKind:
    """One kind of recurrent cell: its registered name, its cell class, and how to build a layer of it."""

    name: str
    cell: type[RecurrentCell]
    layer_class: Callable[..., Recurrent] | None = None  # e.g. mg.nn.LSTM; None: Recurrent(cell, ...)

    def layer(self, input_size: int, hidden_size: int, **kwargs: Any) -> Recurrent:
        """A layer of this cell: ``layer_class(input_size, hidden_size, **kwargs)`` or ``Recurrent(cell, ...)``."""
        if self.layer_class is not None:
            return self.layer_class(input_size, hidden_size, **kwargs)
        return Recurrent(self.cell, input_size, hidden_size, **kwargs)


_REGISTRY: dict[str, CellKind] = {}
CELLS: Mapping[str, CellKind] = MappingProxyType(_REGISTRY)  # read-only; add to it with register_cell


def register_cell(name: str, cell: type[RecurrentCell], layer: Callable[..., Recurrent] | None = None,
                  replace: bool = False) -> CellKind:
    """Add a cell kind to ``mg.nn.CELLS`` under ``name``, so the tools that offer a choice of cells offer it.

    ``layer`` is the layer class that runs it (default ``Recurrent(cell, ...)``). A name already
    taken is refused unless ``replace=True``.
    """
    if not isinstance(name, str) or not name or ":" in name or name != name.strip():
        raise ValueError(f"register_cell: the name must be a non-empty string without ':' or surrounding "
                         f"spaces, got {name!r}")
    if not (isinstance(cell, type) and issubclass(cell, RecurrentCell)):
        raise TypeError(f"register_cell: cell must be a subclass of mg.nn.RecurrentCell, got {cell!r}")
    if layer is not None and not (isinstance(layer, type) and issubclass(layer, Recurrent)):
        raise TypeError(f"register_cell: layer must be None or a subclass of mg.nn.Recurrent, got {layer!r}")
    if name in _REGISTRY and not replace and _REGISTRY[name].cell is not cell:
        raise ValueError(f"register_cell: {name!r} is already registered for {_REGISTRY[name].cell.__name__}; "
                         "pass replace=True to replace it")
    kind = _REGISTRY[name] = CellKind(name, cell, layer)
    return kind


def cell_kind(spec: Any) -> CellKind:
    """The CellKind that ``spec`` names: a registered name (``"lstm"``), ``"module:Class"``, or a cell class."""
    if isinstance(spec, CellKind):
        return spec
    if isinstance(spec, type) and issubclass(spec, RecurrentCell):
        found = [kind for kind in _REGISTRY.values() if kind.cell is spec]
        return found[0] if found else CellKind(spec.__name__, spec)
    if not isinstance(spec, str):
        raise TypeError(f"cell_kind: expected a cell name, 'module:Class' or a RecurrentCell class, got {spec!r}")
    if spec in _REGISTRY:
        return _REGISTRY[spec]
    if ":" not in spec:
        raise KeyError(f"unknown cell kind {spec!r}: registered are {', '.join(sorted(_REGISTRY))}; "
                       "or give module:Class for a cell of your own")
    module_name, _, attribute = spec.partition(":")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as err:
        raise KeyError(f"cannot load the cell {spec!r}: {err}") from None
    if not (isinstance(found, type) and issubclass(found, RecurrentCell)):
        raise TypeError(f"{spec!r} is {found!r}, not a subclass of mg.nn.RecurrentCell")
    return CellKind(spec, found)
