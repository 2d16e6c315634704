"""Module and Parameter: trainable tensors registered by attribute assignment, as in torch.nn."""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .._writes import replace_data, write_all
from ..tensor import Tensor, to_arguments, to_numpy

__all__ = ["Parameter", "Module", "Sequential", "IncompatibleKeys"]


class Parameter(Tensor):
    """A leaf tensor that requires grad and that a Module registers as trainable.

    Its ``name`` is the dotted path under the outermost module (``lstm.weight_hh_l0``), so
    drawings and error messages can say which weight they mean.
    """

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` could not match: names it lacked and names it did not know."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class: assign Parameters and Modules as attributes and they are registered."""

    training: bool
    _parameters: dict[str, Parameter]
    _modules: dict[str, Module]
    _prefix: str

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_prefix", "")
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        # a name registered again keeps its place in the registry (torch's order for tied weights)
        if isinstance(value, Parameter):
            self._modules.pop(name, None)
            self._parameters[name] = value
            value.name = self._qualify(name)
        elif isinstance(value, Module):
            self._parameters.pop(name, None)
            self._modules[name] = value
            value._set_prefix(self._qualify(name))
        else:
            self._parameters.pop(name, None)
            self._modules.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def _home_of(self, name: str) -> tuple[Any, str]:
        """Where the parameter registered here as ``name`` is read when the module computes: (object, attribute).

        Its own attribute, unless a module registers another object's parameter under its name (as
        ``Recurrent`` does its cells'); ``mg.func.functional_call`` swaps a parameter there.
        """
        return self, name

    def _qualify(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def _set_prefix(self, prefix: str) -> None:
        object.__setattr__(self, "_prefix", prefix)
        for name, p in self._parameters.items():
            p.name = self._qualify(name)
        for name, m in self._modules.items():
            m._set_prefix(self._qualify(name))

    # ---- traversal (iterators, as torch's) --------------------------------
    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs in definition order, each parameter once unless
        ``remove_duplicate=False`` (then a tied weight comes once per name); ``prefix.`` goes first."""
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else iter([(prefix, self)])
        seen: set[int] = set()
        for module_prefix, module in modules:
            for name, p in module._parameters.items():
                if remove_duplicate:
                    if id(p) in seen:
                        continue
                    seen.add(id(p))
                yield (f"{module_prefix}.{name}" if module_prefix else name), p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """The parameters of this module and its sub-modules, in definition order, as an iterator
        (``list(model.parameters())`` for a list; an optimizer takes the iterator as it is)."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def get_submodule(self, target: str) -> Module:
        """The sub-module at the dotted path ``target`` ("" is this module), as torch's; AttributeError if none."""
        if not isinstance(target, str):
            raise TypeError(f"get_submodule: target must be a dotted name (str), got {type(target).__name__}")
        module: Module = self
        for part in target.split(".") if target else ():
            child = module._modules.get(part)
            if child is None:
                raise AttributeError(f"{type(module).__name__} has no attribute `{part}`")
            module = child
        return module

    def named_modules(self, memo: set[Module] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(dotted name, module) pairs: this module (named ``prefix``) first, then every sub-module
        depth first, each once unless ``remove_duplicate=False``."""
        memo = set() if memo is None else memo
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if module in memo:
                    continue
                memo.add(module)
            yield name, module
            stack.extend(reversed([(f"{name}.{k}" if name else k, m) for k, m in module._modules.items()]))

    def modules(self, remove_duplicate: bool = True) -> Iterator[Module]:
        """This module, then every sub-module, depth first."""
        for _, module in self.named_modules(remove_duplicate=remove_duplicate):
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """(name, module) for the direct sub-modules, in definition order, each once."""
        memo: set[Module] = set()
        for name, module in self._modules.items():
            if module not in memo:
                memo.add(module)
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct sub-modules, in definition order, each once."""
        for _, module in self.named_children():
            yield module

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every sub-module, then on this module (torch's order, e.g. for custom
        initialisation); returns self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # ---- modes and conversion ---------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: None (torch's default), or zeros with ``set_to_none=False``."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad = np.zeros_like(p.grad)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradients on or off for every parameter (freeze a sub-module with False); returns self."""
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"requires_grad_: requires_grad must be a bool, got {type(requires_grad).__name__}")
        for p in self.parameters():
            p.requires_grad = bool(requires_grad)
        return self

    def train(self, mode: bool = True) -> Module:
        """Set training mode here and in every sub-module (Dropout drops only in training); returns self."""
        if not isinstance(mode, (bool, np.bool_)):
            raise ValueError(f"train: mode must be a bool, got {mode!r}")
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """Convert every parameter (and its gradient) to a floating dtype in place; returns self.

        Takes torch's forms ``to(dtype)``, ``to(tensor)`` (its dtype) and ``to(device, dtype)``.
        There is one device, the CPU: ``to("cpu")`` changes nothing, other devices are refused.
        """
        dtype = _parse_to(args, kwargs)
        if dtype is not None:
            for p in self.parameters():
                if p.dtype != dtype:
                    replace_data(p, p.data.astype(dtype))
        return self

    def double(self) -> Module:
        """Convert the parameters to float64 in place; returns self."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Convert the parameters to float32 in place; returns self."""
        return self.to(np.float32)

    # ---- calling ---------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- state -----------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """{dotted name: a copy of the parameter's array}; a tied weight appears under each of its names."""
        return {name: p.data.copy() for name, p in self.named_parameters(remove_duplicate=False)}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (numpy, our tensors or torch tensors) into the parameters, checking names and shapes.

        All or nothing: every value is checked (names, shapes, dtypes, writable parameters) before
        any parameter changes. A tied weight takes the value given under any of its names; two
        names of one weight must then hold equal values.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got {type(state).__name__}")
        own = dict(self.named_parameters(remove_duplicate=False))
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing key(s) {missing}")
            if unexpected:
                parts.append(f"unexpected key(s) {unexpected}")
            raise KeyError(f"load_state_dict for {type(self).__name__}: {'; '.join(parts)}")
        writes: dict[int, tuple[Parameter, np.ndarray, str]] = {}
        for name, p in own.items():
            if name not in state:
                continue
            value = _checked_array(name, state[name], p)
            earlier = writes.get(id(p))
            if earlier is not None and not np.array_equal(earlier[1], value, equal_nan=True):
                raise ValueError(f"load_state_dict: {earlier[2]!r} and {name!r} are one (tied) parameter, "
                                 "but the checkpoint gives them different values")
            writes[id(p)] = (p, value, name)
        write_all("load_state_dict", [(p, value, repr(name)) for p, value, name in writes.values()])
        return IncompatibleKeys(missing, unexpected)

    # ---- printing --------------------------------------------------------
    def extra_repr(self) -> str:
        """The settings shown inside ``Name(...)`` in the repr; sub-classes override it."""
        return ""

    def __repr__(self) -> str:
        """Torch's layout: a one-line ``Name(extra)``, or one line per extra item and child, indented."""
        extra = self.extra_repr()
        children = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()]
        if not children:
            return f"{type(self).__name__}({extra})"
        lines = extra.split("\n") + children if extra else children
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _checked_array(name: str, value: Any, p: Parameter) -> np.ndarray:
    """``value`` as an array of ``p``'s shape and dtype, or an error naming ``name``."""
    try:
        array = to_numpy(value)
    except (TypeError, ValueError) as err:
        raise TypeError(f"load_state_dict: {name!r} is not an array ({type(value).__name__}): {err}") from None
    if array.shape != p.shape:
        raise ValueError(f"load_state_dict: size mismatch for {name!r}: the checkpoint has shape "
                         f"{array.shape}, the model has shape {p.shape}")
    if array.dtype.kind not in "fiu":
        raise TypeError(f"load_state_dict: {name!r} holds dtype {array.dtype}, not numbers")
    return array.astype(p.dtype)


def _parse_to(args: tuple, kwargs: dict) -> np.dtype | None:
    """The dtype a ``Module.to(...)`` call asks for (None: keep it): a floating one, since parameters are."""
    dt = to_arguments(args, kwargs)
    if dt is not None and dt.kind != "f":
        raise TypeError(f"to: modules hold floating parameters, so the dtype must be floating, got {dt}")
    return dt


class Sequential(Module):
    """Modules applied one after another; the sub-modules are named "0", "1", ..."""

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: item {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def forward(self, x: Any) -> Any:
        for m in self._modules.values():
            x = m(x)
        return x
