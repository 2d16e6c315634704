"""A minimal autograd engine on numpy, for the per-node floor: the least an engine can add per graph node.

No graph walk: every op appends one entry, (its backward function, its output, its inputs), to
a tape, and ``backward`` calls the entries in reverse, which is a topological order by
construction. No counts, no ownership, no hooks, no closures: a value is a three-slot object,
a gradient is added as a new array (so handing one array to several parents is safe), and the
multi-output ops (chunk, unbind) gather their outputs' gradients in one concatenate or stack.
It has only the ops the benchmark model needs, each with its derivative beside it, and it
records the same nodes per time step as micrograd_seq's layers, so time per node compares
like with like. (Closures instead of tape tuples cost about 0.3 us more per node.)

``MicroEngine`` runs the benchmark model on it: forward, backward, gradients under
numpy_bptt's names, verified against the floor like every other implementation.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["Var", "backward", "discard", "nodes_recorded", "MicroEngine"]

_TAPE: list[tuple[Callable[[Any, Any, Any], None], Any, Any, Any]] = []
_record = _TAPE.append


class Var:
    """A value, its gradient, and whether it wants one."""

    __slots__ = ("data", "grad", "requires_grad")

    def __init__(self, data: np.ndarray, requires_grad: bool = False) -> None:
        self.data = data
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad


def _acc(v: Var, g: np.ndarray) -> None:
    v.grad = g if v.grad is None else v.grad + g


def backward(loss: Var) -> None:
    """Run the tape in reverse from a scalar ``loss``; leaves that want gradients get them in ``.grad``."""
    loss.grad = np.ones_like(loss.data)
    tape = _TAPE[:]
    _TAPE.clear()
    for fn, out, a, b in reversed(tape):
        fn(out, a, b)


def discard() -> None:
    """Forget whatever is on the tape (a forward that was never backed through)."""
    _TAPE.clear()


def nodes_recorded() -> int:
    """Values recorded on the tape since the last backward (a chunk or unbind records one per piece)."""
    return sum(1 if type(out) is Var else len(out) for _, out, _, _ in _TAPE)


# ---- ops: the forward, and beside it the backward, called as fn(out, a, b) ---------------------------

def _matmul_back(out: Var, a: Var, b: Var) -> None:
    g = out.grad
    if g is None:
        return
    if a.requires_grad:
        _acc(a, np.dot(g, b.data.T) if g.ndim == 2 else np.matmul(g, b.data.T))
    if b.requires_grad:
        _acc(b, np.dot(a.data.reshape(-1, a.data.shape[-1]).T, g.reshape(-1, g.shape[-1])))


def matmul(a: Var, b: Var) -> Var:
    """a @ b for a (..., n) and b (n, m); np.dot for matrices (at B = 1 it costs a third of np.matmul's call)."""
    out = Var(np.dot(a.data, b.data) if a.data.ndim == 2 else np.matmul(a.data, b.data), True)
    _record((_matmul_back, out, a, b))
    return out


def _add_back(out: Var, a: Var, b: Var) -> None:
    g = out.grad
    if g is None:
        return
    if a.requires_grad:
        _acc(a, g)
    if b.requires_grad:
        _acc(b, g if g.ndim == b.data.ndim else g.sum(axis=tuple(range(g.ndim - b.data.ndim))))


def add(a: Var, b: Var) -> Var:
    """a + b, b possibly broadcast over a's leading axes (a bias)."""
    out = Var(a.data + b.data, True)
    _record((_add_back, out, a, b))
    return out


def _negated_back(out: Var, a: Var, _: None) -> None:
    if out.grad is not None:
        _acc(a, -out.grad)


def sub_from(number: float, a: Var) -> Var:
    """number - a."""
    out = Var(number - a.data, True)
    _record((_negated_back, out, a, None))
    return out


def neg(a: Var) -> Var:
    out = Var(-a.data, True)
    _record((_negated_back, out, a, None))
    return out


def _mul_back(out: Var, a: Var, b: Var) -> None:
    g = out.grad
    if g is None:
        return
    if a.requires_grad:
        _acc(a, g * b.data)
    if b.requires_grad:
        _acc(b, g * a.data)


def mul(a: Var, b: Var) -> Var:
    out = Var(a.data * b.data, True)
    _record((_mul_back, out, a, b))
    return out


def _sigmoid_back(out: Var, a: Var, _: None) -> None:
    if out.grad is not None:
        s = out.data
        _acc(a, out.grad * s * (1.0 - s))


def sigmoid(a: Var) -> Var:
    """1 / (1 + exp(-a))."""
    s = np.negative(a.data)
    np.exp(s, out=s)
    s += 1.0
    out = Var(np.reciprocal(s, out=s), True)
    _record((_sigmoid_back, out, a, None))
    return out


def _tanh_back(out: Var, a: Var, _: None) -> None:
    if out.grad is not None:
        t = out.data
        _acc(a, out.grad * (1.0 - t * t))


def tanh(a: Var) -> Var:
    out = Var(np.tanh(a.data), True)
    _record((_tanh_back, out, a, None))
    return out


def _transpose_back(out: Var, a: Var, _: None) -> None:
    if out.grad is not None:
        _acc(a, out.grad.T)


def transpose(a: Var) -> Var:
    out = Var(a.data.T, True)
    _record((_transpose_back, out, a, None))
    return out


def _reshape_back(out: Var, a: Var, _: None) -> None:
    if out.grad is not None:
        _acc(a, out.grad.reshape(a.data.shape))


def reshape(a: Var, *shape: int) -> Var:
    out = Var(a.data.reshape(shape), True)
    _record((_reshape_back, out, a, None))
    return out


def _chunk_back(pieces: list[Var], a: Var, _: None) -> None:
    if any(p.grad is not None for p in pieces):
        _acc(a, np.concatenate([np.zeros_like(p.data) if p.grad is None else p.grad for p in pieces], axis=-1))


def chunk(a: Var, n: int) -> list[Var]:
    """n equal pieces along the last axis; one backward joins their gradients."""
    pieces = [Var(p, True) for p in np.split(a.data, n, axis=-1)]
    _record((_chunk_back, pieces, a, None))
    return pieces


def _unbind_back(pieces: list[Var], a: Var, _: None) -> None:
    _acc(a, np.stack([np.zeros_like(p.data) if p.grad is None else p.grad for p in pieces]))


def unbind(a: Var) -> list[Var]:
    """The slices along the first axis (the time steps); one backward stacks their gradients."""
    pieces = [Var(p, True) for p in a.data]
    _record((_unbind_back, pieces, a, None))
    return pieces


def _stack_back(out: Var, vs: Sequence[Var], _: None) -> None:
    if out.grad is not None:
        for v, g in zip(vs, out.grad, strict=True):
            if v.requires_grad:
                _acc(v, g)


def stack(vs: Sequence[Var]) -> Var:
    out = Var(np.stack([v.data for v in vs]), True)
    _record((_stack_back, out, vs, None))
    return out


def _log_softmax_back(out: Var, a: Var, _: None) -> None:
    g = out.grad
    if g is not None:
        _acc(a, g - np.exp(out.data) * g.sum(axis=-1, keepdims=True))


def log_softmax(a: Var) -> Var:
    """Along the last axis."""
    shifted = a.data - a.data.max(axis=-1, keepdims=True)
    out = Var(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)), True)
    _record((_log_softmax_back, out, a, None))
    return out


def _pick_back(out: Var, a: Var, columns: np.ndarray) -> None:
    if out.grad is not None:
        g = np.zeros_like(a.data)
        g[np.arange(len(columns)), columns] = out.grad
        _acc(a, g)


def pick(a: Var, columns: np.ndarray) -> Var:
    """a[i, columns[i]] for every row i of a 2-D a."""
    out = Var(a.data[np.arange(len(columns)), columns], True)
    _record((_pick_back, out, a, columns))
    return out


def _total_back(out: Var, a: Var, _: None) -> None:
    if out.grad is not None:
        _acc(a, np.full(a.data.shape, out.grad, dtype=a.data.dtype))


def total(a: Var) -> Var:
    """The sum of all entries."""
    out = Var(np.asarray(a.data.sum()), True)
    _record((_total_back, out, a, None))
    return out


# ---- the benchmark model, op for op as micrograd_seq's layers record it --------------------------------

def _rnn_step(x_t: Var, state: tuple[Var, ...], w_hh_t: Var) -> tuple[Var, ...]:
    return (tanh(add(x_t, matmul(state[0], w_hh_t))),)


def _lstm_step(x_t: Var, state: tuple[Var, ...], w_hh_t: Var) -> tuple[Var, ...]:
    h, c = state
    i, f, g, o = chunk(add(x_t, matmul(h, w_hh_t)), 4)
    i, f, g, o = sigmoid(i), sigmoid(f), tanh(g), sigmoid(o)
    c = add(mul(f, c), mul(i, g))
    return mul(o, tanh(c)), c


def _gru_step(x_t: Var, state: tuple[Var, ...], w_hh_t: Var, b_hh: Var) -> tuple[Var, ...]:
    h = state[0]
    x_r, x_z, x_n = chunk(x_t, 3)
    h_r, h_z, h_n = chunk(add(matmul(h, w_hh_t), b_hh), 3)
    r = sigmoid(add(x_r, h_r))
    z = sigmoid(add(x_z, h_z))
    n = tanh(add(x_n, mul(r, h_n)))
    return (add(mul(sub_from(1.0, z), n), mul(z, h)),)


def model_loss(cell: str, p: dict[str, Var], x: np.ndarray, targets: np.ndarray) -> Var:
    """The benchmark model's summed cross-entropy, recorded on the tape."""
    T, B, _ = x.shape
    H = p["weight_hh"].data.shape[1]
    w_hh_t = transpose(p["weight_hh"])
    bias = p["bias_ih"] if cell == "gru" else add(p["bias_ih"], p["bias_hh"])  # GRU: r multiplies h_n + b_hn
    projected = add(matmul(Var(x), transpose(p["weight_ih"])), bias)
    zeros = Var(np.zeros((B, H), dtype=x.dtype))
    state: tuple[Var, ...] = (zeros, zeros) if cell == "lstm" else (zeros,)
    outputs = []
    for x_t in unbind(projected):
        if cell == "lstm":
            state = _lstm_step(x_t, state, w_hh_t)
        elif cell == "gru":
            state = _gru_step(x_t, state, w_hh_t, p["bias_hh"])
        else:
            state = _rnn_step(x_t, state, w_hh_t)
        outputs.append(state[0])
    hs = reshape(stack(outputs), T * B, H)
    logits = add(matmul(hs, transpose(p["head.weight"])), p["head.bias"])
    return total(neg(pick(log_softmax(logits), targets.reshape(-1))))


class MicroEngine:
    """The benchmark model on the minimal engine, with the implementations' interface (see implementations.py)."""

    name = "micro engine"

    def __init__(self, cell: str, params: dict[str, np.ndarray], x: np.ndarray, targets: np.ndarray) -> None:
        self.cell, self.x, self.targets = cell, x, targets
        self.params = {name: Var(value, requires_grad=True) for name, value in params.items()}

    def forward(self) -> Var:
        discard()
        for v in self.params.values():
            v.grad = None
        return model_loss(self.cell, self.params, self.x, self.targets)

    def backward(self, loss: Any) -> float:
        backward(loss)
        return float(loss.data)

    def step(self) -> float:
        return self.backward(self.forward())

    def grads(self) -> dict[str, np.ndarray]:
        return {name: v.grad for name, v in self.params.items()}
