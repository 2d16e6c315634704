"""The problem every implementation solves: configurations, our model on the public API, and its data.

The model: an RNN, LSTM or GRU layer (T steps, batch B, input D, hidden H), a Linear head (K
classes) on every step, and cross-entropy summed over all T x B predictions. ``make_problem``
builds our model (initialised as torch.nn would be) and the inputs from one seed; the other
implementations take its parameter arrays under numpy_bptt's names.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy_bptt

import micrograd_seq as mg

__all__ = ["Config", "CONFIGS", "QUICK_CONFIGS", "CELLS", "SequenceModel", "Problem", "make_problem"]


@dataclass(frozen=True)
class Config:
    """Sequence length T, batch B, input size D, hidden size H, classes K."""

    T: int
    B: int
    D: int
    H: int
    K: int

    @classmethod
    def parse(cls, text: str) -> Config:
        """'T,B,D,H,K' or '(T, B, D, H, K)'; an argparse error otherwise."""
        try:
            values = [int(v) for v in text.replace("(", "").replace(")", "").split(",")]
            config = cls(*values)
        except (ValueError, TypeError):
            raise argparse.ArgumentTypeError(
                f"a configuration is five positive integers T,B,D,H,K, got {text!r}") from None
        if min(values) <= 0:
            raise argparse.ArgumentTypeError(f"a configuration is five positive integers T,B,D,H,K, got {text!r}")
        return config

    def __str__(self) -> str:
        return f"({self.T}, {self.B}, {self.D}, {self.H}, {self.K})"


CONFIGS = tuple(Config(*c) for c in [(100, 1, 16, 32, 16), (50, 32, 64, 128, 64), (20, 64, 256, 512, 256),
                                     (1000, 8, 32, 64, 32)])
QUICK_CONFIGS = (Config(6, 2, 3, 4, 5), Config(4, 1, 2, 3, 2))
CELLS = ("lstm", "gru", "rnn")


class SequenceModel(mg.nn.Module):
    """A recurrent layer and a Linear head on every step, trained with cross-entropy summed over time."""

    def __init__(self, cell: str, config: Config) -> None:
        super().__init__()
        self.rnn = mg.nn.CELLS[cell].layer(config.D, config.H)
        self.head = mg.nn.Linear(config.H, config.K)

    def forward(self, x: mg.Tensor, targets: np.ndarray, state: Any = None) -> tuple[mg.Tensor, Any]:
        """The summed loss over (T, B) and the final recurrent state."""
        out, state = self.rnn(x, state)
        logits = self.head(out.reshape(-1, out.shape[-1]))
        return mg.functional.cross_entropy(logits, targets.reshape(-1), reduction="sum"), state

    def by_numpy_name(self) -> dict[str, mg.nn.Parameter]:
        """Our parameters under numpy_bptt's names (weight_ih for rnn.weight_ih_l0, head.* as is)."""
        own = dict(self.named_parameters())
        return {name: own[name if name.startswith("head.") else f"rnn.{name}_l0"] for name in numpy_bptt.PARAM_NAMES}

    def numpy_params(self) -> dict[str, np.ndarray]:
        """The parameter arrays (shared, not copied) under numpy_bptt's names."""
        return {name: p.data for name, p in self.by_numpy_name().items()}

    def numpy_grads(self) -> dict[str, np.ndarray]:
        return {name: p.grad for name, p in self.by_numpy_name().items()}


@dataclass
class Problem:
    cell: str
    config: Config
    dtype: np.dtype
    model: SequenceModel
    x: np.ndarray
    targets: np.ndarray


def make_problem(cell: str, config: Config, dtype: Any, seed: int = 0) -> Problem:
    """Our model, initialised as torch.nn would be, and random inputs and targets, all from ``seed``."""
    dtype = np.dtype(dtype)
    previous = mg.get_default_dtype()
    mg.set_default_dtype(dtype)
    try:
        mg.manual_seed(seed)
        model = SequenceModel(cell, config)
    finally:
        mg.set_default_dtype(previous)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((config.T, config.B, config.D)).astype(dtype)
    targets = rng.integers(0, config.K, size=(config.T, config.B))
    return Problem(cell, config, dtype, model, x, targets)
