"""Gradient norms for a drawing: of each box, of what each arrow carries back, and their colour scale.

A box's norm is its node's kept gradient. An arrow's norm is the gradient it carries back:
its consumer's backward applied to the consumer's kept gradient, for that one input. So the
arrows from a shared weight into each time step show each step's share of the weight's
gradient, which BPTT sums.
"""
from __future__ import annotations

import math

import numpy as np

from ..graph import IndexedGrad, Node
from .view import Box, View

__all__ = ["node_norm", "box_norm", "gradient_sent", "GradientScale", "ramp_colour"]

# Pale for tiny gradients, dark red for large ones: a vanishing gradient literally fades out.
_RAMP = ["#fff0b0", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026", "#67000d"]


def node_norm(node: Node) -> float | None:
    """The L2 norm of a node's kept gradient, or None when it has none."""
    if node.grad is None:
        return None
    flat = np.ravel(node.grad).astype(np.float64)  # float64: squaring a float32 1e-23 would underflow
    return math.sqrt(flat @ flat)


def box_norm(box: Box) -> float | None:
    """A box's gradient norm; a collapsed group (or the elided steps) takes the largest inside it."""
    if box.kind not in ("group", "elided"):
        return node_norm(box.nodes[0])
    norms = [n for n in map(node_norm, box.nodes) if n is not None]
    return max(norms) if norms else None


class GradientScale:
    """The norms of a view's boxes and arrows, and a log-scale colour map.

    The map runs from the smallest to the largest norm in the view, or over ``fixed=(low, high)``
    (norms outside it take the colour of the nearer end), so that several drawings share one scale.
    """

    def __init__(self, view: View, fixed: tuple[float, float] | None = None) -> None:
        self._sent: dict[int, tuple] = {}
        self.boxes = {b.id: box_norm(b) for b in view.boxes.values() if b.kind != "constant"}
        self.edges = {key: self._carried(pairs) for key, pairs in view.edges.items()}
        self.fixed = fixed is not None
        if fixed is not None:
            self.low, self.high = fixed
            return
        positive = [n for n in (*self.boxes.values(), *self.edges.values())
                    if n is not None and n > 0 and math.isfinite(n)]
        self.low, self.high = (min(positive), max(positive)) if positive else (0.0, 0.0)

    def _carried(self, pairs: list[tuple[Node, Node]]) -> float | None:
        """The norm of all the gradient these (parent, consumer) links send back, or None if none does."""
        total, flows = 0.0, False
        for parent, child in dict.fromkeys(pairs):
            sent = gradient_sent(child, parent, self._sent)
            if sent is not None:
                flat = sent.ravel()
                total += float(flat @ flat)
                flows = True
        return math.sqrt(total) if flows else None

    def position(self, norm: float | None) -> float:
        """0 at ``low``, 1 at ``high``, linear in log(norm) between (0 for no gradient or a zero one)."""
        if norm is None or norm <= 0:
            return 0.0
        if self.high == self.low or not math.isfinite(norm):
            return 1.0
        t = (math.log(norm) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return min(1.0, max(0.0, t))

    def colour(self, norm: float | None) -> str | None:
        """The ramp colour of ``norm``; None for no gradient or an exactly zero one."""
        if norm is None or norm <= 0 or not math.isfinite(norm):
            return None
        return ramp_colour(self.position(norm))


def gradient_sent(child: Node, parent: Node, cache: dict[int, tuple] | None = None) -> np.ndarray | None:
    """What ``child``'s backward sends to its input ``parent`` (all of it, if it uses it twice), in float64.

    Computed again from ``child``'s kept gradient, so it needs ``backward(retain_all_grads=True)``;
    None when nothing flows (no kept gradient, or ``parent`` needs none). ``cache`` keeps each
    child's backward result for its other inputs (a stack of T steps has T of them).
    """
    if child.grad is None or not parent.requires_grad or child.backward_fn is None:
        return None
    found = None if cache is None else cache.get(id(child))
    if found is None:
        where: dict[int, list[int]] = {}
        for i, p in enumerate(child.parents):
            where.setdefault(id(p), []).append(i)
        found = (child.backward_fn(child.grad, child.needs), where)
        if cache is not None:
            cache[id(child)] = found
    grads, where = found
    sent, flows = np.zeros(parent.shape), False
    for i in where.get(id(parent), ()):
        if grads[i] is not None:
            _add_into(sent, grads[i])
            flows = True
    return sent if flows else None


def _add_into(buffer: np.ndarray, g: object) -> None:
    if type(g) is IndexedGrad:
        g.add_into(buffer)
    else:
        buffer += g


def ramp_colour(t: float) -> str:
    """The ramp colour at ``t`` in [0, 1], interpolated between its anchor colours."""
    x = t * (len(_RAMP) - 1)
    k = min(int(x), len(_RAMP) - 2)
    a, b = _rgb(_RAMP[k]), _rgb(_RAMP[k + 1])
    frac = x - k
    return "#" + "".join(f"{round(p + (q - p) * frac):02x}" for p, q in zip(a, b, strict=True))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)
