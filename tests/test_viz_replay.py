"""The backward replay: a self-contained page and a text listing of the order backward() visits nodes."""
import html
import importlib
import itertools
import json
import os
import re
import shutil
import warnings

import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq.graph import MODE

replay_module = importlib.import_module("micrograd_seq.viz.replay")  # the package's `replay` is the function
requires_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz 'dot' program is not installed")


def unrolled_rnn(steps, hidden=3, features=2, seed=0):
    """A tanh RNN from primitives, one name scope per step; returns (loss, {name: parameter}).

    W is used through a transpose made inside every step, U through one made before the loop
    (as nn.RNN does), b directly: all three are shared by every step.
    """
    rng = np.random.default_rng(seed)
    params = {name: mg.tensor(rng.normal(size=shape), requires_grad=True, name=name)
              for name, shape in (("W", (hidden, features)), ("U", (hidden, hidden)), ("b", (hidden,)))}
    x = mg.tensor(rng.normal(size=(steps, 1, features)))
    u_t = params["U"].T
    h = mg.tensor(np.zeros((1, hidden)))
    outputs = []
    for t in range(steps):
        with mg.name_scope(f"t={t}"):
            h = (x[t] @ params["W"].T + h @ u_t + params["b"]).tanh().named("hidden")
        outputs.append(h)
    return (mg.stack(outputs) ** 2).sum(), params


def page_data(page):
    """The page's embedded data, each visit expanded from its compact columns into a dict."""
    match = re.search(r'<script type="application/json" id="mg-data">(.*?)</script>', page, re.S)
    assert match, "the page embeds its data as JSON"
    data = json.loads(match.group(1))
    data["visits"] = [{"box": data["boxes"][box], **data["infos"][info], "norm": norm,
                       "edges": [data["edges"][e] for e in flows]} for box, info, norm, flows in data["visits"]]
    return data


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def drawn_ids(page):
    """The ids of the boxes drawn as graph nodes, and of those drawn as cells of a strip."""
    nodes = set(re.findall(r'<g id="([^"]*)" class="node"', page))
    cells = {html.unescape(c) for c in re.findall(r'<g id="a_([^"]*)">', page)}
    return {html.unescape(n) for n in nodes} | cells


def requiring_grad(root):
    """Every node backward must visit: those reachable from the root that require grad."""
    seen, stack = {id(root): root}, [root]
    while stack:
        for parent in stack.pop().parents:
            if parent.requires_grad and id(parent) not in seen:
                seen[id(parent)] = parent
                stack.append(parent)
    return seen


@pytest.fixture
def rnn_page(f64, tmp_path):
    steps = 4
    loss, params = unrolled_rnn(steps)
    page = mg.viz.replay(loss, tmp_path / "replay.html")
    return steps, loss, params, page.path, page.path.read_text(encoding="utf-8")


# ---- the page -----------------------------------------------------------------

@requires_dot
def test_page_is_one_self_contained_file(rnn_page, tmp_path):
    _, _, _, path, page = rnn_page
    assert path == tmp_path / "replay.html" and path.is_file()
    lowered = page.lower()
    for external in ("http://", "https://", "<script src", "<link", "@import", "url(", "@font-face"):
        assert external not in lowered, external
    assert 'class="graph"' in page, "the rendered graph is inline SVG"
    assert "<?xml" not in page and "<!DOCTYPE svg" not in page


@requires_dot
def test_one_entry_per_visited_node_each_drawn(rnn_page):
    _, loss, _, _, page = rnn_page
    data = page_data(page)
    assert len(data["visits"]) == len(requiring_grad(loss.node))
    drawn = set(re.findall(r'<g id="([^"]*)" class="node"', page))
    assert {v["box"] for v in data["visits"]} <= drawn
    first = data["visits"][0]
    assert (first["op"], first["norm"]) == ("sum", 1.0), "backward starts at the loss with gradient 1"
    assert data["loss"] == pytest.approx(loss.item())


@requires_dot
def test_sweep_runs_from_the_last_time_step_to_the_first(rnn_page):
    steps, _, _, _, page = rnn_page
    visits = page_data(page)["visits"]
    times = [v["time"] for v in visits if v["time"] is not None]
    assert times[0] == f"t={steps - 1}"
    assert list(dict.fromkeys(times)) == [f"t={t}" for t in reversed(range(steps))]
    hidden = [v["time"] for v in visits if v["name"] == "hidden"]
    assert hidden == [f"t={t}" for t in reversed(range(steps))]


@requires_dot
def test_each_shared_weight_collects_one_contribution_per_step(rnn_page):
    steps, _, params, _, page = rnn_page
    data = page_data(page)
    visits, by_name = data["visits"], {p["name"]: p for p in data["params"]}
    assert set(by_name) == set(params)
    every_step = [f"t={t}" for t in reversed(range(steps))]
    for name, p in by_name.items():
        assert sorted((visits[k]["time"] for k in p["from"]), reverse=True) == every_step, name
        assert visits[p["visit"]]["op"] == "leaf" and max(p["from"]) < p["visit"], \
            "a parameter is visited after every contribution has arrived"
    # U sits on the path back through time, so its contributions arrive last step first; the
    # input-side branches (W, b) wait on backward's stack until the recurrent chain is done.
    assert [visits[k]["time"] for k in by_name["U"]["from"]] == every_step


@requires_dot
def test_replay_is_a_real_backward(f64, tmp_path):
    loss, params = unrolled_rnn(5, seed=3)
    mg.viz.replay(loss, tmp_path / "r.html")
    plain_loss, plain = unrolled_rnn(5, seed=3)
    plain_loss.backward()
    for name in params:
        np.testing.assert_array_equal(params[name].grad, plain[name].grad)
    assert MODE.trace is None, "the trace switch is restored"


@requires_dot
def test_lstm_layer_weight_hh_gets_t_contributions(tmp_path):
    steps = 3
    mg.manual_seed(0)
    lstm = mg.nn.LSTM(2, 3)
    out, _ = lstm(mg.tensor(np.random.default_rng(0).normal(size=(steps, 1, 2))))
    data = page_data(mg.viz.replay(out.sum(), tmp_path / "lstm.html").html)
    weight_hh = next(p for p in data["params"] if p["name"] == "weight_hh_l0")
    assert [data["visits"][k]["time"] for k in weight_hh["from"]] == ["t=2", "t=1", "t=0"]


@requires_dot
def test_collapsed_drawing_highlights_the_step_box(f64, tmp_path):
    loss, _ = unrolled_rnn(3)
    page = mg.viz.replay(loss, tmp_path / "c.html", collapse="t").html
    drawn = set(re.findall(r'<g id="([^"]*)" class="node"', page))
    boxes_per_step = {}
    for v in page_data(page)["visits"]:
        assert v["box"] in drawn
        if v["time"] is not None and v["op"] != "transpose":
            boxes_per_step.setdefault(v["time"], set()).add(v["box"])
    assert len(boxes_per_step) == 3 and all(len(b) == 1 for b in boxes_per_step.values())
    assert len(set.union(*boxes_per_step.values())) == 3


@requires_dot
def test_names_cannot_break_out_of_the_page(f64, tmp_path):
    x = mg.tensor([1.0, 2.0], requires_grad=True, name="</script><script>alert(1)</script>")
    page = mg.viz.replay((x * x).sum(), tmp_path / "n.html").html
    assert page_data(page)["params"][0]["name"] == "</script><script>alert(1)</script>"
    assert "<script>alert" not in page


@requires_dot
def test_replay_returns_a_page_that_names_its_file_and_shows_inline(f64, tmp_path):
    loss, _ = unrolled_rnn(2)
    page = mg.viz.replay(loss, tmp_path / "sub" / "r.html")
    assert isinstance(page, mg.viz.ReplayPage)
    assert page.path == tmp_path / "sub" / "r.html" and page.name == "r.html"
    assert os.fspath(page) == str(page) == str(tmp_path / "sub" / "r.html")
    assert page.path.read_text(encoding="utf-8") == page.html
    frame = page._repr_html_()
    srcdoc = re.fullmatch(r'<iframe srcdoc="([^"]*)" sandbox="allow-scripts" style="[^"]*"></iframe>', frame)
    assert srcdoc and html.unescape(srcdoc[1]) == page.html, "the whole page, escaped into the frame"
    assert not list((tmp_path / "sub").glob(".*.tmp")), "written atomically, no temporary file left"
    assert page.path.stat().st_mode & 0o777 == 0o666 & ~current_umask(), "the permissions open() would give"


@requires_dot
def test_each_weight_shows_the_running_norm_of_its_terms(f64, tmp_path):
    """The terms are what BPTT adds up: step t's share equals the gradient of a copy of U used at step t only."""
    steps = 4
    loss, params = unrolled_rnn(steps)
    data = page_data(mg.viz.replay(loss, tmp_path / "r.html").html)
    by_name = {p["name"]: p for p in data["params"]}
    for name, p in by_name.items():
        assert p["sums"][-1] == pytest.approx(np.linalg.norm(params[name].grad), rel=1e-3), name
        assert len(p["terms"]) == len(p["sums"]) == len(p["from"]) == steps
    # The same RNN with a separate copy of U at every step: each copy's gradient is one term.
    rng = np.random.default_rng(0)
    W, U, b = (rng.normal(size=shape) for shape in ((3, 2), (3, 3), (3,)))
    x = rng.normal(size=(steps, 1, 2))
    copies = [mg.tensor(U, requires_grad=True) for _ in range(steps)]
    h, outputs = mg.tensor(np.zeros((1, 3))), []
    for t in range(steps):
        h = (mg.tensor(x[t]) @ mg.tensor(W).T + h @ copies[t].T + mg.tensor(b)).tanh()
        outputs.append(h)
    (mg.stack(outputs) ** 2).sum().backward()
    times = [data["visits"][k]["time"] for k in by_name["U"]["from"]]
    shares = [np.linalg.norm(copies[int(t[2:])].grad) for t in times]
    np.testing.assert_allclose(by_name["U"]["terms"], shares, rtol=1e-3)
    running = np.cumsum([copies[int(t[2:])].grad for t in times], axis=0)
    np.testing.assert_allclose(by_name["U"]["sums"], [np.linalg.norm(r) for r in running], rtol=1e-3)


@requires_dot
@pytest.mark.parametrize("steps, options, layers", [
    (60, {}, {}), (60, {"collapse": "t"}, {}), (1000, {"max_nodes": 100}, {}),
    (45, {"max_nodes": 150}, {"num_layers": 2, "bidirectional": True}),
])
def test_replay_works_for_long_sequences_and_every_view(tmp_path, steps, options, layers):
    mg.manual_seed(0)
    lstm = mg.nn.LSTM(2, 3, **layers)
    out, _ = lstm(mg.tensor(np.random.default_rng(0).normal(size=(steps, 1, 2))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        page = mg.viz.replay(out[-1].sum(), tmp_path / "long.html", grads=True, **options).html
    data = page_data(page)
    assert {v["box"] for v in data["visits"]} <= drawn_ids(page), "every visit lands on a drawn box or cell"
    assert all(edge in page for v in data["visits"] for edge in v["edges"] if "elided" not in edge)
    weight_hh = next(p for p in data["params"] if p["name"] == "weight_hh_l0")
    assert len(weight_hh["from"]) == steps and weight_hh["sums"][-1] == pytest.approx(
        np.linalg.norm(lstm.weight_hh_l0.grad), rel=1e-3)
    if "max_nodes" in options:
        assert any(box.startswith("elided_") for box in drawn_ids(page)), "some steps are left out"


@requires_dot
@pytest.mark.parametrize("call, error, message", [
    (lambda loss, tmp: mg.viz.replay(loss, tmp), ValueError, "is a folder; give the file to write"),
    (lambda loss, tmp: mg.viz.replay(loss, tmp / "r.html", colour=True), TypeError, "unknown drawing option"),
    (lambda loss, tmp: mg.viz.replay(loss, tmp / "r.html", grads=True, grad_range=(1, 0)), ValueError,
     "0 < low < high"),
    (lambda loss, tmp: mg.viz.replay(loss, tmp / "r.html", collapse="x"), ValueError, "collapse must be"),
    (lambda loss, tmp: mg.viz.replay(loss, 42), TypeError, "path must be a file name"),
])
def test_bad_arguments_are_refused_before_any_backward(f64, tmp_path, call, error, message):
    loss, params = unrolled_rnn(2)
    with pytest.raises(error, match=message):
        call(loss, tmp_path)
    assert all(p.grad is None for p in params.values())
    assert not list(tmp_path.iterdir())


@requires_dot
def test_a_failure_after_the_backward_never_adds_to_grad(f64, tmp_path, monkeypatch):
    loss, params = unrolled_rnn(3)
    for p in params.values():
        p.grad = np.ones(p.shape)

    def full_disk(path, text):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(replay_module, "write_atomically", full_disk)
    with pytest.raises(OSError, match="No space left"):
        mg.viz.replay(loss, tmp_path / "r.html")
    assert all(np.array_equal(p.grad, np.ones(p.shape)) for p in params.values()), "put back as they were"
    monkeypatch.undo()
    mg.viz.replay(loss, tmp_path / "r.html")  # the graph is still there: this time it works, and adds once
    plain_loss, plain = unrolled_rnn(3)
    plain_loss.backward()
    for name, p in params.items():
        np.testing.assert_allclose(p.grad, 1 + plain[name].grad, rtol=1e-12)


# ---- the text form ------------------------------------------------------------

def test_backward_order_groups_runs_by_scope(f64):
    steps = 3
    loss, _ = unrolled_rnn(steps)
    text = mg.viz.backward_order(loss)
    header, *body = text.splitlines()
    assert header == f"backward() visited {len(requiring_grad(loss.node))} nodes, in this order:"
    split = body.index("gradient contributions each parameter received, by the scope of the node that sent it:")
    order, contributions = body[:split], body[split + 1:]
    scopes = [line.split(":")[0].strip() for line in order]
    assert all(a != b for a, b in itertools.pairwise(scopes)), "consecutive nodes of one scope share a line"
    assert [s for s in scopes if s.startswith("t=")][:steps] == ["t=2", "t=1", "t=0"]
    assert order[0] == "  (no scope): sum, pow, stack"
    assert order[1].startswith("  t=2: hidden tanh, add, ")
    assert sum(len(line.split(": ", 1)[1].split(", ")) for line in order) == len(requiring_grad(loss.node))
    received = {line.split()[0]: line.split(None, 1)[1] for line in contributions}
    assert sorted(received) == ["U", "W", "b"]
    assert received["U"] == "3: t=2, t=1, t=0"
    assert all(sorted(r.split(": ")[1].split(", ")) == ["t=0", "t=1", "t=2"] for r in received.values())


# ---- errors -------------------------------------------------------------------

def test_loss_without_grad_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.viz.replay(mg.tensor(1.0), tmp_path / "x.html")
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.viz.backward_order(mg.tensor(1.0))
    assert not (tmp_path / "x.html").exists()


def test_non_scalar_loss_is_refused(tmp_path):
    w = mg.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(ValueError, match=r"scalar.*\(2, 3\)"):
        mg.viz.replay(w * 2, tmp_path / "x.html")
    with pytest.raises(ValueError, match=r"scalar.*\(2, 3\)"):
        mg.viz.backward_order(w * 2)
    with pytest.raises(TypeError, match="Tensor"):
        mg.viz.backward_order(np.ones(()))
    assert w.grad is None and not (tmp_path / "x.html").exists()


@requires_dot
def test_released_graph_error_restores_the_trace_switch(f64, tmp_path):
    loss, _ = unrolled_rnn(2)
    loss.backward()
    outer = []
    MODE.trace = outer
    with pytest.raises(RuntimeError, match="released"):
        mg.viz.replay(loss, tmp_path / "x.html")
    assert MODE.trace is outer and outer == []


def test_missing_dot_is_a_clear_error_before_any_backward(f64, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    loss, params = unrolled_rnn(2)
    with pytest.raises(mg.viz.GraphvizNotFoundError, match="'dot' is not installed.*apt-get install graphviz"):
        mg.viz.replay(loss, tmp_path / "x.html")
    assert all(p.grad is None for p in params.values()) and not (tmp_path / "x.html").exists()
