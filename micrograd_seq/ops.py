"""Primitive ops: each computes its forward on arrays and defines its backward right beside it.

Every op follows one pattern. It computes ``out`` with numpy, defines
``backward(g, need)`` returning one gradient per input (only where ``need`` says the
input wants one), and hands both to ``record``. A backward closes over arrays and
shapes only, never over tensors, so graphs hold no reference cycles.

Beside each backward sits the op's forward-mode rule, ``jvp=FORWARD.on and (lambda t: ...)``:
the output's tangent from the inputs' tangents (None where an input has none). Tangents
carry a leading axis of directions, so a rule's axes are the op's shifted by one. The rule
is built only while forward mode is in use somewhere (``FORWARD.on``).
"""
from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple, overload

import numpy as np

from .graph import FORWARD, Block, IndexedGrad
from .tensor import Tensor, as_tensor_like, record

__all__ = ["add", "sub", "mul", "div", "pow", "neg", "exp", "log", "tanh", "sigmoid", "logsigmoid", "relu",
           "abs", "sqrt", "clamp", "clone", "cast", "matmul", "sum", "mean", "max", "max_with_indices", "MaxResult",
           "arg_extreme", "logical", "reshape", "transpose", "getitem", "narrow", "concat", "stack", "chunk",
           "split", "where", "masked_fill", "softmax", "log_softmax", "compare", "sigmoid_array"]


# ---- helpers ---------------------------------------------------------------

def _unbroadcast(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast gradient back down to ``shape``."""
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


def _operands(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Two tensors from two operands, numbers taking the other side's float dtype."""
    if not isinstance(a, Tensor):
        a = as_tensor_like(a, b)
    elif not isinstance(b, Tensor):
        b = as_tensor_like(b, a)
    # integer or bool meets float: the float dtype wins, as in torch
    if a._data.dtype is not b._data.dtype and a._data.dtype != b._data.dtype:
        if a._data.dtype.kind in "iub" and b._data.dtype.kind == "f":
            a = Tensor._from_op(a._data.astype(b._data.dtype), None)
        elif b._data.dtype.kind in "iub" and a._data.dtype.kind == "f":
            b = Tensor._from_op(b._data.astype(a._data.dtype), None)
    return a, b


def _broadcast(op: str, fn: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    try:
        return fn(x, y)
    except ValueError:
        raise ValueError(f"{op}: cannot broadcast shapes {x.shape} and {y.shape}") from None


def _axes(op: str, axis: Any, ndim: int, shape: tuple) -> tuple[int, ...]:
    """Normalise ``axis`` (None, int or tuple) to a sorted tuple of non-negative axes.

    A 0-d tensor accepts axis 0 or -1, as torch's do, and reduces over nothing.
    """
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, (tuple, list)) else (axis,)
    out = []
    n = builtins.max(ndim, 1)
    for a in items:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -n <= a < n:
            raise ValueError(f"{op}: axis {axis!r} is out of range for shape {shape}")
        out.append(int(a) % n)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis!r}")
    return tuple(sorted(out)) if ndim else ()


def _axis(op: str, axis: int, ndim: int, shape: tuple) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis!r} is out of range for shape {shape}")
    return int(axis) % ndim


def axis_index(op: str, axis: Any, ndim: int, shape: tuple) -> int:
    """One axis in [-ndim, ndim) as a non-negative index (public for Tensor.size)."""
    return _axis(op, axis, ndim, shape)


def one_spelling(op: str, axis: Any, dim: Any, default: Any) -> Any:
    """The axis given as numpy's ``axis=`` or torch's ``dim=`` (both at once is a TypeError)."""
    if axis is not None and dim is not None:
        raise TypeError(f"{op}: give dim= (torch) or axis= (numpy), not both")
    return default if axis is None and dim is None else dim if axis is None else axis


def spelling(op: str, axis: Any, dim: Any, keepdims: bool | None, keepdim: bool | None) -> tuple[Any, bool]:
    """(axis, keepdims) from numpy's or torch's spelling of a reduction's arguments."""
    if keepdims is not None and keepdim is not None and (keepdims or keepdim):
        raise TypeError(f"{op}: give keepdim= (torch) or keepdims= (numpy), not both")
    return one_spelling(op, axis, dim, None), bool(keepdims or keepdim)


@overload
def _lift(t: None, ndim: int) -> None: ...
@overload
def _lift(t: np.ndarray, ndim: int) -> np.ndarray: ...
def _lift(t: np.ndarray | None, ndim: int) -> np.ndarray | None:
    """A tangent (K, *shape) with singleton axes after K, to broadcast against ndim-d arrays."""
    if t is None or t.ndim == ndim + 1:
        return t
    return t.reshape(t.shape[:1] + (1,) * (ndim + 1 - t.ndim) + t.shape[1:])


def _scaled(t: np.ndarray | None, factor: Any) -> np.ndarray | None:
    """One input's term of a rule, t * factor, or None when the input has no tangent."""
    return None if t is None else t * factor


def _divided(t: np.ndarray | None, by: Any) -> np.ndarray | None:
    return None if t is None else t / by


def _or_zero(t: np.ndarray | None) -> np.ndarray | int:
    return 0 if t is None else t


def _plus(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray:
    """The sum of a rule's terms, leaving out the inputs without a tangent."""
    return b if a is None else a if b is None else a + b  # type: ignore[return-value]


def _shifted(axes: tuple[int, ...]) -> tuple[int, ...]:
    """Non-negative axes of a value, as axes of its tangent (which leads with the directions)."""
    return tuple(a + 1 for a in axes)


_EXP_CAP: dict = {}  # dtype -> the largest whole number whose exp does not overflow


def sigmoid_array(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), torch's formula, for any finite x (shared with the numpy references).

    exp(-x) is capped just below overflow (exp(709) in float64, exp(88) in float32), so a very
    negative x gives the dtype's smallest sigmoid instead of an overflow; elsewhere this is the
    plain formula.
    """
    t = -x if x.ndim else np.negative(x, out=np.empty_like(x))  # an array even for 0-d x: steps work in place
    cap = _EXP_CAP.get(t.dtype)
    if cap is None:
        cap = _EXP_CAP[t.dtype] = float(np.floor(np.log(np.finfo(t.dtype).max)))
    np.minimum(t, cap, out=t)
    np.exp(t, out=t)
    t += 1.0
    return np.reciprocal(t, out=t)


# ---- elementwise, broadcasting --------------------------------------------

def add(a: Any, b: Any) -> Tensor:
    a, b = _operands(a, b)
    x, y = a._data, b._data
    out = _broadcast("add", np.add, x, y)
    sx, sy = x.shape, y.shape

    def backward(g, need):
        return (g if g.shape == sx else _unbroadcast(g, sx)), (g if g.shape == sy else _unbroadcast(g, sy))
    return record("add", out, (a, b), backward,
                  jvp=FORWARD.on and (lambda tx, ty: _plus(_lift(tx, out.ndim), _lift(ty, out.ndim))))


def sub(a: Any, b: Any) -> Tensor:
    a, b = _operands(a, b)
    x, y = a._data, b._data
    out = _broadcast("sub", np.subtract, x, y)
    sx, sy = x.shape, y.shape

    def backward(g, need):
        return _unbroadcast(g, sx), (_unbroadcast(-g, sy) if need[1] else None)
    return record("sub", out, (a, b), backward,
                  jvp=FORWARD.on and (lambda tx, ty: _plus(_lift(tx, out.ndim), _scaled(_lift(ty, out.ndim), -1))))


def mul(a: Any, b: Any) -> Tensor:
    a, b = _operands(a, b)
    x, y = a._data, b._data
    out = _broadcast("mul", np.multiply, x, y)

    def backward(g, need):
        gx = g * y if need[0] else None
        gy = g * x if need[1] else None
        if gx is not None and gx.shape != x.shape:
            gx = _unbroadcast(gx, x.shape)
        if gy is not None and gy.shape != y.shape:
            gy = _unbroadcast(gy, y.shape)
        return gx, gy
    return record("mul", out, (a, b), backward, reads=(1, 0), jvp=FORWARD.on and (
        lambda tx, ty: _plus(_scaled(_lift(tx, out.ndim), y), _scaled(_lift(ty, out.ndim), x))))


def div(a: Any, b: Any) -> Tensor:
    a, b = _operands(a, b)
    x, y = a._data, b._data
    out = _broadcast("div", np.divide, x, y)

    def backward(g, need):
        gx = g / y
        return (_unbroadcast(gx, x.shape) if need[0] else None,
                _unbroadcast(-gx * out, y.shape) if need[1] else None)
    return record("div", out, (a, b), backward, reads=(1, 1), jvp=FORWARD.on and (
        lambda tx, ty: _plus(_divided(_lift(tx, out.ndim), y), _scaled(_lift(ty, out.ndim), -out / y))))


def pow(a: Tensor, exponent: float) -> Tensor:
    if isinstance(exponent, (Tensor, bool, np.bool_)) or not isinstance(exponent, (int, float, np.number)):
        raise TypeError(f"pow: the exponent must be a Python number, got {type(exponent).__name__}")
    x = a._data
    if x.dtype.kind in "iub" and float(exponent) < 0:
        raise ValueError(f"pow: an integer tensor (dtype {x.dtype}) cannot be raised to the negative power "
                         f"{exponent}; convert it to float first")
    out = x ** exponent

    def backward(g, need):
        if exponent == 0:
            return (np.zeros_like(g),)  # d/dx x^0 = 0 everywhere, also at x = 0
        return (g * (exponent * x ** (exponent - 1)),)
    return record("pow", out, (a,), backward, reads=(0,), jvp=FORWARD.on and (
        lambda t: np.zeros_like(t) if exponent == 0 else t * (exponent * x ** (exponent - 1))))


def neg(a: Tensor) -> Tensor:
    def backward(g, need):
        return (-g,)
    return record("neg", -a._data, (a,), backward, jvp=FORWARD.on and (lambda t: -t))


def exp(a: Tensor) -> Tensor:
    out = np.exp(a._data)

    def backward(g, need):
        return (g * out,)
    return record("exp", out, (a,), backward, jvp=FORWARD.on and (lambda t: t * out))


def log(a: Tensor) -> Tensor:
    x = a._data
    out = np.log(x)

    def backward(g, need):
        return (g / x,)
    return record("log", out, (a,), backward, reads=(0,), jvp=FORWARD.on and (lambda t: t / x))


def tanh(a: Tensor) -> Tensor:
    out = np.tanh(a._data)

    def backward(g, need):
        return (g * (1.0 - out * out),)
    return record("tanh", out, (a,), backward, jvp=FORWARD.on and (lambda t: t * (1.0 - out * out)))


def sigmoid(a: Tensor) -> Tensor:
    """1 / (1 + exp(-x)). Below about -88 (float32) or -709 (float64) the output stops at the dtype's
    smallest sigmoid, so ``sigmoid(x).log()`` cannot go below -88 or -709: use ``logsigmoid``."""
    out = sigmoid_array(a._data)

    def backward(g, need):
        return (g * (out * (1.0 - out)),)
    return record("sigmoid", out, (a,), backward, jvp=FORWARD.on and (lambda t: t * (out * (1.0 - out))))


def logsigmoid(a: Tensor) -> Tensor:
    """log(sigmoid(x)) = -log(1 + exp(-x)), exact for every finite x (torch's logsigmoid)."""
    x = a._data
    out = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))

    def backward(g, need):
        return (g * sigmoid_array(-x),)  # d/dx log sigmoid(x) = 1 - sigmoid(x) = sigmoid(-x)
    return record("logsigmoid", out, (a,), backward, reads=(0,), jvp=FORWARD.on and (lambda t: t * sigmoid_array(-x)))


def relu(a: Tensor) -> Tensor:
    x = a._data
    out = np.maximum(x, 0)

    def backward(g, need):
        return (g * (x > 0),)
    return record("relu", out, (a,), backward, reads=(0,), jvp=FORWARD.on and (lambda t: t * (x > 0)))


def abs(a: Tensor) -> Tensor:
    x = a._data
    out = np.abs(x)

    def backward(g, need):
        return (g * np.sign(x),)  # 0 at 0, as torch
    return record("abs", out, (a,), backward, reads=(0,), jvp=FORWARD.on and (lambda t: t * np.sign(x)))


def sqrt(a: Tensor) -> Tensor:
    out = np.sqrt(a._data)

    def backward(g, need):
        with np.errstate(divide="ignore"):
            return (g / (2 * out),)  # inf at 0, as torch
    return record("sqrt", out, (a,), backward, jvp=FORWARD.on and (lambda t: t / (2 * out)))


def clamp(a: Tensor, low: float | None = None, high: float | None = None) -> Tensor:
    """x limited to [low, high]; the gradient flows where low <= x <= high (torch's clamp)."""
    if low is None and high is None:
        raise ValueError("clamp: give min, max or both")
    for name, bound in (("min", low), ("max", high)):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float, np.number))):
            raise TypeError(f"clamp: {name} must be a number, got {type(bound).__name__}")
    x = a._data
    out = np.clip(x, low, high)

    def inside() -> np.ndarray:
        kept = np.ones(x.shape, dtype=bool) if low is None else x >= low
        return kept if high is None else kept & (x <= high)

    def backward(g, need):
        return (g * inside(),)
    return record("clamp", np.asarray(out, dtype=x.dtype), (a,), backward, reads=(0,),
                  jvp=FORWARD.on and (lambda t: t * inside()))


def clone(a: Tensor) -> Tensor:
    def backward(g, need):
        return (g,)
    return record("clone", a._data.copy(), (a,), backward, jvp=FORWARD.on and (lambda t: t))


def cast(a: Tensor, dtype: np.dtype) -> Tensor:
    """``a`` in ``dtype``: differentiable between floating dtypes; to an integer or bool dtype, a constant."""
    x = a._data
    if x.dtype == dtype:
        return a
    if dtype.kind != "f":
        return Tensor._from_op(x.astype(dtype), None)
    source = x.dtype

    def backward(g, need):
        return (g.astype(source),)
    return record("cast", x.astype(dtype), (a,), backward, jvp=FORWARD.on and (lambda t: t.astype(dtype)))


# ---- matmul ------------------------------------------------------------------

def matmul(a: Tensor, b: Tensor) -> Tensor:
    a, b = _operands(a, b)
    x, y = a._data, b._data
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dimension, got {x.shape} and {y.shape}")
    if x.ndim >= 2 and y.ndim == 2:
        # (..., n) @ (n, m): one GEMM over the flattened leading axes, forward and backward. At batch 1
        # the weight gradient x^T g is an outer product, which @ computes 4x slower than np.dot.
        x2 = x if x.ndim == 2 else _rows(x)
        if x2.shape[1] != y.shape[0]:
            raise ValueError(f"matmul: cannot multiply {x.shape} by {y.shape}")
        out = x2 @ y
        if x.ndim > 2:
            out = out.reshape(x.shape[:-1] + y.shape[1:])

        def backward(g, need):
            g2 = g if g.ndim == 2 else _rows(g)
            gy = None if not need[1] else np.dot(x2.T, g2) if len(x2) == 1 else x2.T @ g2
            return (g2 @ y.T).reshape(x.shape) if need[0] else None, gy
    else:
        try:
            out = x @ y
        except ValueError:
            raise ValueError(f"matmul: cannot multiply {x.shape} by {y.shape}") from None

        def backward(g, need):
            # Treat 1-D operands as matrices (a row for x, a column for y), as numpy does.
            x2 = x[None, :] if x.ndim == 1 else x
            y2 = y[:, None] if y.ndim == 1 else y
            g2 = g.reshape(np.matmul(x2, y2).shape) if (x.ndim == 1 or y.ndim == 1) else g
            gx = _unbroadcast(g2 @ np.swapaxes(y2, -1, -2), x2.shape).reshape(x.shape) if need[0] else None
            gy = _unbroadcast(np.swapaxes(x2, -1, -2) @ g2, y2.shape).reshape(y.shape) if need[1] else None
            return gx, gy
    return record("matmul", out, (a, b), backward, reads=(1, 0),
                  jvp=FORWARD.on and (lambda tx, ty: _plus(_matmul_tangent(tx, y, out.ndim, 0),
                                                           _matmul_tangent(ty, x, out.ndim, 1))))


def _matmul_tangent(t: np.ndarray | None, other: np.ndarray, nd: int, side: int) -> np.ndarray | None:
    """The tangent of x @ y from one operand's tangent ``t`` (side 0: x's, 1: y's), ``other`` fixed."""
    if t is None:
        return None
    if t.ndim == 2 and side == 1:  # y was a vector: x @ t_y per direction, as a column
        return (other @ t[..., None])[..., 0]
    if t.ndim == 2:  # x was a vector: a row per direction
        return t @ other
    t = _lift(t, builtins.max(nd, 2))  # line the batch axes of a matrix up with the other operand's
    return t @ other if side == 0 else other @ t


# Blocks are values, and the same few recur every time step (x_proj[k], the four gate chunks): a cache
# of them makes slicing cheaper than building a named tuple each time.
_block = functools.lru_cache(maxsize=4096)(Block)


def _rows(x: np.ndarray) -> np.ndarray:
    """(..., n) as a matrix (rows, n); well defined when some size is 0, unlike reshape(-1, n)."""
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1])


# ---- reductions --------------------------------------------------------------

def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def sum(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    x = a._data
    axes = _axes("sum", axis, x.ndim, x.shape)
    out = np.asarray(x.sum(axis=axes, keepdims=keepdims))
    shape, kept = x.shape, _kept_shape(x.shape, axes)

    def backward(g, need):
        return (np.broadcast_to(g.reshape(kept), shape),)
    return record("sum", out, (a,), backward, jvp=FORWARD.on and (lambda t: t.sum(_shifted(axes), keepdims=keepdims)))


def mean(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """The mean over ``axis``; over empty axes it is nan, as torch's."""
    x = a._data
    axes = _axes("mean", axis, x.ndim, x.shape)
    count = math.prod(x.shape[i] for i in axes)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.asarray(x.sum(axis=axes, keepdims=keepdims) / count)
    shape, kept = x.shape, _kept_shape(x.shape, axes)

    def backward(g, need):
        with np.errstate(invalid="ignore", divide="ignore"):
            return (np.broadcast_to(g.reshape(kept) / count, shape),)

    def jvp(t):
        with np.errstate(invalid="ignore", divide="ignore"):
            return t.sum(_shifted(axes), keepdims=keepdims) / count
    return record("mean", out, (a,), backward, jvp=FORWARD.on and jvp)


def max(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    x = a._data
    axes = _axes("max", axis, x.ndim, x.shape)
    if x.size == 0:
        if axis is None:
            raise RuntimeError(f"max: cannot reduce the empty tensor of shape {x.shape} without an axis; "
                               "give axis=")
        empty = [i for i in axes if x.shape[i] == 0]
        if empty:
            raise IndexError(f"max: axis {empty[0]} of shape {x.shape} is empty, so it has no maximum")
    top = x.max(axis=axes, keepdims=True)
    out = top if keepdims else top.reshape([n for i, n in enumerate(x.shape) if i not in axes])

    def backward(g, need):
        # Ties share the gradient equally, so the result does not depend on element order.
        hit = x == top
        with np.errstate(divide="ignore", invalid="ignore"):  # a nan maximum has no hit: nan, as torch
            return (hit * (g.reshape(top.shape) / hit.sum(axis=axes, keepdims=True)),)

    def jvp(t):
        hit = x == top
        with np.errstate(divide="ignore", invalid="ignore"):
            shared = (t * hit).sum(_shifted(axes), keepdims=True) / hit.sum(axis=axes, keepdims=True)
        return shared.reshape(t.shape[:1] + out.shape)
    return record("max", out, (a,), backward, reads=(0,), jvp=FORWARD.on and jvp)


class MaxResult(NamedTuple):
    """torch's return of ``max(dim)``: the maxima and where they are."""

    values: Tensor
    indices: Tensor


def max_with_indices(a: Tensor, dim: int, keepdim: bool = False) -> MaxResult:
    """torch's ``max(dim)``: the values (differentiable, to the first maximal entry as torch) and indices."""
    x = a._data
    ax = _axis("max", dim, builtins.max(x.ndim, 1), x.shape) if x.ndim else None
    if ax is not None and x.shape[ax] == 0:
        raise IndexError(f"max: axis {ax} of shape {x.shape} is empty, so it has no maximum")
    indices = np.asarray(x.argmax(axis=ax)) if ax is not None else np.zeros((), dtype=np.int64)
    picked = np.expand_dims(indices, ax) if ax is not None else indices
    values = np.take_along_axis(x, picked, ax) if ax is not None else x.copy()
    shape = x.shape

    def backward(g, need):
        grad = np.zeros(shape, dtype=g.dtype)
        if ax is None:
            return (grad + g,)
        np.put_along_axis(grad, picked, g if keepdim else np.expand_dims(g, ax), ax)
        return (grad,)
    out = values if keepdim or ax is None else values.squeeze(ax)
    index = Tensor._from_op(indices.astype(np.int64) if not keepdim or ax is None else picked.astype(np.int64), None)

    def jvp(t):
        return t if ax is None else np.take_along_axis(t, picked[None], ax + 1).reshape(t.shape[:1] + out.shape)
    return MaxResult(record("max", out, (a,), backward, jvp=FORWARD.on and jvp), index)


def arg_extreme(op: str, a: Tensor, dim: int | None, keepdim: bool) -> Tensor:
    """argmax / argmin over everything or along ``dim``: int64 indices, no gradient."""
    x = a._data
    if x.size == 0:
        raise IndexError(f"{op}: the tensor of shape {x.shape} is empty")
    fn = np.argmax if op == "argmax" else np.argmin
    if dim is None:
        return Tensor._from_op(np.asarray(fn(x), dtype=np.int64), None)
    ax = _axis(op, dim, x.ndim, x.shape)
    return Tensor._from_op(np.asarray(fn(x, axis=ax, keepdims=keepdim), dtype=np.int64), None)


def logical(op: str, a: Tensor, dim: int | None, keepdim: bool) -> Tensor:
    """all / any over everything or along ``dim``: a bool tensor, no gradient."""
    x = a._data
    axis = None if dim is None else _axis(op, dim, x.ndim, x.shape)
    fn = np.all if op == "all" else np.any
    return Tensor._from_op(np.asarray(fn(x, axis=axis, keepdims=keepdim)), None)


# ---- shapes -------------------------------------------------------------------

def reshape(a: Tensor, *shape: Any) -> Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    x = a._data
    try:
        out = x.reshape(shape)
    except (ValueError, TypeError):
        raise ValueError(f"reshape: cannot reshape {x.shape} into {shape}") from None
    orig = x.shape

    def backward(g, need):
        return (g.reshape(orig),)
    return record("reshape", out, (a,), backward, view=True,
                  jvp=FORWARD.on and (lambda t: t.reshape(t.shape[:1] + out.shape)))


def transpose(a: Tensor, *axes: Any) -> Tensor:
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    x = a._data
    if not axes:
        axes = tuple(range(x.ndim))[::-1]
    elif len(axes) == 2 and x.ndim != 2:  # torch's transpose(dim0, dim1): swap two axes
        d0, d1 = (_axis("transpose", d, x.ndim, x.shape) for d in axes)
        order = list(range(x.ndim))
        order[d0], order[d1] = d1, d0
        axes = tuple(order)
    if len(axes) != x.ndim or any(isinstance(i, bool) or not isinstance(i, (int, np.integer))
                                  or not -x.ndim <= i < x.ndim for i in axes) \
            or sorted(int(i) % x.ndim for i in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of {x.shape}")
    axes = tuple(int(i) % x.ndim for i in axes)
    inverse = tuple(np.argsort(axes))

    def backward(g, need):
        return (g.transpose(inverse),)
    return record("transpose", x.transpose(axes), (a,), backward, view=True,
                  jvp=FORWARD.on and (lambda t: t.transpose((0, *_shifted(axes)))))


def flattened_shape(shape: tuple[int, ...], start: int, end: int) -> tuple[int, ...]:
    """``shape`` with dimensions start..end merged (torch.flatten; a 0-d tensor becomes (1,))."""
    if not shape:
        return (1,)
    lo, hi = _axis("flatten", start, len(shape), shape), _axis("flatten", end, len(shape), shape)
    if lo > hi:
        raise ValueError(f"flatten: start_dim {start} comes after end_dim {end} for shape {shape}")
    return (*shape[:lo], math.prod(shape[lo:hi + 1]), *shape[hi + 1:])


def unsqueezed_shape(shape: tuple[int, ...], dim: int) -> tuple[int, ...]:
    at = _axis("unsqueeze", dim, len(shape) + 1, shape)
    return (*shape[:at], 1, *shape[at:])


def squeezed_shape(shape: tuple[int, ...], dim: int | None) -> tuple[int, ...]:
    if dim is None:
        return tuple(n for n in shape if n != 1)
    if not shape:
        _axis("squeeze", dim, 1, shape)
        return shape
    at = _axis("squeeze", dim, len(shape), shape)
    return shape if shape[at] != 1 else (*shape[:at], *shape[at + 1:])


def _index(key: Any) -> tuple[Any, bool]:
    """Turn a user index into a numpy one; says whether it holds integer arrays (repeats add up).

    Index arrays are copied: backward uses them again, after the caller may have changed theirs.
    """
    items = key if isinstance(key, tuple) else (key,)
    out, repeats = [], False
    for k in items:
        if isinstance(k, Tensor):
            k = k._data
        if isinstance(k, (list, np.ndarray)):
            k = np.array(k)
            if k.dtype.kind not in "iub":
                raise TypeError(f"getitem: index arrays must hold integers or bools, got dtype {k.dtype}")
            repeats = repeats or k.dtype.kind != "b"
        out.append(k)
    return (tuple(out) if isinstance(key, tuple) else out[0]), repeats


def getitem(a: Tensor, key: Any) -> Tensor:
    shape = a._data.shape
    if type(key) is int and shape:  # x[t]: one step of a sequence
        if not -shape[0] <= key < shape[0]:
            raise IndexError(f"getitem: index {key} is out of range for axis 0 of shape {shape}")
        start = key % shape[0]
        return _take(a, key, False, "getitem", key, _block(0, start, start + 1, True))
    if not shape and not (key is None or key is Ellipsis or key == ()):
        raise IndexError("getitem: invalid index of a 0-d tensor; use t.item() to get its number")
    index, repeats = _index(key)
    return _take(a, index, repeats, "getitem", key)


def _take(a: Tensor, index: Any, repeats: bool, op: str, key: Any = None, block: Block | None = None) -> Tensor:
    """x[index]; ``block`` says where the result sits when the index picks one block along one axis."""
    x = a._data
    try:
        out = x[index]
    except IndexError as err:
        raise IndexError(f"{op}: index {key!r} does not fit shape {x.shape}: {err}") from None

    def backward(g, need):
        return (IndexedGrad(index, g, repeats, block),)
    return record(op, out, (a,), backward, view=True, jvp=FORWARD.on and (lambda t: _take_tangent(t, index, out.shape)))


def _take_tangent(t: np.ndarray, index: Any, shape: tuple[int, ...]) -> np.ndarray:
    """t[:, index]: each direction indexed as the value was. numpy moves the axes of advanced indices
    split by a slice to the front, so for those the directions are indexed one at a time."""
    taken = t[(slice(None),) + (index if isinstance(index, tuple) else (index,))]
    if taken.shape == t.shape[:1] + shape:
        return taken
    return np.stack([direction[index] for direction in t]).reshape(t.shape[:1] + shape)


def concat(tensors: Sequence[Tensor], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (``axis=`` or torch's ``dim=``); ``mg.cat`` is the same."""
    axis = one_spelling("concat", axis, dim, 0)
    tensors = _tensor_list("concat", tensors)
    datas = [t._data for t in tensors]
    ax = _axis("concat", axis, datas[0].ndim, datas[0].shape)
    ref = datas[0].shape
    for d in datas[1:]:
        if d.ndim != len(ref) or any(p != q for i, (p, q) in enumerate(zip(d.shape, ref, strict=True)) if i != ax):
            raise ValueError(f"concat: shapes {[x.shape for x in datas]} must agree outside axis {axis}")
    out = np.concatenate(datas, axis=ax)
    bounds = np.cumsum([0] + [d.shape[ax] for d in datas])
    lead = (slice(None),) * ax

    def backward(g, need):
        return tuple(g[lead + (slice(bounds[i], bounds[i + 1]),)] for i in range(len(datas)))
    return record("concat", out, tensors, backward,
                  jvp=FORWARD.on and (lambda *ts: np.concatenate(_zeros_for_missing(ts, datas), axis=ax + 1)))


def stack(tensors: Sequence[Tensor], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join equally shaped tensors along a new axis (``axis=`` or torch's ``dim=``)."""
    axis = one_spelling("stack", axis, dim, 0)
    tensors = _tensor_list("stack", tensors)
    datas = [t._data for t in tensors]
    if any(d.shape != datas[0].shape for d in datas):
        raise ValueError(f"stack: all shapes must be equal, got {[d.shape for d in datas]}")
    ax = _axis("stack", axis, datas[0].ndim + 1, datas[0].shape)
    out = np.stack(datas, axis=ax)
    lead = (slice(None),) * ax

    def backward(g, need):
        return tuple(g[lead + (i,)] for i in range(len(datas)))
    return record("stack", out, tensors, backward,
                  jvp=FORWARD.on and (lambda *ts: np.stack(_zeros_for_missing(ts, datas), axis=ax + 1)))


def _zeros_for_missing(tangents: tuple[np.ndarray | None, ...], datas: list[np.ndarray]) -> list[np.ndarray]:
    """Each input's tangent, zeros for inputs without one (the joined tangent needs every piece)."""
    k = next(t.shape[0] for t in tangents if t is not None)
    return [np.zeros((k, *d.shape), dtype=d.dtype) if t is None else t for t, d in zip(tangents, datas, strict=True)]


def _tensor_list(op: str, tensors: Sequence[Any]) -> tuple[Tensor, ...]:
    if isinstance(tensors, Tensor) or not len(tensors):
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    items = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
    dtype = np.result_type(*[t._data.dtype for t in items])
    return tuple(t if t._data.dtype == dtype else cast(t, dtype) for t in items)


def chunk(a: Tensor, chunks: int, axis: int | None = None, *, dim: int | None = None) -> list[Tensor]:
    """Split into ``chunks`` pieces along ``axis`` (the last smaller, as torch.chunk); their
    gradients land in one buffer."""
    axis = one_spelling("chunk", axis, dim, 0)
    x = a._data
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
    if x.ndim == 0:
        raise ValueError("chunk: cannot split a 0-d tensor")
    ax = _axis("chunk", axis, x.ndim, x.shape)
    length = x.shape[ax]
    size = -(-length // chunks)
    lead = (slice(None),) * ax
    if length == 0:  # as torch: every piece empty
        return [_take(a, (*lead, slice(0, 0)), False, "chunk", block=_block(ax, 0, 0, False))
                for _ in range(chunks)]
    return [_take(a, (*lead, slice(start, start + size)), False, "chunk",
                  block=_block(ax, start, builtins.min(start + size, length), False))
            for start in range(0, length, size)]


def narrow(a: Tensor, dim: int, start: int, length: int) -> Tensor:
    """Positions start..start+length-1 along ``dim`` (torch.narrow; a negative start counts from the end)."""
    x = a._data
    if x.ndim == 0:
        raise ValueError("narrow: cannot narrow a 0-d tensor")
    ax = _axis("narrow", dim, x.ndim, x.shape)
    n = x.shape[ax]
    for name, value in (("start", start), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"narrow: {name} must be an integer, got {type(value).__name__}")
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} is out of range for axis {ax} of shape {x.shape}")
    start = int(start) % n if n and start < 0 else int(start)
    if length < 0 or start + length > n:
        raise ValueError(f"narrow: start {start} + length {length} exceeds axis {ax} of shape {x.shape}")
    lead = (slice(None),) * ax
    return _take(a, (*lead, slice(start, start + length)), False, "narrow",
                 block=_block(ax, start, start + int(length), False))


def split(a: Tensor, split_size_or_sections: int | Sequence[int], dim: int = 0) -> list[Tensor]:
    """Pieces along ``dim``: each of size ``split_size_or_sections`` (the last smaller), or of the listed
    sizes (which must add up to the axis), as torch.split; their gradients land in one buffer."""
    x = a._data
    if x.ndim == 0:
        raise ValueError("split: cannot split a 0-d tensor")
    ax = _axis("split", dim, x.ndim, x.shape)
    n = x.shape[ax]
    sizes = split_size_or_sections
    if isinstance(sizes, (int, np.integer)) and not isinstance(sizes, bool):
        if sizes <= 0 and n:
            raise ValueError(f"split: split_size must be a positive integer, got {sizes}")
        sizes = [int(sizes)] * (n // sizes) + ([n % sizes] if n % sizes else []) if n else [0]
    elif isinstance(sizes, (list, tuple)) and all(isinstance(k, (int, np.integer)) and k >= 0 for k in sizes):
        if builtins.sum(sizes) != n:
            raise ValueError(f"split: the sizes {list(sizes)} must add up to {n}, the size of axis {ax} of "
                             f"shape {x.shape}")
    else:
        raise TypeError(f"split: split_size_or_sections must be an int or a list of ints, got {sizes!r}")
    lead = (slice(None),) * ax
    pieces, start = [], 0
    for size in sizes:
        pieces.append(_take(a, (*lead, slice(start, start + size)), False, "split",
                            block=_block(ax, start, start + int(size), False)))
        start += size
    return pieces


def masked_fill(a: Tensor, mask: Any, value: float) -> Tensor:
    """``value`` where ``mask`` holds, ``a`` elsewhere (torch.masked_fill; the mask broadcasts to ``a``)."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: the mask must be bool, got dtype {m.dtype}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: the value must be a number or a 0-d tensor, got shape {value.shape}")
    elif isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"masked_fill: the value must be a number, got {type(value).__name__}")
    try:
        if np.broadcast_shapes(m.shape, a.shape) != a.shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"masked_fill: a mask of shape {m.shape} does not broadcast to the tensor's shape "
                         f"{a.shape}") from None
    return where(m, value, a)


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a`` where ``cond`` holds, else ``b`` (broadcasting); the gradient goes to the chosen side."""
    c = np.array(cond._data if isinstance(cond, Tensor) else cond)  # a copy: backward reads it later
    if c.dtype != np.bool_:
        raise TypeError(f"where: the condition must be a bool array, got dtype {c.dtype}")
    a, b = _operands(a, b)
    x, y = a._data, b._data
    try:
        out = np.where(c, x, y)
    except ValueError:
        raise ValueError(f"where: cannot broadcast shapes {c.shape}, {x.shape} and {y.shape}") from None

    def backward(g, need):
        return (_unbroadcast(np.where(c, g, 0), x.shape) if need[0] else None,
                _unbroadcast(np.where(c, 0, g), y.shape) if need[1] else None)
    return record("where", out, (a, b), backward, jvp=FORWARD.on and (
        lambda tx, ty: np.where(c, _or_zero(_lift(tx, out.ndim)), _or_zero(_lift(ty, out.ndim)))))


_COMPARISONS = {"eq": np.equal, "ne": np.not_equal, "lt": np.less, "le": np.less_equal, "gt": np.greater,
                "ge": np.greater_equal}


def compare(op: str, a: Any, b: Any) -> Tensor:
    """An elementwise comparison (``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``): a bool tensor, no gradient."""
    x = a._data if isinstance(a, Tensor) else np.asarray(a)
    y = b._data if isinstance(b, Tensor) else np.asarray(b)
    if x.dtype.kind not in "fiub" or y.dtype.kind not in "fiub":
        raise TypeError(f"{op}: cannot compare a tensor with {type(b if isinstance(a, Tensor) else a).__name__}")
    return Tensor._from_op(np.asarray(_broadcast(op, _COMPARISONS[op], x, y)), None)


# ---- softmax family --------------------------------------------------------------

def _one_axis(op: str, axis: Any, x: np.ndarray) -> tuple[int, ...]:
    """One axis as a tuple for numpy's reductions; () for a 0-d tensor (axis 0 or -1, as torch)."""
    if isinstance(axis, (tuple, list)):
        raise ValueError(f"{op}: expected one axis, got {axis!r}")
    return _axes(op, axis, x.ndim, x.shape)


def softmax(a: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, computed without overflow."""
    x = a._data
    ax = _one_axis("softmax", axis, x)
    e = np.exp(x - x.max(axis=ax, keepdims=True, initial=-np.inf))
    out = e / e.sum(axis=ax, keepdims=True)

    def backward(g, need):
        return (out * (g - (g * out).sum(axis=ax, keepdims=True)),)
    return record("softmax", out, (a,), backward,
                  jvp=FORWARD.on and (lambda t: out * (t - (t * out).sum(axis=_shifted(ax), keepdims=True))))


def log_softmax(a: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) along ``axis``, stable for any finite input."""
    x = a._data
    ax = _one_axis("log_softmax", axis, x)
    shifted = x - x.max(axis=ax, keepdims=True, initial=-np.inf)
    with np.errstate(divide="ignore"):  # an empty axis sums to 0; its log is never used
        out = shifted - np.log(np.exp(shifted).sum(axis=ax, keepdims=True))

    def backward(g, need):
        return (g - np.exp(out) * g.sum(axis=ax, keepdims=True),)
    return record("log_softmax", out, (a,), backward,
                  jvp=FORWARD.on and (lambda t: t - (np.exp(out) * t).sum(axis=_shifted(ax), keepdims=True)))
