"""Writing new values into tensors in place: the one place optimizers, load_state_dict and nn.init do it.

Every such write goes through ``write_all``: it checks every target first (writable, same shape,
a dtype the value casts to), then writes them all, and puts back what it wrote if a write
still fails, so a failed update changes nothing.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .autograd import no_grad
from .graph import array_lock
from .tensor import Tensor

__all__ = ["write_all", "check_writable", "replace_data"]


def check_writable(owner: str, label: str, t: Tensor) -> None:
    """A ValueError naming ``owner`` and ``label`` when ``t``'s array cannot be written in place.

    An array the engine holds read-only for a pending backward can be (the write makes that
    graph stale); an array its owner made read-only cannot.
    """
    array = t._data
    if not array.flags.writeable and array_lock(array) is None:
        raise ValueError(f"{owner}: {label} holds a read-only array, so it cannot be updated in place "
                         "(make it writable, or give the tensor a copy: t.data = t.data.copy())")


def _assign(t: Tensor, value: np.ndarray) -> None:
    with no_grad():
        t.copy_(value)


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
            saved.append((t, np.array(t._data)))
            _assign(t, value)
    except BaseException:
        for t, old in reversed(saved):
            _assign(t, old)
        raise


def replace_data(t: Tensor, array: np.ndarray) -> None:
    """Give the leaf ``t`` a new array, maybe of another dtype (torch's ``param.data = new``).

    Its gradient is converted alongside, so a later backward accumulates in the new dtype.
    """
    grad = t.grad
    t.data = array
    if grad is not None:
        t.grad = grad.astype(array.dtype)
