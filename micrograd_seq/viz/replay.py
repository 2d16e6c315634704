"""Watch BPTT happen: the order ``backward()`` visits the unrolled graph, as text or as an HTML replay.

``backward_order(loss)`` lists the visits grouped by scope (``t=3: ...`` then ``t=2: ...``);
``replay(loss, path)`` writes one self-contained page that steps through them on the drawing,
with each shared weight's gradient growing as the steps' contributions arrive.
Both *are* a backward: they run ``loss.backward(retain_all_grads=True)`` while recording the
visit order, so parameters' ``.grad`` accumulate as after any backward. Everything that can be
checked is checked before that backward runs, and if writing the page fails after it, the
parameters' ``.grad`` are put back, so a failed call never adds to them.
"""
from __future__ import annotations

import html
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import graphviz
import numpy as np

from ..graph import MODE, Node, collector_paused
from ..tensor import Tensor
from .draw import GraphvizNotFoundError, check_grad_range, check_options, drawn_view, write_atomically
from .grads import gradient_sent, node_norm
from .render import render
from .view import View

__all__ = ["replay", "backward_order", "ReplayPage"]

_TIME_STEP = re.compile(r"t=\d+")
_VIEW_OPS = ("transpose", "reshape")  # same entries rearranged: W.T still counts as W
_NO_SCOPE = "(no scope)"
_DRAW_OPTIONS = ("collapse", "grads", "grad_range", "show_shapes", "show_values", "rankdir", "max_nodes")


@dataclass
class _Trace:
    """One traced backward: nodes in visit order, and for each leaf the visits that sent it a gradient."""

    visits: list[Node]
    leaves: list[int]               # where in ``visits`` each trainable leaf was reached
    fed_by: dict[int, list[int]]    # id(leaf) -> indices into visits, one per gradient term sent


@dataclass(frozen=True)
class ReplayPage:
    """The page ``replay`` wrote: it names the file (``path``, ``os.fspath``) and shows inline in Jupyter."""

    path: Path
    html: str = field(repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def _repr_html_(self) -> str:
        """The page in a sandboxed frame (its script runs; it cannot reach the notebook)."""
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" sandbox="allow-scripts" '
                f'style="width: 100%; height: 640px; border: 1px solid #ddd; border-radius: 4px"></iframe>')


def backward_order(loss: Tensor) -> str:
    """Run ``loss.backward()`` and list the nodes it visits, by scope, then each parameter's contributions."""
    _check_loss(loss, "backward_order")
    trace = _traced_backward(loss)
    lines = [f"backward() visited {len(trace.visits)} nodes, in this order:"]
    for scope, run in itertools.groupby(trace.visits, key=_scope_path):
        lines.append(f"  {scope or _NO_SCOPE}: {', '.join(map(_label, run))}")
    lines.append("gradient contributions each parameter received, by the scope of the node that sent it:")
    leaves = [trace.visits[k] for k in trace.leaves]
    width = max(len(_leaf_name(leaf)) for leaf in leaves)
    for leaf in leaves:
        sources = [_scope_path(trace.visits[k]) or _NO_SCOPE for k in trace.fed_by[id(leaf)]]
        lines.append(f"  {_leaf_name(leaf):<{width}}  {len(sources)}: {', '.join(sources)}")
    return "\n".join(lines)


def replay(loss: Tensor, path: str | os.PathLike, **draw_options: Any) -> ReplayPage:
    """Write one offline HTML page replaying ``loss.backward()`` node by node on the drawn graph.

    ``draw_options`` go to ``mg.viz.draw`` (e.g. ``grads=True`` to colour by gradient norm,
    ``collapse="t"`` for one box per time step); long sequences are drawn within ``max_nodes``
    boxes as ``draw`` does, and every visit still lands on the box that stands for its node.
    Returns a ``ReplayPage``: it names the written file and displays inline in Jupyter.
    """
    _check_loss(loss, "replay")
    options = _check_draw_options(draw_options)
    path = _check_path(path)
    _require_dot()
    assert loss.node is not None  # _check_loss: the loss requires grad
    with collector_paused():  # many small objects beside a big live graph: the collector's scans cost seconds
        view, note = drawn_view([loss.node], options["collapse"], options["max_nodes"])
        _check_every_visit_is_drawn(loss.node, view)
        saved = _leaf_grads(loss.node)
        trace = _traced_backward(loss)
        try:
            picture = render(view, grads=options["grads"], grad_range=options["grad_range"],
                             show_shapes=options["show_shapes"], show_values=options["show_values"],
                             rankdir=options["rankdir"], note=note)
            svg = _inline_svg(picture.pipe(format="svg").decode("utf-8"))
            data = json.dumps(_page_data(trace, view, loss), separators=(",", ":")).replace("<", "\\u003c")
            page = _fill_template(title=f"Backward pass replay: {len(trace.visits)} nodes", svg=svg, data=data)
            write_atomically(path, page.encode("utf-8"))
        except BaseException:
            _restore(saved)
            raise
    return ReplayPage(path, page)


# ---- checks, all made before the backward runs ---------------------------------

def _check_loss(loss: Any, caller: str) -> None:
    if not isinstance(loss, Tensor):
        raise TypeError(f"{caller}: expected the loss as a Tensor, got a {type(loss).__name__}")
    if not loss.requires_grad:
        raise RuntimeError(f"{caller}: this tensor does not require grad, so backward() has nothing to visit "
                           "(no input it was computed from has requires_grad=True, or it was made under no_grad())")
    if loss.numel() != 1:
        raise ValueError(f"{caller}: the loss must be a scalar (one element) to replay its backward, got shape "
                         f"{loss.shape}; reduce it first, e.g. loss.sum() or loss.mean()")


def _check_draw_options(given: dict[str, Any]) -> dict[str, Any]:
    """``draw``'s options with their defaults filled in, checked as ``draw`` checks them."""
    unknown = sorted(set(given) - set(_DRAW_OPTIONS))
    if unknown:
        raise TypeError(f"replay: unknown drawing option(s) {', '.join(unknown)}; the options are "
                        f"{', '.join(_DRAW_OPTIONS)}")
    options = dict(collapse=None, grads=False, grad_range=None, show_shapes=True, show_values=False, rankdir="LR",
                   max_nodes=500) | given
    check_options(options["collapse"], options["rankdir"], options["max_nodes"])
    options["grad_range"] = check_grad_range(options["grad_range"], options["grads"])
    return options


def _check_path(path: Any) -> Path:
    """The page's path, its folder made; an error now if it names a folder or cannot be written."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"replay: path must be a file name (str or os.PathLike), got a {type(path).__name__}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"replay: {str(path)!r} is a folder; give the file to write, "
                         f"e.g. {str(path / 'replay.html')!r}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"replay: cannot make the folder for {str(path)!r}: {err.strerror or err}") from None
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"replay: cannot write into the folder {str(path.parent)!r}")
    return path


def _require_dot() -> None:
    """Fail before running the backward when the picture could not be rendered."""
    try:
        graphviz.version()
    except graphviz.ExecutableNotFound as err:
        raise GraphvizNotFoundError(
            "replay: the Graphviz program 'dot' is not installed (or not on PATH), so the graph cannot be "
            "rendered into the page. Install Graphviz (Debian/Ubuntu: sudo apt-get install graphviz; "
            "macOS: brew install graphviz; conda: conda install graphviz), or use mg.viz.backward_order(loss) "
            "for the same order as text") from err


def _needing_grad(root: Node) -> list[Node]:
    """The nodes backward will visit: those reachable from ``root`` through inputs that require grad."""
    seen, stack = {id(root): root}, [root]
    while stack:
        for parent in stack.pop().parents:
            if parent.requires_grad and id(parent) not in seen:
                seen[id(parent)] = parent
                stack.append(parent)
    return list(seen.values())


def _check_every_visit_is_drawn(root: Node, view: View) -> None:
    missing = [node for node in _needing_grad(root) if id(node) not in view.box_of]
    if missing:
        raise RuntimeError(f"replay: {len(missing)} node(s) backward will visit have no box in the drawing "
                           f"(the first: {missing[0]!r}); please report this")


def _leaf_grads(root: Node) -> list[tuple[Node, np.ndarray | None]]:
    """Each trainable leaf's ``.grad`` as it is now (a copy: backward may add into it in place)."""
    return [(node, None if node.grad is None else np.array(node.grad, copy=True))
            for node in _needing_grad(root) if node.is_leaf]


def _restore(saved: list[tuple[Node, np.ndarray | None]]) -> None:
    for node, grad in saved:
        node.grad = grad
        node.owned = grad is not None


# ---- tracing ----------------------------------------------------------------

def _traced_backward(loss: Tensor) -> _Trace:
    """Run the backward with ``MODE.trace`` on, keeping every gradient and the graph for drawing."""
    saved = MODE.trace
    visits: list[Node] = []
    MODE.trace = visits
    try:
        loss.backward(retain_all_grads=True)
    finally:
        MODE.trace = saved
    leaves = [k for k, node in enumerate(visits) if node.is_leaf]
    fed_by: dict[int, list[int]] = {id(visits[k]): [] for k in leaves}
    for k, node in enumerate(visits):
        if _leaf_behind(node) is None:  # a view of a parameter is that parameter, not a consumer of it
            for parent in node.parents:
                leaf = _leaf_behind(parent)
                if leaf is not None:
                    fed_by[id(leaf)].append(k)
    return _Trace(visits, leaves, fed_by)


def _leaf_behind(node: Node) -> Node | None:
    """The trainable leaf ``node`` is, seen through transposes and reshapes; None for other values."""
    while node.op in _VIEW_OPS:
        node = node.parents[0]
    return node if node.is_leaf and node.requires_grad else None


def _scope_path(node: Node) -> str:
    return "/".join(node.scope)


def _time_scope(node: Node) -> tuple[str, ...]:
    """A node's scope up to its innermost ``t=k`` (empty when it was recorded outside every time step)."""
    for depth in range(len(node.scope), 0, -1):
        if _TIME_STEP.fullmatch(node.scope[depth - 1]):
            return node.scope[:depth]
    return ()


def _leaf_name(leaf: Node) -> str:
    return leaf.name or "input"


def _label(node: Node) -> str:
    """How a visit reads in the listing: ``hidden tanh``, ``add``, ``weight_hh_l0 leaf``."""
    if node.is_leaf:
        return f"{_leaf_name(node)} leaf"
    return f"{node.name} {node.op}" if node.name else str(node.op)


def _contributions(trace: _Trace, leaf: Node) -> list[np.ndarray]:
    """Each gradient term ``leaf`` received, in the order they arrived, in the leaf's shape."""
    terms = []
    for k in trace.fed_by[id(leaf)]:
        consumer, total = trace.visits[k], np.zeros(leaf.shape)
        for parent in dict.fromkeys(p for p in consumer.parents if _leaf_behind(p) is leaf):
            sent = gradient_sent(consumer, parent)
            chain = parent
            while sent is not None and chain is not leaf:  # back through W.T (or a reshape) to W itself
                backward = chain.backward_fn
                assert backward is not None  # the traced backward keeps the graph
                sent = np.asarray(backward(sent, chain.needs)[0], dtype=np.float64)
                chain = chain.parents[0]
            if sent is not None:
                total += sent
        terms.append(total)
    return terms


# ---- the page ---------------------------------------------------------------

def _inline_svg(svg: str) -> str:
    """The ``<svg>`` element alone, without the XML prolog, DOCTYPE or namespace URLs HTML does not need."""
    svg = svg[svg.index("<svg"):]
    head_end = svg.index(">")
    head = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg[:head_end])
    return head + svg[head_end:]


def _page_data(trace: _Trace, view: View, loss: Tensor) -> dict[str, Any]:
    """What the page's script steps through, in compact columns (long sequences make many visits).

    ``boxes``: the drawn boxes' ids; ``edges``: the arrows' ids; ``infos``: distinct node
    descriptions; ``visits``: per visit [box, info, gradient norm, [arrows its gradient flows back
    along]]; ``params``: per trainable leaf its visit, the visits that sent it a term, and the
    norm of each term and of their running sum.
    """
    boxes = {box_id: k for k, box_id in enumerate(view.boxes)}
    edges: dict[str, int] = {}
    infos: dict[tuple, int] = {}
    visits = []
    for node in trace.visits:
        box = view.box_of[id(node)]
        time_scope = _time_scope(node)
        info = (node.op or "leaf", node.name, _scope_path(node), time_scope[-1] if time_scope else None,
                "/".join(time_scope or node.scope), node.shape)
        flows = [edges.setdefault(f"e:{view.box_of[id(p)]}->{box}", len(edges)) for p in node.parents
                 if p.requires_grad and view.box_of[id(p)] != box]
        visits.append([boxes[box], infos.setdefault(info, len(infos)), _json_number(node_norm(node)), flows])
    params = []
    for k in trace.leaves:
        leaf = trace.visits[k]
        running, terms, sums = np.zeros(leaf.shape), [], []
        for term in _contributions(trace, leaf):
            running += term
            terms.append(_json_number(float(np.linalg.norm(term))))
            sums.append(_json_number(float(np.linalg.norm(running))))
        params.append({"name": _leaf_name(leaf), "shape": list(leaf.shape), "visit": k,
                       "from": trace.fed_by[id(leaf)], "terms": terms, "sums": sums})
    keys = ("op", "name", "scope", "time", "cluster", "shape")
    return {"loss": _json_number(float(loss.item()), short=False), "boxes": list(boxes), "edges": list(edges),
            "infos": [dict(zip(keys, info, strict=True)) for info in infos],
            "visits": visits, "params": params}


def _json_number(x: float | None, short: bool = True) -> float | str | None:
    """A number for the page (to the 4 significant digits it shows, if ``short``); NaN and infinity go as text."""
    if x is None:
        return None
    if not math.isfinite(x):
        return str(x)  # JSON has no NaN or infinity
    return float(f"{x:.4g}") if short else x


def _fill_template(**fields: str) -> str:
    """The page template with each ``@@FIELD@@`` replaced, in one pass (so no value is rescanned)."""
    template = resources.files(__package__).joinpath("replay_template.html").read_text(encoding="utf-8")
    return re.sub(r"@@([A-Z]+)@@", lambda m: fields[m.group(1).lower()], template)
