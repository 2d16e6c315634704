"""mg.viz.draw and save: checked on the DOT source (clusters, boxes, arrows, colours) and on rendered files."""
import re
import shutil
import time
import warnings

import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq.viz.draw import FULL_STEPS
from micrograd_seq.viz.grads import GradientScale, ramp_colour
from micrograd_seq.viz.render import STRIP_FROM
from micrograd_seq.viz.view import collect, node_id

requires_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz 'dot' program is not installed")


# ---- reading DOT source back ---------------------------------------------------

class Dot:
    """The nodes (id -> attributes, enclosing clusters) and edges of a graphviz source."""

    NODE = re.compile(r'^\s*("[^"]*"|\w+) \[(.*)\]$')
    EDGE = re.compile(r'^\s*("[^"]*"|[\w:]+) -> ("[^"]*"|[\w:]+)(?: \[(.*)\])?$')
    ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<.*>|[^ \]]+)')

    def __init__(self, source: str) -> None:
        self.nodes, self.cluster_of, self.edges, self.clusters = {}, {}, [], []
        stack = []
        for line in source.splitlines():
            if line.strip().startswith("subgraph"):
                stack.append(line.split("subgraph", 1)[1].strip(' {"'))
                self.clusters.append(stack[-1])
            elif line.strip() == "}":
                stack = stack[:-1]
            elif m := self.EDGE.match(line):
                self.edges.append((m[1].strip('"'), m[2].strip('"'), self.attrs(m[3] or "")))
            elif (m := self.NODE.match(line)) and m[1] not in ("graph", "node", "edge"):
                self.nodes[m[1].strip('"')] = self.attrs(m[2])
                self.cluster_of[m[1].strip('"')] = tuple(stack)

    def attrs(self, text: str) -> dict:
        return {k: v[1:-1] if v.startswith('"') else v for k, v in self.ATTR.findall(text)}

    def labelled(self, text: str) -> list[str]:
        """Ids of the nodes whose label's first line is ``text``."""
        return [n for n, a in self.nodes.items() if a.get("label", "").split("\\n")[0].split("  ")[0] == text]


def lstm_loss(steps=3, hidden=4, features=3, seed=0, **layer_options):
    mg.manual_seed(seed)
    layer = mg.nn.LSTM(features, hidden, **layer_options)
    x = mg.tensor(np.random.default_rng(seed).standard_normal((steps, 1, features)), name="x")
    out, _ = layer(x)
    return (out[-1] ** 2).mean(), layer


def hand_rnn(steps, hidden=8, features=3, seed=0):
    """A tanh RNN looped by hand with RNNCell, one scope per step; returns (loss, hidden states, cell)."""
    mg.manual_seed(seed)
    cell = mg.nn.RNNCell(features, hidden)
    xs = np.random.default_rng(seed).standard_normal((steps, 1, features))
    h, states = None, []
    for t in range(steps):
        with mg.name_scope(f"t={t}"):
            h = cell(xs[t], h)
        states.append(h)
    return (h ** 2).mean(), states, cell


def luminance(colour: str) -> float:
    r, g, b = (int(colour[k:k + 2], 16) for k in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


# ---- structure -----------------------------------------------------------------

def test_one_labelled_cluster_per_time_step():
    loss, _ = lstm_loss(steps=4)
    source = mg.viz.draw(loss).source
    dot = Dot(source)
    assert sorted(dot.clusters) == [f"cluster_t={t}" for t in range(4)]
    for t in range(4):
        assert re.search(rf'subgraph "cluster_t={t}" {{\s*[^\n]*label="t={t}"', source)


def test_gates_are_named_inside_each_step():
    loss, _ = lstm_loss(steps=3)
    dot = Dot(mg.viz.draw(loss).source)
    for gate in ("input gate", "forget gate", "candidate", "output gate", "cell", "hidden"):
        ids = dot.labelled(gate)
        assert sorted(dot.cluster_of[i] for i in ids) == [(f"cluster_t={t}",) for t in range(3)], gate


def test_each_parameter_is_one_box_outside_the_steps_feeding_every_step():
    loss, layer = lstm_loss(steps=5)
    dot = Dot(mg.viz.draw(loss).source)
    for name, p in layer.named_parameters():
        title = name + "ᵀ" if p.ndim == 2 else name
        (box,) = dot.labelled(title)
        assert box == node_id(p.node)
        assert dot.cluster_of[box] == ()
    (w_hh,) = dot.labelled("weight_hh_l0ᵀ")
    fed = sorted(dot.cluster_of[target] for source, target, _ in dot.edges if source == w_hh)
    assert fed == [(f"cluster_t={t}",) for t in range(5)]
    assert not dot.labelled("transpose"), "a parameter's transpose is folded into its box"


def test_weight_transposed_inside_every_step_is_still_one_box():
    loss, _, cell = hand_rnn(steps=4, hidden=3)
    dot = Dot(mg.viz.draw(loss).source)
    (box,) = dot.labelled("weight_hhᵀ")
    assert box == node_id(cell.weight_hh.node)
    assert sorted(dot.cluster_of[t] for s, t, _ in dot.edges if s == box) == [(f"cluster_t={t}",) for t in range(4)]


def test_a_parameter_also_used_untransposed_keeps_its_transpose_box():
    w = mg.tensor(np.ones((2, 2)), requires_grad=True, name="w")
    y = (w @ w.T).sum()
    dot = Dot(mg.viz.draw(y).source)
    assert dot.labelled("w") == [node_id(w.node)] and len(dot.labelled("transpose")) == 1


def test_edges_follow_the_data_flow():
    a = mg.tensor([1.0, 2.0], requires_grad=True, name="a")
    y = a.tanh()
    dot = Dot(mg.viz.draw(y).source)
    assert [(s, t) for s, t, _ in dot.edges] == [(node_id(a.node), node_id(y.node))]
    assert dot.nodes[node_id(y.node)]["label"] == "tanh  (2,)"
    assert dot.nodes[node_id(y.node)]["peripheries"] == "2", "the root is marked"


def test_leaf_titles_name_input_and_constants():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    y = (mg.tensor(1.0) - a) * mg.tensor([3.0, 4.0]) + mg.tensor(np.zeros(2)) + mg.tensor([5.0, 5.0])
    titles = {a["label"].split("  ")[0] for a in Dot(mg.viz.draw(y).source).nodes.values()}
    assert {"input", "constant", "zeros", "all 5"} <= titles


def test_numbers_in_expressions_are_written_into_their_op():
    a = mg.tensor([1.0, 2.0], requires_grad=True, name="a")
    y = (mg.tensor(1.0) - a) * mg.tensor(0.5)
    dot = Dot(mg.viz.draw(y, show_shapes=False).source)
    assert sorted(attrs["label"] for attrs in dot.nodes.values()) == ["a", "mul(·, 0.5)", "sub(1, ·)"]
    assert len(dot.edges) == 2, "a number gets no box and no arrow"
    z = 2 * a
    assert Dot(mg.viz.draw(z).source).nodes[node_id(z.node)]["label"].startswith("mul(")


def test_constants_used_once_sit_in_their_step():
    mg.manual_seed(0)
    out, _ = mg.nn.GRU(2, 3)(np.ones((3, 1, 2)))
    dot = Dot(mg.viz.draw(out).source)
    subs = [i for i, a in dot.nodes.items() if a["label"].startswith("sub(")]
    assert sorted(dot.cluster_of[i] for i in subs) == [(f"cluster_t={t}",) for t in range(3)], "1 - z in each step"
    (zeros,) = dot.labelled("zeros")
    assert dot.cluster_of[zeros] == ("cluster_t=0",), "the zero initial state is drawn in the first step"


def test_nested_scopes_are_nested_clusters():
    loss, _ = lstm_loss(steps=2, num_layers=2, bidirectional=True)
    dot = Dot(mg.viz.draw(loss).source)
    assert len(dot.clusters) == 2 + 4 + 8
    (cell,) = [i for i in dot.labelled("cell") if dot.cluster_of[i][-1].endswith("t=1")
               and "layer 1/reverse" in dot.cluster_of[i][-1]]
    assert dot.cluster_of[cell] == ("cluster_layer 1", "cluster_layer 1/reverse", "cluster_layer 1/reverse/t=1")


def test_node_ids_are_stable_and_set_as_svg_ids():
    loss, _ = lstm_loss(steps=2)
    first, second = mg.viz.draw(loss).source, mg.viz.draw(loss).source
    assert first == second
    view = collect([loss.node])
    dot = Dot(first)
    assert set(dot.nodes) == set(view.boxes)
    assert all(attrs["id"] == box for box, attrs in dot.nodes.items())


# ---- collapsed views -------------------------------------------------------------

def test_collapse_draws_each_step_as_one_box():
    loss, layer = lstm_loss(steps=4)
    full, small = Dot(mg.viz.draw(loss).source), Dot(mg.viz.draw(loss, collapse="t").source)
    assert len(small.nodes) < len(full.nodes) / 3 and not small.clusters
    steps = [small.labelled(f"t={t}") for t in range(4)]
    assert all(len(s) == 1 for s in steps)
    chain = [(s, t, a.get("label")) for s, t, a in small.edges if s in sum(steps, []) and t in sum(steps, [])]
    assert chain == [(steps[t][0], steps[t + 1][0], "hidden, cell") for t in range(3)], "de-duplicated, named"
    (w_hh,) = small.labelled("weight_hh_l0ᵀ")
    assert sorted(t for s, t, _ in small.edges if s == w_hh) == sorted(sum(steps, []))
    assert len(small.edges) == len({(s, t) for s, t, _ in small.edges})


def test_collapse_by_depth_keeps_outer_clusters_or_merges_them():
    loss, _ = lstm_loss(steps=3, num_layers=2)
    by_layer = Dot(mg.viz.draw(loss, collapse=1).source)
    assert [len(by_layer.labelled(f"layer {k}")) for k in (0, 1)] == [1, 1] and not by_layer.clusters
    by_step = Dot(mg.viz.draw(loss, collapse="t").source)
    assert sorted(by_step.clusters) == ["cluster_layer 0", "cluster_layer 1"]
    assert all(by_step.cluster_of[i] == ("cluster_layer 0",) for t in range(3) for i in by_step.labelled(f"t={t}")
               if i.startswith("s_layer 0/"))


def test_too_many_nodes_collapse_by_themselves_and_say_so():
    loss, _ = lstm_loss(steps=6)
    full = len(Dot(mg.viz.draw(loss, max_nodes=None).source).nodes)
    with pytest.warns(UserWarning, match=rf"{full} nodes \(more than max_nodes=50\), drawn collapsed to time steps"):
        graph = mg.viz.draw(loss, max_nodes=50)
    dot = Dot(graph.source)
    assert all(len(dot.labelled(f"t={t}")) == 1 for t in range(6))
    assert re.search(r'^\t\S.* label="\d+ nodes \(more than max_nodes=50\)', graph.source, re.M), "a graph label"


def test_long_rows_of_steps_collapse_by_themselves():
    steps = FULL_STEPS + 1
    loss, _, _ = hand_rnn(steps=steps, hidden=2)
    with pytest.warns(UserWarning, match=rf"{steps} time steps in a row \(more than {FULL_STEPS}"):
        dot = Dot(mg.viz.draw(loss).source)
    assert all(len(dot.labelled(f"t={t}")) == 1 for t in range(steps))
    full = Dot(mg.viz.draw(loss, max_nodes=None).source)
    assert len(full.clusters) == steps, "max_nodes=None draws every op"


def test_a_long_row_of_steps_is_one_strip_in_time_order(f64):
    steps = STRIP_FROM
    loss, states, cell = hand_rnn(steps=steps, hidden=2)
    loss.backward(retain_all_grads=True)
    dot = Dot(mg.viz.draw(loss, collapse="t", grads=True).source)
    (strip,) = [n for n in dot.nodes if n.startswith("strip")]
    label = dot.nodes[strip]["label"]
    cells = re.findall(r'<td port="p(\d+)" id="s_t=(\d+)" href="#" title="[^"]*" bgcolor="(#[0-9a-f]{6})">'
                       r'<font color="#[0-9a-f]{6}">t=\2<br/>', label)
    assert [(int(p), int(t)) for p, t, _ in cells] == [(t, t) for t in range(steps)]
    assert f"{steps} steps, hidden passed on from each to the next" in label
    assert not any(n.startswith("s_") for n in dot.nodes)
    (w_hh,) = dot.labelled("weight_hhᵀ")
    assert sorted(t for s, t, _ in dot.edges if s == w_hh) == sorted(f"{strip}:p{t}" for t in range(steps))
    assert luminance(cells[0][2]) > luminance(cells[-1][2]), "the strip fades back in time too"


def drawn_boxes(graph) -> int:
    """How many boxes a drawing shows: its nodes, less strips and the legend, plus each strip's cells."""
    dot = Dot(graph.source)
    strips = [n for n in dot.nodes if n.startswith("strip")]
    cells = sum(dot.nodes[n]["label"].count("<td port=") for n in strips)
    return len(dot.nodes) - len(strips) - ("legend" in dot.nodes) + cells


def test_a_10000_step_lstm_draws_within_max_nodes():
    loss, _ = lstm_loss(steps=10_000)
    start = time.perf_counter()
    with pytest.warns(UserWarning, match=r"only the first and last \d+ time steps of each long row are drawn"):
        graph = mg.viz.draw(loss)
    svg = graph.pipe(format="svg") if shutil.which("dot") else b""
    seconds = time.perf_counter() - start
    assert drawn_boxes(graph) <= 500
    (strip,) = [n for n in Dot(graph.source).nodes if n.startswith("strip")]
    label = Dot(graph.source).nodes[strip]["label"]
    kept = [int(t) for t in re.findall(r'id="s_t=(\d+)"', label)]
    keep = len(kept) // 2
    assert kept == list(range(keep)) + list(range(10_000 - keep, 10_000)), "the first and the last steps"
    assert f"… {10_000 - 2 * keep:,} steps …" in label and f"t={keep} … t={9_999 - keep}" in label
    assert seconds < 10, f"a hang guard, not a benchmark: drawing and laying out took {seconds:.1f} s"
    assert not svg or svg.startswith(b"<?xml")


@pytest.mark.parametrize("kind, steps, options", [
    ("RNN", 30, {}), ("GRU", 100, {}), ("LSTM", 300, {}), ("LSTM", 80, {"num_layers": 2, "bidirectional": True}),
])
@pytest.mark.parametrize("max_nodes", [12, 40, 150])
def test_no_drawing_exceeds_max_nodes(kind, steps, options, max_nodes):
    mg.manual_seed(0)
    out, _ = getattr(mg.nn, kind)(3, 4, **options)(np.ones((steps, 1, 3)))
    for collapse in (None, "t"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            graph = mg.viz.draw(out.sum(), collapse=collapse, max_nodes=max_nodes)
        assert drawn_boxes(graph) <= max_nodes, (collapse, Dot(graph.source).nodes.keys())


def test_left_out_steps_are_one_box_between_the_kept_ones():
    loss, _ = lstm_loss(steps=100)
    with pytest.warns(UserWarning, match=r"\d+ boxes \(more than max_nodes=30\), so only the first and last"):
        dot = Dot(mg.viz.draw(loss, collapse="t", max_nodes=30).source)
    (elided,) = [n for n in dot.nodes if n.startswith("elided_")]
    title, detail = dot.nodes[elided]["label"].split("\\n")[:2]
    left_out = int(re.fullmatch(r"… (\d+) steps …", title)[1])
    keep = (100 - left_out) // 2
    assert detail.startswith(f"t={keep} … t={99 - keep}, ")
    steps = {t: dot.labelled(f"t={t}") for t in range(100)}
    assert all(len(steps[t]) == (t < keep or t >= 100 - keep) for t in range(100))
    chain = {(s, t): a.get("label") for s, t, a in dot.edges}
    assert chain[(steps[keep - 1][0], elided)] == chain[(elided, steps[100 - keep][0])] == "hidden, cell"
    (w_hh,) = dot.labelled("weight_hh_l0ᵀ")
    assert (w_hh, elided) in chain, "the weight still feeds the steps left out"
    assert not [n for n, a in dot.nodes.items() if a["label"].startswith("x[16:32]")], "their input block goes too"


def test_a_long_graph_without_steps_keeps_the_boxes_nearest_the_output():
    x = mg.tensor([0.5], requires_grad=True, name="x")
    y = x
    for _ in range(300):
        y = y.tanh()
    with pytest.warns(UserWarning, match=r"no scopes to collapse.*the 49 boxes nearest the output"):
        dot = Dot(mg.viz.draw(y, max_nodes=50).source)
    assert len(dot.nodes) == 50
    (rest,) = [n for n in dot.nodes if n.startswith("elided_")]
    assert dot.nodes[rest]["label"].startswith("… 252 more boxes …")
    assert node_id(y.node) in dot.nodes and dot.nodes[node_id(y.node)]["peripheries"] == "2"


def test_grad_range_puts_two_drawings_on_one_scale(f64):
    drawings = []
    for kind in ("RNN", "LSTM"):
        mg.manual_seed(0)
        out, _ = getattr(mg.nn, kind)(3, 4)(np.ones((5, 1, 3)))
        loss = (out[-1] ** 2).mean()
        loss.backward(retain_all_grads=True)
        drawings.append((loss, Dot(mg.viz.draw(loss, collapse="t", grads=True, grad_range=(1e-8, 1)).source)))
    scale = GradientScale(collect([drawings[0][0].node]), fixed=(1e-8, 1.0))
    for loss, dot in drawings:
        assert dot.nodes[node_id(loss.node)]["fillcolor"] == ramp_colour(1.0), "d loss / d loss = 1, the top"
        for t in range(5):
            (box,) = dot.labelled(f"t={t}")
            norm = float(re.search(r"‖grad‖ (\S+)", dot.nodes[box]["label"])[1])
            assert luminance(dot.nodes[box]["fillcolor"]) == pytest.approx(
                luminance(ramp_colour(scale.position(norm))), abs=6), "the same norm, the same colour"
        legend = dot.nodes["legend"]["label"]
        assert "<td>≤1.0e-08</td>" in legend and "<td>≥1.0e+00</td>" in legend and "grad_range" in legend
    assert scale.position(1e-12) == 0.0 and scale.position(10.0) == 1.0, "beyond the range: the end colours"


@pytest.mark.parametrize("options, error, message", [
    (dict(grad_range=(1e-8, 1)), ValueError, "pass grads=True too"),
    (dict(grads=True, grad_range=(1, 1e-8)), ValueError, "0 < low < high"),
    (dict(grads=True, grad_range=(0, 1)), ValueError, "0 < low < high"),
    (dict(grads=True, grad_range=(1e-8, float("inf"))), ValueError, "0 < low < high"),
    (dict(grads=True, grad_range=1.0), TypeError, "a pair of numbers"),
    (dict(grads=True, grad_range=("a", "b")), TypeError, "a pair of numbers"),
])
def test_bad_grad_ranges_are_named(f64, options, error, message):
    loss, _ = lstm_loss(steps=1)
    loss.backward(retain_all_grads=True)
    with pytest.raises(error, match=message):
        mg.viz.draw(loss, **options)


# ---- gradients -------------------------------------------------------------------

def test_grads_colour_every_box_by_its_own_norm_on_a_log_scale(f64):
    loss, states, _ = hand_rnn(steps=20)
    loss.backward(retain_all_grads=True)
    dot = Dot(mg.viz.draw(loss, grads=True).source)
    norms = [float(np.linalg.norm(h.grad)) for h in states]
    assert norms[0] < 1e-3 * norms[-1], "a 20-step vanilla RNN's gradient vanishes back in time"
    fills = []
    for h, norm in zip(states, norms, strict=True):
        attrs = dot.nodes[node_id(h.node)]
        assert f"‖grad‖ {norm:.1e}" in attrs["label"]
        fills.append(attrs["fillcolor"])
    by_norm = [luminance(fills[k]) for k in np.argsort(norms)]
    assert by_norm == sorted(by_norm, reverse=True), "larger gradients are darker"
    assert luminance(fills[0]) - luminance(fills[-1]) > 120, "the fade is visible at a glance"


def test_grads_legend_spans_smallest_to_largest_norm(f64):
    loss, _ = lstm_loss(steps=3)
    loss.backward(retain_all_grads=True)
    graph = mg.viz.draw(loss, grads=True)
    scale = GradientScale(collect([loss.node]))
    assert scale.high == pytest.approx(1.0), "d loss / d loss is the largest norm here"
    dot = Dot(graph.source)
    assert "cluster_legend" in dot.clusters
    legend = dot.nodes["legend"]["label"]
    assert f"<td>{scale.low:.1e}</td>" in legend and f"<td>{scale.high:.1e}</td>" in legend
    assert ramp_colour(0.0) in legend and ramp_colour(1.0) in legend


def test_arrow_norm_is_the_gradient_it_carries_back(f64):
    w = mg.tensor([1.0, -2.0], requires_grad=True, name="w")
    a, b = mg.tensor([3.0, 4.0]), mg.tensor([0.5, 0.25])
    first, second = w * a, w * b
    loss = (first + 10 * second).sum()
    loss.backward(retain_all_grads=True)
    scale = GradientScale(collect([loss.node]))
    assert scale.edges[(node_id(w.node), node_id(first.node))] == pytest.approx(np.linalg.norm([3.0, 4.0]))
    assert scale.edges[(node_id(w.node), node_id(second.node))] == pytest.approx(np.linalg.norm([5.0, 2.5]))
    assert scale.boxes[node_id(w.node)] == pytest.approx(np.linalg.norm([8.0, 6.5]))


def test_no_gradient_arrows_are_dotted(f64):
    loss, states, _ = hand_rnn(steps=3)
    stacked = (mg.stack(states)[-1] ** 2).sum()
    stacked.backward(retain_all_grads=True)
    dot = Dot(mg.viz.draw(stacked, grads=True).source)
    styles = {dot.nodes[target]["label"].split("  ")[0]: attrs.get("style")
              for source, target, attrs in dot.edges if source == node_id(states[0].node)}
    assert styles == {"stack": "dotted", "matmul": None}, "no gradient flows back from an unused slice"


def test_grads_without_kept_gradients_say_what_to_do():
    loss, _ = lstm_loss()
    with pytest.raises(RuntimeError, match=r"backward\(retain_all_grads=True\)"):
        mg.viz.draw(loss, grads=True)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match=r"backward\(retain_all_grads=True\)"):
        mg.viz.draw(loss, grads=True)


def test_drawing_a_released_graph_is_an_error():
    loss, _ = lstm_loss()
    loss.backward()
    with pytest.raises(RuntimeError, match="released.*retain_graph=True"):
        mg.viz.draw(loss)


# ---- values, options, errors ---------------------------------------------------------

def test_values_are_shown_where_kept():
    x = mg.tensor([[0.5, -1.0]], requires_grad=True, name="x")
    y = x.tanh()
    dot = Dot(mg.viz.draw(y, show_values=True, show_shapes=False).source)
    assert dot.nodes[node_id(x.node)]["label"] == "x\\n[[ 0.5 -1. ]]"
    assert dot.nodes[node_id(y.node)]["label"] == "tanh"
    with mg.keep_values():
        z = x.tanh()
    label = Dot(mg.viz.draw(z, show_values=True).source).nodes[node_id(z.node)]["label"]
    assert label == "tanh  (1, 2)\\n" + np.array2string(np.tanh(x.data), precision=3)


def test_roots_may_be_several_or_a_tuple():
    mg.manual_seed(0)
    out, (h, c) = mg.nn.LSTM(2, 3)(np.ones((2, 1, 2)))
    dot = Dot(mg.viz.draw(out, (h, c)).source)
    assert {node_id(t.node) for t in (out, h, c)} <= {n for n, a in dot.nodes.items() if a.get("peripheries")}


@pytest.mark.parametrize("options, error, message", [
    (dict(collapse="x"), ValueError, "collapse must be None, 't'"),
    (dict(collapse=0), ValueError, "scope depth >= 1"),
    (dict(collapse=1.5), TypeError, "collapse must be"),
    (dict(rankdir="XY"), ValueError, "rankdir must be one of"),
    (dict(max_nodes=0), ValueError, "max_nodes must be at least 1"),
    (dict(max_nodes="9"), TypeError, "max_nodes must be an int"),
])
def test_bad_options_are_named(options, error, message):
    loss, _ = lstm_loss(steps=1)
    with pytest.raises(error, match=message):
        mg.viz.draw(loss, **options)


def test_bad_roots_are_named():
    with pytest.raises(TypeError, match="expected tensors to draw, got a ndarray"):
        mg.viz.draw(np.ones(2))
    with pytest.raises(ValueError, match=r"shape \(2,\) has no graph to draw"):
        mg.viz.draw(mg.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="at least one tensor"):
        mg.viz.draw()


# ---- saving --------------------------------------------------------------------------

@requires_dot
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_save_renders_by_suffix(tmp_path, suffix, magic):
    loss, _ = lstm_loss(steps=2)
    path = mg.viz.save(loss, path=tmp_path / f"sub/lstm{suffix}", collapse="t")
    assert path == tmp_path / f"sub/lstm{suffix}"
    assert path.read_bytes().startswith(magic)


@requires_dot
def test_svg_shows_the_steps_and_box_ids(tmp_path):
    loss, layer = lstm_loss(steps=3)
    svg = mg.viz.save(loss, tmp_path / "lstm.svg").read_text(encoding="utf-8")
    assert all(f">t={t}</text>" in svg for t in range(3))
    assert f'<g id="{node_id(layer.weight_hh_l0.node)}" class="node">' in svg


def test_save_dot_needs_no_graphviz_program(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    loss, _ = lstm_loss(steps=2)
    path = mg.viz.save(loss, path=tmp_path / "g.dot")
    assert path.read_text(encoding="utf-8") == mg.viz.draw(loss).source


def test_missing_dot_keeps_the_source_and_says_how_to_install(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    loss, _ = lstm_loss(steps=2)
    with pytest.raises(mg.viz.GraphvizNotFoundError) as info:
        mg.viz.save(loss, path=tmp_path / "lstm.svg")
    message = str(info.value)
    for needed in ("'dot'", "apt-get install graphviz", "brew install graphviz", "conda install graphviz",
                   str(tmp_path / "lstm.dot")):
        assert needed in message
    assert not (tmp_path / "lstm.svg").exists()
    assert (tmp_path / "lstm.dot").read_text(encoding="utf-8") == mg.viz.draw(loss).source


def test_save_names_bad_paths(tmp_path):
    loss, _ = lstm_loss(steps=1)
    with pytest.raises(ValueError, match=r"'g.jpg'.*\.svg, \.png, \.pdf, \.dot"):
        mg.viz.save(loss, path=tmp_path / "g.jpg")
    with pytest.raises(TypeError, match="give the file to write"):
        mg.viz.save(loss)
    assert not list(tmp_path.iterdir())


def test_all_zero_gradients_draw_white_and_say_so(f64):
    a = mg.tensor([1.0, 2.0], requires_grad=True, name="a")
    y = a.tanh()
    y.backward(np.zeros(2), retain_all_grads=True)
    dot = Dot(mg.viz.draw(y, grads=True).source)
    assert dot.nodes[node_id(y.node)]["fillcolor"] == "#ffffff"
    assert dot.nodes["legend"]["label"] == "every gradient here is exactly zero"
    assert [a.get("style") for _, _, a in dot.edges] == ["dotted"]


# ---- packed batches ----------------------------------------------------------------------

def packed_lstm_loss(lengths=(4, 4, 3, 1)):
    """An LSTM over a packed batch of sequences of the given lengths (batch sizes 4, 3, 3, 2)."""
    mg.manual_seed(0)
    layer = mg.nn.LSTM(2, 3)
    packed = mg.nn.utils.rnn.pack_sequence([mg.tensor(np.ones((n, 2))) for n in lengths])
    _, (h_n, _) = layer(packed)
    return (h_n ** 2).sum()


def test_a_packed_batch_draws_each_steps_batch_size_and_where_it_shrinks():
    dot = Dot(mg.viz.draw(packed_lstm_loss()).source)
    steps = sorted(c.removeprefix("cluster_") for c in dot.clusters if c.startswith("cluster_t="))
    assert steps == ["t=0 · batch 4", "t=1 · batch 3 (shrinks from 4)", "t=2 · batch 3",
                     "t=3 · batch 2 (shrinks from 3)"]


@requires_dot
@pytest.mark.parametrize("collapse", [None, "t"], ids=["full", "collapsed"])
def test_a_packed_batch_renders_with_dot(tmp_path, collapse):
    svg = mg.viz.save(packed_lstm_loss(), tmp_path / "packed.svg", collapse=collapse).read_text(encoding="utf-8")
    assert ">t=3 · batch 2 (shrinks from 3)</text>" in svg and ">t=0 · batch 4</text>" in svg
