"""micrograd_seq: a small, exact tensor autograd engine on numpy for sequence models.

RNN, LSTM and GRU cells are a few lines of primitive ops, unrolled by a Python loop;
backpropagation through time is the one generic reverse-mode ``backward()``.
"""
from . import autograd, functional, nn, optim
from .autograd import GradcheckError, detect_anomaly, enable_grad, gradcheck, keep_values, name_scope, no_grad
from .io import load, save
from .ops import chunk, concat, stack, where
from .random import manual_seed
from .tensor import Tensor, from_numpy, get_default_dtype, set_default_dtype, tensor

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "from_numpy", "set_default_dtype", "get_default_dtype", "concat", "stack", "chunk",
           "where", "no_grad", "enable_grad", "detect_anomaly", "name_scope", "keep_values", "gradcheck",
           "GradcheckError", "autograd", "functional", "nn", "optim", "save", "load", "manual_seed"]


def __getattr__(name: str):
    # viz (graphviz) and teaching sit on top of the engine; import them on first use.
    if name in ("viz", "teaching"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
