"""Gradient clipping, with torch.nn.utils' semantics."""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(owner: str, parameters: Iterable[Tensor] | Tensor) -> list[Tensor]:
    """The tensors among ``parameters`` that have a gradient (one tensor counts as a list of one)."""
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{owner}: item {i} is not a tensor (got {type(p).__name__})")
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0) -> float:
    """Scale all gradients together so their joint norm is at most ``max_norm``; returns the norm before.

    As torch: the scale is max_norm / (total_norm + 1e-6), applied only when it is below 1.
    This is the usual cure for exploding gradients in BPTT.
    """
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be positive (or inf), got {norm_type}")
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be non-negative, got {max_norm}")
    params = _with_grads("clip_grad_norm_", parameters)
    if not params:
        return 0.0
    if norm_type == np.inf:
        total = max(float(np.abs(p.grad).max()) for p in params)
    else:
        total = float(sum(float(np.sum(np.abs(p.grad) ** norm_type)) for p in params) ** (1.0 / norm_type))
    scale = max_norm / (total + 1e-6)
    if scale < 1.0:
        for p in params:
            p.grad = p.grad * scale
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value]."""
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be non-negative, got {clip_value}")
    for p in _with_grads("clip_grad_value_", parameters):
        p.grad = np.clip(p.grad, -clip_value, clip_value)
