"""micrograd_seq: a small, exact tensor autograd engine on numpy for sequence models.

RNN, LSTM and GRU cells are a few lines of primitive ops, unrolled by a Python loop;
backpropagation through time is the one generic reverse-mode ``backward()``.
"""
from . import autograd, func, functional, nn, optim
from .autograd import GradcheckError, detect_anomaly, enable_grad, gradcheck, keep_values, name_scope, no_grad
from .creation import arange, eye, full, linspace, ones, ones_like, rand, randint, randn, randn_like, zeros, zeros_like
from .dtypes import bool, double, float, float16, float32, float64, half, int, int8, int16, int32, int64, long, uint8
from .functions import (
    abs,
    amax,
    argmax,
    argmin,
    cat,
    clamp,
    clone,
    exp,
    flatten,
    log,
    log_softmax,
    masked_fill,
    matmul,
    max,
    mean,
    narrow,
    numel,
    permute,
    relu,
    reshape,
    sigmoid,
    softmax,
    split,
    sqrt,
    squeeze,
    sum,
    t,
    tanh,
    transpose,
    unsqueeze,
)
from .io import load, save
from .ops import chunk, concat, stack, where
from .random import manual_seed
from .tensor import Tensor, from_numpy, get_default_dtype, set_default_dtype, tensor

__version__ = "0.1.0"

__all__ = ["Tensor", "tensor", "from_numpy", "set_default_dtype", "get_default_dtype", "concat", "cat", "stack",
           "chunk", "where", "no_grad", "enable_grad", "detect_anomaly", "name_scope", "keep_values", "gradcheck",
           "GradcheckError", "autograd", "func", "functional", "nn", "optim", "save", "load", "manual_seed",
           # torch's creation functions, dtype names and function spellings of tensor methods
           "zeros", "ones", "full", "arange", "linspace", "eye", "randn", "rand", "randint", "zeros_like",
           "ones_like", "randn_like", "float16", "half", "float32", "float", "float64", "double", "int8", "int16",
           "int32", "int", "int64", "long", "uint8", "bool", "abs", "amax", "argmax", "argmin", "clamp", "clone",
           "exp", "flatten", "log", "log_softmax", "masked_fill", "matmul", "max", "mean", "narrow", "numel",
           "permute", "relu", "reshape", "sigmoid", "softmax", "split", "sqrt", "squeeze", "sum", "t", "tanh",
           "transpose", "unsqueeze"]


def __getattr__(name: str):
    # viz (graphviz) and teaching sit on top of the engine; import them on first use.
    if name in ("viz", "teaching"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
