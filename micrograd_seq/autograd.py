"""Autograd switches and checks: no_grad, detect_anomaly, name_scope, grad, gradcheck."""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .graph import collector_paused, restore_switches, run_backward, set_switch, switches
from .tensor import Tensor

__all__ = ["no_grad", "enable_grad", "detect_anomaly", "name_scope", "keep_values", "grad", "gradcheck",
           "GradcheckError", "collector_paused"]


class _Switch:
    """A context manager that is also a decorator, setting one switch (for this thread) while active."""

    attribute = ""
    value: Any = None

    def __enter__(self) -> None:
        self._token = set_switch(self.attribute, self.value)

    def __exit__(self, *exc: Any) -> None:
        restore_switches(self._token)

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

    __slots__ = ("_token", "name")

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"name_scope: the name must be a non-empty string without '/', got {name!r}")
        self.name = name

    def __enter__(self) -> None:
        self._token = set_switch("scope", (*switches().scope, self.name))

    def __exit__(self, *exc: Any) -> None:
        restore_switches(self._token)


class GradcheckError(RuntimeError):
    """Analytic and numeric gradients disagree."""


def grad(outputs: Tensor | Sequence[Tensor], inputs: Tensor | Sequence[Tensor],
         grad_outputs: Any = None, retain_graph: bool | None = None,
         allow_unused: bool = False) -> tuple[np.ndarray | None, ...]:
    """The gradients of ``outputs`` with respect to ``inputs``, as torch.autograd.grad.

    Returns one array per input and leaves every ``.grad`` untouched. ``grad_outputs`` weight
    each output (required for non-scalar outputs); several outputs add up. An input the outputs
    do not depend on is an error unless ``allow_unused=True``, when its gradient is None. The
    graph is released unless ``retain_graph=True``.
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    for what, items in (("outputs", outs), ("inputs", ins)):
        if not items or not all(isinstance(t, Tensor) for t in items):
            raise TypeError(f"grad: {what} must be a Tensor or a non-empty sequence of Tensors")
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad, so it has no gradient")
    weights = [None] * len(outs) if grad_outputs is None else (
        [grad_outputs] if isinstance(outputs, Tensor) else list(grad_outputs))
    if len(weights) != len(outs):
        raise ValueError(f"grad: got {len(weights)} grad_outputs for {len(outs)} outputs")
    for i, o in enumerate(outs):
        if not o.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad (it was not computed from the inputs "
                               "with grad recording on)")
    root, seed = _one_root(outs, weights)
    assert root.node is not None
    nodes = [t.node for t in ins]
    grads = run_backward(root.node, seed, bool(retain_graph), False,
                         capture=nodes)  # type: ignore[arg-type]
    for i, g in enumerate(grads):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: input {i} was not used to compute the outputs (its gradient is undefined); "
                               "pass allow_unused=True to get None for it")
    return tuple(grads)


def _one_root(outs: list[Tensor], weights: list[Any]) -> tuple[Tensor, np.ndarray]:
    """One output and its seed: the output itself, or the weighted sum of several (recorded on the graph)."""
    if len(outs) == 1:
        o, w = outs[0], weights[0]
        if w is None:
            if o.numel() != 1:
                raise RuntimeError(f"grad: grad_outputs can be implicit only for scalar outputs; output 0 has shape "
                                   f"{o.shape}")
            return o, np.ones(o.shape, dtype=o.dtype)
        seed = np.array(w._data if isinstance(w, Tensor) else w, dtype=o.dtype)
        if seed.shape != o.shape:
            raise ValueError(f"grad: grad_outputs[0] has shape {seed.shape}, the output has shape {o.shape}")
        return o, seed
    with enable_grad():
        total = None
        for k, (o, w) in enumerate(zip(outs, weights, strict=True)):
            if w is None and o.numel() != 1:
                raise RuntimeError(f"grad: grad_outputs can be implicit only for scalar outputs; output {k} has "
                                   f"shape {o.shape}")
            term = o.sum() if w is None else (o * Tensor(w, dtype=o.dtype)).sum()
            total = term if total is None else total + term
    assert total is not None
    return total, np.ones((), dtype=total.dtype)


def gradcheck(fn: Callable[..., Any], *inputs: Tensor, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, seed: int = 0) -> bool:
    """Check ``fn``'s backward against central differences for every input that requires grad.

    The output is reduced to a scalar with fixed random weights, so one backward checks the
    vector-Jacobian product every op's backward computes. Float64 only: float32 differences
    are too coarse to mean anything. Inputs are left exactly as they were found (their arrays
    and ``.grad``), also when ``fn`` raises; no ``.grad`` anywhere is touched.
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

    def scalar() -> Tensor:
        results = _flatten(fn(*inputs))
        if len(results) != len(weights) or any(o.shape != w.shape for o, w in zip(results, weights, strict=False)):
            raise ValueError("gradcheck: fn returned outputs of other shapes on a second call")
        total = (results[0] * weights[0]).sum()
        for o, w in zip(results[1:], weights[1:], strict=True):
            total = total + (o * w).sum()
        return total

    analytic = grad(scalar(), [t for _, t in checked], allow_unused=True)
    for (i, t), exact in zip(checked, analytic, strict=True):
        numeric = _central_differences(scalar, t, eps)
        exact = np.zeros(t.shape) if exact is None else np.asarray(exact, dtype=np.float64)
        bad = np.abs(exact - numeric) > atol + rtol * np.abs(numeric)
        if bad.any():
            worst = np.unravel_index(np.argmax(np.abs(exact - numeric) * bad), t.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {t.shape}{', ' + repr(t.name) if t.name else ''}) at index "
                f"{tuple(int(w) for w in worst)}: analytic {exact[worst]:.10g} vs numeric "
                f"{numeric[worst]:.10g} ({int(bad.sum())} of {bad.size} elements differ)")
    return True


def _central_differences(scalar: Callable[[], Tensor], t: Tensor, eps: float) -> np.ndarray:
    """d scalar / d t by central differences, nudging a private copy of ``t``'s values (restored after)."""
    original = t._data
    work = np.array(original, dtype=np.float64, order="C")
    flat = work.reshape(-1)
    numeric = np.zeros(work.size)
    t._data = work
    try:
        with no_grad():
            for k in range(flat.size):
                value = flat[k]
                flat[k] = value + eps
                plus = scalar().item()
                flat[k] = value - eps
                minus = scalar().item()
                flat[k] = value
                numeric[k] = (plus - minus) / (2 * eps)
    finally:
        t._data = original
    return numeric.reshape(t.shape)


def _flatten(out: Any) -> list[Tensor]:
    """The tensors in a (possibly nested) tuple or list of outputs, e.g. an LSTM's output, (h, c)."""
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for item in out for t in _flatten(item)]
    raise TypeError(f"gradcheck: fn must return a Tensor or a (nested) tuple of them, got {type(out).__name__}")
