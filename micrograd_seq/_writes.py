"""Writing new values into tensors in place: the one place optimizers, load_state_dict and nn.init do it.

Every such write goes through ``write_all``: it checks every target first (writable, same shape,
a dtype the value casts to), then writes them all, and puts back what it wrote if a write
still fails, so a failed update changes nothing.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .tensor import Tensor

__all__ = ["write_all", "check_writable", "replace_data"]


def check_writable(owner: str, label: str, t: Tensor) -> None:
    """A ValueError naming ``owner`` and ``label`` when ``t``'s array cannot be written in place."""
    if not t.data.flags.writeable:
        raise ValueError(f"{owner}: {label} holds a read-only array, so it cannot be updated in place "
                         "(make it writable, or give the tensor a copy: t.data = t.data.copy())")


def _assign(t: Tensor, value: np.ndarray) -> None:
    t.data[...] = value


def write_all(owner: str, writes: Sequence[tuple[Tensor, np.ndarray, str]]) -> None:
    """Copy each value into its tensor's array, all or none; ``writes`` holds (tensor, value, label)."""
    for t, value, label in writes:
        check_writable(owner, label, t)
        if value.shape != t.shape:
            raise ValueError(f"{owner}: {label} has shape {t.shape}, the new value has shape {value.shape}")
        if not np.can_cast(value.dtype, t.dtype, casting="same_kind"):
            raise TypeError(f"{owner}: {label} has dtype {t.dtype}, the new value has dtype {value.dtype}")
    saved: list[tuple[Tensor, np.ndarray]] = []
    try:
        for t, value, _ in writes:
            saved.append((t, t.data.copy()))
            _assign(t, value)
    except BaseException:
        for t, old in reversed(saved):
            _assign(t, old)
        raise


def replace_data(t: Tensor, array: np.ndarray) -> None:
    """Give the leaf ``t`` a new array, maybe of another dtype (torch's ``param.data = new``).

    Its gradient is converted alongside, and its graph node (which records the leaf's shape,
    dtype and array) follows, so a later backward accumulates in the new dtype.
    """
    grad = t.grad
    t.data = array
    node = t.node
    if node is not None:
        node.shape, node.dtype = array.shape, array.dtype
        if node.data is not None:
            node.data = array
    if grad is not None:
        t.grad = grad.astype(array.dtype)
