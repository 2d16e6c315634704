"""Making tensors, in torch's spelling: mg.zeros(2, 3), mg.randn(4, dtype=mg.float64), mg.arange(5), ...

Each takes ``dtype=`` (floating results get the default float dtype otherwise) and
``requires_grad=``; the random ones draw from the generator ``mg.manual_seed`` seeds.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .random import generator
from .tensor import Tensor, _check_dtype, get_default_dtype, shape_argument

__all__ = ["zeros", "ones", "full", "arange", "linspace", "eye", "randn", "rand", "randint", "zeros_like",
           "ones_like", "randn_like"]


def _made(owner: str, array: np.ndarray, dtype: Any, requires_grad: Any) -> Tensor:
    if dtype is not None:
        array = array.astype(_check_dtype(owner, dtype), copy=False)
    elif array.dtype.kind == "f":
        array = array.astype(get_default_dtype(), copy=False)
    made = Tensor._from_op(array, None)
    if requires_grad:
        made.requires_grad = True
    return made


def zeros(*size: Any, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """A tensor of zeros of shape ``size`` (``zeros(2, 3)`` or ``zeros((2, 3))``)."""
    return _made("zeros", np.zeros(shape_argument("zeros", size), dtype=np.float64), dtype, requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """A tensor of ones of shape ``size``."""
    return _made("ones", np.ones(shape_argument("ones", size), dtype=np.float64), dtype, requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """A tensor of shape ``size`` filled with ``fill_value`` (its dtype follows the value, as torch's)."""
    shape = shape_argument("full", tuple(size) if isinstance(size, (tuple, list)) else (size,))
    value = np.asarray(fill_value)
    if value.ndim or value.dtype.kind not in "fiub":
        raise TypeError(f"full: fill_value must be a number, got {fill_value!r}")
    return _made("full", np.full(shape, value), dtype, requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """start, start + step, ... below ``end`` (``arange(5)`` is 0..4); integers stay int64, as torch's."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must not be zero")
    values = np.arange(start, end, step)
    if values.dtype.kind in "iu":
        values = values.astype(np.int64)
    return _made("arange", values, dtype, requires_grad)


def linspace(start: float, end: float, steps: int, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"linspace: steps must be a non-negative integer, got {steps!r}")
    return _made("linspace", np.linspace(start, end, steps), dtype, requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """The n x m identity (m defaults to n)."""
    shape_argument("eye", (n,) if m is None else (n, m))
    return _made("eye", np.eye(n, m), dtype, requires_grad)


def randn(*size: Any, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """Standard normal draws of shape ``size``, from the generator ``mg.manual_seed`` seeds."""
    return _made("randn", generator().standard_normal(shape_argument("randn", size)), dtype, requires_grad)


def rand(*size: Any, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """Uniform draws in [0, 1) of shape ``size``."""
    return _made("rand", generator().random(shape_argument("rand", size)), dtype, requires_grad)


def randint(low: int, high: int | None = None, size: Any = None, dtype: Any = None,
            requires_grad: Any = False) -> Tensor:
    """Integers in [low, high) of shape ``size`` (``randint(10, (3,))`` draws from [0, 10)), int64."""
    if size is None:
        if isinstance(high, (tuple, list)):
            low, high, size = 0, low, high
        else:
            raise TypeError("randint: give the size, e.g. randint(10, (3,)) or randint(2, 10, (3,))")
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high must be above low, got low={low}, high={high}")
    shape = shape_argument("randint", tuple(size) if isinstance(size, (tuple, list)) else (size,))
    return _made("randint", generator().integers(low, high, size=shape, dtype=np.int64), dtype, requires_grad)


def zeros_like(t: Any, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """Zeros of ``t``'s shape and dtype (or ``dtype``)."""
    like = np.asarray(t._data if isinstance(t, Tensor) else t)
    return _made("zeros_like", np.zeros_like(like), like.dtype if dtype is None else dtype, requires_grad)


def ones_like(t: Any, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """Ones of ``t``'s shape and dtype (or ``dtype``)."""
    like = np.asarray(t._data if isinstance(t, Tensor) else t)
    return _made("ones_like", np.ones_like(like), like.dtype if dtype is None else dtype, requires_grad)


def randn_like(t: Any, dtype: Any = None, requires_grad: Any = False) -> Tensor:
    """Standard normal draws of ``t``'s shape, in its floating dtype (or ``dtype``)."""
    like = np.asarray(t._data if isinstance(t, Tensor) else t)
    if dtype is None and like.dtype.kind != "f":
        raise TypeError(f"randn_like: {like.dtype} is not a floating dtype; give dtype=")
    return _made("randn_like", generator().standard_normal(like.shape), like.dtype if dtype is None else dtype,
                 requires_grad)
