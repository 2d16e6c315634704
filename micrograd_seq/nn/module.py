"""Module and Parameter: trainable tensors registered by attribute assignment, as in torch.nn."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from ..tensor import Tensor, to_numpy

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

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_prefix", "")
        object.__setattr__(self, "training", True)

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
            value.name = self._qualify(name)
        elif isinstance(value, Module):
            self._modules[name] = value
            value._set_prefix(self._qualify(name))
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        self._parameters.pop(name, None)
        self._modules.pop(name, None)
        object.__delattr__(self, name)

    def _qualify(self, name: str) -> str:
        return f"{self._prefix}.{name}" if self._prefix else name

    def _set_prefix(self, prefix: str) -> None:
        object.__setattr__(self, "_prefix", prefix)
        for name, p in self._parameters.items():
            p.name = self._qualify(name)
        for name, m in self._modules.items():
            m._set_prefix(self._qualify(name))

    # ---- traversal -------------------------------------------------------
    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter) pairs in definition order, each parameter once; ``prefix.`` goes first."""
        seen: set[int] = set()
        for name, p in self._named_parameters(f"{prefix}." if prefix else ""):
            if id(p) not in seen:
                seen.add(id(p))
                yield name, p

    def _named_parameters(self, prefix: str) -> Iterator[tuple[str, Parameter]]:
        for name, p in self._parameters.items():
            yield (f"{prefix}{name}", p)
        for name, m in self._modules.items():
            yield from m._named_parameters(f"{prefix}{name}.")

    def parameters(self) -> list[Parameter]:
        """The parameters of this module and its sub-modules, in definition order (for an optimizer)."""
        return [p for _, p in self.named_parameters()]

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """(dotted name, module) pairs: this module (named ``prefix``) first, then every sub-module."""
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}.{name}" if prefix else name)

    def children(self) -> list[Module]:
        """The direct sub-modules, in definition order."""
        return list(self._modules.values())

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set it to None, as torch does by default)."""
        for p in self.parameters():
            p.grad = None

    def train(self, mode: bool = True) -> Module:
        """Set training mode here and in every sub-module (Dropout drops only in training); returns self."""
        for _, m in self.named_modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: ``train(False)``."""
        return self.train(False)

    # ---- calling ---------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---- state -----------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """{dotted name: a copy of the parameter's array}."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (numpy, our tensors or torch tensors) into the parameters, checking names and shapes."""
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict: expected a mapping of names to arrays, got {type(state).__name__}")
        own = dict(self.named_parameters())
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            parts = []
            if missing:
                parts.append(f"missing key(s) {missing}")
            if unexpected:
                parts.append(f"unexpected key(s) {unexpected}")
            raise KeyError(f"load_state_dict for {type(self).__name__}: {'; '.join(parts)}")
        arrays = {}
        for name, p in own.items():
            if name not in state:
                continue
            value = to_numpy(state[name])
            if value.shape != p.shape:
                raise ValueError(f"load_state_dict: size mismatch for {name!r}: the checkpoint has shape "
                                 f"{value.shape}, the model has shape {p.shape}")
            if value.dtype.kind not in "fiu":
                raise TypeError(f"load_state_dict: {name!r} holds dtype {value.dtype}, not numbers")
            arrays[name] = value
        for name, value in arrays.items():  # all checked first: a failed load changes nothing
            own[name].data[...] = value
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
