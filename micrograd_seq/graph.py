"""The recorded graph and the one reverse-mode sweep that walks it.

Nodes, not tensors, form the graph: a node keeps its parents' nodes, the op's backward
function (which holds only the arrays that op needs) and, while backward runs, its
gradient. So an intermediate tensor nobody keeps is freed at once, as in PyTorch, and the
graph holds only what BPTT must keep.
"""
from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["MODE", "Node", "IndexedGrad", "run_backward", "describe", "collector_paused"]


class _Mode:
    """Process-wide autograd switches, set by the context managers in ``autograd``."""

    __slots__ = ("grad_enabled", "anomaly", "scope", "keep_values", "trace")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.anomaly = False
        self.scope: tuple[str, ...] = ()
        self.keep_values = False
        self.trace: list | None = None


MODE = _Mode()

class Node:
    """One recorded value in the graph: how to send its gradient on to its parents."""

    __slots__ = ("backward_fn", "parents", "needs", "grad", "pieces", "owned", "pending", "op", "scope",
                 "name", "shape", "dtype", "requires_grad", "retains", "data")

    def __init__(self, op: str | None, parents: tuple, needs: tuple, backward_fn: Callable | None,
                 data: np.ndarray, requires_grad: bool = True, keep_data: bool = False) -> None:
        self.op = op
        self.parents = parents
        self.needs = needs  # needs[i]: does parents[i] want a gradient
        self.backward_fn = backward_fn
        self.shape = data.shape
        self.dtype = data.dtype
        self.requires_grad = requires_grad
        self.data = data if keep_data else None
        self.name = None
        self.scope = MODE.scope
        self.grad = None
        self.pieces = None  # IndexedGrads waiting to be gathered into ``grad``
        self.owned = False
        self.pending = 0
        self.retains = False

    @property
    def is_leaf(self) -> bool:
        return self.op is None

    @property
    def released(self) -> bool:
        return self.op is not None and self.backward_fn is None

    def __repr__(self) -> str:
        return f"Node({self.op or 'leaf'}, shape={self.shape}, name={self.name!r}, scope={'/'.join(self.scope)!r})"


class IndexedGrad:
    """A gradient for part of a parent: ``value`` belongs at ``index`` of a zero-filled whole.

    Slicing and chunking return these. They wait on the parent until its last consumer is
    done, then are gathered into one buffer: T slices of a sequence cost one array, made
    only once the sweep has released the time steps' saved activations.
    """

    __slots__ = ("index", "value", "repeats", "block")

    def __init__(self, index: Any, value: np.ndarray, repeats: bool = False, block: tuple | None = None) -> None:
        self.index = index
        self.value = value
        self.repeats = repeats  # integer-array index: repeated entries must add up
        self.block = block  # (axis, start, stop, squeezed) when index picks one block along one axis

    def add_into(self, buffer: np.ndarray) -> None:
        if self.repeats:
            np.add.at(buffer, self.index, self.value)
        else:
            buffer[self.index] += self.value


def _gather(node: Node) -> None:
    """Add the waiting IndexedGrads into one gradient buffer, dropping each once it is in."""
    if node.grad is None:
        whole = _joined(node.pieces, node.shape)
        if whole is not None:  # the pieces tile the whole (a chunk, or every time step): one copy
            node.grad, node.pieces, node.owned = whole, None, True
            return
    buf = node.grad
    if buf is None:
        buf = np.zeros(node.shape, dtype=node.dtype)
    elif not node.owned:
        buf = buf.copy()
    pieces, node.pieces = node.pieces, None
    while pieces:
        pieces.pop().add_into(buf)
    node.grad = buf
    node.owned = True


def _joined(pieces: list[IndexedGrad], shape: tuple) -> np.ndarray | None:
    """The pieces joined in one concatenate, if they are blocks that tile ``shape`` exactly."""
    blocks = [p.block for p in pieces]
    if None in blocks or len({(b[0], b[3]) for b in blocks}) != 1:
        return None
    order = sorted(range(len(pieces)), key=[b[1] for b in blocks].__getitem__)
    end = 0
    for k in order:
        if blocks[k][1] != end:
            return None
        end = blocks[k][2]
    axis, _, _, squeezed = blocks[0]
    if end != shape[axis]:
        return None
    values = [pieces[k].value for k in order]
    return np.stack(values, axis) if squeezed else np.concatenate(values, axis)


def _accumulate(node: Node, g: Any) -> None:
    """Add one contribution ``g`` to ``node.grad``, in place only into buffers the engine owns."""
    if type(g) is IndexedGrad:
        if node.pieces is None:
            node.pieces = [g]
        else:
            node.pieces.append(g)
        return
    if g.dtype is not node.dtype and g.dtype != node.dtype:
        g = g.astype(node.dtype)
    if node.grad is None:
        node.grad = g  # by reference: the op may hand the same array to several parents
        node.owned = False
    elif node.owned:
        node.grad += g
    else:
        node.grad = node.grad + g
        node.owned = True


def _reachable(root: Node) -> list[Node]:
    """Count, for each node that needs a gradient, how many consumers will send it one."""
    stack = [root]
    seen = [root]
    while stack:
        node = stack.pop()
        for parent in node.parents:
            if parent.requires_grad:
                if parent.pending == 0:
                    stack.append(parent)
                    seen.append(parent)
                parent.pending += 1
    return seen


class collector_paused:
    """Pause Python's cyclic garbage collector while a graph is built or swept.

    Graphs hold no reference cycles (backward functions keep arrays, never nodes), so
    reference counting frees them; the collector's repeated scans of a large live graph
    are pure overhead (a fifth of the time of a long unrolled LSTM). Re-entrant.
    """

    __slots__ = ("was_enabled",)

    def __enter__(self) -> None:
        self.was_enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: Any) -> None:
        if self.was_enabled:
            gc.enable()


def run_backward(root: Node, seed: np.ndarray, retain_graph: bool, retain_all_grads: bool) -> None:
    """Reverse-mode sweep from ``root``: a node runs once every consumer has sent its gradient.

    Iterative (Kahn's algorithm on the reversed graph), so a million-node chain needs no recursion.
    """
    if root.released:
        raise RuntimeError(_RELEASED)
    with collector_paused():
        _run_backward(root, seed, retain_graph, retain_all_grads)


def _run_backward(root: Node, seed: np.ndarray, retain_graph: bool, retain_all_grads: bool) -> None:
    seen = _reachable(root)
    # Gradients kept from an earlier pass are put aside: this pass must propagate only its own.
    kept = {}
    for node in seen:
        if node.grad is not None and node.op is not None:
            kept[node] = node.grad
            node.grad = None
    try:
        _sweep(root, seed, retain_graph, retain_all_grads, kept)
    except BaseException:
        for node in seen:
            node.pending = 0
            node.pieces = None
        raise
    for node, old in kept.items():
        if node.grad is None and (retain_all_grads or node.retains):
            node.grad = old


def _sweep(root: Node, seed: np.ndarray, retain_graph: bool, retain_all_grads: bool, kept: dict) -> None:
    trace = MODE.trace
    anomaly = MODE.anomaly
    ndarray = np.ndarray
    _accumulate(root, seed)
    ready = [root]
    leaves = []
    while ready:
        node = ready.pop()
        if node.pieces is not None:
            _gather(node)
        if trace is not None:
            trace.append(node)
        fn = node.backward_fn
        if fn is None:
            if node.op is not None:
                raise RuntimeError(_RELEASED)
            leaves.append(node)
            continue
        parents = node.parents
        g = node.grad
        grads = fn(g, node.needs) if g is not None else (None,) * len(parents)
        if anomaly:
            _check_grads(node, grads)
        # Parents are pushed last-first, so the first input (a step's own input branch) runs
        # before the recurrent chain moves on: the sweep reads t = T-1, ..., 0 in order.
        for i in range(len(parents) - 1, -1, -1):
            parent = parents[i]
            if not parent.requires_grad:
                continue
            gp = grads[i]
            if gp is not None:
                if parent.grad is None and type(gp) is ndarray and gp.dtype is parent.dtype:
                    parent.grad = gp  # by reference: an op may hand one array to several parents
                    parent.owned = False
                else:
                    _accumulate(parent, gp)
            parent.pending -= 1
            if parent.pending == 0:
                ready.append(parent)
        if not retain_graph:
            node.backward_fn = None
            node.parents = ()
        if retain_all_grads or node.retains:
            if kept and node in kept and node.grad is not None:
                node.grad = kept[node] + node.grad  # retained grads accumulate across passes
            node.owned = False  # its array may now also be a parent's gradient
        else:
            node.grad = None
    for leaf in leaves:
        if not leaf.owned and leaf.grad is not None:
            leaf.grad = np.array(leaf.grad, copy=True)  # each leaf owns a writable gradient
            leaf.owned = True


_RELEASED = ("backward: trying to backward through a graph that has already been released. "
             "The first backward() frees saved arrays as it goes; pass retain_graph=True to it "
             "if you need to call backward again on the same graph")


def _check_grads(node: Node, grads: Sequence) -> None:
    for g in grads:
        value = g.value if type(g) is IndexedGrad else g
        if value is not None and not np.isfinite(value).all():
            raise RuntimeError(f"detect_anomaly: the backward of {describe(node)} produced "
                               f"{bad_kind(value)} in a gradient")


def bad_kind(a: np.ndarray) -> str:
    return "nan" if np.isnan(a).any() else "inf"


def describe(node: Node) -> str:
    """A short human description of where a node sits: op, name and scope."""
    text = f"'{node.op or 'leaf'}'"
    if node.name:
        text += f" ({node.name})"
    if node.scope:
        text += f" in scope {'/'.join(node.scope)}"
    return text
