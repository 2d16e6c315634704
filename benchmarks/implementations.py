"""The implementations timed against each other, and the check that they all compute the same thing.

Each one is set up on a ``Problem`` and has ``name``; ``forward()``, returning what its backward
needs; ``backward(state)``, returning the loss; ``step()``, both from fresh gradients; and
``grads()``, d loss / d parameter under numpy_bptt's names after a step.

- ``numpy`` and ``numpy fused``: hand-written forward and BPTT (numpy_bptt.py) in its two forms;
  the faster of the two in a run is the floor every ratio is relative to;
- ``ours``: micrograd_seq's public API: the layer, Linear, cross_entropy and the generic backward;
- ``torch autograd``: torch over the same primitive cell, unrolled by a Python loop (torch_cell.py);
- ``torch.nn fused``: torch.nn.RNN/LSTM/GRU (torch_cell.py);
- ``micro engine``: the same graph on a minimal tape-based engine (micro_engine.py), the per-node floor.

A benchmark of wrong maths is worthless: ``verify`` compares every implementation's loss and
gradients with the floor's before anything is timed.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import machine
import numpy as np
import numpy_bptt
from micro_engine import MicroEngine
from problem import Problem

import micrograd_seq as mg

__all__ = ["Stepper", "Implementation", "NumpyFloor", "Ours", "IMPLS", "FLOORS", "OPTION_NAMES", "TOLERANCE",
           "torch_available", "make_implementations", "VerificationError", "verify"]

FLOORS = ("numpy", "numpy fused")  # the floor of a run is the faster of these
IMPLS = FLOORS + ("ours", "torch autograd", "torch.nn fused", "micro engine")
OPTION_NAMES = {"ours": "ours", "torch-autograd": "torch autograd", "torch-fused": "torch.nn fused",
                "micro": "micro engine"}  # command-line spelling -> name
# Errors are max |impl - numpy| / max |numpy| over each gradient (and relative for the loss).
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}


class Stepper(Protocol):
    """What timing and verification need: a name, a forward+backward step, the gradients it left."""

    name: str

    def step(self) -> float: ...

    def grads(self) -> dict[str, np.ndarray]: ...


class Implementation(Stepper, Protocol):
    def forward(self) -> Any: ...

    def backward(self, state: Any) -> float: ...


class NumpyFloor:
    """The hand-written forward and BPTT, in one of its two forms, on our model's parameter arrays."""

    def __init__(self, problem: Problem, fused: bool = False, block_steps: int | None = None,
                 name: str | None = None) -> None:
        self.problem = problem
        self.params = problem.model.numpy_params()
        self.fused, self.block_steps = fused, block_steps
        self.name = name or FLOORS[fused]
        self._grads: dict[str, np.ndarray] = {}

    def forward(self) -> tuple[float, dict[str, np.ndarray]]:
        p = self.problem
        return numpy_bptt.forward(p.cell, self.params, p.x, p.targets, self.fused)

    def backward(self, state: tuple[float, dict[str, np.ndarray]]) -> float:
        p = self.problem
        loss, saved = state
        self._grads = numpy_bptt.backward(p.cell, self.params, p.x, p.targets, saved, self.block_steps, self.fused)
        return loss

    def step(self) -> float:
        return self.backward(self.forward())

    def grads(self) -> dict[str, np.ndarray]:
        return self._grads


class Ours:
    """micrograd_seq: the layer's graph and the one generic backward."""

    name = "ours"

    def __init__(self, problem: Problem) -> None:
        self.model = problem.model
        self.x = mg.tensor(problem.x, dtype=problem.dtype)
        self.targets = problem.targets

    def forward(self) -> mg.Tensor:
        self.model.zero_grad()
        return self.model(self.x, self.targets)[0]

    def backward(self, loss: mg.Tensor) -> float:
        loss.backward()
        return loss.item()

    def step(self) -> float:
        return self.backward(self.forward())

    def grads(self) -> dict[str, np.ndarray]:
        return self.model.numpy_grads()


def torch_available() -> bool:
    """torch and torch_cell import (torch is then on one thread)."""
    if machine.pin_torch() is None:
        return False
    import torch_cell  # noqa: F401  (imports torch too)
    return True


def make_implementations(problem: Problem, names: Sequence[str]) -> list[Implementation]:
    """The named implementations (see IMPLS), each set up on ``problem``; torch's need torch installed."""
    made: list[Implementation] = []
    p = problem
    for name in names:
        if name in FLOORS:
            made.append(NumpyFloor(p, fused=name == "numpy fused"))
        elif name == "ours":
            made.append(Ours(p))
        elif name == "micro engine":
            made.append(MicroEngine(p.cell, p.model.numpy_params(), p.x, p.targets))
        elif name in ("torch autograd", "torch.nn fused"):
            if not torch_available():
                raise RuntimeError(f"{name} needs torch, which is not installed")
            import torch_cell
            model = torch_cell.PrimitiveModel if name == "torch autograd" else torch_cell.FusedModel
            made.append(model(p.cell, p.model.numpy_params(), p.x, p.targets))
        else:
            raise ValueError(f"unknown implementation {name!r}; expected one of {IMPLS}")
    return made


class VerificationError(AssertionError):
    """An implementation disagrees with the numpy floor on the loss or a gradient."""


def verify(impls: Sequence[Stepper], dtype: Any) -> dict[str, float]:
    """Each implementation's worst error against the first (the floor); raises VerificationError past the tolerance."""
    reference, others = impls[0], impls[1:]
    ref_loss = reference.step()
    ref_grads = {k: v.copy() for k, v in reference.grads().items()}
    tolerance = TOLERANCE[np.dtype(dtype).name]
    tiny = np.finfo(np.float64).tiny
    errors = {reference.name: 0.0}
    for impl in others:
        loss = impl.step()
        grads = impl.grads()
        worst = abs(loss - ref_loss) / max(abs(ref_loss), tiny)
        where = "loss"
        for name, ref in ref_grads.items():
            got = grads.get(name)
            if got is None or got.shape != ref.shape:
                raise VerificationError(f"{impl.name}: gradient {name} is {None if got is None else got.shape}, "
                                        f"expected shape {ref.shape}")
            err = float(np.abs(got - ref).max() / max(np.abs(ref).max(), tiny))
            if err > worst:
                worst, where = err, name
        if not worst <= tolerance:
            raise VerificationError(f"{impl.name} disagrees with the hand-written numpy BPTT: relative error "
                                    f"{worst:.3g} in {where} exceeds {tolerance:g}")
        errors[impl.name] = worst
    return errors
