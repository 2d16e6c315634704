"""L-BFGS with torch.optim.LBFGS's algorithm, so its iterates are torch's.

A step runs up to ``max_iter`` iterations of limited-memory BFGS on all parameters flattened into one
vector. Each iteration builds a search direction from the last ``history_size`` curvature pairs (the
two-loop recursion, with H_0 = (y.s / y.y) I), and moves along it by ``lr`` (the first iteration of
all by min(1, 1 / |g|_1) lr), or by the step a strong-Wolfe line search finds (cubic interpolation,
c1 = 1e-4, c2 = 0.9). It stops early when the gradient's largest entry is below ``tolerance_grad``,
when the step or the loss changes by less than ``tolerance_change``, or after ``max_eval`` calls of
the closure. Its state (direction, step, history) lives with the first parameter, as torch keeps it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from .._args import integer, real
from .._writes import write_all
from ..autograd import enable_grad
from ..tensor import Tensor
from .optimizer import Optimizer, _label, non_negative

__all__ = ["LBFGS"]

_SCALARS = ("t", "H_diag", "prev_loss")
_VECTORS = ("d", "prev_flat_grad")
_HISTORY = ("old_dirs", "old_stps")


def _line_search(owner: str, name: str, value: Any) -> str | None:
    if value not in (None, "strong_wolfe"):
        raise ValueError(f"{owner}: {name} must be None or 'strong_wolfe', got {value!r}")
    return value


class LBFGS(Optimizer):
    """L-BFGS, torch's algorithm (after minFunc); ``step(closure)`` needs a closure that re-evaluates the
    model, calls ``backward()`` and returns the loss. One parameter group only."""

    _options = {"lr": non_negative, "max_iter": lambda o, n, v: integer(o, n, v, low=1),
                "max_eval": lambda o, n, v: integer(o, n, v, low=1), "tolerance_grad": non_negative,
                "tolerance_change": non_negative, "history_size": lambda o, n, v: integer(o, n, v, low=1),
                "line_search_fn": _line_search}

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7, tolerance_change: float = 1e-9,
                 history_size: int = 100, line_search_fn: str | None = None) -> None:
        if max_eval is None:
            max_eval = integer("LBFGS", "max_iter", max_iter, low=1) * 5 // 4
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change, history_size=history_size,
                                      line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS: per-parameter options (several parameter groups) are not supported")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Refused: L-BFGS optimizes one group (one flat vector of all parameters)."""
        raise ValueError("LBFGS.add_param_group: L-BFGS supports one parameter group only")

    @property
    def _params(self) -> list[Tensor]:
        return self.param_groups[0]["params"]

    # ---- the flat vector of all parameters -------------------------------
    def _flat_grad(self, owner: str) -> np.ndarray:
        """Every parameter's gradient, flattened and joined (zeros where a parameter has none)."""
        parts = []
        for i, p in enumerate(self._params):
            parts.append(np.zeros(p.data.size, p.dtype) if p.grad is None
                         else self._checked_grad(owner, _label(i, p), p).reshape(-1))
        return np.concatenate(parts)

    def _slices(self, flat: np.ndarray) -> list[np.ndarray]:
        out, start = [], 0
        for p in self._params:
            out.append(flat[start:start + p.data.size].reshape(p.shape))
            start += p.data.size
        return out

    def _write(self, owner: str, arrays: list[np.ndarray]) -> None:
        write_all(owner, [(p, a, _label(i, p)) for i, (p, a) in enumerate(zip(self._params, arrays, strict=True))])

    def _add_step(self, owner: str, t: float, d: np.ndarray) -> None:
        """p <- p + t d, for the parameters' slices of the flat direction ``d``."""
        self._write(owner, [p.data + t * piece for p, piece in zip(self._params, self._slices(d), strict=True)])

    # ---- the step --------------------------------------------------------
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss of the closure's first call.

        All or nothing: if the closure or a check raises, the parameters and the state are put back
        as they were before the step.
        """
        owner = "LBFGS.step"
        if closure is None:
            raise TypeError(f"{owner}: L-BFGS needs a closure that re-evaluates the model, calls backward() "
                            "and returns the loss")
        options = self._checked_options(owner, self.param_groups[0])
        first = self._params[0]
        saved_state = {k: list(v) if isinstance(v, list) else v for k, v in self.state.get(first, {}).items()}
        saved_params = [p.data.copy() for p in self._params]
        try:
            return self._iterate(owner, closure, options, self.state.setdefault(first, {}))
        except BaseException:
            self.state[first] = saved_state
            moved = [(p, old, _label(i, p)) for i, (p, old) in enumerate(zip(self._params, saved_params, strict=True))
                     if not np.array_equal(p.data, old, equal_nan=True)]
            write_all(owner, moved)
            raise

    def _evaluate(self, closure: Callable[[], Any]) -> tuple[Any, float]:
        with enable_grad():
            loss = closure()
        return loss, float(loss)

    def _iterate(self, owner: str, closure: Callable[[], Any], options: dict[str, Any],
                 state: dict[str, Any]) -> Any:
        lr, max_iter, max_eval = options["lr"], options["max_iter"], options["max_eval"]
        tolerance_grad, tolerance_change = options["tolerance_grad"], options["tolerance_change"]
        history_size = options["history_size"]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss, loss = self._evaluate(closure)
        evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad(owner)
        if np.abs(flat_grad).max() <= tolerance_grad:
            return orig_loss

        # carried over from the previous step (None before the first iteration of all)
        d: Any = state.get("d")
        t: Any = state.get("t")
        old_dirs: Any = state.get("old_dirs")
        old_stps: Any = state.get("old_stps")
        ro: Any = state.get("ro")
        h_diag: Any = state.get("H_diag")
        prev_flat_grad: Any = state.get("prev_flat_grad")
        prev_loss: Any = state.get("prev_loss")
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d, old_dirs, old_stps, ro, h_diag = -flat_grad, [], [], [], 1.0
            else:
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = y.dot(s)
                if ys > 1e-10:  # keep the pair only where the curvature is positive
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    h_diag = ys / y.dot(y)
                d = self._direction(state, flat_grad, old_dirs, old_stps, ro, h_diag, history_size)
            prev_flat_grad, prev_loss = flat_grad.copy(), loss
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:  # not a descent direction
                break

            if options["line_search_fn"] == "strong_wolfe":
                start = [p.data.copy() for p in self._params]

                def along(x: list[np.ndarray], step: float, direction: np.ndarray) -> tuple[float, np.ndarray]:
                    self._add_step(owner, step, direction)
                    _, value = self._evaluate(closure)
                    grad = self._flat_grad(owner)
                    self._write(owner, x)
                    return value, grad

                loss, flat_grad, t, spent = _strong_wolfe(along, start, t, d, loss, flat_grad, gtd,
                                                          max_ls=max_eval - evals)
                self._add_step(owner, t, d)
                converged = np.abs(flat_grad).max() <= tolerance_grad
            else:
                self._add_step(owner, t, d)
                spent, converged = 0, False
                if n_iter != max_iter:  # re-evaluate, unless this was the last iteration
                    _, loss = self._evaluate(closure)
                    flat_grad = self._flat_grad(owner)
                    converged = np.abs(flat_grad).max() <= tolerance_grad
                    spent = 1
            evals += spent
            state["func_evals"] += spent

            if n_iter == max_iter or evals >= max_eval or converged:
                break
            if np.abs(d * t).max() <= tolerance_change or abs(loss - prev_loss) < tolerance_change:
                break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=h_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    @staticmethod
    def _direction(state: dict[str, Any], flat_grad: np.ndarray, old_dirs: list[np.ndarray],
                   old_stps: list[np.ndarray], ro: list[float], h_diag: float, history_size: int) -> np.ndarray:
        """-H g by the two-loop recursion over the stored pairs (s, y), starting from H_0 = h_diag I."""
        al = state.setdefault("al", [None] * history_size)
        q = -flat_grad
        for i in range(len(old_dirs) - 1, -1, -1):
            al[i] = old_stps[i].dot(q) * ro[i]
            q = q - al[i] * old_dirs[i]
        r = q * h_diag
        for i in range(len(old_dirs)):
            be_i = old_dirs[i].dot(r) * ro[i]
            r = r + (al[i] - be_i) * old_stps[i]
        return r

    # ---- state_dict ------------------------------------------------------
    def _loaded_state(self, owner: str, label: str, p: Tensor, saved: Mapping[str, Any]) -> dict[str, Any]:
        """The L-BFGS state: counters, scalars, and vectors over all parameters (torch's keys)."""
        state = super()._loaded_state(owner, label, p, saved)
        size = sum(q.data.size for q in self._params)
        for key in ("func_evals", "n_iter"):
            if key in state:
                state[key] = integer(owner, f"the state {key!r}", _number(state[key]), low=0)
        for key in _SCALARS:
            if state.get(key) is not None:
                state[key] = real(owner, f"the state {key!r}", _number(state[key]))
        for key in ("ro", "al"):
            if state.get(key) is not None:
                state[key] = [None if v is None else real(owner, f"the state {key!r}", _number(v))
                              for v in state[key]]
        for key in _VECTORS + _HISTORY:
            values = state.get(key)
            if values is None:
                continue
            for v in (values if key in _HISTORY else [values]):
                if not isinstance(v, np.ndarray) or v.shape != (size,):
                    raise ValueError(f"{owner}: the state {key!r} must hold vectors of all {size} parameter "
                                     f"values, got shape {getattr(v, 'shape', None)}")
        return state


def _number(value: Any) -> Any:
    """A one-element array (torch saves some scalars as tensors) as a Python number."""
    return value.item() if isinstance(value, np.ndarray) and value.size == 1 else value


def _cubic_min(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
               bounds: tuple[float, float] | None = None) -> float:
    """The minimiser, within ``bounds`` (default: between x1 and x2), of the cubic through two points
    with values f and slopes g; the middle of the bounds when the cubic has no minimum."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(x, lo), hi)
    return (lo + hi) / 2.0


def _strong_wolfe(along: Callable[[Any, float, np.ndarray], tuple[float, np.ndarray]], x: Any, t: float,
                  d: np.ndarray, f: float, g: np.ndarray, gtd: float, c1: float = 1e-4, c2: float = 0.9,
                  tolerance_change: float = 1e-9, max_ls: int = 25) -> tuple[float, np.ndarray, float, int]:
    """A step t along d meeting the strong Wolfe conditions (sufficient decrease c1, curvature c2):
    first bracket an interval that holds one, then zoom into it by safeguarded cubic interpolation.
    Returns (loss, flat gradient, t, number of evaluations)."""
    d_norm = np.abs(d).max()
    f_new, g_new = along(x, t, d)
    evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: list[float] = []
    bracket_f: list[float] = []
    bracket_g: list[np.ndarray] = []
    bracket_gtd: list[float] = []
    while ls_iter < max_ls:
        too_high = f_new > f + c1 * t * gtd or (ls_iter > 1 and f_new >= f_prev)
        if not too_high and abs(gtd_new) <= -c2 * gtd:  # both conditions hold: done
            bracket, bracket_f, bracket_g, done = [t], [f_new], [g_new], True
            break
        if too_high or gtd_new >= 0:  # a minimum lies between t_prev and t
            bracket, bracket_f, bracket_g = [t_prev, t], [f_prev, f_new], [g_prev, g_new]
            bracket_gtd = [gtd_prev, gtd_new]
            break
        # extrapolate: the cubic minimiser between 1.01 t and 10 t
        t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                            bounds=(t + 0.01 * (t - t_prev), t * 10))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new, gtd_new
        t = t_next
        f_new, g_new = along(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = _cubic_min(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # keep t away from the bracket's ends, or the search can stall there
        top, bottom = max(bracket), min(bracket)
        eps = 0.1 * (top - bottom)
        if min(top - t, t - bottom) < eps:
            if insufficient_progress or t >= top or t <= bottom:
                t = top - eps if abs(t - top) < abs(t - bottom) else bottom + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = along(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
        if f_new > f + c1 * t * gtd or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals
