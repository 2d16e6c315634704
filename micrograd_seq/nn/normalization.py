"""LayerNorm from primitives, as torch.nn.LayerNorm."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor, get_default_dtype
from .layers import _check_size
from .module import Module, Parameter

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    r"""Layer normalisation (Ba, Kiros & Hinton 2016) over the last dimensions, as torch.nn.LayerNorm:

        y = (x - E[x]) / sqrt(Var[x] + eps) * weight + bias

    The mean and the (biased) variance are taken over the last ``len(normalized_shape)``
    dimensions, which must equal ``normalized_shape``. ``weight`` (ones) and ``bias`` (zeros)
    have shape ``normalized_shape``; ``elementwise_affine=False`` leaves both out, ``bias=False``
    the bias.

    Inputs: x, (*, *normalized_shape).
    Outputs: y, the same shape.
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
        if not shape:
            raise ValueError("LayerNorm: normalized_shape must name at least one dimension, got ()")
        for size in shape:
            _check_size("LayerNorm", "every size in normalized_shape", size)
        if not eps > 0:
            raise ValueError(f"LayerNorm: eps must be positive, got {eps!r}")
        self.normalized_shape = tuple(int(n) for n in shape)
        self.eps, self.elementwise_affine = float(eps), elementwise_affine
        dtype = get_default_dtype()
        self.weight = Parameter(np.ones(self.normalized_shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(self.normalized_shape, dtype)) if elementwise_affine and bias else None

    def forward(self, x: Any) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x, dtype=self.weight.dtype if self.weight is not None else None)
        dims = len(self.normalized_shape)
        if x.shape[x.ndim - dims:] != self.normalized_shape or x.ndim < dims:
            raise ValueError(f"LayerNorm: expected input whose last dimensions are {self.normalized_shape}, "
                             f"got shape {x.shape}")
        axes = tuple(range(x.ndim - dims, x.ndim))
        centred = x - x.mean(axis=axes, keepdims=True)
        variance = (centred * centred).mean(axis=axes, keepdims=True)
        y = centred * (variance + self.eps) ** -0.5
        if self.weight is not None:
            y = y * self.weight
        return y + self.bias if self.bias is not None else y

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
