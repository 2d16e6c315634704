"""Tensor: a numpy array that records the ops applied to it.

A Tensor holds its data. When it was computed from tensors that require grad, it also
points at a graph ``Node`` (graph.py), and ``record`` is how every op links its output in.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .graph import MODE, Node, bad_kind, run_backward

__all__ = ["Tensor", "tensor", "set_default_dtype", "get_default_dtype", "record", "as_tensor_like",
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


def _as_array(data: Any, dtype: Any) -> np.ndarray:
    """Turn user data into an ndarray, applying the dtype rules of ``tensor``."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        try:
            dt = np.dtype(dtype)
        except TypeError as err:
            raise TypeError(f"tensor: {dtype!r} is not a numpy dtype") from err
        if dt.kind not in "fiub":
            raise TypeError(f"tensor: dtype must be floating, integer or bool, got {dt}")
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as err:
        raise TypeError(f"tensor: cannot make an array from {type(data).__name__}: {err}") from err
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"tensor: data must be numeric (float, int or bool), got dtype {arr.dtype} "
                        f"from {type(data).__name__}")
    if dtype is not None:
        return arr.astype(dt, copy=False)
    if arr.dtype.kind == "f" and arr.dtype != _default_dtype:
        return arr.astype(_default_dtype)
    return arr


class Tensor:
    """An n-dimensional array that records the ops applied to it, for reverse-mode autodiff."""

    __slots__ = ("data", "node")
    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        self.data = _as_array(data, dtype)
        self.node: Node | None = None
        if requires_grad:
            self.requires_grad = True
        if name is not None:
            self.name = name

    @classmethod
    def _from_op(cls, data: np.ndarray, node: Node | None) -> Tensor:
        """Wrap an op's output without re-checking it (the engine's fast path)."""
        out = object.__new__(cls)
        out.data = data
        out.node = node
        return out

    # ---- attributes -------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def requires_grad(self) -> bool:
        return self.node is not None and self.node.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind != "f":
            raise TypeError(f"only floating tensors can require grad; this one has dtype {self.data.dtype} "
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
            node = self.node = Node(None, (), (), None, self.data, requires_grad=False, keep_data=True)
            node.scope = ()
        return node

    # ---- conversions ------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The data as a numpy array (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor converts to a Python number, "
                             f"this one has shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same data cut off from the graph: gradient stops here (truncated BPTT uses this)."""
        return Tensor._from_op(self.data, None)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(", precision=4, threshold=50)
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

    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def tanh(self) -> Tensor:
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        return _ops.relu(self)

    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return _ops.max(self, axis, keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        return _ops.reshape(self, *shape)

    def transpose(self, *axes: Any) -> Tensor:
        return _ops.transpose(self, *axes)

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self)

    def chunk(self, chunks: int, axis: int = 0) -> list[Tensor]:
        return _ops.chunk(self, chunks, axis)

    def softmax(self, axis: int = -1) -> Tensor:
        return _ops.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return _ops.log_softmax(self, axis)

    # ---- autograd ---------------------------------------------------------
    def retain_grad(self) -> None:
        """Keep this intermediate's gradient after backward (e.g. dL/dh_t for teaching)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad, so it gets no gradient")
        self.node.retains = True

    def backward(self, grad: Any = None, retain_graph: bool = False, retain_all_grads: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``, visiting the graph in reverse.

        ``retain_graph`` keeps the graph for another backward; ``retain_all_grads`` also keeps
        every node's gradient (for drawing gradient flow). Otherwise the graph is released as
        backward walks it, so a kept loss does not keep its unrolled graph alive.
        """
        if not self.requires_grad:
            raise RuntimeError("backward: this tensor does not require grad (no input it was computed "
                               "from has requires_grad=True, or it was made under no_grad())")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(f"backward: grad can be implicit only for a scalar output; this one has "
                                   f"shape {self.shape}, so pass grad= of that shape")
            seed = np.ones(self.shape, dtype=self.dtype)
        else:
            seed = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if seed.shape != self.shape:
                raise ValueError(f"backward: grad has shape {seed.shape} but the output has shape {self.shape}")
        run_backward(self.node, seed, retain_graph or retain_all_grads, retain_all_grads)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None) -> Tensor:
    """Make a Tensor; floating data becomes the default float dtype unless ``dtype`` is given."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype, name=name)


# ---- recording ops into the graph ------------------------------------------

_NEEDS_ONE = (True,)
_NEEDS_TWO = (((False, False), (False, True)), ((True, False), (True, True)))
_new_tensor = object.__new__


def record(op: str, out: np.ndarray, inputs: tuple, backward_fn: Callable) -> Tensor:
    """Wrap an op's output; when grad is on and an input requires grad, link it into the graph.

    ``backward_fn(g, needs)`` maps the output gradient to one gradient per input (None where
    ``needs[i]`` is False or no gradient flows). It must hold arrays, never tensors or nodes,
    so a graph is a tree of references freed by reference counting alone.
    """
    mode = MODE
    if mode.anomaly and out.dtype.kind == "f" and not np.isfinite(out).all():
        raise RuntimeError(f"detect_anomaly: '{op}' produced {bad_kind(out)} in its forward"
                           + (f" in scope {'/'.join(mode.scope)}" if mode.scope else ""))
    result = _new_tensor(Tensor)
    result.data = out
    result.node = None
    if not mode.grad_enabled:
        return result
    if len(inputs) == 1:
        parent = inputs[0].node
        if parent is not None and parent.requires_grad:
            result.node = Node(op, (parent,), _NEEDS_ONE, backward_fn, out, True, mode.keep_values)
        return result
    if len(inputs) == 2:
        a, b = inputs[0].node, inputs[1].node
        needs = _NEEDS_TWO[a is not None and a.requires_grad][b is not None and b.requires_grad]
        if needs[0] or needs[1]:
            parents = (a or inputs[0]._leaf_node(), b or inputs[1]._leaf_node())
            result.node = Node(op, parents, needs, backward_fn, out, True, mode.keep_values)
        return result
    needs = tuple([t.node is not None and t.node.requires_grad for t in inputs])
    if True in needs:
        parents = tuple([t.node or t._leaf_node() for t in inputs])
        result.node = Node(op, parents, needs, backward_fn, out, True, mode.keep_values)
    return result


def as_tensor_like(value: Any, like: Tensor) -> Tensor:
    """A number or array as a constant tensor; numeric data takes ``like``'s float dtype."""
    if isinstance(value, Tensor):
        return value
    dtype = like.dtype if like.dtype.kind == "f" else None
    if type(value) is float or type(value) is int:  # the common case, e.g. 1 - z
        return _number(value, dtype)
    return Tensor._from_op(_as_array(value, dtype), None)


_NUMBER_NODES: dict = {}  # (type, value, dtype) -> the leaf node every use of that number shares


def _number(value: float | int, dtype: np.dtype | None) -> Tensor:
    """A Python number as a constant; equal numbers share one leaf node (it needs no gradient),
    so ``1 - z`` in every time step adds no node, while a drawing can still show the 1."""
    data = np.asarray(value, dtype=dtype)
    key = (type(value), value, data.dtype)
    node = _NUMBER_NODES.get(key)
    if node is None:
        node = Node(None, (), (), None, data, requires_grad=False, keep_data=True)
        node.scope = ()
        if len(_NUMBER_NODES) < 4096:
            _NUMBER_NODES[key] = node
    return Tensor._from_op(data, node)


def to_numpy(value: Any) -> np.ndarray:
    """An array from anything array-like: numpy, our Tensor, or a torch tensor (by duck typing)."""
    for step in ("detach", "cpu", "numpy"):
        method = getattr(value, step, None)
        if callable(method) and not isinstance(value, np.ndarray):
            value = method()
    return np.asarray(value)


# Operator methods live in ops.py beside their backward; import it last so it sees Tensor.
from . import ops as _ops  # noqa: E402
