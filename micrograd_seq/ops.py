"""Primitive ops: each computes its forward on arrays and defines its backward right beside it.

Every op follows one pattern. It computes ``out`` with numpy, defines
``backward(g, need)`` returning one gradient per input (only where ``need`` says the
input wants one), and hands both to ``record``. A backward closes over arrays and
shapes only, never over tensors, so graphs hold no reference cycles.
"""
from __future__ import annotations

import builtins
import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .graph import Block, IndexedGrad
from .tensor import Tensor, as_tensor_like, record

__all__ = ["add", "sub", "mul", "div", "pow", "neg", "exp", "log", "tanh", "sigmoid", "logsigmoid", "relu",
           "matmul", "sum", "mean", "max", "reshape", "transpose", "getitem", "concat", "stack",
           "chunk", "where", "softmax", "log_softmax", "compare", "sigmoid_array"]


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
    return record("add", out, (a, b), backward)


def sub(a: Any, b: Any) -> Tensor:
    a, b = _operands(a, b)
    x, y = a._data, b._data
    out = _broadcast("sub", np.subtract, x, y)
    sx, sy = x.shape, y.shape

    def backward(g, need):
        return _unbroadcast(g, sx), (_unbroadcast(-g, sy) if need[1] else None)
    return record("sub", out, (a, b), backward)


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
    return record("mul", out, (a, b), backward, reads=(1, 0))


def div(a: Any, b: Any) -> Tensor:
    a, b = _operands(a, b)
    x, y = a._data, b._data
    out = _broadcast("div", np.divide, x, y)

    def backward(g, need):
        gx = g / y
        return (_unbroadcast(gx, x.shape) if need[0] else None,
                _unbroadcast(-gx * out, y.shape) if need[1] else None)
    return record("div", out, (a, b), backward, reads=(1, 1))


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
    return record("pow", out, (a,), backward, reads=(0,))


def neg(a: Tensor) -> Tensor:
    def backward(g, need):
        return (-g,)
    return record("neg", -a._data, (a,), backward)


def exp(a: Tensor) -> Tensor:
    out = np.exp(a._data)

    def backward(g, need):
        return (g * out,)
    return record("exp", out, (a,), backward)


def log(a: Tensor) -> Tensor:
    x = a._data
    out = np.log(x)

    def backward(g, need):
        return (g / x,)
    return record("log", out, (a,), backward, reads=(0,))


def tanh(a: Tensor) -> Tensor:
    out = np.tanh(a._data)

    def backward(g, need):
        return (g * (1.0 - out * out),)
    return record("tanh", out, (a,), backward)


def sigmoid(a: Tensor) -> Tensor:
    """1 / (1 + exp(-x)). Below about -88 (float32) or -709 (float64) the output stops at the dtype's
    smallest sigmoid, so ``sigmoid(x).log()`` cannot go below -88 or -709: use ``logsigmoid``."""
    out = sigmoid_array(a._data)

    def backward(g, need):
        return (g * (out * (1.0 - out)),)
    return record("sigmoid", out, (a,), backward)


def logsigmoid(a: Tensor) -> Tensor:
    """log(sigmoid(x)) = -log(1 + exp(-x)), exact for every finite x (torch's logsigmoid)."""
    x = a._data
    out = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))

    def backward(g, need):
        return (g * sigmoid_array(-x),)  # d/dx log sigmoid(x) = 1 - sigmoid(x) = sigmoid(-x)
    return record("logsigmoid", out, (a,), backward, reads=(0,))


def relu(a: Tensor) -> Tensor:
    x = a._data
    out = np.maximum(x, 0)

    def backward(g, need):
        return (g * (x > 0),)
    return record("relu", out, (a,), backward, reads=(0,))


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
    return record("matmul", out, (a, b), backward, reads=(1, 0))


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
    return record("sum", out, (a,), backward)


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
    return record("mean", out, (a,), backward)


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
        return (hit * (g.reshape(top.shape) / hit.sum(axis=axes, keepdims=True)),)
    return record("max", out, (a,), backward, reads=(0,))


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
    return record("reshape", out, (a,), backward, view=True)


def transpose(a: Tensor, *axes: Any) -> Tensor:
    if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
        axes = tuple(axes[0])
    x = a._data
    if not axes:
        axes = tuple(range(x.ndim))[::-1]
    if len(axes) != x.ndim or any(isinstance(i, bool) or not isinstance(i, (int, np.integer))
                                  or not -x.ndim <= i < x.ndim for i in axes) \
            or sorted(int(i) % x.ndim for i in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the {x.ndim} axes of {x.shape}")
    axes = tuple(int(i) % x.ndim for i in axes)
    inverse = tuple(np.argsort(axes))

    def backward(g, need):
        return (g.transpose(inverse),)
    return record("transpose", x.transpose(axes), (a,), backward, view=True)


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
    return record(op, out, (a,), backward, view=True)


def concat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
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
    return record("concat", out, tensors, backward)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    tensors = _tensor_list("stack", tensors)
    datas = [t._data for t in tensors]
    if any(d.shape != datas[0].shape for d in datas):
        raise ValueError(f"stack: all shapes must be equal, got {[d.shape for d in datas]}")
    ax = _axis("stack", axis, datas[0].ndim + 1, datas[0].shape)
    out = np.stack(datas, axis=ax)
    lead = (slice(None),) * ax

    def backward(g, need):
        return tuple(g[lead + (i,)] for i in range(len(datas)))
    return record("stack", out, tensors, backward)


def _tensor_list(op: str, tensors: Sequence[Any]) -> tuple[Tensor, ...]:
    if isinstance(tensors, Tensor) or not len(tensors):
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    items = tuple(t if isinstance(t, Tensor) else Tensor(t) for t in tensors)
    dtype = np.result_type(*[t._data.dtype for t in items])
    return tuple(t if t._data.dtype == dtype
                 else Tensor._from_op(t._data.astype(dtype), t.node if t._data.dtype.kind == "f" else None)
                 for t in items)


def chunk(a: Tensor, chunks: int, axis: int = 0) -> list[Tensor]:
    """Split into ``chunks`` pieces along ``axis`` (the last smaller, as torch.chunk); their
    gradients land in one buffer."""
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
    return record("where", out, (a, b), backward)


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
    x = a._data
    ax = _one_axis("softmax", axis, x)
    e = np.exp(x - x.max(axis=ax, keepdims=True, initial=-np.inf))
    out = e / e.sum(axis=ax, keepdims=True)

    def backward(g, need):
        return (out * (g - (g * out).sum(axis=ax, keepdims=True)),)
    return record("softmax", out, (a,), backward)


def log_softmax(a: Tensor, axis: int = -1) -> Tensor:
    x = a._data
    ax = _one_axis("log_softmax", axis, x)
    shifted = x - x.max(axis=ax, keepdims=True, initial=-np.inf)
    with np.errstate(divide="ignore"):  # an empty axis sums to 0; its log is never used
        out = shifted - np.log(np.exp(shifted).sum(axis=ax, keepdims=True))

    def backward(g, need):
        return (g - np.exp(out) * g.sum(axis=ax, keepdims=True),)
    return record("log_softmax", out, (a,), backward)
