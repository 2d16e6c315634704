"""The optimizer base class: parameter groups, per-parameter state, all-or-nothing steps, and
``state_dict`` / ``load_state_dict`` in torch.optim's layout."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from .._args import real
from .._writes import write_all
from ..autograd import enable_grad
from ..graph import MODE
from ..tensor import Tensor, to_numpy

__all__ = ["Optimizer"]

Check = Callable[[str, str, Any], Any]

# Options torch's optimizers record in their parameter groups that change how fast a step runs, not
# what it computes; a torch state_dict carrying them loads here, and they are dropped.
_SPEED_FLAGS = ("foreach", "fused", "capturable")


def non_negative(owner: str, name: str, value: Any) -> float:
    """A real number >= 0 (learning rates, momentum, weight decay, eps)."""
    return real(owner, name, value, low=0)


class Optimizer:
    """Holds parameter groups and per-parameter state; ``step()`` updates each parameter's array in place.

    ``params`` is an iterable of tensors (``model.parameters()``), of ``(name, tensor)`` pairs
    (``model.named_parameters()``), or of dicts, each a parameter group with its own options:
    ``[{"params": encoder.parameters()}, {"params": head.parameters(), "lr": 0.1}]``. Options a group
    leaves out come from the constructor's arguments (``defaults``).

    A step is all or nothing: every group's options, every gradient (shape, dtype; finiteness under
    ``mg.detect_anomaly()``), every state buffer and every parameter's writability are checked, and all
    the new values computed, before any parameter or state changes.
    """

    # option name -> check(owner, name, value) returning the value to keep, per optimizer class
    _options: ClassVar[dict[str, Check]] = {}
    # state entries that hold one array shaped as the parameter
    _buffers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of tensors (e.g. model.parameters()), "
                            "got a single tensor")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: params must be an ordered collection (a list or model.parameters()); "
                            "the order of a set changes from run to run")
        try:
            groups = list(params)
        except TypeError:
            raise TypeError(f"{name}: params must be an iterable of tensors or of parameter-group dicts, "
                            f"got {type(params).__name__}") from None
        if not groups:
            raise ValueError(f"{name}: got an empty parameter list")
        self.defaults = self._checked_options(name, dict(defaults))
        self.state: dict[Tensor, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        for group in (groups if isinstance(groups[0], dict) else [{"params": groups}]):
            self._add_group(name, group)

    # ---- parameter groups ------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (e.g. unfreezing layers while training);
        options it leaves out come from the constructor's defaults."""
        self._add_group(f"{type(self).__name__}.add_param_group", param_group)

    def _add_group(self, owner: str, param_group: Any) -> None:
        if not isinstance(param_group, dict):
            raise TypeError(f"{owner}: a parameter group must be a dict with a 'params' entry, "
                            f"got {type(param_group).__name__}")
        if "params" not in param_group:
            raise KeyError(f"{owner}: a parameter group needs a 'params' entry")
        group = {k: v for k, v in param_group.items() if k != "params"}
        params, names = self._param_list(owner, param_group["params"])
        if names is not None:
            group["param_names"] = names
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        group = self._checked_options(owner, group)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in taken for p in params):
            raise ValueError(f"{owner}: some parameters appear in more than one parameter group")
        group["params"] = params
        self.param_groups.append(group)

    def _param_list(self, owner: str, params: Any) -> tuple[list[Tensor], list[str] | None]:
        """The group's parameters (leaf floating tensors, each once) and their names when given as pairs."""
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{owner}: parameters must be in an ordered collection, not a set")
        items = list(params)
        named = [isinstance(item, tuple) for item in items]
        if any(named) and not all(named):
            raise ValueError(f"{owner}: give all parameters with names ((name, tensor) pairs) or none")
        names = [item[0] for item in items] if items and all(named) else None
        tensors = [item[1] for item in items] if names is not None else items
        for i, p in enumerate(tensors):
            if not isinstance(p, Tensor):
                raise TypeError(f"{owner}: parameter {i} is not a tensor (got {type(p).__name__})")
            if not p.is_leaf:
                raise ValueError(f"{owner}: parameter {i} is not a leaf tensor (it was computed by "
                                 f"'{p.grad_fn}'); optimize the leaves it was computed from")
            if p.dtype.kind != "f":
                raise TypeError(f"{owner}: parameter {i} has dtype {p.dtype}; only floating tensors are optimized")
        if len({id(p) for p in tensors}) != len(tensors):
            raise ValueError(f"{owner}: a parameter appears more than once in the list")
        return tensors, names

    def _checked_options(self, owner: str, group: dict[str, Any]) -> dict[str, Any]:
        """The group with every option checked (and torch's speed-only flags dropped)."""
        if group.get("differentiable"):
            raise ValueError(f"{owner}: differentiable=True (autograd through the optimizer step) is not "
                             "supported")
        group = {k: v for k, v in group.items() if k not in _SPEED_FLAGS and k != "differentiable"}
        for key, check in self._options.items():
            if key in group:
                group[key] = check(owner, key, group[key])
        self._check_combination(owner, group)
        return group

    def _check_combination(self, owner: str, group: dict[str, Any]) -> None:
        """Checks between options of one group (e.g. SGD's Nesterov needs momentum); none by default."""

    # ---- stepping ----------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: None (torch's default), or zeros with ``set_to_none=False``."""
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad = np.zeros_like(p.grad)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place; returns ``closure()``'s loss (or None).

        ``closure`` re-evaluates the model and returns the loss (it runs with gradients enabled, before
        the update). Parameters without a gradient, such as those with ``requires_grad=False``, are skipped.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        owner = f"{type(self).__name__}.step"
        updates = []
        index = 0
        for g, group in enumerate(self.param_groups):
            options = self._checked_options(f"{owner} (parameter group {g})", group)
            for p in group["params"]:
                label = _label(index, p)
                index += 1
                if p.grad is None:
                    continue
                grad = self._checked_grad(owner, label, p)
                state = self.state.get(p, {})
                self._check_buffers(owner, label, p, state)
                updates.append((p, label, *self._update(p, grad, state, options)))
        write_all(owner, [(p, new, label) for p, label, new, _ in updates])
        for p, _, _, state in updates:
            if state:  # as torch, a parameter gets an entry only when it has state (not plain SGD's)
                self.state[p] = state
        return loss

    def _update(self, p: Tensor, grad: np.ndarray, state: dict[str, Any],
                options: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        """The parameter's new array and its new state from its group's checked ``options``, computed
        without changing anything."""
        raise NotImplementedError(f"{type(self).__name__} must define _update() or step()")

    @staticmethod
    def _checked_grad(owner: str, label: str, p: Tensor) -> np.ndarray:
        grad = p.grad
        if not isinstance(grad, np.ndarray) or grad.shape != p.shape:
            shape = getattr(grad, "shape", type(grad).__name__)
            raise ValueError(f"{owner}: the gradient of {label} has shape {shape}, the parameter has shape {p.shape}")
        if grad.dtype.kind != "f":
            raise TypeError(f"{owner}: the gradient of {label} has dtype {grad.dtype}, not a floating dtype")
        if MODE.anomaly and not np.isfinite(grad).all():
            raise RuntimeError(f"{owner}: the gradient of {label} holds NaN or inf (detect_anomaly is on); "
                               "nothing was updated")
        return grad.astype(p.dtype, copy=False)

    def _check_buffers(self, owner: str, label: str, p: Tensor, state: Mapping[str, Any]) -> None:
        for key in self._buffers:
            buf = state.get(key)
            if buf is not None and (not isinstance(buf, np.ndarray) or buf.shape != p.shape):
                raise ValueError(f"{owner}: the state {key!r} of {label} has shape "
                                 f"{getattr(buf, 'shape', None)}, the parameter has shape {p.shape}")

    # ---- state_dict ------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """torch's layout: ``{"state": {index: {name: value}}, "param_groups": [{option: value, "params":
        [index, ...]}]}``, parameters numbered in group order; arrays are copies, as numpy arrays."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: _copied(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: _copied(s) for p, s in self.state.items() if id(p) in index}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a ``state_dict()`` of this optimizer or of its torch namesake (tensors are converted).

        The groups must match this optimizer's in number and size; every value is checked before
        anything changes. The loaded group options replace the current ones, as in torch.
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"{owner}: expected a dict with 'state' and 'param_groups', "
                            f"got {type(state_dict).__name__}")
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise KeyError(f"{owner}: the state dict has no {key!r} entry")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not all(isinstance(g, Mapping) for g in saved_groups):
            raise TypeError(f"{owner}: 'param_groups' must be a list of dicts")
        if not isinstance(saved_state, Mapping):
            raise TypeError(f"{owner}: 'state' must be a dict, got {type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{owner}: the state dict has {len(saved_groups)} parameter group(s), "
                             f"this optimizer has {len(self.param_groups)}")
        by_index: dict[Any, Tensor] = {}
        groups = []
        for g, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            ids = list(saved.get("params", []))
            if len(ids) != len(group["params"]):
                raise ValueError(f"{owner}: parameter group {g} has {len(ids)} parameters in the state dict, "
                                 f"{len(group['params'])} here")
            by_index.update(zip(ids, group["params"], strict=True))
            new = {k: _copied(v) for k, v in saved.items() if k != "params"}
            if "param_names" in group and "param_names" not in new:
                new["param_names"] = group["param_names"]
            new = self._checked_options(f"{owner} (parameter group {g})", new)
            new["params"] = group["params"]
            groups.append(new)
        state: dict[Tensor, dict[str, Any]] = {}
        for key, value in saved_state.items():
            if key not in by_index:
                raise KeyError(f"{owner}: the state dict has state for parameter {key!r}, which none of its "
                               "parameter groups lists")
            if not isinstance(value, Mapping):
                raise TypeError(f"{owner}: the state of parameter {key!r} must be a dict, got {type(value).__name__}")
            p = by_index[key]
            state[p] = self._loaded_state(owner, f"parameter {key!r}", p, value)
        self.param_groups, self.state = groups, state

    def _loaded_state(self, owner: str, label: str, p: Tensor, saved: Mapping[str, Any]) -> dict[str, Any]:
        """One parameter's saved state converted to numpy (in the parameter's dtype) and checked."""
        state = {key: _converted(owner, f"the state {key!r} of {label}", value, p.dtype)
                 for key, value in saved.items()}
        if "step" in state:
            state["step"] = real(owner, f"the state 'step' of {label}", _scalar(state["step"]), low=0)
        self._check_buffers(owner, label, p, state)
        return state

    def __repr__(self) -> str:
        """torch's layout: each group's options, sorted by name."""
        text = f"{type(self).__name__} ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            text += "".join(f"    {key}: {group[key]}\n" for key in sorted(group) if key != "params")
        return text + ")"


def _label(index: int, p: Tensor) -> str:
    return f"parameter {index}" + (f" ({p.name!r})" if p.name else "")


def _copied(value: Any) -> Any:
    """A copy of a state or option value: arrays copied, containers rebuilt, the rest shared."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_copied(v) for v in value]
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    return value


def _converted(owner: str, label: str, value: Any, dtype: np.dtype) -> Any:
    """A loaded state value: tensors and arrays become numpy arrays (floating ones in ``dtype``)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_converted(owner, label, v, dtype) for v in value]
    try:
        array = to_numpy(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{owner}: {label} is not an array or a number ({type(value).__name__}): {err}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: {label} holds dtype {array.dtype}, not numbers")
    return array.astype(dtype) if array.dtype.kind == "f" else array.copy()


def _scalar(value: Any) -> Any:
    """A one-element array (torch's tensor(3.) step count) as a Python number; anything else as it is."""
    if isinstance(value, np.ndarray) and value.size == 1:
        return value.item()
    return value

