"""Watch BPTT happen: the order ``backward()`` visits the unrolled graph, as text or as an HTML replay.

``backward_order(loss)`` lists the visits grouped by scope (``t=3: ...`` then ``t=2: ...``);
``replay(loss, path)`` writes one self-contained page that steps through them on the drawing.
Both *are* a backward: they run ``loss.backward(retain_all_grads=True)`` while recording the
visit order, so parameters' ``.grad`` accumulate as after any backward.
"""
from __future__ import annotations

import html
import itertools
import json
import math
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import graphviz

from ..graph import MODE, Node
from ..tensor import Tensor
from .draw import GraphvizNotFoundError, draw
from .grads import node_norm
from .view import View, collect
from .view import collapse as collapse_view

__all__ = ["replay", "backward_order"]

_TIME_STEP = re.compile(r"t=\d+")
_VIEW_OPS = ("transpose", "reshape")  # same entries rearranged: W.T still counts as W
_NO_SCOPE = "(no scope)"


@dataclass
class _Trace:
    """One traced backward: nodes in visit order, and for each leaf the visits that sent it a gradient."""

    visits: list[Node]
    leaves: list[int]               # where in ``visits`` each trainable leaf was reached
    fed_by: dict[int, list[int]]    # id(leaf) -> indices into visits, one per gradient term sent


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


def replay(loss: Tensor, path: str | os.PathLike, **draw_options: Any) -> Path:
    """Write one offline HTML page replaying ``loss.backward()`` node by node on the drawn graph.

    ``draw_options`` go to ``mg.viz.draw`` (e.g. ``grads=True`` to colour by gradient norm).
    """
    _check_loss(loss, "replay")
    _require_dot()
    trace = _traced_backward(loss)
    svg = _inline_svg(draw(loss, **draw_options).pipe(format="svg").decode("utf-8"))
    view = _drawn_view(loss.node, _svg_node_ids(svg), draw_options.get("collapse"))
    data = _page_data(trace, view, loss)
    page = _fill_template(title=f"Backward pass replay: {len(trace.visits)} nodes", svg=svg,
                          data=json.dumps(data, separators=(",", ":")).replace("<", "\\u003c"))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


# ---- tracing ----------------------------------------------------------------

def _check_loss(loss: Any, caller: str) -> None:
    if not isinstance(loss, Tensor):
        raise TypeError(f"{caller}: expected the loss as a Tensor, got a {type(loss).__name__}")
    if not loss.requires_grad:
        raise RuntimeError(f"{caller}: this tensor does not require grad, so backward() has nothing to visit "
                           "(no input it was computed from has requires_grad=True, or it was made under no_grad())")
    if loss.size != 1:
        raise ValueError(f"{caller}: the loss must be a scalar (one element) to replay its backward, got shape "
                         f"{loss.shape}; reduce it first, e.g. loss.sum() or loss.mean()")


def _traced_backward(loss: Tensor) -> _Trace:
    """Run the backward with ``MODE.trace`` on, keeping every gradient and the graph for drawing."""
    saved, visits = MODE.trace, []
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
    return f"{node.name} {node.op}" if node.name else node.op


# ---- the page ---------------------------------------------------------------

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


def _inline_svg(svg: str) -> str:
    """The ``<svg>`` element alone, without the XML prolog, DOCTYPE or namespace URLs HTML does not need."""
    svg = svg[svg.index("<svg"):]
    head_end = svg.index(">")
    head = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg[:head_end])
    return head + svg[head_end:]


def _svg_node_ids(svg: str) -> set[str]:
    return {html.unescape(m) for m in re.findall(r'<g id="([^"]*)" class="node"', svg)}


def _drawn_view(root: Node, drawn: set[str], collapse: str | int | None) -> View:
    """The boxes the picture shows, and which draws each node; ``draw`` may have collapsed scopes by itself."""
    full = collect([root])
    ways = [by for by in dict.fromkeys((collapse, "t", 1)) if by is not None]
    for view in itertools.chain([full], (collapse_view(full, by) for by in ways)):
        if set(view.boxes) <= drawn:
            return view
    raise RuntimeError("replay: could not match the drawing's boxes to the graph's nodes "
                       f"(draw options {collapse=!r}); please report this")


def _page_data(trace: _Trace, view: View, loss: Tensor) -> dict[str, Any]:
    """What the page's script steps through: one entry per visit, and the parameters' contributions."""
    box_of, visits = view.box_of, []
    for node in trace.visits:
        box = box_of[id(node)]
        time_scope = _time_scope(node)
        visits.append({
            "box": box, "op": node.op or "leaf", "name": node.name, "scope": _scope_path(node),
            "time": time_scope[-1] if time_scope else None, "cluster": "/".join(time_scope or node.scope),
            "shape": list(node.shape),
            "norm": _json_number(node_norm(node)),
            "edges": [[box_of[id(p)], box] for p in node.parents if p.requires_grad and box_of[id(p)] != box],
        })
    params = [{"name": _leaf_name(trace.visits[k]), "shape": list(trace.visits[k].shape), "visit": k,
               "from": trace.fed_by[id(trace.visits[k])]} for k in trace.leaves]
    return {"loss": _json_number(float(loss.item())), "boxes": list(view.boxes), "visits": visits, "params": params}


def _json_number(x: float | None) -> float | str | None:
    """JSON has no NaN or infinity: those go as text, shown as is."""
    return x if x is None or math.isfinite(x) else str(x)


def _fill_template(**fields: str) -> str:
    """The page template with each ``@@FIELD@@`` replaced, in one pass (so no value is rescanned)."""
    template = resources.files(__package__).joinpath("replay_template.html").read_text(encoding="utf-8")
    return re.sub(r"@@([A-Z]+)@@", lambda m: fields[m.group(1).lower()], template)
