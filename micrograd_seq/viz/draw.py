"""``draw`` a recorded graph as a ``graphviz.Digraph`` and ``save`` it as SVG, PNG, PDF or DOT."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Iterable

import graphviz

from ..tensor import Node, Tensor
from .graph import View, collapse as collapse_view, collect
from .grads import GradientScale
from .style import box_attrs, box_label, cluster_attrs, edge_attrs, legend_label

__all__ = ["draw", "save", "render", "GraphvizNotFoundError"]

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot"}
_RANKDIRS = ("LR", "TB", "RL", "BT")


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` program, which turns DOT source into pictures, is not installed."""


def draw(*roots: Any, collapse: str | int | None = None, grads: bool = False, show_shapes: bool = True,
         show_values: bool = False, rankdir: str = "LR", max_nodes: int | None = 500) -> graphviz.Digraph:
    """Draw the graph that produced ``roots``: ops, leaves, scopes as clusters, time steps as boxes.

    ``collapse="t"`` (or a scope depth) draws each time step (scope) as one node. ``grads=True``
    colours by gradient norm on a log scale, after ``backward(retain_all_grads=True)``.
    Past ``max_nodes`` nodes the drawing collapses to time steps by itself, and says so.
    """
    _check_options(collapse, rankdir, max_nodes)
    view = collect(_root_nodes(roots))
    note = ""
    if collapse is not None:
        view = collapse_view(view, collapse)
    elif max_nodes is not None and len(view.boxes) > max_nodes:
        view, note = _shrink(view, max_nodes)
    if grads and not _kept_grads(view):
        raise RuntimeError("draw(grads=True): this graph kept no gradients for its intermediate values; "
                           "call loss.backward(retain_all_grads=True) before drawing")
    return render(view, grads=grads, show_shapes=show_shapes, show_values=show_values, rankdir=rankdir, note=note)


def _kept_grads(view: View) -> bool:
    """Whether backward kept the gradients of intermediate values (not only of leaves)."""
    return any(not n.is_leaf and n.grad is not None for box in view.boxes.values() for n in box.nodes)


def _shrink(view: View, max_nodes: int) -> tuple[View, str]:
    """Collapse a view too big to read: to time steps, else to the outermost scopes."""
    size = len(view.boxes)
    for by, what in (("t", "time steps"), (1, "outermost scopes")):
        smaller = collapse_view(view, by)
        if len(smaller.boxes) < size:
            note = (f"{size} nodes (more than max_nodes={max_nodes}), drawn collapsed to {what}; "
                    f"pass collapse= or a larger max_nodes to choose")
            warnings.warn(f"draw: {note}", stacklevel=3)
            return smaller, note
    warnings.warn(f"draw: {size} nodes (more than max_nodes={max_nodes}) and no scopes to collapse; "
                  "drawing them all (wrap steps in mg.name_scope to group them)", stacklevel=3)
    return view, ""


def render(view: View, *, grads: bool = False, show_shapes: bool = True, show_values: bool = False,
           rankdir: str = "LR", note: str = "") -> graphviz.Digraph:
    """Turn a view into a Digraph: nested clusters for scopes, node ids as in ``View.boxes``."""
    scale = GradientScale(view) if grads else None
    dot = graphviz.Digraph("graph", graph_attr=dict(rankdir=rankdir, newrank="true", nodesep="0.25",
                                                   ranksep="0.35", fontname="Helvetica"),
                           node_attr=dict(fontname="Helvetica", fontsize="10", margin="0.08,0.04", height="0.3"),
                           edge_attr=dict(arrowsize="0.6", fontname="Helvetica"))
    if note:
        dot.attr(label=note, labelloc="t", fontsize="12")
    roots = set(view.roots)
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

    def emit(graph: graphviz.Digraph, scope: tuple[str, ...]) -> None:
        for box_id in boxes_in[scope]:
            box = view.boxes[box_id]
            graph.node(box_id, box_label(box, show_shapes, show_values, scale), id=box_id,
                       **box_attrs(box, scale, box_id in roots))
        for inner in clusters_in.get(scope, []):
            with graph.subgraph(name="cluster_" + "/".join(inner)) as cluster:
                cluster.attr(**cluster_attrs(inner[-1]))
                emit(cluster, inner)

    emit(dot, ())
    for (source, target), pairs in view.edges.items():
        outer, inner = view.boxes[source], view.boxes[target]
        between_steps = outer.kind == inner.kind == "group"
        attrs = edge_attrs((source, target), scale, _carried_names(pairs) if between_steps else "")
        if between_steps:
            attrs["weight"] = "10"  # the recurrence runs straight along the row of steps
        elif len(outer.scope) < len(inner.scope) and inner.scope[:len(outer.scope)] == outer.scope:
            attrs["weight"] = "0"  # a shared input (weight, projected sequence) must not stretch the steps
        dot.edge(source, target, **attrs)
    if scale is not None:
        with dot.subgraph(name="cluster_legend") as legend:
            legend.attr(label="gradient norm", style="rounded", color="#b0b0b0", fontsize="11")
            legend.node("legend", legend_label(scale), shape="plain")
    return dot


def _carried_names(pairs: list[tuple[Node, Node]]) -> str:
    """What an arrow between collapsed steps carries, by name ("hidden, cell")."""
    return ", ".join(dict.fromkeys(parent.name for parent, _ in pairs if parent.name))


def save(*roots: Any, path: str | os.PathLike | None = None, **options: Any) -> Path:
    """Draw ``roots`` (see ``draw``) and write the picture to ``path``; the suffix picks the format.

    Without the ``dot`` program it still writes the DOT source beside ``path`` (suffix ``.dot``),
    then raises an error saying how to install Graphviz.
    """
    if path is None and roots and isinstance(roots[-1], (str, os.PathLike)):
        roots, path = roots[:-1], roots[-1]
    if path is None:
        raise TypeError("save: give the file to write, e.g. save(loss, path='graph.svg')")
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"save: cannot tell the format from {path.name!r}; use a name ending in "
                         f"{', '.join(FORMATS)}")
    graph = draw(*roots, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        path.write_text(graph.source, encoding="utf-8")
        return path
    try:
        picture = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as err:
        source = path.with_suffix(".dot")
        source.write_text(graph.source, encoding="utf-8")
        raise GraphvizNotFoundError(
            f"save: the Graphviz program 'dot' is not installed (or not on PATH), so {path.name} could not be "
            f"rendered. The DOT source was written to {source}. Install Graphviz (Debian/Ubuntu: sudo apt-get "
            f"install graphviz; macOS: brew install graphviz; conda: conda install graphviz), then run "
            f"`dot -T{fmt} {source} -o {path}` or save again") from err
    path.write_bytes(picture)
    return path


def _root_nodes(roots: Iterable[Any]) -> list[Node]:
    """The graph nodes of the roots; tuples and lists (an LSTM's ``(h, c)``) are opened up."""
    nodes: list[Node] = []
    stack = list(reversed(roots))
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(reversed(item))
        elif not isinstance(item, Tensor):
            raise TypeError(f"draw: expected tensors to draw, got a {type(item).__name__}")
        elif item.node is None:
            raise ValueError(f"draw: this tensor of shape {item.shape} has no graph to draw (it does not require "
                             "grad and was not computed from anything that does, or it was made under no_grad)")
        else:
            nodes.append(item.node)
    if not nodes:
        raise ValueError("draw: give at least one tensor to draw, e.g. draw(loss)")
    return nodes


def _check_options(collapse: Any, rankdir: Any, max_nodes: Any) -> None:
    if collapse is not None and not isinstance(collapse, str) and type(collapse) is not int:
        raise TypeError(f"draw: collapse must be None, 't' or an int scope depth, got a {type(collapse).__name__}")
    if collapse is not None and collapse != "t" and not (type(collapse) is int and collapse >= 1):
        raise ValueError(f"draw: collapse must be None, 't' (time steps) or a scope depth >= 1, got {collapse!r}")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"draw: rankdir must be one of {_RANKDIRS}, got {rankdir!r}")
    if max_nodes is not None and type(max_nodes) is not int:
        raise TypeError(f"draw: max_nodes must be an int or None, got a {type(max_nodes).__name__}")
    if max_nodes is not None and max_nodes < 1:
        raise ValueError(f"draw: max_nodes must be at least 1, got {max_nodes}")
