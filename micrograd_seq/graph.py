"""The recorded graph and the one reverse-mode sweep that walks it.

Nodes, not tensors, form the graph: a node keeps its parents' nodes, the op's backward
function (which holds only the arrays that op needs) and, while backward runs, its
gradient. So an intermediate tensor nobody keeps is freed at once, as in PyTorch, and the
graph holds only what BPTT must keep.

``run_backward`` is Kahn's algorithm on the reversed graph: count each node's consumers,
start from the root, run a node's backward once all its consumers have sent their
gradient, accumulate what it returns into its parents, release it. Four shortcuts keep it
fast and lean (each measured in docs/performance.md): gradients are passed by reference
until someone must add into them (``owned``), slice gradients wait on their parent and are
gathered once (``IndexedGrad``), the cyclic garbage collector is paused while graphs are
built and swept (``collector_paused``), and a released node drops its saved arrays at once.

Arrays a pending graph saved from leaf tensors are kept read-only by ``SavedArrays`` until
the node that saved them is released or dies, so writing into them cannot silently change a
gradient; sanctioned in-place writes (``Tensor.copy_`` and friends) bump the array's version,
so a later backward through the stale graph refuses to run, as torch's version counters do.
"""
from __future__ import annotations

import contextvars
import gc
import threading
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeAlias

import numpy as np

__all__ = ["MODE", "Block", "IndexedGrad", "Node", "SavedArrays", "Switches", "array_lock", "bad_kind",
           "bump_version", "collector_paused", "describe", "restore_switches", "run_backward", "set_switch",
           "switches", "FORWARD", "DualLevel", "open_dual_level", "dual_level_now"]


class Switches(NamedTuple):
    """The autograd switches in force; replaced whole when one changes, so ``record`` reads them in one go."""

    grad_enabled: bool = True
    anomaly: bool = False
    scope: tuple[str, ...] = ()
    keep_values: bool = False
    trace: list[Node] | None = None  # replay: every node the sweep visits, in order


_SWITCHES: contextvars.ContextVar[Switches] = contextvars.ContextVar(
    "micrograd_seq.switches", default=Switches())  # noqa: B039 (a named tuple: immutable)
switches = _SWITCHES.get  # the switches in force: this thread's (each thread starts from the defaults)
restore_switches = _SWITCHES.reset  # undo a ``set_switch``, given the token it returned
_FIELDS = {name: k for k, name in enumerate(Switches._fields)}
_new_switches = tuple.__new__  # builds a Switches from a tuple in one C call (no Python-level __new__)


def set_switch(field: str, value: Any) -> contextvars.Token[Switches]:
    """Set one switch for this thread; returns the token that ``restore_switches`` takes."""
    now = _SWITCHES.get()
    k = _FIELDS[field]
    return _SWITCHES.set(_new_switches(Switches, (*now[:k], value, *now[k + 1:])))


def _switch(field: str) -> property:
    def get(mode: _Mode) -> Any:
        return getattr(_SWITCHES.get(), field)

    def set_(mode: _Mode, value: Any) -> None:
        set_switch(field, value)
    return property(get, set_, doc=f"The ``{field}`` switch in force (this thread's).")


class _Mode:
    """The autograd switches by name, per thread (a context variable, so asyncio tasks keep theirs too)."""

    grad_enabled = _switch("grad_enabled")
    anomaly = _switch("anomaly")
    scope = _switch("scope")
    keep_values = _switch("keep_values")
    trace = _switch("trace")


MODE = _Mode()

Grad: TypeAlias = "np.ndarray | IndexedGrad"
BackwardFn: TypeAlias = "Callable[[np.ndarray, tuple[bool, ...]], Sequence[Grad | None]]"


class Node:
    """One recorded value in the graph: how to send its gradient on to its parents."""

    __slots__ = ("__weakref__", "backward_fn", "data", "dtype", "grad", "name", "needs", "op", "owned", "parents",
                 "pending", "pieces", "requires_grad", "retains", "saved", "scope", "shape")

    op: str | None                      # the op that made the value; None for a leaf
    parents: tuple[Node, ...]           # the inputs' nodes, in the op's argument order; () once released
    needs: tuple[bool, ...]             # needs[i]: does parents[i] want a gradient
    backward_fn: BackwardFn | None      # output gradient -> one gradient per parent; None for leaves, once released
    saved: SavedArrays | None           # leaf arrays this node keeps read-only for its backward
    shape: tuple[int, ...]              # of the value
    dtype: np.dtype                     # of the value (and of its gradient)
    requires_grad: bool                 # does anything want this node's gradient
    data: np.ndarray | None             # the value itself, kept only under ``keep_values`` (for drawings)
    name: str | None                    # a label for drawings and messages ("forget gate", "lstm.weight_hh_l0")
    scope: tuple[str, ...]              # the name scopes it was recorded in ("t=3",)
    grad: np.ndarray | None             # its gradient, while backward runs or when kept
    owned: bool                         # grad is a buffer the engine made, so it may add into it in place
    pieces: list[IndexedGrad] | None    # slice gradients waiting to be gathered into grad
    pending: int                        # consumers still to send a gradient (during a sweep)
    retains: bool                       # keep grad after backward (``retain_grad``)

    def __init__(self, op: str | None, parents: tuple[Node, ...], needs: tuple[bool, ...],
                 backward_fn: BackwardFn | None, data: np.ndarray, requires_grad: bool = True,
                 keep_data: bool = False, scope: tuple[str, ...] = ()) -> None:
        self.op = op
        self.parents = parents
        self.needs = needs
        self.backward_fn = backward_fn
        self.saved = None
        self.shape = data.shape
        self.dtype = data.dtype
        self.requires_grad = requires_grad
        self.data = data if keep_data else None
        self.name = None
        self.scope = scope
        self.grad = None
        self.owned = False
        self.pieces = None
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


# ---- slice gradients ------------------------------------------------------------

class Block(NamedTuple):
    """Where a slice sits in its parent: ``start:stop`` along ``axis`` (``squeezed``: x[t], the axis dropped)."""

    axis: int
    start: int
    stop: int
    squeezed: bool


class IndexedGrad:
    """A gradient for part of a parent: ``value`` belongs at ``index`` of a zero-filled whole.

    Slicing and chunking return these. They wait on the parent until its last consumer is
    done, then are gathered into one buffer: T slices of a sequence cost one array, made
    only once the sweep has released the time steps' saved activations.
    """

    __slots__ = ("block", "index", "repeats", "value")

    def __init__(self, index: Any, value: np.ndarray, repeats: bool = False, block: Block | None = None) -> None:
        self.index = index
        self.value = value
        self.repeats = repeats  # an integer-array index: repeated entries must add up
        self.block = block      # set when the index picks one block along one axis

    def add_into(self, buffer: np.ndarray) -> None:
        if self.repeats:
            np.add.at(buffer, self.index, self.value)
        else:
            buffer[self.index] += self.value


def _gather(node: Node) -> None:
    """Add the waiting IndexedGrads into one gradient buffer, dropping each once it is in."""
    pieces, node.pieces = node.pieces, None
    assert pieces is not None
    if node.grad is None:
        whole = _tiled(pieces, node.shape)
        if whole is not None:  # the pieces tile the whole (a chunk, or every time step): one copy
            node.grad, node.owned = whole, True
            return
    buffer = node.grad
    if buffer is None:
        buffer = np.zeros(node.shape, dtype=node.dtype)
    elif not node.owned:
        buffer = buffer.copy()
    while pieces:
        pieces.pop().add_into(buffer)
    node.grad, node.owned = buffer, True


def _tiled(pieces: list[IndexedGrad], shape: tuple[int, ...]) -> np.ndarray | None:
    """The pieces joined in one concatenate, if they are blocks that tile ``shape`` exactly."""
    first = pieces[0].block
    if first is None:
        return None
    by_start: dict[int, tuple[Block, np.ndarray]] = {}
    for piece in pieces:
        block = piece.block
        if block is None or block.axis != first.axis or block.squeezed != first.squeezed:
            return None
        by_start[block.start] = block, piece.value
    if len(by_start) != len(pieces):
        return None  # two pieces of the same block add up: not a tiling
    values, end = [], 0
    while end < shape[first.axis]:
        found = by_start.get(end)
        if found is None:
            return None
        block, value = found
        values.append(value)
        end = block.stop
    if len(values) != len(pieces):
        return None
    return np.stack(values, first.axis) if first.squeezed else np.concatenate(values, first.axis)


# ---- the sweep -----------------------------------------------------------------

def _accumulate(node: Node, g: Any) -> None:
    """Add one contribution ``g`` (an array or an IndexedGrad) to ``node``'s gradient.

    The first array is kept by reference (an op may hand one array to several parents), and
    added into in place only once the engine owns the buffer.
    """
    if node.grad is None and type(g) is np.ndarray and g.dtype is node.dtype:
        node.grad, node.owned = g, False
    elif type(g) is IndexedGrad:
        if node.pieces is None:
            node.pieces = [g]
        else:
            node.pieces.append(g)
    else:
        if g.dtype is not node.dtype and g.dtype != node.dtype:
            g = g.astype(node.dtype)
        if node.grad is None:
            node.grad, node.owned = g, False
        elif node.owned:
            node.grad += g
        else:
            node.grad, node.owned = node.grad + g, True


def _count_consumers(root: Node) -> list[Node]:
    """Every node the sweep will visit, each with ``pending`` = how many consumers will send it a gradient.

    Checks on the way, before any gradient flows, that no saved array was changed since it was saved.
    """
    stack, seen = [root], [root]
    try:
        while stack:
            node = stack.pop()
            if node.saved is not None:
                node.saved.check(node)
            for parent in node.parents:
                if parent.requires_grad:
                    if parent.pending == 0:
                        stack.append(parent)
                        seen.append(parent)
                    parent.pending += 1
    except BaseException:
        for node in seen:
            node.pending = 0
        raise
    return seen


def _sweep(root: Node, seed: np.ndarray, retain_graph: bool, keep_grads: bool,
           visit: Callable[[Node, Sequence[Any]], None] | None) -> None:
    _accumulate(root, seed)
    ready = [root]
    leaves = []
    while ready:
        node = ready.pop()
        if node.pieces is not None:
            _gather(node)
        backward = node.backward_fn
        if backward is None:
            if node.op is not None:
                raise RuntimeError(_RELEASED)
            leaves.append(node)
            if visit is not None:
                visit(node, ())
            continue
        parents = node.parents
        grads = backward(node.grad, node.needs) if node.grad is not None else (None,) * len(parents)
        if visit is not None:
            visit(node, grads)
        # Parents are pushed last-first, so the first input (a step's own input branch) runs
        # before the recurrent chain moves on: the sweep reads t = T-1, ..., 0 in order.
        for i in range(len(parents) - 1, -1, -1):
            parent = parents[i]
            if parent.requires_grad:
                g = grads[i]
                if g is not None:
                    _accumulate(parent, g)
                parent.pending -= 1
                if parent.pending == 0:
                    ready.append(parent)
        if not retain_graph:  # release: drop the closure (and the arrays it saved) and the parent links
            node.backward_fn, node.parents = None, ()
            if node.saved is not None:
                node.saved.release()
                node.saved = None
        if keep_grads or node.retains:
            node.owned = False  # its array may now also be a parent's gradient
        else:
            node.grad = None
    for leaf in leaves:
        if leaf.grad is not None and leaf.grad.shape != leaf.shape:
            raise RuntimeError(f"backward: the gradient for {describe(leaf)} has shape {leaf.grad.shape}, but the "
                               f"leaf now has shape {leaf.shape} (its .data was swapped after the graph was "
                               "recorded); recompute the forward pass")
        if not leaf.owned and leaf.grad is not None:
            leaf.grad, leaf.owned = np.array(leaf.grad, copy=True), True  # each leaf owns a writable gradient


_SWEEPS = threading.Lock()  # one sweep at a time: graphs from several threads may share parameters


def run_backward(root: Node, seed: np.ndarray, retain_graph: bool, keep_grads: bool,
                 capture: Sequence[Node] = ()) -> list[np.ndarray | None]:
    """Reverse-mode sweep from ``root``: a node runs once every consumer has sent its gradient.

    Iterative, so a million-node chain needs no recursion. ``keep_grads`` keeps every node's
    gradient (drawings); otherwise only leaves' and ``retain_grad`` nodes' are kept. With
    ``capture`` (``autograd.grad``) it returns those nodes' gradients and changes no ``.grad``.
    """
    if root.released:
        raise RuntimeError(_RELEASED)
    with _SWEEPS, collector_paused():
        nodes = _count_consumers(root)
        kept = _set_aside_grads(nodes, leaves_too=bool(capture))
        retains = [node.retains for node in capture]
        for node in capture:
            node.retains = True
        try:
            _sweep(root, seed, retain_graph, keep_grads, _visitor())
            reached = {id(node) for node in nodes} if capture else set()
            captured = [node.grad if id(node) in reached else None for node in capture]
        except BaseException:
            for node in nodes:
                node.pending, node.pieces = 0, None
            if capture:
                _restore_grads(nodes, kept)
            raise
        finally:
            for node, retained in zip(capture, retains, strict=True):
                node.retains = retained
        if capture:
            _restore_grads(nodes, kept)
        else:
            _add_back_kept_grads(kept, keep_grads)
        return captured


def _set_aside_grads(nodes: list[Node], leaves_too: bool) -> dict[Node, np.ndarray]:
    """Gradients kept from an earlier pass (retain_grad, keep_grads; leaves' too for ``capture``):
    this pass must propagate only its own."""
    kept = {}
    for node in nodes:
        if node.grad is not None and (leaves_too or node.op is not None):
            kept[node] = node.grad
            node.grad = None
    return kept


def _add_back_kept_grads(kept: dict[Node, np.ndarray], keep_grads: bool) -> None:
    """Kept gradients add up across passes, as leaves' do."""
    for node, old in kept.items():
        if node.grad is not None:
            node.grad = old + node.grad
        elif keep_grads or node.retains:
            node.grad = old


def _restore_grads(nodes: list[Node], kept: dict[Node, np.ndarray]) -> None:
    """Every gradient back as it was before the pass (``autograd.grad`` touches no ``.grad``)."""
    for node in nodes:
        node.grad, node.owned = kept.get(node), False


def _visitor() -> Callable[[Node, Sequence[Any]], None] | None:
    """The one per-node hook of a sweep: replay's trace and detect_anomaly's check, when either is on."""
    trace, anomaly = MODE.trace, MODE.anomaly
    if trace is None and not anomaly:
        return None

    def visit(node: Node, grads: Sequence[Any]) -> None:
        if trace is not None:
            trace.append(node)
        if anomaly:
            _check_finite(node, grads)
    return visit


_RELEASED = ("backward: trying to backward through a graph that has already been released. "
             "The first backward() frees saved arrays as it goes; pass retain_graph=True to it "
             "if you need to call backward again on the same graph")


def _check_finite(node: Node, grads: Sequence[Any]) -> None:
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


# ---- forward mode: dual levels ----------------------------------------------------------------

class DualLevel:
    """One forward-mode pass (``mg.func``): tangents made in it are tagged with it, and die with it.

    Tangents carry a leading axis of ``batch`` directions, so one pass computes that many
    directional derivatives.
    """

    __slots__ = ("batch",)

    def __init__(self, batch: int) -> None:
        self.batch = batch


class _Forward:
    """How many dual levels are open, in any thread. Ops build their forward-mode rules only then,
    so reverse mode pays one attribute read per op for forward mode's existence."""

    on = 0
    _lock = threading.Lock()


FORWARD = _Forward()
_DUAL: contextvars.ContextVar[DualLevel | None] = contextvars.ContextVar("micrograd_seq.dual", default=None)
dual_level_now = _DUAL.get  # this thread's open dual level, or None


class open_dual_level:
    """Open a dual level of ``batch`` directions for this thread (levels do not nest)."""

    __slots__ = ("_token", "level")

    def __init__(self, batch: int) -> None:
        self.level = DualLevel(batch)

    def __enter__(self) -> DualLevel:
        if _DUAL.get() is not None:
            raise RuntimeError("forward mode: a jvp inside another jvp (nested dual levels) is not supported")
        with _Forward._lock:
            FORWARD.on += 1
        self._token = _DUAL.set(self.level)
        return self.level

    def __exit__(self, *exc: object) -> None:
        _DUAL.reset(self._token)
        with _Forward._lock:
            FORWARD.on -= 1


# ---- the garbage-collector pause --------------------------------------------------

class collector_paused:
    """Pause Python's cyclic garbage collector while a graph is built or swept (``mg.autograd.collector_paused``).

    Graphs hold no reference cycles (backward functions keep arrays, never nodes), so
    reference counting frees them; the collector's repeated scans of a large live graph
    are pure overhead (3 to 4 % of a 1,000-step LSTM's instructions, docs/performance.md).
    ``backward()`` pauses it; the library's time loop does while it records, and a loop of
    your own that records thousands of nodes can too. The pause is process-wide by nature,
    so it is counted: nested and concurrent pauses (several threads) switch the collector
    back on only when the last one ends, and only if it was on when the first began.
    """

    _lock = threading.Lock()
    _depth = 0
    _was_enabled = False

    def __enter__(self) -> None:
        cls = collector_paused
        with cls._lock:
            if cls._depth == 0:
                cls._was_enabled = gc.isenabled()
                gc.disable()
            cls._depth += 1

    def __exit__(self, *exc: object) -> None:
        cls = collector_paused
        with cls._lock:
            cls._depth -= 1
            if cls._depth == 0 and cls._was_enabled:
                gc.enable()


# ---- saved arrays: read-only while a backward needs them ----------------------------

class _ArrayLock:
    """One array that pending backwards need unchanged: how many nodes hold it, and its version."""

    __slots__ = ("array", "count", "name", "op", "version", "views")

    def __init__(self, array: np.ndarray, op: str, name: str | None) -> None:
        self.array = array  # the base array that owns the memory
        self.views: list[np.ndarray] = []  # views of it that were saved, made read-only with it
        self.count = 0
        self.version = 0
        self.op = op
        self.name = name

    def hold(self, view: np.ndarray) -> None:
        if view is not self.array and view.flags.writeable and all(v is not view for v in self.views):
            view.flags.writeable = False
            self.views.append(view)

    def free(self) -> None:
        self.array.flags.writeable = True
        for view in self.views:
            view.flags.writeable = True


_LOCKS: dict[int, _ArrayLock] = {}  # id(base array) -> its lock, while some node holds it
_LOCKS_MUTEX = threading.RLock()  # re-entrant: __del__ may run while it is held


def _base(array: np.ndarray) -> np.ndarray:
    base = array.base
    return base if isinstance(base, np.ndarray) else array


def array_lock(array: np.ndarray) -> _ArrayLock | None:
    """The lock on ``array``'s memory, if a pending backward holds it."""
    return _LOCKS.get(id(_base(array)))


class SavedArrays:
    """The leaf arrays one node's backward reads, held read-only until the node is released or dies.

    A leaf's array (a parameter, an input, the caller's array behind ``from_numpy``) may be
    written by its owner at any time; an op's own outputs are guarded by their tensors. The
    lock is counted per base array, so it lasts as long as any pending node needs it.
    """

    __slots__ = ("locks", "versions")

    def __init__(self, arrays: Sequence[np.ndarray], op: str, names: Sequence[str | None]) -> None:
        locks, versions = [], []
        with _LOCKS_MUTEX:
            for array, name in zip(arrays, names, strict=True):
                base = _base(array)
                lock = _LOCKS.get(id(base))
                if lock is None:
                    if not base.flags.writeable:
                        continue  # already read-only: its owner cannot write it either
                    lock = _LOCKS[id(base)] = _ArrayLock(base, op, name)
                    base.flags.writeable = False
                lock.hold(array)
                lock.count += 1
                locks.append(lock)
                versions.append(lock.version)
        self.locks: list[_ArrayLock] | None = locks
        self.versions = versions

    def check(self, node: Node) -> None:
        """Refuse to run backward if a sanctioned in-place write changed an array since it was saved."""
        for lock, version in zip(self.locks or (), self.versions, strict=True):
            if lock.version != version:
                what = f"'{lock.name}'" if lock.name else "a tensor"
                raise RuntimeError(
                    f"backward: {what} saved by {describe(node)} was modified in place (by an optimizer step, "
                    f"load_state_dict or copy_) after it was saved, so this graph's gradient would be wrong. "
                    f"Recompute the forward pass after the update")

    def release(self) -> None:
        locks, self.locks = self.locks, None
        if not locks:
            return
        with _LOCKS_MUTEX:
            for lock in locks:
                lock.count -= 1
                if lock.count == 0:
                    del _LOCKS[id(lock.array)]
                    lock.free()

    def __del__(self) -> None:  # a graph dropped without backward gives its arrays back
        self.release()


def bump_version(array: np.ndarray, write: Callable[[], None]) -> None:
    """Run ``write`` on ``array``'s memory even if pending backwards hold it, making those graphs stale."""
    with _LOCKS_MUTEX:
        lock = _LOCKS.get(id(_base(array)))
        if lock is None:
            write()
            return
        lock.free()
        try:
            write()
        finally:
            lock.version += 1
            lock.array.flags.writeable = False
            for view in lock.views:
                view.flags.writeable = False
