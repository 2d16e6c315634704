"""What a drawing shows: the boxes and arrows collected from a recorded graph, before any styling.

``walk`` lists the nodes behind the roots once. ``collect`` makes one box per node (a parameter
used only through ``.T`` folds its transposes into its own box, so shared weights appear once),
or, with ``by=``, one box per scope (a time step ``t=k``, or any scope depth) for the nodes inside
one. ``elide`` keeps a drawing within a box budget: of a long row of steps it keeps the first and
last steps and draws the rest as one "... 9,990 steps ..." box; ``trim`` does the same for a graph
without steps, keeping the boxes nearest the roots.

Box ids are stable (``n{id(node)}``, ``s_<scope>``), and ``View.box_of`` maps every drawn engine
node to its box (all but the numbers written into their op's label), so other drawings (a
backward replay) can find the box of any node backward visits.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..graph import Node, collector_paused

__all__ = ["Box", "View", "Walk", "walk", "collect", "elide", "trim", "node_id"]


@dataclass
class Box:
    """One drawn node: an op, a leaf, a whole scope (collapsed), or the steps left out (elided)."""

    id: str
    kind: str                 # "op", "leaf" (requires grad), "constant", "group" or "elided"
    title: str                # the op, or the leaf's name, or the group's scope name
    scope: tuple[str, ...]    # the clusters it is drawn in
    nodes: list[Node]         # the engine nodes it stands for; nodes[0] represents an op, leaf or constant
    detail: str = ""          # what an elided box stands for ("t=5 ... t=9994")


@dataclass
class View:
    """Boxes in data-flow order and the arrows between them."""

    boxes: dict[str, Box] = field(default_factory=dict)
    edges: dict[tuple[str, str], list[tuple[Node, Node]]] = field(default_factory=dict)
    box_of: dict[int, str] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)


@dataclass
class Walk:
    """The nodes behind some roots, parents before children, and what the boxes are made from."""

    order: list[Node]
    roots: list[Node]
    users: dict[int, list[Node]]   # id(leaf) -> the nodes that use it
    written: set[int]              # numbers written into their consumer's label, not boxed

    @property
    def size(self) -> int:
        """How many boxes the full view has."""
        folded = sum(len(self.users[id(n)]) for n in self.order if _folds_transposes(n, self.users.get(id(n), [])))
        return len(self.order) - len(self.written) - folded

    @property
    def longest_row(self) -> int:
        """The most time steps (``t=`` scopes) side by side in one scope."""
        keys: dict[tuple[str, ...], tuple[str, ...] | None] = {}
        for node in self.order:
            if node.scope not in keys:
                keys[node.scope] = _group_key(node.scope, "t")
        steps = {key for key in keys.values() if key is not None}
        return max(Counter(step[:-1] for step in steps).values(), default=0)


def node_id(node: Node) -> str:
    """The stable DOT id of the box drawing ``node``."""
    return f"n{id(node)}"


def walk(roots: Sequence[Node]) -> Walk:
    """Every node reachable from ``roots``, in data-flow order, with each leaf's users."""
    with collector_paused():  # many small objects, no cycles: the collector's scans are pure overhead
        order = _topological(roots)
        if any(node.released for node in order):
            raise RuntimeError(_RELEASED)
        users: dict[int, list[Node]] = {}
        for node in order:
            for parent in node.parents:
                if parent.op is None:
                    users.setdefault(id(parent), []).append(node)
        root_ids = {id(r) for r in roots}
        written = {id(n) for n in order if _written_in_label(n) and id(n) not in root_ids}
        return Walk(order, list(roots), users, written)


def collect(roots: Sequence[Node] | Walk, by: str | int | None = None) -> View:
    """The view of the graph behind ``roots``: one box per node, or with ``by``, per scope.

    ``by="t"`` merges everything inside one time step into one box; an int merges the scopes at that
    depth (``1``: each outermost scope, such as a layer).
    """
    graph = roots if isinstance(roots, Walk) else walk(roots)
    with collector_paused():
        return _collect(graph, by)


def _collect(graph: Walk, by: str | int | None) -> View:
    view = View()
    boxes, box_of, written = view.boxes, view.box_of, graph.written
    keys: dict[tuple[str, ...], tuple[str, ...] | None] = {}
    place: dict[str, int] = {}  # a box's place in the drawing: a group's is its last member's, so steps follow the data
    for k, node in enumerate(graph.order):
        if id(node) in box_of or id(node) in written:
            continue
        users = graph.users.get(id(node), []) if node.op is None else []
        scope = _drawn_scope(node, users)
        if by is None:
            key = None
        elif scope in keys:
            key = keys[scope]
        else:
            key = keys[scope] = _group_key(scope, by)
        if key is not None:
            group_id = "s_" + "/".join(key)
            group = boxes.get(group_id)
            if group is None:
                group = boxes[group_id] = Box(group_id, "group", key[-1], key[:-1], [])
            group.nodes.append(node)
            box_of[id(node)] = group_id
            place[group_id] = k
            continue
        box = Box(node_id(node), *_kind_and_title(node, written), scope, [node])
        if _folds_transposes(node, users):
            box.title += "ᵀ"
            box.nodes += users
            for user in users:
                box_of[id(user)] = box.id
        boxes[box.id] = box
        box_of[id(node)] = box.id
        place[box.id] = k
    if by is not None:
        view.boxes = {box_id: boxes[box_id] for box_id in sorted(boxes, key=place.__getitem__)}
    edges = view.edges
    for node in graph.order:
        if id(node) in written:
            continue
        target = box_of[id(node)]
        for parent in node.parents:
            if id(parent) not in written:
                source = box_of[id(parent)]
                if source != target:
                    edges.setdefault((source, target), []).append((parent, node))
    view.roots = list(dict.fromkeys(box_of[id(r)] for r in graph.roots))
    return view


_RELEASED = ("draw: backward() has already released (part of) this graph, so there is nothing left to draw. "
             "Draw before calling backward, or call backward(retain_graph=True), or "
             "backward(retain_all_grads=True) to draw the gradients too")


def _topological(roots: Sequence[Node]) -> list[Node]:
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
    return node.op is None and not node.requires_grad and node.shape == ()


def _kind_and_title(node: Node, written: set[int]) -> tuple[str, str]:
    if node.op is not None:
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
    if node.op is None and not node.requires_grad and users and len({u.scope for u in users}) == 1:
        return users[0].scope
    return node.scope


def _folds_transposes(node: Node, users: list[Node]) -> bool:
    """A 2-D trainable leaf used only through transposes is drawn as one box "weightᵀ"."""
    return (node.op is None and node.requires_grad and len(node.shape) == 2 and bool(users)
            and all(u.op == "transpose" for u in users))


def _group_key(scope: tuple[str, ...], by: str | int) -> tuple[str, ...] | None:
    """The scope a box merges into: up to its first ``t=`` scope, or its first ``by`` scopes."""
    if by == "t":
        for depth, name in enumerate(scope):
            if name.startswith("t="):
                return scope[:depth + 1]
        return None
    assert isinstance(by, int)
    return scope[:by] if len(scope) >= by else None


# ---- keeping a drawing within max_nodes boxes ----------------------------------------

def elide(view: View, max_nodes: int) -> tuple[View, int]:
    """Keep the first and last steps of every long row of collapsed steps, and one box for those between.

    As many steps are kept as fit in ``max_nodes`` boxes; what only the left-out steps use (the
    input projection of their block, their slice of the sequence) goes into the elided box too.
    Returns the new view and how many steps it keeps at each end: ``(view, 0)`` itself when no
    row of steps can be shortened.
    """
    rows: dict[tuple[str, ...], list[str]] = {}
    for box in view.boxes.values():
        if box.kind == "group" and box.title.startswith("t="):
            rows.setdefault(box.scope, []).append(box.id)
    longest = max(map(len, rows.values()), default=0)
    if longest < 3:
        return view, 0
    with collector_paused():
        spans = _spans(view, rows)
        lengths = {row: len(steps) for row, steps in rows.items()}

        def left_out(keep: int) -> int:  # boxes merged away when ``keep`` steps stay at each end of every row
            rows_cut = sum(1 for n in lengths.values() if n > 2 * keep)
            return sum(1 for row, low, high in spans.values() if keep <= low and high < lengths[row] - keep) - rows_cut

        best, low, high = 1, 1, (longest - 1) // 2  # keep k steps at each end, leaving at least one out
        while low <= high:  # the largest k that fits; if none does, k = 1 and trim() takes over
            keep = (low + high) // 2
            if len(view.boxes) - left_out(keep) <= max_nodes:
                best, low = keep, keep + 1
            else:
                high = keep - 1
        merged: dict[tuple[str, ...], list[str]] = {}
        for box_id, (row, first, last) in spans.items():
            if best <= first and last < lengths[row] - best:
                merged.setdefault(row, []).append(box_id)
        groups = {row: (members, _steps_left_out(view, members)) for row, members in merged.items()}
        return _merge(view, groups), best


def _spans(view: View, rows: dict[tuple[str, ...], list[str]]) -> dict[str, tuple[tuple[str, ...], int, int]]:
    """For each box that could be left out with steps: its row and the first and last step it is (or feeds).

    A step spans itself. A box outside the steps that only steps of one row use, directly or
    through other such boxes, spans from the first to the last of them: it is left out when they
    all are. Roots and everything else span nothing (they are absent).
    """
    spans: dict[str, tuple[tuple[str, ...], int, int]] = {}
    for row, steps in rows.items():
        spans.update((box_id, (row, k, k)) for k, box_id in enumerate(steps))
    users: dict[str, list[str]] = {}
    for source, target in view.edges:
        users.setdefault(source, []).append(target)
    roots = set(view.roots)
    for box_id in reversed(view.boxes):  # consumers come after what they use
        if box_id in spans or box_id in roots or box_id not in users:
            continue
        fed = [spans[target] for target in users[box_id] if target in spans]
        if len(fed) == len(users[box_id]) and len({row for row, _, _ in fed}) == 1:
            spans[box_id] = (fed[0][0], min(first for _, first, _ in fed), max(last for _, _, last in fed))
    return spans


def _steps_left_out(view: View, members: list[str]) -> tuple[str, str]:
    """The elided box's title and detail: how many steps, and from which to which."""
    left_out = set(members)
    steps = [box.title for box_id, box in view.boxes.items() if box_id in left_out and box.kind == "group"]
    ops = sum(1 for m in members for n in view.boxes[m].nodes if n.op is not None)
    return f"… {len(steps):,} steps …", f"{steps[0]} … {steps[-1]}, {ops:,} ops"


def trim(view: View, max_nodes: int) -> View:
    """Keep the ``max_nodes - 1`` boxes nearest the roots and draw all the others as one box."""
    if len(view.boxes) <= max_nodes:
        return view
    sources: dict[str, list[str]] = {}
    for source, target in view.edges:
        sources.setdefault(target, []).append(source)
    kept = dict.fromkeys(view.roots[:max_nodes - 1])
    frontier = list(kept)
    while frontier and len(kept) < max_nodes - 1:
        following = []
        for box_id in frontier:
            for source in sources.get(box_id, []):
                if source not in kept and len(kept) < max_nodes - 1:
                    kept[source] = None
                    following.append(source)
        frontier = following
    rest = [box_id for box_id in view.boxes if box_id not in kept]
    ops = sum(1 for box_id in rest for n in view.boxes[box_id].nodes if n.op is not None)
    return _merge(view, {(): (rest, (f"… {len(rest):,} more boxes …", f"{ops:,} ops, farther from the output"))})


def _merge(view: View, groups: dict[tuple[str, ...], tuple[list[str], tuple[str, str]]]) -> View:
    """``view`` with each group of boxes replaced by one "elided" box, placed where its first member was."""
    out = View(roots=view.roots)
    into: dict[str, str] = {}
    elided: dict[str, Box] = {}
    for row, (members, (title, detail)) in groups.items():
        box = Box("elided_" + "/".join(row), "elided", title, row, [], detail)
        elided[box.id] = box
        into.update((member, box.id) for member in members)
    for box_id, box in view.boxes.items():
        target = into.get(box_id)
        if target is None:
            out.boxes[box_id] = box
        else:
            out.boxes.setdefault(target, elided[target]).nodes.extend(box.nodes)
    out.box_of = {node: into.get(box_id, box_id) for node, box_id in view.box_of.items()}
    for (source, target), pairs in view.edges.items():
        key = (into.get(source, source), into.get(target, target))
        if key[0] != key[1]:
            out.edges.setdefault(key, []).extend(pairs)
    return out
