"""``draw`` a recorded graph as a ``graphviz.Digraph`` and ``save`` it as SVG, PNG, PDF or DOT."""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import graphviz

from ..graph import Node
from ..tensor import Tensor
from .render import render
from .view import View, collect, longest_row
from .view import collapse as collapse_view

__all__ = ["draw", "save", "GraphvizNotFoundError"]

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot"}
_RANKDIRS = ("LR", "TB", "RL", "BT")
FULL_STEPS = 24  # more time steps in a row are drawn collapsed: dot's layout time grows with their square


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` program, which turns DOT source into pictures, is not installed."""


def draw(*roots: Any, collapse: str | int | None = None, grads: bool = False, show_shapes: bool = True,
         show_values: bool = False, rankdir: str = "LR", max_nodes: int | None = 500) -> graphviz.Digraph:
    """Draw the graph that produced ``roots``: ops, leaves, scopes as clusters, time steps as boxes.

    ``collapse="t"`` (or a scope depth) draws each time step (scope) as one node. ``grads=True``
    colours by gradient norm on a log scale, after ``backward(retain_all_grads=True)``.
    Past ``max_nodes`` nodes, or past ``FULL_STEPS`` time steps in a row, the drawing collapses
    to time steps by itself, and says so; ``max_nodes=None`` always draws every op.
    """
    _check_options(collapse, rankdir, max_nodes)
    view = collect(_root_nodes(roots))
    note = ""
    if collapse is not None:
        view = collapse_view(view, collapse)
    elif max_nodes is not None:
        view, note = _shrink(view, max_nodes)
    if grads and not _kept_grads(view):
        raise RuntimeError("draw(grads=True): this graph kept no gradients for its intermediate values; "
                           "call loss.backward(retain_all_grads=True) before drawing")
    return render(view, grads=grads, show_shapes=show_shapes, show_values=show_values, rankdir=rankdir, note=note)


def _kept_grads(view: View) -> bool:
    """Whether backward kept the gradients of intermediate values (not only of leaves)."""
    return any(not n.is_leaf and n.grad is not None for box in view.boxes.values() for n in box.nodes)


def _shrink(view: View, max_nodes: int) -> tuple[View, str]:
    """Collapse a view too big to read or lay out: to time steps, else to the outermost scopes."""
    size, steps = len(view.boxes), longest_row(view)
    if size <= max_nodes and steps <= FULL_STEPS:
        return view, ""
    why = (f"{size} nodes (more than max_nodes={max_nodes})" if size > max_nodes else
           f"{steps} time steps in a row (more than {FULL_STEPS} take dot long to lay out in full)")
    for by, what in (("t", "time steps"), (1, "outermost scopes")):
        smaller = collapse_view(view, by)
        if len(smaller.boxes) < size:
            note = f"{why}, drawn collapsed to {what}; pass collapse= to choose, or max_nodes=None for every op"
            warnings.warn(f"draw: {note}", stacklevel=3)
            return smaller, note
    warnings.warn(f"draw: {why} and no scopes to collapse; drawing them all "
                  "(wrap steps in mg.name_scope to group them)", stacklevel=3)
    return view, ""


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
