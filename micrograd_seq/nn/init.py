"""Parameter initialisation in place, with torch.nn.init's names, semantics and gains.

Each function fills a tensor's array in place (the tensor keeps its dtype) and returns the
tensor. The random ones draw from the generator ``mg.manual_seed`` seeds, or from the numpy
``Generator`` passed as ``generator=``. The draws are not torch's (another generator), but
their distributions, bounds and gains are.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np

from .._args import real
from .._writes import write_all
from ..random import generator as _default_generator
from ..tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_", "eye_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_"]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity: 1 for linear and sigmoid, 5/3 for tanh, sqrt(2) for
    relu, sqrt(2 / (1 + slope^2)) for leaky_relu (slope ``param``, default 0.01), 3/4 for selu."""
    return _gain("calculate_gain", nonlinearity, param)


def _gain(fn: str, nonlinearity: str, param: float | None) -> float:
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Real) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"{fn}: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"{fn}: unsupported nonlinearity {nonlinearity!r}")


def _check_tensor(fn: str, tensor: Any) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{fn}: expected a tensor (e.g. a module's weight), got {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"{fn}: expected a floating tensor, got dtype {tensor.dtype}")
    return tensor


def _fill(fn: str, tensor: Tensor, values: Any) -> Tensor:
    write_all(fn, [(tensor, np.broadcast_to(np.asarray(values, dtype=tensor.dtype), tensor.shape), "the tensor")])
    return tensor


def _rng(fn: str, gen: Any) -> np.random.Generator:
    if gen is None:
        return _default_generator()
    if not isinstance(gen, np.random.Generator):
        raise TypeError(f"{fn}: generator must be a numpy Generator (np.random.default_rng(seed)) or None, "
                        f"got {type(gen).__name__}")
    return gen


def _uniform(fn: str, tensor: Tensor, low: float, high: float, gen: Any) -> Tensor:
    return _fill(fn, tensor, _rng(fn, gen).uniform(low, high, size=tensor.shape))


def _normal(fn: str, tensor: Tensor, mean: float, std: float, gen: Any) -> Tensor:
    return _fill(fn, tensor, _rng(fn, gen).normal(mean, std, size=tensor.shape))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with draws from U(a, b)."""
    _check_tensor("uniform_", tensor)
    a, b = real("uniform_", "a", a), real("uniform_", "b", b)
    if a > b:
        raise ValueError(f"uniform_: expects a <= b, got a={a} and b={b}")
    return _uniform("uniform_", tensor, a, b, generator)


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    """Fill with draws from N(mean, std^2)."""
    _check_tensor("normal_", tensor)
    mean, std = real("normal_", "mean", mean), real("normal_", "std", std)
    if std < 0:
        raise ValueError(f"normal_: expects std >= 0.0, got std={std}")
    return _normal("normal_", tensor, mean, std, generator)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the value ``val``."""
    return _fill("constant_", _check_tensor("constant_", tensor), real("constant_", "val", val))


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones."""
    return _fill("ones_", _check_tensor("ones_", tensor), 1.0)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros."""
    return _fill("zeros_", _check_tensor("zeros_", tensor), 0.0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D tensor with the identity matrix (ones on the diagonal of a non-square one too)."""
    _check_tensor("eye_", tensor)
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only tensors with 2 dimensions are supported, got shape {tensor.shape}")
    rows, cols = tensor.shape
    return _fill("eye_", tensor, np.eye(rows, cols))


def _fans(fn: str, tensor: Tensor) -> tuple[int, int]:
    """(fan_in, fan_out) as torch counts them: dims 1 and 0, times the receptive field (dims 2...)."""
    if tensor.ndim < 2:
        raise ValueError(f"{fn}: fan in and fan out can not be computed for a tensor with fewer than 2 "
                         f"dimensions, got shape {tensor.shape}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    _check_tensor("xavier_uniform_", tensor)
    gain = real("xavier_uniform_", "gain", gain)
    fan_in, fan_out = _fans("xavier_uniform_", tensor)
    bound = math.sqrt(3.0) * (gain * math.sqrt(2.0 / float(fan_in + fan_out)))
    return _uniform("xavier_uniform_", tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: Any = None) -> Tensor:
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_tensor("xavier_normal_", tensor)
    gain = real("xavier_normal_", "gain", gain)
    fan_in, fan_out = _fans("xavier_normal_", tensor)
    return _normal("xavier_normal_", tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _kaiming_std(fn: str, tensor: Tensor, a: float, mode: str, nonlinearity: str) -> float | None:
    """gain / sqrt(fan) for the kaiming initialisers; None for a tensor with no elements (a no-op)."""
    _check_tensor(fn, tensor)
    if 0 in tensor.shape:
        warnings.warn(f"{fn}: initializing a zero-element tensor is a no-op", UserWarning, stacklevel=3)
        return None
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{fn}: mode {mode!r} is not supported, use one of 'fan_in', 'fan_out'")
    fan_in, fan_out = _fans(fn, tensor)
    gain = _gain(fn, nonlinearity, real(fn, "a", a))
    return gain / math.sqrt(fan_in if mode == "fan_in" else fan_out)


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Any = None) -> Tensor:
    """He: U(-b, b) with b = gain * sqrt(3 / fan), the gain from ``calculate_gain(nonlinearity, a)``."""
    std = _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return _uniform("kaiming_uniform_", tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Any = None) -> Tensor:
    """He: N(0, std^2) with std = gain / sqrt(fan), the gain from ``calculate_gain(nonlinearity, a)``."""
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return _normal("kaiming_normal_", tensor, 0.0, std, generator)


def orthogonal_(tensor: Tensor, gain: float = 1, generator: Any = None) -> Tensor:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al. 2013): the Q of the QR decomposition of a
    standard normal matrix, with signs making R's diagonal positive (so Q is uniformly distributed).

    Dimensions after the first are flattened. Recurrent weights initialised this way neither shrink nor
    grow a vector they multiply, which helps gradients travel through many time steps.
    """
    _check_tensor("orthogonal_", tensor)
    gain = real("orthogonal_", "gain", gain)
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, "
                         f"got shape {tensor.shape}")
    if tensor.data.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flat = _rng("orthogonal_", generator).normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill("orthogonal_", tensor, (gain * q).reshape(tensor.shape))
