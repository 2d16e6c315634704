"""Torch's function spellings of tensor methods: ``mg.tanh(x)`` is ``x.tanh()``, ``mg.sum(x, 1)`` is ``x.sum(1)``.

Each takes the tensor first (a number or array becomes a constant tensor) and passes the
rest to the method of the same name, so the two spellings cannot drift apart.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .ops import concat
from .tensor import Tensor

__all__ = ["abs", "amax", "argmax", "argmin", "cat", "clamp", "clone", "exp", "flatten", "log", "log_softmax",
           "masked_fill", "matmul", "max", "mean", "narrow", "numel", "permute", "relu", "reshape", "sigmoid",
           "softmax", "split", "sqrt", "squeeze", "sum", "t", "tanh", "transpose", "unsqueeze"]

cat = concat  # torch.cat


def _method(name: str) -> Callable[..., Any]:
    def function(input: Any, *args: Any, **kwargs: Any) -> Any:
        tensor = input if isinstance(input, Tensor) else Tensor(input)
        return getattr(tensor, name)(*args, **kwargs)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"``{name}(t, ...)`` is ``t.{name}(...)``: {_first_line(getattr(Tensor, name))}"
    return function


def _first_line(method: Any) -> str:
    doc = getattr(method, "__doc__", None) or f"torch's {method.__name__}."
    return doc.strip().split("\n")[0]


abs = _method("abs")  # torch's names
amax = _method("amax")
argmax = _method("argmax")
argmin = _method("argmin")
clamp = _method("clamp")
clone = _method("clone")
exp = _method("exp")
flatten = _method("flatten")
log = _method("log")
log_softmax = _method("log_softmax")
masked_fill = _method("masked_fill")
matmul = _method("__matmul__")
matmul.__name__ = matmul.__qualname__ = "matmul"
matmul.__doc__ = "``matmul(a, b)`` is ``a @ b``: numpy's matmul (1-D, 2-D and batched), differentiable."
max = _method("max")
mean = _method("mean")
narrow = _method("narrow")
numel = _method("numel")
permute = _method("permute")
relu = _method("relu")
reshape = _method("reshape")
sigmoid = _method("sigmoid")
softmax = _method("softmax")
split = _method("split")
sqrt = _method("sqrt")
squeeze = _method("squeeze")
sum = _method("sum")
t = _method("t")
tanh = _method("tanh")
transpose = _method("transpose")
unsqueeze = _method("unsqueeze")
