r"""Real-time recurrent learning (Williams & Zipser 1989): a recurrent layer's gradients by forward mode.

BPTT (``loss.backward()``) runs the sequence forward keeping every step's activations, then
sweeps back from the loss: reverse mode. RTRL makes one sweep, forward. Beside each state s_t
(h_t, and c_t for the LSTM) it carries the state's sensitivities S_t = ds_t/dθ, the derivative
of the state with respect to every one of the P parameter entries:

    S_t = (∂step/∂s) S_{t-1} + ∂step/∂θ          S_0 = ds_0/dθ (zero unless the initial state is learned)
    dl_t/dθ = (dl_t/dh_t) S_t^h                   dL/dθ = Σ_t dl_t/dθ,   L = Σ_t l_t(h_t)

Both terms of S_t are one forward-mode pass of the cell's step: ``mg.func.jvp`` of
``functional_call(cell, {name: θ}, (x_t, s))`` with tangents (S_{t-1}, identity), P directions at
once, in chunks of at most ``chunk_size`` directions (one parameter tensor per chunk).
dl_t/dh_t is a small reverse pass through the loss alone. Nothing of past steps is kept, so
memory does not grow with T; but a step pushes P directions through the cell where BPTT pushes
one vector back: for a tanh RNN with H units, O(H^4) per step against BPTT's O(H^2).

Because dl_t/dθ is known at step t, the weights can be updated at every step of a stream that
never ends (``RTRL``); then, as in Williams & Zipser, S_t mixes derivatives taken at older
weights, an approximation that is exact while the weights stay fixed.

``layer`` is a ``RecurrentCell`` (the built-in ones, the zoo's, your own) or a one-layer,
one-direction recurrent layer (``mg.nn.RNN``, ``LSTM``, ``GRU``, ``Recurrent``). Stacked and
bidirectional layers are refused: a reverse direction reads the future, which a forward sweep
has not seen yet.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..autograd import grad as reverse_grad
from ..autograd import no_grad
from ..func import functional_call, jvp
from ..tensor import Tensor, get_default_dtype
from .unroll import check_layer, initial_state

State = tuple[Tensor, ...]  # a cell's state in state_names order


class _Chunk(NamedTuple):
    """One forward-mode pass: directions ``start .. start + stop - lo`` are entries lo..stop-1 of ``inner``."""

    inner: str   # the parameter's name in the cell
    lo: int
    stop: int
    start: int   # the first direction's row in the sensitivities


class RTRL:
    r"""Online real-time recurrent learning: one time step at a time, each step's gradient ready at once.

    ``RTRL(layer, loss_fn, state=None, chunk_size=256)``; then ``step(x_t, target_t)`` for each
    step of a stream, as long as it lasts.

    Inputs of step: x_t, target_t
        x_t: (B, input_size), or (input_size,) for one unbatched sequence.
        target_t: what ``loss_fn(output_t, target_t)`` compares the step's output with; None
            for a step without a loss.
    Output of step: the step's loss l_t as a float (0.0 without a target).

    ``loss_fn(output_t, target_t)`` returns a one-element tensor: output_t is the step's
    output h_t, (B, H) (or (H,) unbatched). Each ``step`` adds dl_t/dθ into the ``.grad`` of
    every parameter of the layer, and of the parameters inside ``loss_fn`` (a readout), as
    ``l_t.backward()`` would: ``opt.step()`` after each ``step`` learns online, with no history
    stored. ``grads`` holds the layer's gradients summed since the start (or ``reset()``).

    ``state`` is the initial state in the cell's form (h_0, or a tuple (h_0, c_0), each (B, H)),
    a constant; default the cell's ``initial_state``, which may depend on parameters (a learned
    initial state). Parameters with ``requires_grad=False`` get no sensitivities.
    ``chunk_size`` bounds the directions of one forward-mode pass, so memory: a pass holds a
    (chunk_size, *parameter shape) identity block.
    """

    def __init__(self, layer: Any, loss_fn: Callable[[Tensor, Any], Tensor], state: Any = None,
                 chunk_size: int = 256) -> None:
        self.cell = check_layer("RTRL", layer)
        if not callable(loss_fn):
            raise TypeError(f"RTRL: loss_fn must be callable as loss_fn(output_t, target_t), got {loss_fn!r}")
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"RTRL: chunk_size must be a positive integer, got {chunk_size!r}")
        self.loss_fn, self.chunk_size = loss_fn, int(chunk_size)
        outer = {id(p): name for name, p in layer.named_parameters()}  # the layer's names: weight_ih_l0, ...
        self._names: list[tuple[str, str]] = []   # (the layer's name, the cell's name), for the trained parameters
        self._chunks: list[_Chunk] = []
        start = 0
        for inner, p in self.cell.named_parameters():
            if not p.requires_grad:
                continue
            self._names.append((outer[id(p)], inner))
            for lo in range(0, p.numel(), self.chunk_size):
                stop = min(lo + self.chunk_size, p.numel())
                self._chunks.append(_Chunk(inner, lo, stop, start))
                start += stop - lo
        self.num_directions = start  # P: one direction per trained parameter entry
        self._scratch = np.zeros(0)
        self.reset(state)

    def reset(self, state: Any = None) -> None:
        """Start a new sequence: from ``state`` (default: the cell's initial state), sensitivities S_0,
        ``grads`` zero. The parameters' ``.grad`` is left alone."""
        single = len(self.cell.state_names) == 1  # and then (h,) stands for h
        self._given = state[0] if single and isinstance(state, (tuple, list)) and len(state) == 1 else state
        self._state: State | None = None              # set by the first step, which knows the batch size
        self._sens: list[np.ndarray] = []             # per state name: S_t, (P, B, H)
        self.grads: dict[str, np.ndarray] = {name: np.zeros(p.shape, dtype=p.dtype) for (name, _), p in
                                             zip(self._names, self._parameters(), strict=True)}

    @property
    def state(self) -> Any:
        """The current state in the cell's form (a (B, H) tensor, or a tuple), constants; None before a step."""
        if self._state is None:
            return None
        return self._state[0] if len(self._state) == 1 else self._state

    @property
    def sensitivities(self) -> dict[str, dict[str, np.ndarray]]:
        """ds_t/dθ now: ``[state name][parameter name]``, shape (B, H, *parameter shape) as jacfwd's
        (output shape + argument shape); views, valid until the next step. Empty before a step."""
        out: dict[str, dict[str, np.ndarray]] = {}
        for state_name, sens in zip(self.cell.state_names, self._sens, strict=False):
            out[state_name], row = {}, 0
            for (name, _), p in zip(self._names, self._parameters(), strict=True):
                block = sens[row:row + p.numel()]
                out[state_name][name] = np.moveaxis(block.reshape(*p.shape, *block.shape[1:]),
                                                    (-2, -1), (0, 1))
                row += p.numel()
        return out

    def step(self, x_t: Any, target_t: Any = None) -> float:
        """Advance the state and its sensitivities by one step; add dl_t/dθ into ``.grad``; return l_t."""
        x, unbatched = self._input(x_t)
        if self._state is None:
            self._state, self._sens = self._start(x, unbatched)
        elif x.shape[0] != self._state[0].shape[0]:
            raise ValueError(f"RTRL.step: x_t has batch size {x.shape[0]} but the running state has "
                             f"{self._state[0].shape[0]}; call reset() to start sequences of another batch size")
        self._state, self._sens = self._advance(x, self._state, self._sens)
        if target_t is None:
            return 0.0
        h = Tensor(self._state[0].data[0] if unbatched else self._state[0].data, requires_grad=True)
        loss = self.loss_fn(h, target_t)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            got = f"a tensor of shape {loss.shape}" if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"RTRL: loss_fn must return a one-element tensor, got {got}")
        if loss.requires_grad:
            loss.backward()  # dl_t/dh_t into h.grad, and the loss's own parameters (a readout) their share
        if h.grad is not None and self._sens:
            dl_dh = h.grad.reshape(-1)                                   # (B H,)
            flat = self._sens[0].reshape(self.num_directions, -1) @ dl_dh  # dl_t/dθ = dl_t/dh_t S_t^h, (P,)
            row = 0
            for (name, _), p in zip(self._names, self._parameters(), strict=True):
                piece = flat[row:row + p.numel()].reshape(p.shape)
                row += p.numel()
                self.grads[name] += piece
                p.grad = piece if p.grad is None else p.grad + piece
        return float(loss.item())

    # ---- the forward sweep ----------------------------------------------------------------------
    def _parameters(self) -> list[Tensor]:
        own = dict(self.cell.named_parameters())
        return [own[inner] for _, inner in self._names]

    def _input(self, x_t: Any) -> tuple[Tensor, bool]:
        """x_t as a (B, D) constant in the cell's dtype, and whether it came unbatched as (D,)."""
        dtype = next((p.dtype for p in self.cell.parameters()), get_default_dtype())
        x = Tensor(x_t.data if isinstance(x_t, Tensor) else x_t, dtype=dtype)
        D = self.cell.input_size
        if x.ndim not in (1, 2) or x.shape[-1] != D:
            raise ValueError(f"RTRL.step: expected x_t of shape (B, {D}) or ({D},), got {x.shape}")
        unbatched = x.ndim == 1
        return (x[None] if unbatched else x), unbatched

    def _start(self, x: Tensor, unbatched: bool) -> tuple[State, list[np.ndarray]]:
        """state_0 and S_0 = d state_0/dθ: zero for a given state, by reverse mode for the cell's own."""
        batch, H, P = x.shape[0], self.cell.hidden_size, self.num_directions
        if self._given is not None:
            given = self._given
            if unbatched:  # one sequence: its state (H,) gets a batch axis of 1
                given = [_array(s)[None] for s in given] if isinstance(given, (tuple, list)) else _array(given)[None]
            start = initial_state("RTRL", self.cell, batch, given, x.dtype)
            return tuple(s.detach() for s in start), [np.zeros((P, batch, H), dtype=x.dtype) for _ in start]
        made = self.cell.initial_state(batch, x)
        start = (made,) if isinstance(made, Tensor) else tuple(made)
        names = self.cell.state_names
        if len(start) != len(names) or any(not isinstance(s, Tensor) or s.shape != (batch, H) for s in start):
            raise ValueError(f"RTRL: {type(self.cell).__name__}.initial_state must return {len(names)} "
                             f"tensor(s) of shape {(batch, H)} ({', '.join(names)})")
        sens = [np.zeros((P, batch, H), dtype=x.dtype) for _ in start]
        params = self._parameters()
        for s, out in zip(start, sens, strict=True):
            if not (s.requires_grad and params):
                continue
            for b, j in np.ndindex(batch, H):  # a learned initial state: one backward per entry
                seed = np.zeros((batch, H), dtype=x.dtype)
                seed[b, j] = 1
                grads = reverse_grad(s, params, grad_outputs=seed, retain_graph=True, allow_unused=True)
                out[:, b, j] = np.concatenate([np.zeros(p.numel()) if g is None else g.reshape(-1)
                                               for g, p in zip(grads, params, strict=True)])
        return tuple(s.detach() for s in start), sens

    def _zeros(self, size: int, dtype: np.dtype) -> np.ndarray:
        """``size`` zeros from one buffer kept for every chunk's identity block: fresh memory each time
        would cost more than the step (each block is left all zeros again after use)."""
        if self._scratch.dtype != dtype or self._scratch.size < size:
            self._scratch = np.zeros(size, dtype=dtype)
        return self._scratch[:size]

    def _advance(self, x: Tensor, state: State, sens: list[np.ndarray]) -> tuple[State, list[np.ndarray]]:
        """One step: the new state, and S_t = (∂step/∂s) S_{t-1} + ∂step/∂θ by forward-mode passes."""
        cell = self.cell
        single = len(state) == 1
        if not self._chunks:
            with no_grad():
                new = cell(x, state[0] if single else state)
            return ((new,) if single else tuple(new)), sens
        own = dict(cell.named_parameters())
        new_sens = [np.empty_like(s) for s in sens]
        new_state: State = state
        with no_grad():
            for chunk in self._chunks:
                p, n = own[chunk.inner], chunk.stop - chunk.lo
                identity = self._zeros(n * p.numel(), p.dtype).reshape(n, p.numel())
                ones = (np.arange(n), np.arange(chunk.lo, chunk.stop))  # directions: unit nudges of entries lo..stop-1
                rows = slice(chunk.start, chunk.start + n)

                def one_step(*args: Tensor, inner: str = chunk.inner) -> Any:
                    *s, theta = args
                    return functional_call(cell, {inner: theta}, (x, s[0] if single else tuple(s)))
                identity[ones] = 1
                try:
                    out, tangents = jvp(one_step, (*state, p), (*(s[rows] for s in sens),
                                                                identity.reshape(n, *p.shape)))
                finally:
                    identity[ones] = 0
                new_state = (out,) if single else tuple(out)
                for k, tangent in enumerate((tangents,) if single else tangents):
                    new_sens[k][rows] = tangent.data
        return new_state, new_sens


def _array(value: Any) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def rtrl(layer: Any, x: Any, targets: Sequence[Any], loss_fn: Callable[[Tensor, Any], Tensor], state: Any = None,
         chunk_size: int = 256) -> tuple[float, dict[str, np.ndarray]]:
    """The loss L = Σ_t loss_fn(output_t, targets[t]) and dL/dθ for the layer's parameters, by RTRL.

    Inputs: layer, x, targets, loss_fn, state
        layer: a RecurrentCell or a one-layer, one-direction recurrent layer.
        x: (T, B, D) time first (as all of mg.teaching takes it, whatever the layer's
            ``batch_first``), or (T, D) for one unbatched sequence.
        targets: T targets, ``targets[t]`` for step t (an array (T, ...), a list); None at a step
            means no loss there (a many-to-one task: ``[None] * (T - 1) + [y]``).
        loss_fn: ``loss_fn(output_t, target_t)`` -> a one-element tensor, output_t (B, H) or (H,).
        state: the initial state in the cell's form (h_0, or (h_0, c_0), each (B, H)); default
            the cell's ``initial_state``.
    Outputs: (L as a float, {name: dL/dθ}) keyed as ``layer.named_parameters()`` names them.

    The same numbers as ``L.backward()`` over the unrolled graph, by one forward sweep storing
    no past activations. As ``backward()`` does, it also adds the gradients into ``.grad``: the
    layer's, and those of the parameters inside ``loss_fn``.
    """
    cell = check_layer("rtrl", layer)
    shape = x.shape if isinstance(x, Tensor) else np.shape(x)
    if len(shape) not in (2, 3) or shape[-1] != cell.input_size or shape[0] == 0:
        raise ValueError(f"rtrl: expected x of shape (T, B, {cell.input_size}) or (T, {cell.input_size}) with "
                         f"T >= 1, got {tuple(shape)}")
    if len(targets) != shape[0]:
        raise ValueError(f"rtrl: got {len(targets)} targets for {shape[0]} time steps; give one per step "
                         "(None where a step has no loss)")
    online = RTRL(layer, loss_fn, state, chunk_size)
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    loss = sum(online.step(data[t], targets[t]) for t in range(shape[0]))
    return float(loss), online.grads
