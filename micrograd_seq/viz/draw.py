"""``draw`` a recorded graph as a ``graphviz.Digraph`` and ``save`` it as SVG, PNG, PDF or DOT."""
from __future__ import annotations

import math
import numbers
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import graphviz

from ..graph import Node, collector_paused
from ..tensor import Tensor
from .render import render
from .view import View, Walk, collect, elide, trim, walk

__all__ = ["draw", "save", "GraphvizNotFoundError", "drawn_view", "check_options", "check_grad_range",
           "write_atomically"]

FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot"}
_RANKDIRS = ("LR", "TB", "RL", "BT")
FULL_STEPS = 24  # more time steps in a row are drawn collapsed: dot's layout time grows with their square


class GraphvizNotFoundError(RuntimeError):
    """The Graphviz ``dot`` program, which turns DOT source into pictures, is not installed."""


def draw(*roots: Any, collapse: str | int | None = None, grads: bool = False,
         grad_range: tuple[float, float] | None = None, show_shapes: bool = True, show_values: bool = False,
         rankdir: str = "LR", max_nodes: int | None = 500) -> graphviz.Digraph:
    """Draw the graph that produced ``roots``: ops, leaves, scopes as clusters, time steps as boxes.

    ``collapse="t"`` (or a scope depth) draws each time step (scope) as one node. ``grads=True``
    colours by gradient norm on a log scale, after ``backward(retain_all_grads=True)``; the scale
    runs from the smallest to the largest norm drawn, or over ``grad_range=(low, high)``, so that
    several drawings share one scale. Past ``max_nodes`` boxes, or past ``FULL_STEPS`` time steps
    in a row, the drawing collapses to time steps by itself, and says so; if that is still too
    many, it keeps the first and last steps and draws one box for those between. A drawing never
    has more than ``max_nodes`` boxes; ``max_nodes=None`` always draws every op.
    """
    check_options(collapse, rankdir, max_nodes)
    grad_range = check_grad_range(grad_range, grads)
    with collector_paused():  # many small objects beside a big live graph: the collector's scans cost seconds
        view, note = drawn_view(_root_nodes(roots), collapse, max_nodes)
        if grads and not _kept_grads(view):
            raise RuntimeError("draw(grads=True): this graph kept no gradients for its intermediate values; "
                               "call loss.backward(retain_all_grads=True) before drawing")
        return render(view, grads=grads, grad_range=grad_range, show_shapes=show_shapes, show_values=show_values,
                      rankdir=rankdir, note=note)


def drawn_view(nodes: list[Node], collapse: str | int | None, max_nodes: int | None) -> tuple[View, str]:
    """The boxes a drawing of ``nodes`` shows, and the note it carries when it had to leave detail out.

    Warns when it collapses or leaves out steps that were not asked to be.
    """
    graph = walk(nodes)
    if collapse is not None:
        view, why = collect(graph, collapse), ""
    elif max_nodes is None:
        return collect(graph), ""
    else:
        view, why = _collapsed(graph, max_nodes)
    if max_nodes is not None and len(view.boxes) > max_nodes:
        size = len(view.boxes)
        view, keep = elide(view, max_nodes)
        trimmed = trim(view, max_nodes)
        kept = f"the first and last {keep} time steps of each long row" if keep else ""
        if trimmed is not view:
            kept = (f"{kept} and then " if kept else "") + f"the {max_nodes - 1} boxes nearest the output"
        view = trimmed
        too_many = f"still {size} boxes, so" if why else f"{size} boxes (more than max_nodes={max_nodes}), so"
        why = (f"{why}; " if why else "") + f"{too_many} only {kept} are drawn, and one box for the rest"
    if why:
        note = f"{why}; pass collapse= to choose, or max_nodes=None for every op"
        warnings.warn(f"draw: {note}", stacklevel=3)
        return view, note
    return view, ""


def _collapsed(graph: Walk, max_nodes: int) -> tuple[View, str]:
    """The full view when it is small enough; else collapsed to time steps, or to the outermost scopes."""
    size, steps = graph.size, graph.longest_row
    if size <= max_nodes and steps <= FULL_STEPS:
        return collect(graph), ""
    why = (f"{size} nodes (more than max_nodes={max_nodes})" if size > max_nodes else
           f"{steps} time steps in a row (more than {FULL_STEPS} take dot long to lay out in full)")
    for by, what in (("t", "time steps"), (1, "outermost scopes")):
        smaller = collect(graph, by)
        if len(smaller.boxes) < size:
            return smaller, f"{why}, drawn collapsed to {what}"
    return collect(graph), f"{why} and no scopes to collapse (wrap steps in mg.name_scope to group them)"


def _kept_grads(view: View) -> bool:
    """Whether backward kept the gradients of intermediate values (not only of leaves)."""
    return any(not n.is_leaf and n.grad is not None for box in view.boxes.values() for n in box.nodes)


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
        write_atomically(path, graph.source.encode("utf-8"))
        return path
    try:
        picture = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as err:
        source = path.with_suffix(".dot")
        write_atomically(source, graph.source.encode("utf-8"))
        raise GraphvizNotFoundError(
            f"save: the Graphviz program 'dot' is not installed (or not on PATH), so {path.name} could not be "
            f"rendered. The DOT source was written to {source}. Install Graphviz (Debian/Ubuntu: sudo apt-get "
            f"install graphviz; macOS: brew install graphviz; conda: conda install graphviz), then run "
            f"`dot -T{fmt} {source} -o {path}` or save again") from err
    write_atomically(path, picture)
    return path


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then move it into place in one step.

    A reader never sees half a file, and a failure leaves any earlier file as it was.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(temporary, 0o666 & ~mask)  # the permissions a plain open() would give, not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _root_nodes(roots: Sequence[Any]) -> list[Node]:
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


def check_options(collapse: Any, rankdir: Any, max_nodes: Any) -> None:
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


def check_grad_range(grad_range: Any, grads: bool) -> tuple[float, float] | None:
    """``grad_range`` as two floats 0 < low < high, or an error naming what is wrong with it."""
    if grad_range is None:
        return None
    if not grads:
        raise ValueError("draw: grad_range= sets the colour scale of a gradient drawing; pass grads=True too")
    if not isinstance(grad_range, (tuple, list)) or len(grad_range) != 2 or not all(
            isinstance(x, numbers.Real) and not isinstance(x, bool) for x in grad_range):
        raise TypeError(f"draw: grad_range must be a pair of numbers (low, high), e.g. (1e-8, 1), got {grad_range!r}")
    low, high = float(grad_range[0]), float(grad_range[1])
    if not (0 < low < high < math.inf):
        raise ValueError(f"draw: grad_range must satisfy 0 < low < high < inf (a log scale), got {grad_range!r}")
    return low, high
