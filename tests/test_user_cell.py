"""A user's own cell gets every tool the built-in ones get.

The cell is a peephole LSTM (Gers, Schraudolph & Schmidhuber 2002) written here, in the test
file, as a user would: ``forward`` only, no speed hooks. It runs in ``mg.nn.Recurrent`` and is
checked against a float64 torch loop of the same equations, then drawn, replayed, analysed by
``mg.teaching``, gradchecked, trained with truncated BPTT and saved and loaded.
"""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from test_viz import Dot
from test_viz_replay import page_data

import micrograd_seq as mg
from micrograd_seq.viz.view import node_id

requires_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz 'dot' program is not installed")


class PeepholeLSTMCell(mg.nn.RecurrentCell):
    """i, f peek at c_{t-1} and o at c_t through the diagonal weights w_ci, w_cf, w_co."""

    state_names = ("h", "c")

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        bound, rng = 1 / np.sqrt(hidden_size), mg.random.generator()
        self.weight_ih = mg.nn.Parameter(rng.uniform(-bound, bound, (4 * hidden_size, input_size)))
        self.weight_hh = mg.nn.Parameter(rng.uniform(-bound, bound, (4 * hidden_size, hidden_size)))
        self.bias = mg.nn.Parameter(rng.uniform(-bound, bound, 4 * hidden_size))
        self.w_ci, self.w_cf, self.w_co = (mg.nn.Parameter(rng.uniform(-bound, bound, hidden_size)) for _ in "ifo")

    def forward(self, x, state):
        h, c = state
        i, f, g, o = (x @ self.weight_ih.T + h @ self.weight_hh.T + self.bias).chunk(4, axis=-1)
        i = (i + self.w_ci * c).sigmoid().named("input gate")
        f = (f + self.w_cf * c).sigmoid().named("forget gate")
        c = (f * c + i * g.tanh()).named("cell")
        o = (o + self.w_co * c).sigmoid().named("output gate")
        return (o * c.tanh()).named("hidden"), c


NAMES = ("weight_ih", "weight_hh", "bias", "w_ci", "w_cf", "w_co")


def torch_peephole_layer(torch, params, x, h0, c0, num_layers, bidirectional):
    """The same model in torch, written out: the cell's equations in a loop per layer and direction."""
    directions = 2 if bidirectional else 1
    layer_input, h_n, c_n = x.transpose(0, 1), [], []                      # batch first -> time first
    for layer in range(num_layers):
        outputs = []
        for d in range(directions):
            p = {n: params[f"{n}_l{layer}{'_reverse' if d else ''}"] for n in NAMES}
            h, c = h0[layer * directions + d], c0[layer * directions + d]
            steps = [None] * layer_input.shape[0]
            for t in (reversed(range(layer_input.shape[0])) if d else range(layer_input.shape[0])):
                i, f, g, o = (layer_input[t] @ p["weight_ih"].T + h @ p["weight_hh"].T + p["bias"]).chunk(4, dim=-1)
                i, f = torch.sigmoid(i + p["w_ci"] * c), torch.sigmoid(f + p["w_cf"] * c)
                c = f * c + i * torch.tanh(g)
                h = torch.sigmoid(o + p["w_co"] * c) * torch.tanh(c)
                steps[t] = h
            outputs.append(torch.stack(steps))
            h_n.append(h)
            c_n.append(c)
        layer_input = torch.cat(outputs, dim=-1)
    return layer_input.transpose(0, 1), torch.stack(h_n), torch.stack(c_n)


def test_peephole_cell_in_recurrent_matches_a_torch_loop_to_1e9(f64):
    """2 layers, bidirectional, batch_first, given initial states: outputs, final states and every
    gradient (input, both initial states, every parameter) agree with torch to 1e-9."""
    torch = pytest.importorskip("torch")
    mg.manual_seed(0)
    layer = mg.nn.Recurrent(PeepholeLSTMCell, 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    rng = np.random.default_rng(0)
    x, h0, c0 = rng.standard_normal((2, 5, 3)), rng.standard_normal((4, 2, 4)), rng.standard_normal((4, 2, 4))
    ours_in = [mg.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    output, (h_n, c_n) = layer(ours_in[0], (ours_in[1], ours_in[2]))
    weights = [rng.standard_normal(t.shape) for t in (output, h_n, c_n)]
    sum((t * w).sum() for t, w in zip((output, h_n, c_n), weights, strict=True)).backward()

    params = {n: torch.tensor(p.data, requires_grad=True) for n, p in layer.named_parameters()}
    theirs_in = [torch.tensor(a, requires_grad=True) for a in (x, h0, c0)]
    expected = torch_peephole_layer(torch, params, *theirs_in, num_layers=2, bidirectional=True)
    sum((t * torch.from_numpy(w)).sum() for t, w in zip(expected, weights, strict=True)).backward()

    for got, want in zip((output, h_n, c_n), expected, strict=True):
        np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-9, atol=1e-12)
    for got, want in zip(ours_in, theirs_in, strict=True):
        np.testing.assert_allclose(got.grad, want.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert sorted(params) == sorted(name for name, _ in layer.named_parameters()) and len(params) == 24
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, params[name].grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


# ---- one small model the tool tests share ----------------------------------------------------------------

def peephole_loss(steps=3, hidden=4, features=3, seed=0, **layer_options):
    mg.manual_seed(seed)
    layer = mg.nn.Recurrent(PeepholeLSTMCell, features, hidden, **layer_options)
    x = mg.tensor(np.random.default_rng(seed).standard_normal((steps, 1, features)), name="x")
    out, _ = layer(x)
    return (out[-1] ** 2).mean().named("loss"), layer


def test_draw_puts_each_step_in_a_cluster_and_each_weight_once_outside():
    loss, layer = peephole_loss(steps=3)
    dot = Dot(mg.viz.draw(loss).source)
    assert set(dot.clusters) == {f"cluster_t={t}" for t in range(3)}
    for gate in ("input gate", "forget gate", "output gate", "cell", "hidden"):
        assert sorted(dot.cluster_of[i] for i in dot.labelled(gate)) == [(f"cluster_t={t}",) for t in range(3)]
    for name, p in layer.named_parameters():
        (box,) = dot.labelled(name + "ᵀ" if p.ndim == 2 else name)
        assert box == node_id(p.node) and dot.cluster_of[box] == ()
        fed = sorted({dot.cluster_of[target] for source, target, _ in dot.edges if source == box})
        assert fed == [(f"cluster_t={t}",) for t in range(3)], f"{name} is shared by every step"


def test_collapse_draws_one_box_per_step_passing_on_hidden_and_cell():
    loss, _ = peephole_loss(steps=4)
    small = Dot(mg.viz.draw(loss, collapse="t").source)
    steps = [small.labelled(f"t={t}") for t in range(4)]
    assert all(len(s) == 1 for s in steps)
    chain = [(s, t, a.get("label")) for s, t, a in small.edges if s in sum(steps, []) and t in sum(steps, [])]
    assert chain == [(steps[t][0], steps[t + 1][0], "hidden, cell") for t in range(3)]


@requires_dot
def test_save_renders_gradients_as_colour(f64, tmp_path):
    loss, _ = peephole_loss(steps=3)
    loss.backward(retain_all_grads=True)
    path = mg.viz.save(loss, path=tmp_path / "peephole.svg", grads=True)
    svg = path.read_text(encoding="utf-8")
    assert all(f">t={t}</text>" in svg for t in range(3)) and "‖grad‖" in svg and "gradient norm" in svg


@requires_dot
def test_replay_walks_back_from_the_last_step_and_each_weight_hears_from_every_step(tmp_path):
    loss, _ = peephole_loss(steps=3)
    data = page_data(mg.viz.replay(loss, tmp_path / "replay.html").path.read_text(encoding="utf-8"))
    times = [v["time"] for v in data["visits"] if v["time"] is not None]
    assert list(dict.fromkeys(times)) == ["t=2", "t=1", "t=0"]
    for p in data["params"]:
        assert sorted({data["visits"][k]["time"] for k in p["from"]}) == ["t=0", "t=1", "t=2"], p["name"]


def test_backward_order_lists_the_steps_last_first():
    loss, layer = peephole_loss(steps=3)
    text = mg.viz.backward_order(loss)
    assert text.index("  t=2: ") < text.index("  t=1: ") < text.index("  t=0: ")
    line = next(line for line in text.splitlines() if line.strip().startswith("w_cf_l0 "))
    assert line.split()[1:] == ["3:", "t=2,", "t=1,", "t=0"], "one contribution per step, last step first"
    assert layer.w_cf_l0.grad is not None, "it is a real backward"


# ---- teaching ---------------------------------------------------------------------------------------------

def test_hidden_grad_norms_are_the_gradients_of_the_states(f64):
    mg.manual_seed(1)
    layer = mg.nn.Recurrent(PeepholeLSTMCell, 2, 3)
    x = np.random.default_rng(1).standard_normal((6, 2, 2))
    readout = np.random.default_rng(2).standard_normal((2, 3))
    norms = mg.teaching.hidden_grad_norms(layer, x, lambda out: (out[-1] * readout).sum())
    assert all(p.grad is None for p in layer.parameters()), "the layer's weights are held constant"
    h0 = mg.tensor(np.zeros((2, 3)), requires_grad=True)
    states = mg.nn.unroll(layer.cell(0), mg.tensor(x), (h0, mg.tensor(np.zeros((2, 3)))))
    for h, _ in states[1:]:
        h.retain_grad()
    (states[-1][0] * readout).sum().backward()
    expected = [np.linalg.norm(h.grad) for h, _ in states]
    np.testing.assert_allclose(norms, expected, rtol=1e-12)
    assert norms[0] > 0 and norms[-1] == pytest.approx(np.linalg.norm(readout))


def test_jacobians_match_finite_differences(f64):
    mg.manual_seed(2)
    cell = PeepholeLSTMCell(2, 3)
    x = np.random.default_rng(3).standard_normal((4, 2))                  # one sequence, (T, D)
    J = mg.teaching.jacobians(cell, x)
    assert J.shape == (5, 3, 3)
    with mg.no_grad():
        states = mg.nn.unroll(cell, mg.tensor(x[:, None]))
        eps = 1e-6
        for t in range(5):
            for k in range(3):
                nudge = np.zeros((1, 3))
                nudge[0, k] = eps
                ends = [mg.nn.unroll(cell, mg.tensor(x[t:, None]), (states[t][0] + s * nudge, states[t][1]))[-1][0].data
                        for s in (1, -1)]                                   # c_t held fixed
                np.testing.assert_allclose(J[t, :, k], (ends[0] - ends[1])[0] / (2 * eps), atol=1e-8)


def test_plot_gradient_flow_draws_a_users_cell(tmp_path):
    pytest.importorskip("matplotlib")
    layers = {"peephole": mg.nn.Recurrent(PeepholeLSTMCell, 2, 3), "LSTM": mg.nn.LSTM(2, 3)}
    path = mg.teaching.plot_gradient_flow(layers, np.ones((5, 2, 2)), lambda out: out[-1].sum(), tmp_path / "f.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- gradcheck, truncated BPTT, saving --------------------------------------------------------------------

def test_gradcheck_through_two_layers_both_directions(f64):
    layer = mg.nn.Recurrent(PeepholeLSTMCell, 2, 2, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(4)
    x, h0, c0 = (mg.tensor(rng.standard_normal(shape), requires_grad=True)
                 for shape in [(3, 1, 2), (4, 1, 2), (4, 1, 2)])
    assert mg.gradcheck(lambda x, h0, c0, *params: layer(x, (h0, c0)), x, h0, c0, *layer.parameters())


def test_truncated_bptt_by_detach(f64):
    layer = mg.nn.Recurrent(PeepholeLSTMCell, 2, 3)
    rng = np.random.default_rng(5)
    first, second, readout = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 2)), rng.standard_normal(3)
    x1 = mg.tensor(first, requires_grad=True)
    _, state = layer(x1)
    out, _ = layer(second, tuple(s.detach() for s in state))
    (out * readout).sum().backward()
    assert x1.grad is None, "no gradient crosses the cut"
    truncated = {name: p.grad.copy() for name, p in layer.named_parameters()}
    layer.zero_grad()
    out, _ = layer(second, tuple(mg.tensor(s.data) for s in state))     # the second chunk alone, from data
    (out * readout).sum().backward()
    for name, p in layer.named_parameters():
        np.testing.assert_array_equal(truncated[name], p.grad, err_msg=name)


def test_state_dict_save_and_load(tmp_path):
    mg.manual_seed(6)
    layer = mg.nn.Recurrent(PeepholeLSTMCell, 3, 4, num_layers=2, bidirectional=True)
    mg.save(layer.state_dict(), tmp_path / "peephole.npz")
    mg.manual_seed(7)
    fresh = mg.nn.Recurrent(PeepholeLSTMCell, 3, 4, num_layers=2, bidirectional=True)
    x = np.random.default_rng(6).standard_normal((5, 2, 3))
    assert not np.allclose(fresh(x)[0].data, layer(x)[0].data)
    fresh.load_state_dict(mg.load(tmp_path / "peephole.npz"))
    np.testing.assert_array_equal(fresh(x)[0].data, layer(x)[0].data)
    assert sorted(mg.load(tmp_path / "peephole.npz")) == sorted(name for name, _ in layer.named_parameters())
