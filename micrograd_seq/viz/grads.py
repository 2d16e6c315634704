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

__all__ = ["node_norm", "box_norm", "GradientScale", "ramp_colour"]

# Pale for tiny gradients, dark red for large ones: a vanishing gradient literally fades out.
_RAMP = ["#fff0b0", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026", "#67000d"]


def node_norm(node: Node) -> float | None:
    """The L2 norm of a node's kept gradient, or None when it has none."""
    if node.grad is None:
        return None
    return float(np.linalg.norm(np.ravel(node.grad).astype(np.float64)))


def box_norm(box: Box) -> float | None:
    """A box's gradient norm; a collapsed group takes the largest inside it."""
    if box.kind != "group":
        return node_norm(box.nodes[0])
    norms = [n for n in map(node_norm, box.nodes) if n is not None]
    return max(norms) if norms else None


class GradientScale:
    """The norms of a view's boxes and arrows, and a log-scale colour map from the smallest to the largest."""

    def __init__(self, view: View) -> None:
        self._sent: dict[int, tuple] = {}
        self.boxes = {b.id: box_norm(b) for b in view.boxes.values() if b.kind != "constant"}
        self.edges = {key: self._carried(pairs) for key, pairs in view.edges.items()}
        positive = [n for n in (*self.boxes.values(), *self.edges.values())
                    if n is not None and n > 0 and math.isfinite(n)]
        self.low, self.high = (min(positive), max(positive)) if positive else (0.0, 0.0)

    def _carried(self, pairs: list[tuple[Node, Node]]) -> float | None:
        """The norm of all the gradient these (parent, consumer) links send back, or None if none does."""
        total, flows = 0.0, False
        for parent, child in dict.fromkeys(pairs):
            if child.grad is None or not parent.requires_grad:
                continue
            if id(child) not in self._sent:
                self._sent[id(child)] = child.backward_fn(child.grad, child.needs)
            sent = np.zeros(parent.shape)
            for p, g in zip(child.parents, self._sent[id(child)], strict=True):
                if p is parent and g is not None:
                    _add_into(sent, g)
                    flows = True
            total += float(np.sum(sent * sent))
        return math.sqrt(total) if flows else None

    def position(self, norm: float) -> float:
        """0 at ``low``, 1 at ``high``, linear in log(norm) between."""
        if self.high == self.low:
            return 1.0
        t = (math.log(norm) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return min(1.0, max(0.0, t))

    def colour(self, norm: float | None) -> str | None:
        """The ramp colour of ``norm``; None for no gradient or an exactly zero one."""
        if norm is None or norm <= 0 or not math.isfinite(norm):
            return None
        return ramp_colour(self.position(norm))


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
