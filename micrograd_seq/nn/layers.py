"""Feed-forward layers: Linear, Embedding, Dropout, initialised as torch.nn's."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..random import generator
from ..tensor import Tensor, get_default_dtype
from .module import Module, Parameter

__all__ = ["Linear", "Embedding", "Dropout", "dropout", "uniform_parameter"]


def uniform_parameter(shape: tuple[int, ...], bound: float) -> Parameter:
    """A parameter drawn from U(-bound, bound) in the default float dtype."""
    return Parameter(generator().uniform(-bound, bound, size=shape).astype(get_default_dtype()))


def _check_size(layer: str, name: str, value: Any) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")


class Linear(Module):
    """y = x W^T + b, with W of shape (out_features, in_features), both U(-1/sqrt(in), 1/sqrt(in))."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        _check_size("Linear", "in_features", in_features)
        _check_size("Linear", "out_features", out_features)
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight = uniform_parameter((out_features, in_features), bound)
        self.bias = uniform_parameter((out_features,), bound) if bias else None

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x, dtype=self.weight.dtype)
        if x.shape[-1:] != (self.in_features,):
            raise ValueError(f"Linear: expected input with {self.in_features} features in its last dimension, "
                             f"got shape {x.shape}")
        y = x @ self.weight.T
        return y + self.bias if self.bias is not None else y

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Embedding(Module):
    """A lookup table: row i of ``weight`` (num_embeddings, embedding_dim), initialised N(0, 1).

    The row ``padding_idx`` (a negative one counts from the end) starts at zeros and gets exactly zero
    gradient, so training leaves it as it is, as torch's.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None) -> None:
        super().__init__()
        _check_size("Embedding", "num_embeddings", num_embeddings)
        _check_size("Embedding", "embedding_dim", embedding_dim)
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = F._padding_index("Embedding", padding_idx, num_embeddings)
        table = generator().standard_normal((num_embeddings, embedding_dim))
        if self.padding_idx is not None:
            table[self.padding_idx] = 0.0
        self.weight = Parameter(table.astype(get_default_dtype()))

    def forward(self, indices: Any) -> Tensor:
        return F._lookup("Embedding", indices, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        padding = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{padding}"


def check_probability(owner: str, p: Any) -> float:
    """``p`` as a float, or a ValueError naming ``owner`` when it is not a number in [0, 1]."""
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{owner}: dropout probability must be a number in [0, 1], got {p!r}")
    return float(p)


def dropout(x: Tensor, p: float, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1/(1-p) in training; identity otherwise."""
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    keep = generator().random(x.shape) >= p
    return x * (keep / (1.0 - p)).astype(x.dtype)


class Dropout(Module):
    """Zero each element with probability p in training, scaling the rest by 1/(1-p); identity in eval."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_probability("Dropout", p)

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"
