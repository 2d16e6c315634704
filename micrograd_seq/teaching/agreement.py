"""The thesis, runnable: BPTT derived by hand equals what one generic ``backward()`` computes.

``hand_gradients`` runs the numpy derivation of ``bptt_rnn``/``bptt_lstm``/``bptt_gru``;
``autodiff_gradients`` builds the same model from ``mg.nn`` (a recurrent layer, a Linear
readout, ``cross_entropy(reduction="sum")``) and calls ``loss.backward()``, with no
derivative written anywhere. ``compare`` returns how far apart the two are.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .. import functional, ops
from ..nn import CELLS, Linear, Parameter, Recurrent
from ..tensor import Tensor
from . import bptt_gru, bptt_lstm, bptt_rnn
from .unroll import unroll

# The cell kinds derived by hand; their layers and weight layouts come from the registry, mg.nn.CELLS.
DERIVATIONS: dict[str, ModuleType] = {"rnn": bptt_rnn, "lstm": bptt_lstm, "gru": bptt_gru}


@dataclass
class Problem:
    """One "sequence in, loss out" task: parameters, inputs (T, B, D), classes (T, B), initial states."""

    cell: str
    params: dict[str, np.ndarray]
    xs: np.ndarray
    ys: np.ndarray
    states: dict[str, np.ndarray]  # "h" (and "c" for the LSTM): the initial states, (B, H)


def random_problem(cell: str, T: int, B: int, D: int, H: int, K: int, seed: int = 0) -> Problem:
    """A float64 problem with random weights, inputs, classes and initial states."""
    if cell not in DERIVATIONS:
        raise ValueError(f"random_problem: cell must be one of {sorted(DERIVATIONS)}, got {cell!r}")
    for name, size in (("T", T), ("B", B), ("D", D), ("H", H), ("K", K)):
        if not isinstance(size, (int, np.integer)) or size <= 0:
            raise ValueError(f"random_problem: {name} must be a positive integer, got {size!r}")
    rng = np.random.default_rng(seed)
    G = DERIVATIONS[cell].GATES * H
    shapes = {"weight_ih": (G, D), "weight_hh": (G, H), "bias_ih": (G,), "bias_hh": (G,), "V": (K, H), "b_V": (K,)}
    params = {name: rng.normal(0.0, 0.6, shape) for name, shape in shapes.items()}
    states = {name: rng.normal(0.0, 0.5, (B, H)) for name in CELLS[cell].cell.state_names}
    return Problem(cell, params, rng.normal(size=(T, B, D)), rng.integers(0, K, size=(T, B)), states)


def hand_gradients(problem: Problem) -> tuple[float, dict[str, np.ndarray]]:
    """The loss and its gradients from the hand-derived numpy BPTT."""
    derivation = DERIVATIONS[problem.cell]
    loss, cache = derivation.forward(problem.params, problem.xs, problem.ys, *problem.states.values())
    return loss, derivation.backward(problem.params, cache)


def build_model(problem: Problem) -> tuple[Recurrent, Linear]:
    """The problem's model as ``mg.nn`` modules holding its float64 parameters."""
    p = problem.params
    K, H = p["V"].shape
    layer, head = CELLS[problem.cell].layer(problem.xs.shape[-1], H), Linear(H, K)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        setattr(layer, f"{name}_l0", Parameter(p[name], dtype=np.float64))
    head.weight, head.bias = Parameter(p["V"], dtype=np.float64), Parameter(p["b_V"], dtype=np.float64)
    return layer, head


def autodiff_gradients(problem: Problem) -> tuple[float, dict[str, np.ndarray]]:
    """The same loss and gradients from ``mg.nn`` and one ``backward()``; no derivative written by hand."""
    layer, head = build_model(problem)
    T, B = problem.ys.shape
    initial = tuple(Tensor(s, requires_grad=True, dtype=np.float64) for s in problem.states.values())
    states = unroll(layer, Tensor(problem.xs, dtype=np.float64), initial)
    for state in states[1:]:
        for s in state:
            s.retain_grad()                                # keep dL/dh_t (and dL/dc_t) after backward
    output = ops.stack([state[0] for state in states[1:]])  # (T, B, H), as layer(x) returns
    logits = head(output).reshape(T * B, -1)
    loss = functional.cross_entropy(logits, problem.ys.reshape(-1), reduction="sum")
    loss.backward()
    grads = {name: _grad(getattr(layer, f"{name}_l0")) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    grads["V"], grads["b_V"] = _grad(head.weight), _grad(head.bias)
    for k, name in enumerate(problem.states):
        grads[name] = np.stack([_grad(state[k]) for state in states])
    return float(loss.item()), grads


def _grad(t: Tensor | None) -> np.ndarray:
    """A gradient backward must have filled in."""
    assert t is not None and t.grad is not None
    return t.grad


def compare(cell: str, T: int = 5, B: int = 3, D: int = 4, H: int = 6, K: int = 5, seed: int = 0) -> float:
    """The largest absolute difference between hand-derived and autodiff loss and gradients (float64)."""
    problem = random_problem(cell, T, B, D, H, K, seed)
    hand_loss, hand = hand_gradients(problem)
    auto_loss, auto = autodiff_gradients(problem)
    return max([abs(hand_loss - auto_loss)] + [float(np.max(np.abs(hand[name] - auto[name]))) for name in hand])
