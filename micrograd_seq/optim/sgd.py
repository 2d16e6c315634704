"""SGD with torch.optim.SGD's update, step for step."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from .._args import flag, real
from ..tensor import Tensor
from .optimizer import Optimizer, non_negative

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, weight decay and Nesterov momentum.

    With g the gradient (negated if ``maximize``) plus ``weight_decay * p``: the momentum buffer
    b <- momentum * b + (1 - dampening) * g (b = g at the first step), then p <- p - lr * b, or
    p <- p - lr * (g + momentum * b) with ``nesterov``.
    """

    _options = {"lr": non_negative, "momentum": non_negative, "dampening": real, "weight_decay": non_negative,
                "nesterov": flag, "maximize": flag}
    _buffers = ("momentum_buffer",)

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 momentum: float = 0.0, dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                                      nesterov=nesterov, maximize=maximize))

    def _check_combination(self, owner: str, group: dict[str, Any]) -> None:
        if group.get("nesterov") and (group.get("momentum", 0) <= 0 or group.get("dampening", 0) != 0):
            raise ValueError(f"{owner}: Nesterov momentum needs momentum > 0 and dampening = 0")

    def _update(self, p: Tensor, grad: np.ndarray, state: dict[str, Any],
                options: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        g = -grad if options["maximize"] else grad
        if options["weight_decay"]:
            g = g + options["weight_decay"] * p.data
        momentum = options["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            buf = g.copy() if buf is None else momentum * buf + (1 - options["dampening"]) * g
            state = {**state, "momentum_buffer": buf}
            g = g + momentum * buf if options["nesterov"] else buf
        return p.data - options["lr"] * g, state
