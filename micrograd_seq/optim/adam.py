"""Adam and AdamW with torch.optim's updates, step for step."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .._args import flag, real
from ..tensor import Tensor
from .optimizer import Optimizer, non_negative

__all__ = ["Adam", "AdamW"]


def _betas(owner: str, name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{owner}: {name} must be a pair of numbers (beta1, beta2), got "
                        f"{type(value).__name__} {value!r}")
    return (real(owner, f"{name}[0]", value[0], low=0, high=1, high_open=True),
            real(owner, f"{name}[1]", value[1], low=0, high=1, high_open=True))


class Adam(Optimizer):
    """Adam (Kingma and Ba) with bias correction.

    m <- beta1 m + (1 - beta1) g; v <- beta2 v + (1 - beta2) g^2 (with ``amsgrad``, the running maximum
    of v is used); p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps). ``weight_decay``
    adds ``weight_decay * p`` to g, or with ``decoupled_weight_decay`` scales p by (1 - lr weight_decay)
    first (that is AdamW).
    """

    _options = {"lr": non_negative, "betas": _betas, "eps": non_negative, "weight_decay": non_negative,
                "amsgrad": flag, "maximize": flag, "decoupled_weight_decay": flag}
    _buffers = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
                 amsgrad: bool = False, *, maximize: bool = False, decoupled_weight_decay: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, p: Tensor, grad: np.ndarray, state: dict[str, Any],
                options: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        lr, (beta1, beta2), decay = options["lr"], options["betas"], options["weight_decay"]
        g = -grad if options["maximize"] else grad
        data = p.data
        if decay:
            if options["decoupled_weight_decay"]:
                data = data * (1 - lr * decay)
            else:
                g = g + decay * data
        step = state.get("step", 0.0) + 1
        m = state.get("exp_avg")
        v = state.get("exp_avg_sq")
        m = (1 - beta1) * g if m is None else beta1 * m + (1 - beta1) * g
        v = (1 - beta2) * g * g if v is None else beta2 * v + (1 - beta2) * g * g
        new_state = {"step": step, "exp_avg": m, "exp_avg_sq": v}
        if options["amsgrad"]:
            peak = state.get("max_exp_avg_sq")
            v = new_state["max_exp_avg_sq"] = v if peak is None else np.maximum(peak, v)
        denom = np.sqrt(v) / math.sqrt(1 - beta2 ** step) + options["eps"]
        return data - (lr / (1 - beta1 ** step)) * (m / denom), new_state


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter): p <- p (1 - lr weight_decay) before the
    Adam step; torch's AdamW, which is Adam with ``decoupled_weight_decay=True``."""

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
                 amsgrad: bool = False, *, maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
