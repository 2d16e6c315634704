"""Learning-rate schedules with torch.optim.lr_scheduler's names, arguments and values at every step.

A scheduler sets ``group["lr"]`` in its optimizer's parameter groups. Make it after the optimizer
(making it applies the schedule's value for step 0), and call ``scheduler.step()`` once per epoch
after ``optimizer.step()``; ``ReduceLROnPlateau.step(metric)`` takes the metric it watches. The
values follow torch's recursive formulas, so they equal torch's to the last bit.
"""
from __future__ import annotations

import math
import types
from collections.abc import Callable, Mapping
from typing import Any

from .._args import integer, real
from .optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR", "ReduceLROnPlateau"]

# Attributes torch's schedulers keep only for their own bookkeeping: a torch state_dict may carry them.
_TORCH_PRIVATE = ("_get_lr_called_within_step", "_is_initial", "verbose")


class LRScheduler:
    """Base class: holds the optimizer, the groups' initial learning rates (``base_lrs``) and
    ``last_epoch``; sub-classes define ``get_lr()``, the learning rates for the new ``last_epoch``."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        owner = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{owner}: optimizer must be an mg.optim optimizer, got {type(optimizer).__name__}")
        last_epoch = integer(owner, "last_epoch", last_epoch, low=-1)
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{owner}: param_groups[{i}] has no 'initial_lr', so the schedule cannot resume at "
                               f"last_epoch={last_epoch}; load the optimizer's state_dict first")
        self.base_lrs: list[float] = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._initial = True  # the step the constructor takes (torch's "initial step")
        try:
            self.step()
        finally:
            self._initial = False

    def get_lr(self) -> list[float]:
        """The learning rate of each parameter group at ``last_epoch`` (``step()`` applies them)."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def get_last_lr(self) -> list[float]:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def step(self) -> None:
        """Advance one epoch and set each group's learning rate."""
        self._step_count += 1
        self.last_epoch += 1
        groups = self.optimizer.param_groups
        values = self.get_lr()
        if len(values) != len(groups):
            raise ValueError(f"{type(self).__name__}.step: the optimizer now has {len(groups)} parameter group(s), "
                             f"the schedule was made for {len(values)}")
        for group, lr in zip(groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in groups]

    def _current(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer: ``last_epoch``, ``base_lrs``, the settings (torch's keys)."""
        return {key: (list(value) if isinstance(value, list) else value)
                for key, value in vars(self).items() if key not in ("optimizer", "_initial")}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` of this scheduler or of its torch namesake."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{owner}: expected a dict, got {type(state_dict).__name__}")
        unknown = [k for k in state_dict if k not in vars(self) and k not in _TORCH_PRIVATE]
        if unknown:
            raise KeyError(f"{owner}: unknown key(s) {unknown} for {type(self).__name__}")
        vars(self).update({k: v for k, v in state_dict.items() if k not in _TORCH_PRIVATE})


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = integer("StepLR", "step_size", step_size, low=1)
        self.gamma = real("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class ExponentialLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = real("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._initial:
            return self._current()
        return [lr * self.gamma for lr in self._current()]


class CosineAnnealingLR(LRScheduler):
    """Anneal from the initial learning rate to ``eta_min`` along half a cosine over ``T_max`` epochs:
    eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2 (then back up, periodically).

    Computed step by step from the current learning rate, as torch does, so a learning rate changed
    by hand carries on along the curve."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = integer("CosineAnnealingLR", "T_max", T_max, low=1)
        self.eta_min = real("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        epoch, period, low = self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return self._current()
        if self._step_count == 1 and epoch > 0:  # resumed at a later epoch: the closed form
            return [low + (base - low) * (1 + math.cos(epoch * math.pi / period)) / 2 for base in self.base_lrs]
        if (epoch - 1 - period) % (2 * period) == 0:  # at the bottom: start back up
            return [lr + (base - low) * (1 - math.cos(math.pi / period)) / 2
                    for base, lr in zip(self.base_lrs, self._current(), strict=True)]
        return [(1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1) / period))
                * (lr - low) + low for lr in self._current()]


class LambdaLR(LRScheduler):
    """The learning rate is the initial one times ``lr_lambda(epoch)`` (one function, or one per group)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
                 last_epoch: int = -1) -> None:
        groups = getattr(optimizer, "param_groups", [])
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != len(groups):
                raise ValueError(f"LambdaLR: expected {len(groups)} lr_lambdas (one per parameter group), "
                                 f"got {len(lr_lambda)}")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * len(groups)
        for fn in self.lr_lambdas:
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda must be a function of the epoch, got {type(fn).__name__}")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factors = [real("LambdaLR", f"lr_lambda({self.last_epoch})", fn(self.last_epoch)) for fn in self.lr_lambdas]
        return [base * factor for base, factor in zip(self.base_lrs, factors, strict=True)]

    def state_dict(self) -> dict[str, Any]:
        """As torch: the functions are not saved, only the attributes of callable objects."""
        state = {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}
        state["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else dict(vars(fn))
                               for fn in self.lr_lambdas]
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        saved = dict(state_dict)
        lambdas = saved.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(saved)
        for fn, attributes in zip(self.lr_lambdas, lambdas, strict=False):
            if attributes is not None:
                vars(fn).update(attributes)


class ReduceLROnPlateau(LRScheduler):
    """Multiply the learning rate by ``factor`` when a metric has stopped improving for ``patience`` epochs.

    ``step(metric)`` takes the metric (e.g. the validation loss; ``mode="max"`` for an accuracy). It
    improves when it beats the best so far by ``threshold`` (relative or absolute, ``threshold_mode``).
    After a reduction, ``cooldown`` epochs pass before bad epochs count again; the learning rate never
    goes below ``min_lr``, and a change smaller than ``eps`` is skipped.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: list[float] | float = 0, eps: float = 1e-8) -> None:
        owner = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{owner}: optimizer must be an mg.optim optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"{owner}: threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.factor = real(owner, "factor", factor, low=0, high=1, high_open=True)
        self.optimizer = optimizer
        groups = len(optimizer.param_groups)
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != groups:
                raise ValueError(f"{owner}: expected {groups} min_lr values (one per parameter group), "
                                 f"got {len(min_lr)}")
            self.default_min_lr: float | None = None
            self.min_lrs = [real(owner, "min_lr", v, low=0) for v in min_lr]
        else:
            self.default_min_lr = real(owner, "min_lr", min_lr, low=0)
            self.min_lrs = [self.default_min_lr] * groups
        self.patience = integer(owner, "patience", patience, low=0)
        self.cooldown = integer(owner, "cooldown", cooldown, low=0)
        self.eps = real(owner, "eps", eps, low=0)
        self.mode, self.threshold_mode = mode, threshold_mode
        self.threshold = real(owner, "threshold", threshold, low=0)
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0
        self.last_epoch = 0
        self._last_lr = self._current()

    def step(self, metrics: Any = None) -> None:
        """Take one epoch's metric; reduce the learning rates if it has not improved for ``patience`` epochs."""
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise TypeError(f"ReduceLROnPlateau.step: metrics must be a number (e.g. the validation loss), "
                            f"got {type(metrics).__name__} {metrics!r}") from None
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = self._current()

    def _is_better(self, value: float) -> bool:
        if self.mode == "min":
            return value < (self.best * (1.0 - self.threshold) if self.threshold_mode == "rel"
                            else self.best - self.threshold)
        return value > (self.best * (self.threshold + 1.0) if self.threshold_mode == "rel"
                        else self.best + self.threshold)

    def _reduce(self) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise ValueError(f"ReduceLROnPlateau.step: the optimizer now has {len(groups)} parameter group(s), "
                                 f"min_lr was given for {len(self.min_lrs)}")
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, floor in zip(groups, self.min_lrs, strict=True):
            old = float(group["lr"])
            new = max(old * self.factor, floor)
            if old - new > self.eps:
                group["lr"] = new
