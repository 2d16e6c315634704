"""What a drawing shows: the boxes and arrows collected from a recorded graph, before any styling.

``collect`` walks ``node.parents`` from the roots and makes one box per node (a parameter used
only through ``.T`` folds its transposes into its own box, so shared weights appear once).
``collapse`` merges every box inside a scope (a time step ``t=k``, or any scope depth) into one.
Box ids are stable (``n{id(node)}``), and ``View.box_of`` maps every drawn engine node to its box
(all but the numbers written into their op's label), so other drawings (a backward replay) can
find the box of any node backward visits.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ..graph import Node

__all__ = ["Box", "View", "collect", "collapse", "node_id", "longest_row"]


@dataclass
class Box:
    """One drawn node: an op, a leaf, or (collapsed) a whole scope."""

    id: str
    kind: str                 # "op", "leaf" (requires grad), "constant" or "group"
    title: str                # the op, or the leaf's name, or the group's scope name
    scope: tuple[str, ...]    # the clusters it is drawn in
    nodes: list[Node]         # the engine nodes it stands for; nodes[0] represents a non-group box


@dataclass
class View:
    """Boxes in data-flow order and the arrows between them."""

    boxes: dict[str, Box] = field(default_factory=dict)
    edges: dict[tuple[str, str], list[tuple[Node, Node]]] = field(default_factory=dict)
    box_of: dict[int, str] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)

    def add_edge(self, parent: Node, child: Node) -> None:
        source, target = self.box_of[id(parent)], self.box_of[id(child)]
        if source != target:
            self.edges.setdefault((source, target), []).append((parent, child))


def node_id(node: Node) -> str:
    """The stable DOT id of the box drawing ``node``."""
    return f"n{id(node)}"


def collect(roots: list[Node]) -> View:
    """The full view of the graph behind ``roots``: one box per node, transposed parameters folded."""
    order = _topological(roots)
    if any(node.released for node in order):
        raise RuntimeError(_RELEASED)
    consumers: dict[int, list[Node]] = {id(n): [] for n in order}
    for node in order:
        for parent in node.parents:
            consumers[id(parent)].append(node)
    root_ids = {id(r) for r in roots}
    written = {id(n) for n in order if _written_in_label(n) and id(n) not in root_ids}
    view = View()
    for node in order:
        if id(node) in view.box_of or id(node) in written:
            continue
        users = consumers[id(node)]
        box = Box(node_id(node), *_kind_and_title(node, written), _drawn_scope(node, users), [node])
        if _folds_transposes(node, users):
            box.title += "ᵀ"
            box.nodes += users
            view.box_of.update((id(u), box.id) for u in users)
        view.boxes[box.id] = box
        view.box_of[id(node)] = box.id
    for node in order:
        for parent in node.parents:
            if id(parent) not in written:
                view.add_edge(parent, node)
    view.roots = list(dict.fromkeys(view.box_of[id(r)] for r in roots))
    return view


_RELEASED = ("draw: backward() has already released (part of) this graph, so there is nothing left to draw. "
             "Draw before calling backward, or call backward(retain_graph=True), or "
             "backward(retain_all_grads=True) to draw the gradients too")


def _topological(roots: list[Node]) -> list[Node]:
    """Every node reachable from ``roots``, parents before children (iterative post-order DFS)."""
    order: list[Node] = []
    seen: set[int] = set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.parents))]
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if id(parent) not in seen:
                    seen.add(id(parent))
                    stack.append((parent, iter(parent.parents)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def _written_in_label(node: Node) -> bool:
    """A number in an expression (the 1 of ``1 - z``) is written into its consumer's label, not boxed."""
    return node.is_leaf and not node.requires_grad and node.shape == ()


def _kind_and_title(node: Node, written: set[int]) -> tuple[str, str]:
    if not node.is_leaf:
        if not any(id(p) in written for p in node.parents):
            return "op", node.op
        operands = (p.name or _constant_title(p) if id(p) in written else "·" for p in node.parents)
        return "op", f"{node.op}({', '.join(operands)})"
    if node.requires_grad:
        return "leaf", node.name or "input"
    return "constant", node.name or _constant_title(node)


def _constant_title(node: Node) -> str:
    """A constant's value when it is one number (``1`` in ``1 - z``), "zeros" for zeros, else "constant"."""
    data = node.data
    if data is None or data.size == 0:
        return "constant"
    first = data.flat[0]
    if not (data == first).all():
        return "constant"
    if data.size > 1:
        return "zeros" if first == 0 else f"all {first:.4g}"
    return f"{first:.4g}"


def _drawn_scope(node: Node, users: list[Node]) -> tuple[str, ...]:
    """A constant used in one scope only sits there (a zero initial state in the first step)."""
    if node.is_leaf and not node.requires_grad and users and len({u.scope for u in users}) == 1:
        return users[0].scope
    return node.scope


def _folds_transposes(node: Node, users: list[Node]) -> bool:
    """A 2-D trainable leaf used only through transposes is drawn as one box "weightᵀ"."""
    return (node.is_leaf and node.requires_grad and len(node.shape) == 2 and bool(users)
            and all(u.op == "transpose" for u in users))


def _group_key(scope: tuple[str, ...], collapse: str | int) -> tuple[str, ...] | None:
    """The scope a box merges into: up to its first ``t=`` scope, or its first ``collapse`` scopes."""
    if collapse == "t":
        for depth, name in enumerate(scope):
            if name.startswith("t="):
                return scope[:depth + 1]
        return None
    return scope[:collapse] if len(scope) >= collapse else None


def collapse(view: View, by: str | int) -> View:
    """The same graph with every box inside one scope (``_group_key``) merged into a single box."""
    out = View()
    finished: dict[str, int] = {}  # a box's place: a group's is its last member's, so steps follow the data
    for place, box in enumerate(view.boxes.values()):
        key = _group_key(box.scope, by)
        if key is None:
            merged = box
        else:
            group_id = "s_" + "/".join(key)
            merged = out.boxes.get(group_id) or Box(group_id, "group", key[-1], key[:-1], [])
            merged.nodes += box.nodes
        out.boxes[merged.id] = merged
        finished[merged.id] = place
        out.box_of.update((id(n), merged.id) for n in box.nodes)
    out.boxes = {box_id: out.boxes[box_id] for box_id in sorted(out.boxes, key=finished.__getitem__)}
    for pairs in view.edges.values():
        for parent, child in pairs:
            out.add_edge(parent, child)
    out.roots = list(dict.fromkeys(out.box_of[id(view.boxes[r].nodes[0])] for r in view.roots))
    return out


def longest_row(view: View) -> int:
    """The most time steps (``t=`` scopes) side by side in one scope."""
    steps = {_group_key(box.scope, "t") for box in view.boxes.values()} - {None}
    return max(Counter(step[:-1] for step in steps).values(), default=0)
