"""Activation modules with torch.nn's names and arguments: Tanh, ReLU, Sigmoid, Softmax, LogSoftmax."""
from __future__ import annotations

import warnings

from .. import functional as F
from ..tensor import Tensor
from .module import Module

__all__ = ["Tanh", "ReLU", "Sigmoid", "Softmax", "LogSoftmax"]


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class ReLU(Module):
    """max(x, 0), elementwise. ``inplace=True`` is accepted for torch's signature, but the input is never
    overwritten: the result is a new tensor either way."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


def _implicit_dim(owner: str, ndim: int) -> int:
    """torch's legacy choice when no ``dim`` is given (0 for 0-, 1- and 3-d inputs, else 1), with its warning."""
    warnings.warn(f"{owner}: implicit dimension choice for softmax has been deprecated; pass dim=",
                  UserWarning, stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


class _SoftmaxBase(Module):
    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int)):
            raise TypeError(f"{type(self).__name__}: dim must be an int or None, got {type(dim).__name__}")
        self.dim = dim

    def _dim(self, input: Tensor) -> int:
        return self.dim if self.dim is not None else _implicit_dim(type(self).__name__, input.ndim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_SoftmaxBase):
    """exp(x) / sum(exp(x)) along ``dim``, without overflow."""

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self._dim(input))


class LogSoftmax(_SoftmaxBase):
    """log(softmax(x)) along ``dim``, stable for any finite input (pair it with NLLLoss)."""

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self._dim(input))
