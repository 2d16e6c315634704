"""numpy functions applied to tensors: the differentiable ones become ops, the rest never drop a gradient silently.

``np.tanh(t)`` is ``t.tanh()``, ``np.maximum(t, 0)`` is ``t.relu()``, ``ndarray + t`` is ``t.__radd__``,
``np.sum(t, axis=0)`` is ``t.sum(axis=0)``, comparisons give bool tensors. Any other numpy
function (``np.isfinite``, ``np.sin``, ``np.allclose``) is computed on the values, array results
coming back as tensors that need no gradient, unless that would silently drop a gradient (a
floating result from a tensor that requires grad, with grad recording on): then it is refused
with a TypeError naming the function.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import ops
from .graph import MODE
from .tensor import Tensor

__all__ = ["array_function", "array_ufunc"]


def _pow_or_none(t: Any, exponent: Any) -> Tensor | None:
    """np.power(t, number) is t ** number; a tensor exponent is not an op."""
    return ops.pow(t, exponent) if isinstance(t, Tensor) and not isinstance(exponent, Tensor) else None


def _relu_or_none(a: Any, b: Any) -> Tensor | None:
    """np.maximum(t, 0) or np.maximum(0, t) is relu; other maxima are not an op."""
    for t, other in ((a, b), (b, a)):
        if isinstance(t, Tensor) and not isinstance(other, Tensor) and np.ndim(other) == 0 and other == 0:
            return ops.relu(t)
    return None


@functools.cache
def _ufunc_rules() -> dict[np.ufunc, Callable[..., Tensor | None]]:
    """numpy ufuncs with an op (built on first use: this module loads while ops.py is loading)."""
    compare = ops.compare
    return {
        np.add: ops.add, np.subtract: ops.sub, np.multiply: ops.mul, np.true_divide: ops.div,
        np.negative: ops.neg, np.positive: lambda t: t, np.power: _pow_or_none, np.matmul: ops.matmul,
        np.exp: ops.exp, np.log: ops.log, np.tanh: ops.tanh, np.maximum: _relu_or_none,
        np.equal: lambda a, b: compare("eq", a, b), np.not_equal: lambda a, b: compare("ne", a, b),
        np.less: lambda a, b: compare("lt", a, b), np.less_equal: lambda a, b: compare("le", a, b),
        np.greater: lambda a, b: compare("gt", a, b), np.greater_equal: lambda a, b: compare("ge", a, b),
    }


@functools.cache
def _function_rules() -> dict[Callable[..., Any], Callable[..., Any]]:
    """numpy functions with a differentiable counterpart."""
    return {
        np.sum: lambda a, axis=None, keepdims=False: ops.sum(_tensor(a), axis, keepdims),
        np.mean: lambda a, axis=None, keepdims=False: ops.mean(_tensor(a), axis, keepdims),
        np.max: lambda a, axis=None, keepdims=False: ops.max(_tensor(a), axis, keepdims),
        np.amax: lambda a, axis=None, keepdims=False: ops.max(_tensor(a), axis, keepdims),
        np.reshape: lambda a, shape: ops.reshape(_tensor(a), shape),
        np.transpose: lambda a, axes=None: ops.transpose(_tensor(a), *(() if axes is None else (axes,))),
        np.concatenate: lambda arrays, axis=0: ops.concat(arrays, axis),
        np.stack: lambda arrays, axis=0: ops.stack(arrays, axis),
        np.where: lambda cond, *ab: ops.where(cond, *ab) if len(ab) == 2 else None,
        np.matmul: ops.matmul,
    }


# What to write instead, for the functions people reach for most.
_ALTERNATIVES = {"sqrt": "t ** 0.5", "square": "t * t", "log1p": "(1 + t).log()", "expm1": "t.exp() - 1",
                 "dot": "t @ u", "tensordot": "t @ u", "clip": "mg.where", "minimum": "mg.where",
                 "maximum": "mg.where, or np.maximum(t, 0) for relu"}


def array_ufunc(ufunc: np.ufunc, method: str, inputs: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``Tensor.__array_ufunc__``: an op where the engine has one, else the values or a TypeError."""
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if method == "__call__" and not kwargs:
        rule = _ufunc_rules().get(ufunc)
        if rule is not None:
            result = rule(*inputs)
            if result is not None:
                return result
    out = kwargs.get("out")
    if out is not None and any(isinstance(o, Tensor) for o in out):
        raise TypeError(f"{name}: cannot write into a tensor through out=; use the op, or copy_() under no_grad()")
    if out is not None:
        _refuse_if_recording(name, inputs, ufunc.__name__)  # into an array: a gradient would be dropped
    result = getattr(ufunc, method)(*_values(list(inputs)), **kwargs)
    if out is not None:
        return result
    _refuse_if_recording(name, inputs, ufunc.__name__, result)
    return _as_tensors(result)


def array_function(func: Callable[..., Any], args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """``Tensor.__array_function__``: the op for functions the engine differentiates, else values or a TypeError."""
    rule = _function_rules().get(func)
    if rule is not None:
        try:
            result = rule(*args, **kwargs)
        except TypeError:
            result = None  # an argument the op does not take (dtype=, out=, ...): handled as unsupported
        if result is not None:
            return result
    result = func(*_values(list(args)), **{k: _values(v) for k, v in kwargs.items()})
    _refuse_if_recording(f"np.{func.__name__}", _flat([*args, *kwargs.values()]), func.__name__, result)
    return _as_tensors(result)


def _refuse_if_recording(name: str, inputs: Sequence[Any], short: str, result: Any = 1.0) -> None:
    """A TypeError when a floating result would carry no gradient though an input requires one.

    Bool and integer results (np.isfinite, np.argmax, np.allclose) have no gradient to lose.
    """
    if MODE.grad_enabled and _floating(result) and any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        instead = _ALTERNATIVES.get(short)
        hint = f"write {instead}" if instead else "build it from tensor ops"
        raise TypeError(f"{name} has no differentiable op, so applied to a tensor that requires grad it would "
                        f"silently drop the gradient: {hint}, or apply it to t.detach() if no gradient should flow")


def _floating(result: Any) -> bool:
    if isinstance(result, (tuple, list)):
        return any(_floating(r) for r in result)
    return isinstance(result, float) or np.asarray(result).dtype.kind in "fc"


def _tensor(a: Any) -> Tensor:
    return a if isinstance(a, Tensor) else Tensor(a)


def _flat(items: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            out.extend(_flat(item))
        else:
            out.append(item)
    return out


def _values(x: Any) -> Any:
    """Tensors replaced by their arrays, inside lists and tuples too."""
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, (list, tuple)):
        return type(x)(_values(v) for v in x)
    return x


def _as_tensors(result: Any) -> Any:
    """Array results as tensors that need no gradient (numbers and other objects as they are)."""
    if isinstance(result, np.ndarray) and result.dtype.kind in "fiub":
        return Tensor._from_op(result, None)
    if isinstance(result, tuple):
        return tuple(_as_tensors(r) for r in result)
    if isinstance(result, list):
        return [_as_tensors(r) for r in result]
    return result
