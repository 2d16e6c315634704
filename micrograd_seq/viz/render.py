"""Turn a ``View`` into a ``graphviz.Digraph``: scopes as nested clusters, boxes and arrows styled.

A row of many collapsed steps is drawn as one strip (a table with a cell per step, in time
order) rather than a box per step: dot lays out an arrow from a shared weight to step t across
t ranks, so a box per step makes the layout time grow with the square of the sequence length.
"""
from __future__ import annotations

import graphviz

from ..graph import Node
from .grads import GradientScale
from .style import box_attrs, box_label, cluster_attrs, edge_attrs, legend_label, strip_label
from .view import View

__all__ = ["render", "STRIP_FROM"]

_MERGED = ("group", "elided")
STRIP_FROM = 40  # collapsed steps in one scope from which they are drawn as a strip
_QUICK_FROM = 150  # boxes from which dot's x-positioning gets an iteration limit (less straight, far faster)


def render(view: View, *, grads: bool = False, grad_range: tuple[float, float] | None = None, show_shapes: bool = True,
           show_values: bool = False, rankdir: str = "LR", note: str = "") -> graphviz.Digraph:
    """The Digraph of ``view``; each box's DOT id (and SVG id) is its id in ``view.boxes``.

    A box drawn as a cell of a strip has the SVG id ``a_<box id>``; the arrow from box ``s`` to
    box ``t`` has the id ``e:<s>-><t>``.
    """
    scale = GradientScale(view, grad_range) if grads else None
    dot = graphviz.Digraph("graph", graph_attr=dict(rankdir=rankdir, newrank="true", nodesep="0.25",
                                                   ranksep="0.35", fontname="Helvetica"),
                           node_attr=dict(fontname="Helvetica", fontsize="10", margin="0.08,0.04", height="0.3"),
                           edge_attr=dict(arrowsize="0.6", fontname="Helvetica"))
    if len(view.boxes) >= _QUICK_FROM:
        dot.attr(nslimit="2")
    if note:
        dot.attr(label=note, labelloc="t", fontsize="12")
    boxes_in, clusters_in = _scope_tree(view)
    roots = set(view.roots)
    cell_of: dict[str, tuple[str, int]] = {}  # a step drawn in a strip -> (strip, its cell)

    def emit(graph: graphviz.Digraph, scope: tuple[str, ...]) -> None:
        steps = [b for b in boxes_in[scope] if view.boxes[b].kind in ("group", "elided")]
        in_strip = set(steps) if len(steps) >= STRIP_FROM else set()
        for box_id in boxes_in[scope]:
            if box_id not in in_strip:
                box = view.boxes[box_id]
                graph.node(box_id, box_label(box, show_shapes, show_values, scale), id=box_id,
                           **box_attrs(box, scale, box_id in roots))
        if in_strip:
            strip = f"strip{len({name for name, _ in cell_of.values()})}"
            cell_of.update((box_id, (strip, k)) for k, box_id in enumerate(steps))
            carried = _carried_names([p for (s, t), pairs in view.edges.items()
                                      if s in in_strip and t in in_strip for p in pairs])
            graph.node(strip, strip_label([view.boxes[b] for b in steps], scale, carried,
                                          vertical=rankdir in ("LR", "RL")), shape="plain", id=strip)
        for inner in clusters_in.get(scope, []):
            with graph.subgraph(name="cluster_" + "/".join(inner)) as cluster:
                cluster.attr(**cluster_attrs(inner[-1]))
                emit(cluster, inner)

    emit(dot, ())
    for (source, target), pairs in view.edges.items():
        if source in cell_of and target in cell_of and cell_of[source][0] == cell_of[target][0]:
            continue  # the recurrence inside a strip: its cells stand in time order
        outer, inner = view.boxes[source], view.boxes[target]
        between_steps = outer.kind in _MERGED and inner.kind in _MERGED
        attrs = edge_attrs((source, target), scale, _carried_names(pairs) if between_steps else "")
        attrs["id"] = f"e:{source}->{target}"
        if between_steps:
            attrs["weight"] = "10"  # the recurrence runs straight along the row of steps
        elif len(outer.scope) < len(inner.scope) and inner.scope[:len(outer.scope)] == outer.scope:
            attrs["weight"] = "0"  # a shared input (weight, projected sequence) must not stretch the steps
        dot.edge(_end(source, cell_of), _end(target, cell_of), **attrs)
    if scale is not None:
        with dot.subgraph(name="cluster_legend") as legend:
            legend.attr(label="gradient norm", style="rounded", color="#b0b0b0", fontsize="11")
            legend.node("legend", legend_label(scale), shape="plain")
    return dot


def _end(box_id: str, cell_of: dict[str, tuple[str, int]]) -> str:
    """Where an arrow attaches: the box, or its cell ("strip0:p7") when the box is drawn in a strip."""
    if box_id not in cell_of:
        return box_id
    strip, k = cell_of[box_id]
    return f"{strip}:p{k}"


def _scope_tree(view: View) -> tuple[dict, dict]:
    """The boxes directly in each scope, and the scopes directly inside each scope."""
    boxes_in: dict[tuple[str, ...], list[str]] = {(): []}
    clusters_in: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for box in view.boxes.values():
        for depth in range(len(box.scope), 0, -1):
            scope = box.scope[:depth]
            if scope in boxes_in:
                break
            boxes_in[scope] = []
            clusters_in.setdefault(scope[:-1], []).append(scope)
        boxes_in[box.scope].append(box.id)
    return boxes_in, clusters_in


def _carried_names(pairs: list[tuple[Node, Node]]) -> str:
    """What arrows between collapsed steps carry, by name ("hidden, cell")."""
    names = [parent.name for parent, _ in pairs]
    return ", ".join(dict.fromkeys(name for name in names if name is not None))
