"""Tensor: a numpy array that records the ops applied to it.

A Tensor holds its data. When it was computed from tensors that require grad, it also
points at a graph ``Node`` (graph.py), and ``record`` is how every op links its output in.

While a recorded graph waits for its backward, the arrays that backward will read must
not change. The engine keeps them so: a recorded op's output is handed out read-only
(``.data``, ``detach()``, ``numpy()``, ``np.asarray``) until its node is released, and the
arrays of leaf tensors an op saved are made read-only until every node that saved them is
released or freed. A write through ``.data`` raises a RuntimeError naming the op; the
sanctioned in-place methods (``copy_``, ``add_``, ...) work on leaves under ``no_grad`` and
make any graph still holding the old values refuse to run backward, as torch does.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from .graph import (
    MODE,
    BackwardFn,
    DualLevel,
    Node,
    SavedArrays,
    array_lock,
    bad_kind,
    bump_version,
    describe,
    dual_level_now,
    run_backward,
    switches,
)

__all__ = ["Tensor", "tensor", "from_numpy", "set_default_dtype", "get_default_dtype", "record", "as_tensor_like",
           "to_numpy"]

_default_dtype = np.dtype(np.float32)


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype floating data gets when no ``dtype=`` is given (float32 or float64)."""
    global _default_dtype
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"set_default_dtype: expected a floating dtype, got {dt}")
    _default_dtype = dt


def get_default_dtype() -> np.dtype:
    """The dtype floating data gets when no ``dtype=`` is given."""
    return _default_dtype


def _check_dtype(owner: str, dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise TypeError(f"{owner}: {dtype!r} is not a numpy dtype") from err
    if dt.kind not in "fiub":
        raise TypeError(f"{owner}: dtype must be floating, integer or bool, got {dt}")
    return dt


def _new_array(data: Any, dtype: Any) -> np.ndarray:
    """A new array (never the caller's) from user data, with the dtype rules of ``tensor``."""
    if isinstance(data, Tensor):
        data = data._data
    dt = None if dtype is None else _check_dtype("tensor", dtype)
    try:
        arr = np.array(data, dtype=dt)
    except (ValueError, TypeError) as err:
        raise TypeError(f"tensor: cannot make an array from {type(data).__name__}: {err}") from err
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor: data must be numeric (float, int or bool), got dtype {arr.dtype} "
                        f"from {type(data).__name__}")
    if dt is None and arr.dtype.kind == "f" and arr.dtype != _default_dtype:
        return arr.astype(_default_dtype)
    return arr


class Tensor:
    """An n-dimensional array that records the ops applied to it, for reverse-mode autodiff."""

    __slots__ = ("_data", "_source", "_tangent", "node")

    _data: np.ndarray
    node: Node | None                  # the graph node: set for tensors that are or feed into recorded values
    _source: weakref.ref[Node] | None  # detach() of a pending recorded value: the node whose output it shares
    _tangent: tuple[DualLevel, np.ndarray]  # forward mode only (unset otherwise): directions, (K, *shape)

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        self._data = _new_array(data, dtype)
        self._source = None
        self.node = None
        if requires_grad:
            self.requires_grad = True
        if name is not None:
            self.name = name

    @classmethod
    def _from_op(cls, data: np.ndarray, node: Node | None) -> Tensor:
        """Wrap an op's output without re-checking it (the engine's fast path)."""
        out = object.__new__(cls)
        out._data = data
        out._source = None
        out.node = node
        return out

    # ---- the data ----------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The values as a numpy array, shared with the tensor.

        Read-only while a pending backward needs them: writing then raises a RuntimeError
        naming the op that saved them (see docs/api.md, "What is caught").
        """
        guard = self._guard()
        return self._data if guard is None else _guarded(self._data, *guard)

    @data.setter
    def data(self, value: Any) -> None:
        """Give the tensor another array (torch's ``t.data = ...``); a leaf may change its dtype this way."""
        if isinstance(value, Tensor):
            value = value._data
        if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
            raise TypeError(f"data: expected a numeric numpy array, got {type(value).__name__}"
                            + (f" of dtype {value.dtype}" if isinstance(value, np.ndarray) else ""))
        node = self.node
        if node is not None:
            if node.op is not None and (value.shape != node.shape or value.dtype != node.dtype):
                raise ValueError(f"data: the output of {describe(node)} has shape {node.shape} and dtype "
                                 f"{node.dtype}; cannot swap in an array of shape {value.shape} and dtype "
                                 f"{value.dtype}")
            if value.dtype.kind != "f" and node.requires_grad:
                raise TypeError(f"data: a tensor that requires grad must stay floating, got {value.dtype}")
            node.shape, node.dtype = value.shape, value.dtype  # a leaf may change both, as in torch
            if node.data is not None:
                node.data = value
        self._data = value

    def _pending_node(self) -> Node | None:
        """The recorded node whose output this array is, while a backward may still read it."""
        node = self.node
        if node is None and self._source is not None:
            node = self._source()
        return node if node is not None and _is_pending(node) else None

    def _guard(self) -> tuple[str, Callable[[], bool]] | None:
        """Why the data may not be written now, and how to ask whether that still holds; None if it may."""
        node = self._pending_node()
        if node is not None:
            ref = weakref.ref(node)
            return (f"it is the output of {describe(node)}, which a pending backward() may read",
                    lambda: _is_pending(ref()))
        array = self._data
        if not array.flags.writeable:
            lock = array_lock(array)
            if lock is not None:
                what = f"'{lock.name}'" if lock.name else "this tensor"
                return (f"{what} was saved by '{lock.op}' for a pending backward()",
                        lambda: array_lock(array) is not None)
        return None

    # ---- attributes -------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def requires_grad(self) -> bool:
        return self.node is not None and self.node.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self._data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require grad; this one has dtype {self._data.dtype} "
                            "(integer and bool tensors hold indices, targets and masks)")
        if self.node is not None and self.node.op is not None:
            if not value:
                raise RuntimeError("requires_grad can only be switched off on a leaf; use detach()")
            return
        self._leaf_node().requires_grad = bool(value)

    @property
    def grad(self) -> np.ndarray | None:
        return None if self.node is None else self.node.grad

    @grad.setter
    def grad(self, value: np.ndarray | None) -> None:
        if value is not None:
            value = np.asarray(value, dtype=self.dtype)
            if value.shape != self.shape:
                raise ValueError(f"grad: shape {value.shape} does not match the tensor's shape {self.shape}")
        node = self._leaf_node() if self.node is None else self.node
        node.grad = value
        node.owned = False

    @property
    def is_leaf(self) -> bool:
        return self.node is None or self.node.op is None

    @property
    def grad_fn(self) -> str | None:
        """The name of the op that made this tensor, or None for a leaf."""
        return None if self.node is None else self.node.op

    @property
    def name(self) -> str | None:
        return None if self.node is None else self.node.name

    @name.setter
    def name(self, value: str | None) -> None:
        node = self._leaf_node() if self.node is None else self.node
        node.name = value

    def named(self, name: str) -> Tensor:
        """Label this value (e.g. ``"forget gate"``) for drawings and messages; returns self."""
        if self.node is not None:
            self.node.name = name
        return self

    def _leaf_node(self) -> Node:
        """This tensor's node, made on first need for a leaf (a constant fed into a graph)."""
        node = self.node
        if node is None:
            node = self.node = Node(None, (), (), None, self._data, requires_grad=False, keep_data=True)
        return node

    # ---- conversions ------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a numpy array, shared with the tensor (as torch's ``numpy()``).

        Refused for a tensor that requires grad, as in torch: use ``t.detach().numpy()``.
        """
        if self.requires_grad:
            raise RuntimeError("numpy: can't call numpy() on a tensor that requires grad; "
                               "use t.detach().numpy() (shared) or np.array(t) (a copy)")
        return self.data

    def item(self) -> float | int | bool:
        """The single value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item: only a one-element tensor converts to a Python number, "
                             f"this one has shape {self.shape}")
        return self._data.item()

    def tolist(self) -> Any:
        return self._data.tolist()

    def detach(self) -> Tensor:
        """The same data cut off from the graph: gradient stops here (truncated BPTT uses this)."""
        out = Tensor._from_op(self._data, None)
        node = self.node
        if node is not None and node.op is not None and node.backward_fn is not None:
            out._source = weakref.ref(node)
        elif self._source is not None:
            out._source = self._source
        return out

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """numpy's conversion protocol: ``np.array(t)`` copies; ``np.asarray(t)`` shares, read-only while pending."""
        array = self._data
        if copy:
            return np.array(array, dtype=dtype, copy=True)
        if dtype is not None and np.dtype(dtype) != array.dtype:
            if copy is False:
                raise ValueError(f"__array__: converting dtype {array.dtype} to {np.dtype(dtype)} needs a copy")
            return array.astype(dtype)
        if self._guard() is not None:
            view = array.view()
            view.flags.writeable = False
            return view
        return array

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        return _interop.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Callable, types: Sequence[type], args: Sequence[Any],
                           kwargs: dict[str, Any]) -> Any:
        return _interop.array_function(func, args, kwargs)

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self) -> Iterator[Tensor]:
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of a tensor with {self._data.size} values is ambiguous "
                               "(use .any() or .all() on t.data, or compare one element)")
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError(f"only a one-element integer tensor can be used as an index, got dtype "
                            f"{self._data.dtype} and shape {self.shape}")
        return int(self._data.item())

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(", precision=4, threshold=50)
        extras = [f"dtype={self.dtype}"]
        if self.node is not None and self.node.op is not None:
            extras.insert(0, f"grad_fn={self.node.op}")
        elif self.requires_grad:
            extras.insert(0, "requires_grad=True")
        if self.name is not None:
            extras.append(f"name={self.name!r}")
        return f"tensor({body}, {', '.join(extras)})"

    # ---- ops (defined, with their backward, in ops.py) ---------------------
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)

    def __pow__(self, exponent: float) -> Tensor:
        return _ops.pow(self, exponent)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __getitem__(self, key: Any) -> Tensor:
        return _ops.getitem(self, key)

    # Comparisons are elementwise, as in torch and numpy: bool tensors that need no gradient.
    def __eq__(self, other: object) -> Tensor:  # type: ignore[override]
        return _ops.compare("eq", self, other)

    def __ne__(self, other: object) -> Tensor:  # type: ignore[override]
        return _ops.compare("ne", self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _ops.compare("lt", self, other)

    def __le__(self, other: Any) -> Tensor:
        return _ops.compare("le", self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _ops.compare("gt", self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _ops.compare("ge", self, other)

    __hash__ = object.__hash__  # identity, as torch: tensors can be dict keys and set members

    def exp(self) -> Tensor:
        """Elementwise e**x."""
        return _ops.exp(self)

    def log(self) -> Tensor:
        """Elementwise natural logarithm."""
        return _ops.log(self)

    def tanh(self) -> Tensor:
        """Elementwise hyperbolic tangent."""
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        """Elementwise 1 / (1 + e**-x), without overflow (it stops at the dtype's smallest value)."""
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        """Elementwise max(x, 0)."""
        return _ops.relu(self)

    # Reductions and axis-taking ops accept numpy's spelling (axis=, keepdims=) and torch's (dim=, keepdim=).
    def sum(self, axis: Any = None, keepdims: bool | None = None, *, dim: Any = None,
            keepdim: bool | None = None) -> Tensor:
        """The sum over ``axis``/``dim`` (None: all; an int or a tuple)."""
        return _ops.sum(self, *_ops.spelling("sum", axis, dim, keepdims, keepdim))

    def mean(self, axis: Any = None, keepdims: bool | None = None, *, dim: Any = None,
             keepdim: bool | None = None) -> Tensor:
        """The mean over ``axis``/``dim`` (None: all); over nothing it is nan, as torch's."""
        return _ops.mean(self, *_ops.spelling("mean", axis, dim, keepdims, keepdim))

    def max(self, dim: Any = None, keepdim: bool | None = None, *, axis: Any = None,
            keepdims: bool | None = None) -> Any:
        """The maximum. With ``dim`` (torch's spelling, positional or keyword) it is torch's
        ``(values, indices)`` pair; with ``axis=`` (numpy's) or no axis it is the values."""
        if dim is None:
            return _ops.max(self, *_ops.spelling("max", axis, None, keepdims, keepdim))
        if axis is not None or keepdims is not None:
            raise TypeError("max: give dim= and keepdim= (torch) or axis= and keepdims= (numpy), not both")
        return _ops.max_with_indices(self, dim, bool(keepdim))

    def amax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The maximum over ``dim`` (an int or a tuple, as torch.amax): the values only."""
        return _ops.max(self, dim, keepdim)

    def argmax(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """The index of the maximum (over all elements, or along ``dim``): an int64 tensor without grad."""
        return _ops.arg_extreme("argmax", self, dim, keepdim)

    def argmin(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """The index of the minimum (over all elements, or along ``dim``): an int64 tensor without grad."""
        return _ops.arg_extreme("argmin", self, dim, keepdim)

    def all(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Whether every element (along ``dim``) is true: a bool tensor without grad."""
        return _ops.logical("all", self, dim, keepdim)

    def any(self, dim: int | None = None, keepdim: bool = False) -> Tensor:
        """Whether some element (along ``dim``) is true: a bool tensor without grad."""
        return _ops.logical("any", self, dim, keepdim)

    def reshape(self, *shape: Any) -> Tensor:
        """The same values in a new shape (``reshape(2, 3)`` or ``reshape((2, 3))``, one -1 allowed)."""
        return _ops.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        """The same values in another shape (torch's view; here always possible, as reshape)."""
        return _ops.reshape(self, *shape)

    def view_as(self, other: Tensor) -> Tensor:
        """``view(other.shape)``."""
        return _ops.reshape(self, other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Dimensions start_dim..end_dim merged into one, as torch.flatten."""
        return _ops.reshape(self, _ops.flattened_shape(self.shape, start_dim, end_dim))

    def unsqueeze(self, dim: int) -> Tensor:
        """A new axis of size 1 at ``dim`` (in [-ndim - 1, ndim]), as torch.unsqueeze."""
        return _ops.reshape(self, _ops.unsqueezed_shape(self.shape, dim))

    def squeeze(self, dim: int | None = None) -> Tensor:
        """Axes of size 1 removed (only ``dim``, if given and of size 1), as torch.squeeze."""
        return _ops.reshape(self, _ops.squeezed_shape(self.shape, dim))

    def transpose(self, *axes: Any) -> Tensor:
        """numpy's permutation of all axes (none given: reversed), or torch's swap of two axes,
        ``transpose(dim0, dim1)``, on a tensor of other than 2 dimensions (where they agree)."""
        return _ops.transpose(self, *axes)

    def permute(self, *dims: Any) -> Tensor:
        """The axes in the order ``dims``, as torch.permute."""
        return _ops.transpose(self, *dims)

    def t(self) -> Tensor:
        """The transpose of a matrix (a vector or a number as it is), as torch's t()."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor with at most 2 dimensions, got shape {self.shape}; "
                             "use transpose(dim0, dim1) or permute")
        return _ops.transpose(self) if self.ndim == 2 else self

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self)

    def contiguous(self) -> Tensor:
        """Self: the values are always usable as they are (torch's contiguous, a no-op here)."""
        return self

    def clone(self) -> Tensor:
        """A copy of the values, still in the graph (gradients flow back through it)."""
        return _ops.clone(self)

    def narrow(self, dim: int, start: int, length: int) -> Tensor:
        """Positions start..start+length-1 along ``dim``, as torch.narrow."""
        return _ops.narrow(self, dim, start, length)

    def chunk(self, chunks: int, axis: int | None = None, *, dim: int | None = None) -> list[Tensor]:
        return _ops.chunk(self, chunks, _ops.one_spelling("chunk", axis, dim, 0))

    def split(self, split_size_or_sections: int | Sequence[int], dim: int = 0) -> list[Tensor]:
        """Pieces of ``split_size_or_sections`` along ``dim`` (an int: that size each, the last
        smaller; a list: those sizes), as torch.split."""
        return _ops.split(self, split_size_or_sections, dim)

    def softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """exp(x) / sum(exp(x)) along ``axis``/``dim`` (default: the last), without overflow."""
        return _ops.softmax(self, _ops.one_spelling("softmax", axis, dim, -1))

    def log_softmax(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """log(softmax(x)) along ``axis``/``dim`` (default: the last), stable for any finite input."""
        return _ops.log_softmax(self, _ops.one_spelling("log_softmax", axis, dim, -1))

    def abs(self) -> Tensor:
        """Elementwise |x|; the gradient is sign(x), 0 at 0 (as torch)."""
        return _ops.abs(self)

    def sqrt(self) -> Tensor:
        """Elementwise square root; the gradient is infinite at 0 (as torch)."""
        return _ops.sqrt(self)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Values limited to [min, max]; the gradient flows where the value was not clamped."""
        return _ops.clamp(self, min, max)

    clip = clamp

    def masked_fill(self, mask: Any, value: float) -> Tensor:
        """``value`` where the bool ``mask`` holds (broadcast), self elsewhere, as torch.masked_fill."""
        return _ops.masked_fill(self, mask, value)

    # ---- shapes and types in torch's spelling -------------------------------
    def size(self, dim: int | None = None) -> Any:
        """The shape (a tuple), or its length along ``dim``: torch's meaning (the count is ``numel()``)."""
        if dim is None:
            return self.shape
        return self.shape[_ops.axis_index("size", dim, self.ndim, self.shape)]

    def dim(self) -> int:
        """The number of dimensions (``ndim``)."""
        return self.ndim

    def numel(self) -> int:
        """The number of elements."""
        return self._data.size

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """This tensor in another dtype (torch's ``to(dtype)``; ``to("cpu")`` is self: there is only the CPU)."""
        dtype = to_arguments(args, kwargs)
        return self if dtype is None else _ops.cast(self, dtype)

    def type(self, dtype: Any = None) -> Any:
        """With a dtype, ``to(dtype)``; without, the dtype's name."""
        return self.dtype.name if dtype is None else _ops.cast(self, _check_dtype("type", dtype))

    def new_zeros(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` in this tensor's dtype (or ``dtype``), as torch's new_zeros."""
        return _filled("new_zeros", size, 0, self.dtype if dtype is None else dtype, requires_grad)

    def new_ones(self, *size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
        """Ones of ``size`` in this tensor's dtype (or ``dtype``), as torch's new_ones."""
        return _filled("new_ones", size, 1, self.dtype if dtype is None else dtype, requires_grad)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` on this leaf; returns self."""
        self.requires_grad = requires_grad
        return self

    # ---- in-place writes (torch's spelling), for optimizers and initialisation ----
    def copy_(self, src: Any) -> Tensor:
        """Write ``src`` (broadcast to this shape) into this tensor's array; returns self."""
        return self._write("copy_", lambda a, v: np.copyto(a, v, casting="same_kind"), src)

    def add_(self, other: Any, alpha: float = 1) -> Tensor:
        """self += alpha * other, in place."""
        return self._write("add_", lambda a, v: np.add(a, v if alpha == 1 else alpha * v, out=a), other)

    def sub_(self, other: Any, alpha: float = 1) -> Tensor:
        """self -= alpha * other, in place."""
        return self._write("sub_", lambda a, v: np.subtract(a, v if alpha == 1 else alpha * v, out=a), other)

    def mul_(self, other: Any) -> Tensor:
        """self *= other, in place."""
        return self._write("mul_", lambda a, v: np.multiply(a, v, out=a), other)

    def div_(self, other: Any) -> Tensor:
        """self /= other, in place."""
        return self._write("div_", lambda a, v: np.divide(a, v, out=a), other)

    def zero_(self) -> Tensor:
        """Set every element to 0, in place."""
        return self._write("zero_", lambda a, v: a.fill(0), 0)

    def fill_(self, value: float) -> Tensor:
        """Set every element to ``value``, in place."""
        return self._write("fill_", lambda a, v: a.fill(v), value)

    def _write(self, op: str, write: Callable[[np.ndarray, Any], Any], value: Any) -> Tensor:
        """An in-place write, allowed where torch allows it; a graph still holding the old values goes stale."""
        node = self.node
        if node is not None and node.requires_grad and MODE.grad_enabled:
            if node.op is None:
                raise RuntimeError(f"{op}: a leaf tensor that requires grad ({node.name or 'unnamed'}) is being "
                                   "used in an in-place operation; do it under mg.no_grad() (as optimizers do)")
            raise RuntimeError(f"{op}: in-place operations on a recorded tensor (the output of {describe(node)}) "
                               "are not supported; use the out-of-place op")
        pending = self._pending_node()
        if pending is not None:
            raise RuntimeError(f"{op}: cannot write in place: it is the output of {describe(pending)}, which a "
                               "pending backward() may read")
        if isinstance(value, Tensor):
            value = value._data
        array = self._data
        try:
            value = np.asarray(value)
            if np.broadcast_shapes(value.shape, array.shape) != array.shape:
                raise ValueError
        except ValueError:
            raise ValueError(f"{op}: cannot write a value of shape {np.shape(value)} into a tensor of shape "
                             f"{array.shape}") from None
        try:
            bump_version(array, lambda: write(array, value))
        except TypeError as err:  # numpy's casting refusal, e.g. float into int
            raise TypeError(f"{op}: cannot write dtype {value.dtype} into a tensor of dtype {array.dtype}: "
                            f"{err}") from None
        return self

    # ---- autograd ---------------------------------------------------------
    def retain_grad(self) -> None:
        """Keep this intermediate's gradient after backward (e.g. dL/dh_t for teaching)."""
        if self.node is None or not self.node.requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad, so it gets no gradient")
        self.node.retains = True

    def backward(self, grad: Any = None, retain_graph: bool = False, retain_all_grads: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``, visiting the graph in reverse.

        ``retain_graph`` keeps the graph for another backward; ``retain_all_grads`` also keeps
        every node's gradient (for drawing gradient flow). Otherwise the graph is released as
        backward walks it, so a kept loss does not keep its unrolled graph alive, and the
        arrays it saved become writable again.
        """
        node = self.node
        if node is None or not node.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (no input it was computed "
                               "from has requires_grad=True, or it was made under no_grad())")
        if grad is None:
            if self._data.size != 1:
                raise RuntimeError(f"backward: grad can be implicit only for a scalar output; this one has "
                                   f"shape {self.shape}, so pass grad= of that shape")
            seed = np.ones(self.shape, dtype=self.dtype)
        else:
            seed = np.array(grad._data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if seed.shape != self.shape:
                raise ValueError(f"backward: grad has shape {seed.shape} but the output has shape {self.shape}")
        run_backward(node, seed, retain_graph or retain_all_grads, retain_all_grads)


    # torch's dtype shorthands: last in the class, since their names shadow the builtins in its body.
    def float(self) -> Tensor:
        """``to(float32)``."""
        return _ops.cast(self, np.dtype(np.float32))

    def double(self) -> Tensor:
        """``to(float64)``."""
        return _ops.cast(self, np.dtype(np.float64))

    def long(self) -> Tensor:
        """``to(int64)``: a constant."""
        return _ops.cast(self, np.dtype(np.int64))

    def int(self) -> Tensor:
        """``to(int32)``: a constant."""
        return _ops.cast(self, np.dtype(np.int32))

    def bool(self) -> Tensor:
        """``to(bool)``: a constant."""
        return _ops.cast(self, np.dtype(np.bool_))


def _is_pending(node: Node | None) -> bool:
    """A recorded node whose backward has not run (and released it) yet."""
    return node is not None and node.op is not None and node.backward_fn is not None


def shape_argument(owner: str, size: tuple[Any, ...]) -> tuple[int, ...]:
    """A shape from torch's two spellings, ``f(2, 3)`` or ``f((2, 3))``, checked."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in size):
        raise TypeError(f"{owner}: the size must be non-negative integers, got {size!r}")
    return tuple(int(n) for n in size)


def _filled(owner: str, size: tuple[Any, ...], value: float, dtype: Any, requires_grad: bool) -> Tensor:
    shape = shape_argument(owner, size)
    dt = _check_dtype(owner, dtype)
    return Tensor(np.full(shape, value, dtype=dt), requires_grad=requires_grad, dtype=dt)


def to_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> np.dtype | None:
    """The dtype a torch-style ``to(...)`` call asks for (None: keep it): ``to(dtype)``, ``to(tensor)``,
    ``to(device, dtype)``, ``to(dtype=...)``. The only device is the CPU; asking for another is a ValueError."""
    unknown = set(kwargs) - {"device", "dtype", "non_blocking"}
    if unknown or len(args) > 2:
        raise TypeError(f"to: expected to(dtype), to(tensor) or to(device, dtype), got {len(args)} positional "
                        f"argument(s) and keyword(s) {sorted(kwargs)}")
    device, dtype = kwargs.get("device"), kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, Tensor):
            dtype = arg.dtype
        elif isinstance(arg, str) or type(arg).__name__ == "device":
            device = arg
        else:
            dtype = arg
    if device is not None and str(device).split(":")[0] != "cpu":
        raise ValueError(f"to: this library runs on the CPU only, got device {str(device)!r}")
    return None if dtype is None else _check_dtype("to", dtype)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> Tensor:
    """Make a Tensor from a copy of ``data`` (as torch.tensor); floating data gets the default float dtype
    unless ``dtype`` is given."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


def from_numpy(array: np.ndarray) -> Tensor:
    """A Tensor sharing ``array``'s memory and dtype (as torch.from_numpy): no copy is made.

    Edits to ``array`` show in the tensor. While a pending backward needs the values, the
    array is read-only, so such an edit raises instead of changing a gradient.
    """
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "fiub":
        raise TypeError(f"from_numpy: the array must be numeric (float, int or bool), got dtype {array.dtype}")
    return Tensor._from_op(array, None)


# ---- recording ops into the graph ------------------------------------------

_NEEDS_ONE = (True,)
_NEEDS_TWO = (((False, False), (False, True)), ((True, False), (True, True)))
_new_tensor = object.__new__


def record(op: str, out: np.ndarray, inputs: tuple[Tensor, ...], backward_fn: BackwardFn,
           reads: tuple[int | None, ...] = (), view: bool = False, jvp: Callable[..., Any] | Literal[0] = 0) -> Tensor:
    """Wrap an op's output; when grad is on and an input requires grad, link it into the graph.

    ``backward_fn(g, needs)`` maps the output gradient to one gradient per input (None where
    ``needs[i]`` is False or no gradient flows). It must hold arrays, never tensors or nodes,
    so a graph is a tree of references freed by reference counting alone.

    ``reads[i]`` is the index of the input whose array the gradient of input ``i`` reads
    (mul: ``(1, 0)``): a leaf's array is then held read-only while the node is pending.
    ``view``: the output may share the (single) input's memory (``W.T``, ``x[t]``), so a leaf's
    array is held too: later ops may save the view, and writing the leaf would change it.

    ``jvp`` is the op's forward-mode rule, given only while a dual level is open somewhere
    (``FORWARD.on``): it maps the inputs' tangents (None where an input has none), each with a
    leading axis of directions, to the output's tangent.
    """
    now = switches()
    if now.anomaly and out.dtype.kind == "f" and not np.isfinite(out).all():
        raise RuntimeError(f"detect_anomaly: '{op}' produced {bad_kind(out)} in its forward"
                           + (f" in scope {'/'.join(now.scope)}" if now.scope else ""))
    if type(out) is not np.ndarray:
        out = np.asarray(out)  # numpy returns scalars for 0-d results; a tensor always holds an array
    result = _new_tensor(Tensor)
    result._data = out
    result._source = None
    result.node = None
    if jvp:
        push_tangent(result, inputs, jvp)
    if not now.grad_enabled:
        return result
    if len(inputs) == 1:
        parent = inputs[0].node
        if parent is None or not parent.requires_grad:
            return result
        parents: tuple[Node, ...] = (parent,)
        needs: tuple[bool, ...] = _NEEDS_ONE
        leaf = parent.op is None
    elif len(inputs) == 2:
        a, b = inputs[0].node, inputs[1].node
        needs = _NEEDS_TWO[a is not None and a.requires_grad][b is not None and b.requires_grad]
        if not (needs[0] or needs[1]):
            return result
        parents = (a or inputs[0]._leaf_node(), b or inputs[1]._leaf_node())
        leaf = parents[0].op is None or parents[1].op is None
    else:
        needs = tuple([t.node is not None and t.node.requires_grad for t in inputs])
        if True not in needs:
            return result
        parents = tuple([t.node or t._leaf_node() for t in inputs])
        leaf = any(p.op is None for p in parents)
    node = result.node = Node(op, parents, needs, backward_fn, out, True, now.keep_values, now.scope)
    if leaf and (reads or (view and out.base is not None)):  # a leaf's owner may write its array
        _hold_leaf_arrays(node, inputs, reads or (0,))
    return result


def tangent_of(t: Tensor, level: DualLevel | None = None) -> np.ndarray | None:
    """``t``'s tangent in this thread's open dual level (or ``level``): (directions, *shape), or None."""
    level = level or dual_level_now()
    tagged = getattr(t, "_tangent", None)
    return tagged[1] if tagged is not None and tagged[0] is level else None


def set_tangent(t: Tensor, tangent: np.ndarray, level: DualLevel) -> None:
    """Give ``t`` a tangent of ``level.batch`` directions (it disappears with the level)."""
    t._tangent = (level, tangent)


def push_tangent(result: Tensor, inputs: tuple[Tensor, ...], jvp: Callable[..., Any]) -> None:
    """Forward mode: the output's tangent from the inputs', by the op's rule."""
    level = dual_level_now()
    if level is None:
        return
    tangents = [tangent_of(t, level) for t in inputs]
    if any(t is not None for t in tangents):
        out = jvp(*tangents)
        shape = (level.batch, *result._data.shape)
        result._tangent = (level, np.asarray(out if out.shape == shape else np.broadcast_to(out, shape),
                                             dtype=result._data.dtype))


def _hold_leaf_arrays(node: Node, inputs: tuple[Tensor, ...], reads: tuple[int | None, ...]) -> None:
    """Keep read-only the leaf arrays ``node``'s backward will read (recorded outputs guard themselves)."""
    held: list[Tensor] = []
    for i, j in enumerate(reads):
        if j is None or not node.needs[i]:
            continue
        source = inputs[j]
        owner = source.node
        if (owner is None or owner.op is None) and all(t is not source for t in held) \
                and (source._data.flags.writeable or array_lock(source._data) is not None):
            held.append(source)
    if held:
        node.saved = SavedArrays([t._data for t in held], node.op or "", [t.name for t in held])


def as_tensor_like(value: Any, like: Tensor) -> Tensor:
    """A number or array as a constant tensor; numeric data takes ``like``'s float dtype."""
    if isinstance(value, Tensor):
        return value
    dtype = like.dtype if like.dtype.kind == "f" else None
    if type(value) is float or type(value) is int:  # the common case, e.g. 1 - z
        return _number(value, dtype)
    return Tensor(value, dtype=dtype)


_NUMBER_NODES: dict[tuple[type, float | int, np.dtype], Node] = {}  # the leaf every use of a number shares


def _number(value: float | int, dtype: np.dtype | None) -> Tensor:
    """A Python number as a constant; equal numbers share one leaf node (it needs no gradient),
    so ``1 - z`` in every time step adds no node, while a drawing can still show the 1."""
    data = np.asarray(value, dtype=dtype)
    key = (type(value), value, data.dtype)
    node = _NUMBER_NODES.get(key)
    if node is None:
        data.flags.writeable = False  # shared by every use: nobody may change it
        node = Node(None, (), (), None, data, requires_grad=False, keep_data=True)
        if len(_NUMBER_NODES) < 4096:
            _NUMBER_NODES[key] = node
    else:
        data = node.data  # type: ignore[assignment]
    return Tensor._from_op(data, node)


def to_numpy(value: Any) -> np.ndarray:
    """An array from anything array-like: numpy, our Tensor, or a torch tensor (by duck typing)."""
    if isinstance(value, Tensor):
        return value._data
    for step in ("detach", "cpu", "numpy"):
        method = getattr(value, step, None)
        if callable(method) and not isinstance(value, np.ndarray):
            value = method()
    return np.asarray(value)


# ---- read-only views of arrays a pending backward needs ------------------------

class _Guarded(np.ndarray):
    """A view handed out through ``.data`` while a pending backward needs the values.

    It reads like any ndarray (results of arithmetic are plain arrays); writing into it
    raises a RuntimeError saying which op needs the values, until that backward has run.
    """

    _reason: str
    _pending: Callable[[], bool] | None

    def __array_finalize__(self, obj: Any) -> None:
        owns_memory = self.base is None
        self._reason = getattr(obj, "_reason", "")
        self._pending = None if owns_memory else getattr(obj, "_pending", None)

    def _check_write(self) -> None:
        if self._pending is not None and self._pending():
            raise RuntimeError(f"in-place write refused: {self._reason}. Writing now would silently change that "
                               "gradient. Call backward() first (it releases the graph), write a copy "
                               "(np.array(t)), or update leaves with copy_/add_ under mg.no_grad()")
        if not self.flags.writeable:
            self.flags.writeable = True  # numpy refuses if the memory itself is still read-only

    def __setitem__(self, key: Any, value: Any) -> None:
        self._check_write()
        super().__setitem__(key, value)

    def fill(self, value: Any) -> None:
        self._check_write()
        super().fill(value)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        if out is not None:
            for target in out:
                if isinstance(target, _Guarded):
                    target._check_write()
            kwargs["out"] = tuple(_plain(t) for t in out)
        result = getattr(ufunc, method)(*[_plain(x) for x in inputs], **kwargs)
        return out[0] if out is not None and len(out) == 1 else (out if out is not None else result)

    def __repr__(self) -> str:
        return repr(self.view(np.ndarray))


def _plain(x: Any) -> Any:
    return x.view(np.ndarray) if isinstance(x, _Guarded) else x


def _guarded(array: np.ndarray, reason: str, pending: Callable[[], bool]) -> np.ndarray:
    view = array.view(_Guarded)
    view._reason, view._pending = reason, pending
    view.flags.writeable = False
    return view


# Operator methods live in ops.py beside their backward, numpy's entry points in interop.py:
# import them last, so they see Tensor.
from . import interop as _interop  # noqa: E402
from . import ops as _ops  # noqa: E402
