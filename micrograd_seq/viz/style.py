"""How boxes, arrows and clusters look: labels, colours by kind, or colours by gradient norm."""
from __future__ import annotations

import html

import numpy as np

from .grads import GradientScale, ramp_colour
from .view import Box

__all__ = ["box_label", "box_attrs", "edge_attrs", "cluster_attrs", "strip_label", "legend_label"]

_NO_GRAD = "#ffffff"

_KIND_ATTRS = {
    "op": dict(shape="box", style="rounded,filled", fillcolor="#ffffff", color="#555555"),
    "named": dict(shape="box", style="rounded,filled", fillcolor="#fff2b3", color="#8a6d00", penwidth="1.8"),
    "leaf": dict(shape="box", style="filled", fillcolor="#cfe2f3", color="#2f5f8a", penwidth="1.5"),
    "data": dict(shape="box", style="filled", fillcolor="#d9ead3", color="#4a7a3d", penwidth="1.5"),
    "constant": dict(shape="box", style="rounded,dashed", fillcolor="#ffffff", color="#999999",
                     fontcolor="#666666", fontsize="9"),
    "group": dict(shape="box", style="rounded,filled", fillcolor="#e3ebfa", color="#3b5b9a", penwidth="1.5",
                  fontsize="12"),
    "elided": dict(shape="box", style="rounded,dashed,filled", fillcolor="#f4f4f4", color="#777777",
                   fontcolor="#444444", fontsize="12"),
}
_MERGED = ("group", "elided")  # boxes that stand for many nodes


def _values(data: np.ndarray) -> str:
    text = np.array2string(np.asarray(data), precision=3, threshold=8, edgeitems=2, max_line_width=36)
    return text.replace("\n", "\\n")


def box_label(box: Box, show_shapes: bool, show_values: bool, scale: GradientScale | None) -> str:
    """The box's text lines: name, op, shape, values, gradient norm (DOT ``\\n`` line breaks)."""
    node = box.nodes[0]
    transposed = box.kind == "leaf" and len(box.nodes) > 1  # a parameter with its transposes folded in
    if box.kind == "group":
        lines = [box.title, f"{sum(1 for n in box.nodes if not n.is_leaf)} ops"]
    elif box.kind == "elided":
        lines = [box.title, box.detail]
    elif box.kind == "op" and node.name:
        lines = [node.name, box.title]
    else:
        lines = [box.title]
    if box.kind not in _MERGED:
        if show_shapes:
            lines[-1] += f"  {node.shape[::-1] if transposed else node.shape}"
        if show_values and node.data is not None:
            lines.append(_values(node.data.T if transposed else node.data))
    if scale is not None and box.id in scale.boxes:
        norm = scale.boxes[box.id]
        lines.append("no grad kept" if norm is None else f"‖grad‖ {norm:.1e}")
    return "\\n".join(line.replace('"', "'") for line in lines)


def box_attrs(box: Box, scale: GradientScale | None, is_root: bool) -> dict[str, str]:
    """Graphviz node attributes: by kind, or filled by gradient colour when a scale is given."""
    kind = box.kind
    if box.nodes[0].name and kind in ("op", "constant"):
        kind = "named" if kind == "op" else "data"
    attrs = dict(_KIND_ATTRS[kind])
    if scale is not None and box.id in scale.boxes:
        norm = scale.boxes[box.id]
        fill = scale.colour(norm)
        attrs.update(fillcolor=fill or _NO_GRAD, style=attrs["style"].replace("dashed", "filled"))
        if fill is not None and scale.position(norm) > 0.6:
            attrs["fontcolor"] = "#ffffff"
    if box.kind in _MERGED:
        attrs["group"] = "steps:" + "/".join(box.scope)  # keeps consecutive steps in a straight row
    if is_root:
        attrs["peripheries"] = "2"
    return attrs


def edge_attrs(key: tuple[str, str], scale: GradientScale | None, label: str) -> dict[str, str]:
    """An arrow; with a scale, coloured and thickened by the gradient it carries back (dotted: none)."""
    attrs = {"color": "#777777"}
    if label:
        attrs.update(label=label, fontsize="9", fontcolor="#3b5b9a")
    if scale is not None:
        norm = scale.edges[key]
        colour = scale.colour(norm)
        if colour is None:
            attrs.update(color="#bbbbbb", style="dotted")
        else:
            attrs.update(color=colour, penwidth=f"{0.8 + 2.7 * scale.position(norm):.2f}")
    return attrs


def cluster_attrs(name: str) -> dict[str, str]:
    """Time steps as shaded boxes; other scopes (layer, direction, your own) as dashed frames."""
    if name.startswith("t="):
        return dict(label=name, style="rounded,filled", fillcolor="#f2f2f2", color="#b0b0b0",
                    fontsize="13", fontname="Helvetica-Bold", labeljust="l")
    return dict(label=name, style="rounded,dashed", color="#808080", fontsize="13", labeljust="l")


def strip_label(steps: list[Box], scale: GradientScale | None, carried: str, vertical: bool) -> str:
    """An HTML-like label for a long row of collapsed steps: one cell per step (port ``p<k>``), in time order.

    Each cell carries its box id (in SVG, a group ``a_<id>``) and a tooltip, so a page can find it.
    """
    cells = []
    for k, box in enumerate(steps):
        text = html.escape(box.title) + (f"<br/>{html.escape(box.detail)}" if box.detail else "")
        fill, ink = _KIND_ATTRS[box.kind]["fillcolor"], "#000000"
        tip = box.detail or f"{box.title}: {sum(1 for n in box.nodes if n.op is not None)} ops"
        if scale is not None:
            norm = scale.boxes[box.id]
            fill = scale.colour(norm) or _NO_GRAD
            text += "<br/>no grad kept" if norm is None else f"<br/>{norm:.1e}"
            ink = "#ffffff" if fill != _NO_GRAD and scale.position(norm) > 0.6 else ink
        cells.append(f'<td port="p{k}" id="{html.escape(box.id)}" href="#" title="{html.escape(tip)}" '
                     f'bgcolor="{fill}"><font color="{ink}">{text}</font></td>')
    count = sum(1 for box in steps if box.kind == "group")
    caption = f"{count} steps drawn" if count < len(steps) else f"{count} steps"
    caption += f", {html.escape(carried)} passed on from each to the next" if carried else ""
    if vertical:
        rows = "".join(f"<tr>{cell}</tr>" for cell in cells) + f"<tr><td>{caption}</td></tr>"
    else:
        rows = f"<tr>{''.join(cells)}</tr><tr><td colspan=\"{len(cells)}\">{caption}</td></tr>"
    return (f'<<table border="0" cellborder="1" cellspacing="0" cellpadding="4" color="#3b5b9a">'
            f"{rows}</table>>")


def legend_label(scale: GradientScale, cells: int = 9) -> str:
    """An HTML-like label: a colour bar from the smallest to the largest gradient norm (or the fixed range)."""
    if scale.high == 0:
        return "every gradient here is exactly zero"
    bar = "".join(f'<td bgcolor="{ramp_colour(k / (cells - 1))}" width="16"> </td>' for k in range(cells))
    low, high = f"{scale.low:.1e}", f"{scale.high:.1e}"
    if scale.fixed:
        low, high = f"≤{low}", f"≥{high}"
    fixed = "<br/>a fixed scale (grad_range): norms beyond it take the end colours" if scale.fixed else ""
    return (f'<<table border="0" cellborder="0" cellspacing="0" cellpadding="3"><tr>'
            f"<td>{low}</td>{bar}<td>{high}</td></tr>"
            f'<tr><td colspan="{cells + 2}">boxes: norm of the gradient of each value<br/>'
            f"arrows: norm of the gradient sent back along them<br/>white or dotted: zero or none{fixed}</td></tr>"
            "</table>>")
