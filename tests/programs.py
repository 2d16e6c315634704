"""Random programs over the ops, in this library and in torch, for the differential tests.

A program draws float64 leaves (empty dimensions included) and applies a random sequence of
ops (numpy spellings, comparisons, ``where``, slicing, reductions, shape ops); ``OPS`` says how
each reads in both libraries. The strategies live here, in one place, for every test that runs
programs (reverse mode in test_differential.py, forward mode in test_func.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import micrograd_seq as mg

TYPED = (ValueError, TypeError, IndexError, RuntimeError)


# ---- the two libraries behind one vocabulary ----------------------------------------------

def _mg_where(c, a, b):
    return mg.where(c, a, b)


OPS: dict[str, tuple[Any, Any]] = {
    # name: (this library, torch); each takes the operands and the step's parameters.
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: np.subtract(a, b), lambda a, b: a - b),                       # a numpy ufunc
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1.0), lambda a, b: a / (b * b + 1.0)),
    "neg": (lambda a: -a, lambda a: -a),
    "tanh": (lambda a: np.tanh(a), lambda a: torch.tanh(a)),                           # np.tanh is tanh
    "sigmoid": (lambda a: a.sigmoid(), lambda a: a.sigmoid()),
    "logsigmoid": (lambda a: mg.functional.logsigmoid(a), lambda a: torch.nn.functional.logsigmoid(a)),
    "relu": (lambda a: np.maximum(a, 0), lambda a: torch.relu(a)),                     # np.maximum(t, 0)
    "exp": (lambda a: a.tanh().exp(), lambda a: a.tanh().exp()),
    "log": (lambda a: np.log(a * a + 1.0), lambda a: torch.log(a * a + 1.0)),
    "square": (lambda a: a ** 2, lambda a: a ** 2),
    "cube": (lambda a: np.power(a, 3), lambda a: a ** 3),
    "power0": (lambda a: a ** 0, lambda a: a ** 0),
    "const_add": (lambda a, c: c + a, lambda a, c: torch.from_numpy(c) + a),          # ndarray + tensor
    "where": (lambda a, b: _mg_where(a > b, a, b), lambda a, b: torch.where(a > b, a, b)),
    "mask": (lambda a: mg.where(a == a.max(), a, 0.0) if a.numel() else a,
             lambda a: torch.where(a == a.max(), a, torch.zeros((), dtype=a.dtype)) if a.numel() else a),
    "sum": (lambda a, axis: np.sum(a, axis=axis), lambda a, axis: a.sum(dim=axis)),    # np.sum is sum
    "mean": (lambda a, axis: a.mean(axis=axis), lambda a, axis: a.mean(dim=axis)),
    "max": (lambda a, axis: a.max(axis=axis), lambda a, axis: a.amax(dim=axis)),
    "softmax": (lambda a, axis: a.softmax(axis), lambda a, axis: a.softmax(dim=axis)),
    "log_softmax": (lambda a, axis: a.log_softmax(axis), lambda a, axis: a.log_softmax(dim=axis)),
    "reshape": (lambda a, shape: np.reshape(a, shape), lambda a, shape: a.reshape(shape)),
    "transpose": (lambda a, axes: a.transpose(*axes), lambda a, axes: a.permute(axes)),
    "step": (lambda a, t: a[t], lambda a, t: a[t]),
    "slice": (lambda a, lo, hi: a[lo:hi], lambda a, lo, hi: a[lo:hi]),
    "chunk": (lambda a, k, axis, i: a.chunk(k, axis)[i], lambda a, k, axis, i: a.chunk(k, dim=axis)[i]),
    "concat": (lambda a, b, axis: np.concatenate([a, b], axis=axis), lambda a, b, axis: torch.cat([a, b], dim=axis)),
    "stack": (lambda a, b, axis: mg.stack([a, b], axis), lambda a, b, axis: torch.stack([a, b], dim=axis)),
    "matmul": (lambda a, w: a @ w, lambda a, w: a @ w),
    "abs": (lambda a: a.abs(), lambda a: a.abs()),
    "sqrt": (lambda a: (a * a + 1.0).sqrt(), lambda a: (a * a + 1.0).sqrt()),
    "clamp": (lambda a: a.clamp(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5)),
    "masked_fill": (lambda a: a.masked_fill(a.data > 0, 0.5), lambda a: a.masked_fill(a > 0, 0.5)),
    "clone": (lambda a: a.clone(), lambda a: a.clone()),
    "narrow": (lambda a, dim, start, length: a.narrow(dim, start, length),
               lambda a, dim, start, length: a.narrow(dim, start, length)),
    "max_dim": (lambda a, dim: a.max(dim).values, lambda a, dim: a.max(dim).values),
}

# Ops that must be refused, with a typed error naming what is wrong.
BAD = {
    "transpose_axes": lambda a: a.transpose(*range(a.ndim + 1)),
    "axis": lambda a: a.sum(axis=a.ndim + 1),
    "sin_of_grad": lambda a: np.sin(a),
    "index_0d": lambda a: a.sum()[0],
    "reshape": lambda a: a.reshape(a.numel() + 1),
    "matmul_0d": lambda a: a.sum() @ a.sum(),
    "int_negative_power": lambda a: mg.tensor([2, 3]) ** -1,
    "write_into_saved": lambda a: _write_every_leaf_saved_by(a),
}


def _write_every_leaf_saved_by(a):
    """Write into the input of a fresh mul of ``a``: it is saved for the pending backward."""
    saved = mg.tensor(np.ones(a.shape))
    product = a * saved
    saved.data[...] = 2.0
    return product


@dataclass
class Program:
    """Leaves and ops in the order they fill the pool of values, then writes and refusals to try."""

    events: list[tuple[str, Any, tuple[int, ...], tuple[Any, ...]]] = field(default_factory=list)
    writes: list[tuple[int, float]] = field(default_factory=list)
    bad: list[tuple[str, int]] = field(default_factory=list)
    weights: list[np.ndarray] = field(default_factory=list)


# ---- drawing a program ------------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)


def _broadcastable_to(draw, shape):
    """A shape that broadcasts with ``shape`` to ``shape`` (trailing dims, some set to 1)."""
    k = draw(st.integers(0, len(shape)))
    tail = shape[len(shape) - k:]
    return tuple(1 if draw(st.booleans()) else n for n in tail)


@st.composite
def programs(draw) -> Program:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    program = Program()
    pool: list[tuple[int, ...]] = []  # the shape of every value so far

    def new_leaf(shape) -> int:
        program.events.append(("leaf", rng.standard_normal(shape), (), ()))
        pool.append(tuple(shape))
        return len(pool) - 1

    for _ in range(draw(st.integers(1, 3))):
        new_leaf(draw(shapes))
    for _ in range(draw(st.integers(1, 8))):
        i = draw(st.integers(0, len(pool) - 1))
        shape = pool[i]
        name = draw(st.sampled_from(sorted(OPS)))
        operands: tuple[int, ...] = (i,)
        params: tuple[Any, ...] = ()
        if name in ("add", "sub", "mul", "div", "where"):
            j = new_leaf(_broadcastable_to(draw, shape)) if draw(st.booleans()) else i
            operands = (i, j) if draw(st.booleans()) else (j, i)
            out = np.broadcast_shapes(pool[i], pool[j])
        elif name == "const_add":
            params = (rng.standard_normal(_broadcastable_to(draw, shape)),)
            out = shape
        elif name in ("sum", "mean", "max", "softmax", "log_softmax"):
            whole = name in ("sum", "mean", "max") and draw(st.booleans())
            axis = None if whole else draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1))
            if name == "max" and (0 in shape if axis is None else shape and shape[axis] == 0):
                continue  # no maximum of nothing (both libraries refuse; tested in test_ops)
            params = (axis,)
            if name in ("softmax", "log_softmax"):
                out = shape
            elif axis is None or not shape:
                out = ()
            else:
                out = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
        elif name == "reshape":
            size = int(np.prod(shape))
            out = draw(st.sampled_from([(size,), (1, size), (size, 1)]))
            params = (out,)
        elif name == "transpose":
            axes = tuple(draw(st.permutations(range(len(shape)))))
            params, out = (axes,), tuple(shape[a] for a in axes)
        elif name in ("step", "slice", "chunk"):
            if not shape or (name == "step" and shape[0] == 0):
                continue
            if name == "step":
                t = draw(st.integers(-shape[0], shape[0] - 1))
                params, out = (t,), shape[1:]
            elif name == "slice":
                lo = draw(st.integers(0, shape[0]))
                hi = draw(st.integers(lo, shape[0]))
                params, out = (lo, hi), (hi - lo, *shape[1:])
            else:
                axis = draw(st.integers(0, len(shape) - 1))
                k = draw(st.integers(1, 3))
                size = -(-shape[axis] // k)
                pieces = len(range(0, shape[axis], size)) if shape[axis] else k
                piece = draw(st.integers(0, pieces - 1))
                width = max(0, min(size, shape[axis] - piece * size))
                params, out = (k, axis, piece), shape[:axis] + (width,) + shape[axis + 1:]
        elif name in ("concat", "stack"):
            if name == "concat" and not shape:
                continue
            j = new_leaf(shape) if draw(st.booleans()) else i
            operands = (i, j)
            axis = draw(st.integers(0, len(shape) - (1 if name == "concat" else 0)))
            params = (axis,)
            out = (shape[:axis] + (2 * shape[axis],) + shape[axis + 1:] if name == "concat"
                   else shape[:axis] + (2,) + shape[axis:])
        elif name == "matmul":
            if not shape:
                continue
            j = new_leaf((shape[-1], draw(st.integers(0, 3))))
            operands = (i, j)
            out = shape[:-1] + pool[j][1:]
        elif name in ("narrow", "max_dim"):
            if not shape:
                continue
            axis = draw(st.integers(0, len(shape) - 1))
            if name == "max_dim":
                if shape[axis] == 0:
                    continue
                params, out = (axis,), shape[:axis] + shape[axis + 1:]
            else:
                start = draw(st.integers(0, shape[axis]))
                length = draw(st.integers(0, shape[axis] - start))
                params, out = (axis, start, length), shape[:axis] + (length,) + shape[axis + 1:]
        else:
            out = shape
        program.events.append(("op", name, operands, params))
        pool.append(tuple(out))
    for _ in range(draw(st.integers(0, 2))):
        program.writes.append((draw(st.integers(0, len(pool) - 1)), draw(st.floats(-3, 3))))
    if draw(st.booleans()):
        program.bad.append((draw(st.sampled_from(sorted(BAD))), draw(st.integers(0, len(pool) - 1))))
    program.weights = [rng.standard_normal(s) for s in pool]
    return program


# ---- running a program -------------------------------------------------------------------------

def make_leaves(program: Program, lib: str, requires_grad: bool = True) -> list[Any]:
    """The program's leaves as tensors of ``lib`` ("mg" or "torch")."""
    arrays = [what for kind, what, _, _ in program.events if kind == "leaf"]
    if lib == "mg":
        return [mg.tensor(a, requires_grad=requires_grad, dtype=np.float64) for a in arrays]
    return [torch.tensor(a, requires_grad=requires_grad) for a in arrays]


def forward(program: Program, lib: str, leaf_values: list[Any]) -> list[Any]:
    """The pool of values the program makes from its leaves (given in order), in ``lib``'s ops."""
    pool: list[Any] = []
    side = 0 if lib == "mg" else 1
    given = iter(leaf_values)
    for kind, what, operands, params in program.events:
        pool.append(next(given) if kind == "leaf" else OPS[what][side](*[pool[k] for k in operands], *params))
    return pool


def run(program: Program, lib: str, writes: list[tuple[int, float]]) -> tuple[list[Any], list[str]]:
    """Forward, the writes tried, backward: the pool of values and what each write did."""
    pool = forward(program, lib, make_leaves(program, lib))
    outcomes = []
    for k, value in writes:
        if lib == "mg":
            try:
                pool[k].detach().data[...] = value
                outcomes.append("written")
            except RuntimeError:
                outcomes.append("refused")
        else:
            pool[k].data[...] = value  # torch does not check writes through .data
    terms = [(t * (torch.from_numpy(w) if lib == "torch" else w)).sum()
             for t, w in zip(pool, program.weights, strict=True)]
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    total.backward()
    return pool, outcomes


def leaves(program: Program, pool: list[Any]) -> list[Any]:
    return [t for t, event in zip(pool, program.events, strict=True) if event[0] == "leaf"]


def grad_of(t: Any) -> np.ndarray:
    g = t.grad
    if g is None:
        return np.zeros(t.shape)
    return g.numpy() if hasattr(g, "numpy") else g


def close(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(1.0, np.abs(b[np.isfinite(b)]).max(initial=0))
    return a.shape == b.shape and np.allclose(a, b, rtol=1e-9, atol=1e-9 * scale, equal_nan=True)


