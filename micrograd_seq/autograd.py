"""Autograd switches and checks: no_grad, detect_anomaly, name_scope, gradcheck."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .graph import MODE
from .tensor import Tensor

__all__ = ["no_grad", "enable_grad", "detect_anomaly", "name_scope", "keep_values", "gradcheck",
           "GradcheckError"]


class _Switch:
    """A context manager that is also a decorator, setting one MODE attribute while active."""

    attribute = ""
    value: Any = None

    def __enter__(self) -> None:
        self._saved = getattr(MODE, self.attribute)
        setattr(MODE, self.attribute, self.value)

    def __exit__(self, *exc: Any) -> None:
        setattr(MODE, self.attribute, self._saved)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_Switch):
    """Run ops without recording a graph (evaluation, sampling, optimizer steps)."""

    attribute, value = "grad_enabled", False


class enable_grad(_Switch):
    """Record graphs again inside a ``no_grad`` block."""

    attribute, value = "grad_enabled", True


class detect_anomaly(_Switch):
    """Raise at the first NaN or inf made in forward or backward, naming the op and its scope."""

    attribute, value = "anomaly", True


class keep_values(_Switch):
    """Keep every recorded node's output array, so a drawing can show values (costs memory)."""

    attribute, value = "keep_values", True


class name_scope:
    """Tag every op recorded inside with ``name`` (nested scopes nest), for drawings and errors.

    A plain class rather than a generator context manager: layers enter one per time step.
    """

    __slots__ = ("name", "_saved")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"name_scope: the name must be a non-empty string without '/', got {name!r}")
        self.name = name

    def __enter__(self) -> None:
        self._saved = MODE.scope
        MODE.scope = self._saved + (self.name,)

    def __exit__(self, *exc: Any) -> None:
        MODE.scope = self._saved


class GradcheckError(RuntimeError):
    """Analytic and numeric gradients disagree."""


def gradcheck(fn: Callable[..., Tensor], *inputs: Tensor, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check ``fn``'s backward against central differences for every input that requires grad.

    The output is reduced to a scalar with fixed random weights, so one backward checks the
    vector-Jacobian product every op's backward computes. Float64 only: float32 differences
    are too coarse to mean anything.
    """
    checked = [(i, t) for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad, so there is nothing to check")
    for i, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.dtype.kind == "f" and t.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {t.dtype}; gradcheck needs float64 "
                            "(use dtype=np.float64 or mg.set_default_dtype(np.float64))")
    outputs = _flatten(fn(*inputs))
    weights = [np.random.default_rng(seed + k).standard_normal(o.shape) for k, o in enumerate(outputs)]

    def scalar(*args: Tensor) -> Tensor:
        results = _flatten(fn(*args))
        total = None
        for o, w in zip(results, weights, strict=True):
            term = (o * w).sum()
            total = term if total is None else total + term
        return total

    for _, t in checked:
        t.grad = None
    scalar(*inputs).backward()
    for i, t in checked:
        analytic = np.zeros(t.shape) if t.grad is None else np.array(t.grad, dtype=np.float64)
        numeric = np.zeros(t.shape)
        if not t.data.flags.c_contiguous or not t.data.flags.writeable:
            t.data = np.array(t.data, order="C")
        flat = t.data.reshape(-1)  # a view: nudging it nudges the input in place
        with no_grad():
            for k in range(flat.size):
                original = flat[k]
                flat[k] = original + eps
                plus = scalar(*inputs).item()
                flat[k] = original - eps
                minus = scalar(*inputs).item()
                flat[k] = original
                numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        bad = np.abs(analytic - numeric) > atol + rtol * np.abs(numeric)
        if bad.any():
            worst = np.unravel_index(np.argmax(np.abs(analytic - numeric) * bad), t.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {t.shape}{', ' + repr(t.name) if t.name else ''}) at index "
                f"{tuple(int(w) for w in worst)}: analytic {analytic[worst]:.10g} vs numeric "
                f"{numeric[worst]:.10g} ({int(bad.sum())} of {bad.size} elements differ)")
    return True


def _flatten(out: Any) -> list[Tensor]:
    """The tensors in a (possibly nested) tuple or list of outputs, e.g. an LSTM's output, (h, c)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _flatten(item)]
    raise TypeError(f"gradcheck: fn must return a Tensor or a (nested) tuple of them, got {type(out).__name__}")
