"""Losses and activations built from the primitive ops (their gradients come from the ops')."""
from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .tensor import Tensor, as_tensor_like

__all__ = ["softmax", "log_softmax", "cross_entropy", "mse_loss", "binary_cross_entropy_with_logits"]

_REDUCTIONS = ("mean", "sum", "none")


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along ``axis``, computed without overflow."""
    return ops.softmax(x, axis)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) along ``axis``, stable for any finite input."""
    return ops.log_softmax(x, axis)


def _reduce(loss: Tensor, reduction: str, count: Any = None) -> Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / count if count is not None else loss.mean()


def _check_reduction(name: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{name}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def cross_entropy(logits: Tensor, targets: Any, reduction: str = "mean", ignore_index: int = -100) -> Tensor:
    """Negative log-likelihood of integer class ``targets`` (N,) under ``logits`` (N, C), as torch's.

    Targets equal to ``ignore_index`` add nothing, and the mean is over the others.
    """
    _check_reduction("cross_entropy", reduction)
    t = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must be (N, C), got shape {logits.shape}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {t.dtype}")
    n, c = logits.shape
    if t.shape != (n,):
        raise ValueError(f"cross_entropy: targets of shape {t.shape} do not match logits of shape {logits.shape}; "
                         f"expected ({n},)")
    keep = t != ignore_index
    if ((t[keep] < 0) | (t[keep] >= c)).any():
        raise ValueError(f"cross_entropy: targets must lie in [0, {c}), "
                         f"got values from {t[keep].min()} to {t[keep].max()}")
    rows = np.arange(n)
    picked = ops.log_softmax(logits, axis=1)[rows, np.where(keep, t, 0)]
    if not keep.all():
        picked = picked * keep
    loss = -picked
    return _reduce(loss, reduction, count=int(keep.sum()) if not keep.all() else None)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error; shapes must match (no silent broadcasting, unlike a bare subtraction)."""
    _check_reduction("mse_loss", reduction)
    target = as_tensor_like(target, input)
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return _reduce(diff * diff, reduction)


def binary_cross_entropy_with_logits(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """-[y log sigmoid(x) + (1 - y) log sigmoid(-x)], stable for any finite logits.

    log sigmoid(x) and log sigmoid(-x) are the two entries of log_softmax([0, x]).
    """
    _check_reduction("binary_cross_entropy_with_logits", reduction)
    target = as_tensor_like(target, logits)
    if logits.shape != target.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: logits shape {logits.shape} and target shape "
                         f"{target.shape} differ")
    zeros = Tensor(np.zeros(logits.shape, dtype=logits.dtype))
    log_p = ops.stack([zeros, logits], axis=-1).log_softmax(axis=-1)
    loss = -(log_p[..., 1] * target + log_p[..., 0] * (1 - target))
    return _reduce(loss, reduction)
