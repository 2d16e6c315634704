"""Gradient clipping, with torch.nn.utils' semantics (torch.nn.utils.clip_grad)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..._args import flag, real
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(owner: str, parameters: Iterable[Tensor] | Tensor) -> list[tuple[Tensor, np.ndarray]]:
    """(tensor, gradient) for the tensors among ``parameters`` that have one (a tensor alone is a list of one)."""
    try:
        params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    except TypeError:
        raise TypeError(f"{owner}: parameters must be a tensor or an iterable of tensors "
                        f"(e.g. model.parameters()), got {type(parameters).__name__}") from None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{owner}: item {i} is not a tensor (got {type(p).__name__})")
    return [(p, p.grad) for p in params if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: Any = None) -> float:
    """Scale all gradients together so their joint norm is at most ``max_norm``; returns the norm before.

    As torch: the joint norm is the norm of the per-parameter norms, and every gradient is multiplied
    by min(1, max_norm / (total_norm + 1e-6)). A NaN or inf gradient makes the norm NaN or inf, and the
    gradients are scaled by it all the same (NaN, or 0 where finite), unless ``error_if_nonfinite``,
    which raises instead. ``foreach`` is accepted for torch's signature and changes nothing.
    This is the usual cure for exploding gradients in BPTT.
    """
    owner = "clip_grad_norm_"
    max_norm = real(owner, "max_norm", max_norm, low=0)
    norm_type = real(owner, "norm_type", norm_type, low=0, low_open=True)
    error_if_nonfinite = flag(owner, "error_if_nonfinite", error_if_nonfinite)
    pairs = _with_grads(owner, parameters)
    if not pairs:
        return 0.0
    if norm_type == np.inf:
        norms = np.array([np.abs(g).max() if g.size else 0.0 for _, g in pairs])
        total = float(norms.max())
    else:
        norms = np.array([np.sum(np.abs(g) ** norm_type) ** (1.0 / norm_type) for _, g in pairs])
        total = float(np.sum(norms ** norm_type) ** (1.0 / norm_type))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(f"{owner}: the total norm of order {norm_type} of the gradients is {total}, so they "
                           "cannot be clipped; pass error_if_nonfinite=False to scale them by it anyway")
    scale = np.minimum(max_norm / (total + 1e-6), 1.0)  # NaN stays NaN, as torch's clamp
    if scale != 1.0:
        with np.errstate(invalid="ignore"):  # inf * 0 is NaN here by design, as in torch
            for p, g in pairs:
                p.grad = g * scale
    return total


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float, foreach: Any = None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value]."""
    clip_value = real("clip_grad_value_", "clip_value", clip_value, low=0)
    for p, g in _with_grads("clip_grad_value_", parameters):
        p.grad = np.clip(g, -clip_value, clip_value)
