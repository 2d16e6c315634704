"""The public cell contract: RecurrentCell, Recurrent, unroll and the registry of cell kinds.

Every cell here is defined in this file, as a user would write it.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import micrograd_seq as mg


class ElmanCell(mg.nn.RecurrentCell):
    """h' = tanh(x W^T + h U^T + b): one state, so forward takes and returns a bare tensor."""

    def __init__(self, input_size, hidden_size, scale=1.0):
        super().__init__(input_size, hidden_size)
        rng = mg.random.generator()
        self.W = mg.nn.Parameter(rng.normal(0, scale / np.sqrt(input_size), (hidden_size, input_size)))
        self.U = mg.nn.Parameter(rng.normal(0, scale / np.sqrt(hidden_size), (hidden_size, hidden_size)))
        self.b = mg.nn.Parameter(np.zeros(hidden_size))
        self.scale = scale

    def forward(self, x, h):
        return (x @ self.W.T + h @ self.U.T + self.b).tanh().named("hidden")


class ProjectedElmanCell(ElmanCell):
    """The same cell with the speed hooks; counts how often the loop calls them."""

    calls = {"prepare": 0, "project_input": 0, "step": 0}

    def prepare(self):
        self.calls["prepare"] += 1
        return self.U.T

    def project_input(self, x, u_t):
        self.calls["project_input"] += 1
        return x @ self.W.T + self.b

    def step(self, x_proj, h, u_t):
        self.calls["step"] += 1
        return (x_proj + h @ u_t).tanh().named("hidden")


class MinimalLSTMCell(mg.nn.RecurrentCell):
    """Two states, h and c: forward takes and returns tuples."""

    state_names = ("h", "c")

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        rng = mg.random.generator()
        self.weight = mg.nn.Parameter(rng.normal(0, 0.5, (4 * hidden_size, input_size + hidden_size)))

    def forward(self, x, state):
        h, c = state
        i, f, g, o = (mg.concat([x, h], axis=-1) @ self.weight.T).chunk(4, axis=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        return o.sigmoid() * c.tanh(), c


class LearnedStartCell(ElmanCell):
    """An Elman cell whose initial state is a parameter, h0, broadcast over the batch."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.h0 = mg.nn.Parameter(np.full(hidden_size, 0.5))

    def initial_state(self, batch, like):
        return self.h0 + mg.tensor(np.zeros((batch, self.hidden_size)), dtype=like.dtype)


# ---- Recurrent: torch's conventions for any cell --------------------------------------------------

def test_a_one_state_cell_returns_a_bare_final_state_and_a_two_state_cell_a_tuple():
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    output, h_n = mg.nn.Recurrent(ElmanCell, 3, 4)(x)
    assert output.shape == (5, 2, 4) and isinstance(h_n, mg.Tensor) and h_n.shape == (1, 2, 4)
    output, (h_n, c_n) = mg.nn.Recurrent(MinimalLSTMCell, 3, 4, num_layers=2)(x)
    assert output.shape == (5, 2, 4) and h_n.shape == c_n.shape == (2, 2, 4)


def test_layouts_and_initial_states_follow_torch(f64):
    mg.manual_seed(0)
    layer = mg.nn.Recurrent(MinimalLSTMCell, 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 3))                                   # (B, T, D)
    state = (rng.standard_normal((4, 2, 4)), rng.standard_normal((4, 2, 4)))
    output, (h_n, c_n) = layer(x, state)
    assert output.shape == (2, 5, 8) and h_n.shape == c_n.shape == (4, 2, 4)
    # the output's first half is the last layer's forward direction: its final h is h_n[2]
    np.testing.assert_array_equal(output.data[:, -1, :4], h_n.data[2])
    np.testing.assert_array_equal(output.data[:, 0, 4:], h_n.data[3])  # the reverse direction ends at t = 0
    # unbatched (T, D) with states (L * dirs, H): the same numbers as a batch of one
    single, (h1, _) = layer(x[0], (state[0][:, 0], state[1][:, 0]))
    np.testing.assert_allclose(single.data, output.data[0], rtol=1e-12)
    np.testing.assert_allclose(h1.data, h_n.data[:, 0], rtol=1e-12)


def test_the_layer_names_cell_parameters_as_torch_names_an_lstms():
    layer = mg.nn.Recurrent(ElmanCell, 3, 4, num_layers=2, bidirectional=True)
    names = [name for name, _ in layer.named_parameters()]
    assert names == [f"{p}_l{k}{d}" for k in (0, 1) for d in ("", "_reverse") for p in ("W", "U", "b")]
    assert layer.cell(1, reverse=True).W is layer.W_l1_reverse
    assert layer.cell(0).input_size == 3 and layer.cell(1).input_size == 8
    assert [(k, r) for k, r, _ in layer.cells()] == [(0, False), (0, True), (1, False), (1, True)]
    assert [name for name, _ in layer.named_modules()] == [""], "like torch's LSTM: no sub-modules"


def test_replacing_a_parameter_through_the_layer_or_the_cell_keeps_both_in_step(f64):
    layer = mg.nn.Recurrent(ElmanCell, 2, 3, num_layers=2)
    x = np.ones((4, 1, 2))
    new = mg.nn.Parameter(np.zeros((3, 2)))
    layer.W_l0 = new                                       # layer 0 now outputs zeros (b_l0 is zero)
    assert layer.cell(0).W is new and new.name == "W_l0"
    layer.b_l1 = mg.nn.Parameter(np.ones(3))
    newer = mg.nn.Parameter(np.zeros((3, 3)))
    layer.cell(1).U = newer                                # layer 1 forgets its past: tanh(0 + 0 + 1)
    assert layer.U_l1 is newer and dict(layer.named_parameters())["U_l1"] is newer and newer.name == "U_l1"
    out, _ = layer(x)
    np.testing.assert_allclose(out.data, np.full((4, 1, 3), np.tanh(1.0)), rtol=1e-12)
    with pytest.raises(TypeError, match="W_l0 must be a Parameter, got ndarray"):
        layer.W_l0 = np.zeros((3, 2))


def test_extra_keyword_arguments_go_to_the_cell_and_show_in_the_repr():
    layer = mg.nn.Recurrent(ElmanCell, 3, 4, num_layers=2, bidirectional=True, scale=2.0)
    assert all(cell.scale == 2.0 for _, _, cell in layer.cells())
    assert repr(layer) == "Recurrent(ElmanCell, 3, 4, num_layers=2, bidirectional=True, scale=2.0)"
    assert repr(mg.nn.Recurrent(ElmanCell, 3, 4, scale=1.0)) == "Recurrent(ElmanCell, 3, 4)"


def test_a_parent_modules_eval_reaches_the_cells():
    class DroppingCell(ElmanCell):
        def __init__(self, input_size, hidden_size):
            super().__init__(input_size, hidden_size)
            self.drop = mg.nn.Dropout(0.5)

        def forward(self, x, h):
            return self.drop(super().forward(x, h))

    class Net(mg.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = mg.nn.Recurrent(DroppingCell, 2, 8)

    net = Net()
    x = np.ones((3, 1, 2))
    net.eval()
    first, _ = net.rnn(x)
    second, _ = net.rnn(x)
    np.testing.assert_array_equal(first.data, second.data)
    assert not net.rnn.cell(0).training and not net.rnn.cell(0).drop.training
    net.train()
    a, _ = net.rnn(x)
    assert net.rnn.cell(0).drop.training and (a.data == 0).any()


# ---- the initial state ------------------------------------------------------------------------------

def test_a_cell_may_learn_its_initial_state(f64):
    layer = mg.nn.Recurrent(LearnedStartCell, 2, 3)
    x = np.random.default_rng(2).standard_normal((4, 5, 2))
    output, _ = layer(x)
    (output ** 2).sum().backward()
    assert layer.h0_l0.grad is not None and np.abs(layer.h0_l0.grad).max() > 0
    given, _ = layer(x, np.broadcast_to(layer.h0_l0.data, (1, 5, 3)))
    np.testing.assert_allclose(given.data, output.data, rtol=1e-12)  # a given state replaces it
    cell = layer.cell(0)
    np.testing.assert_allclose(cell(x[0]).data, cell(x[0], np.broadcast_to(cell.h0.data, (5, 3))).data)


# ---- the speed hooks ------------------------------------------------------------------------------------

def test_project_input_gives_the_same_numbers_with_one_call_per_block_and_one_prepare_per_run(f64):
    plain = mg.nn.Recurrent(ElmanCell, 3, 4, bidirectional=True)
    fast = mg.nn.Recurrent(ProjectedElmanCell, 3, 4, bidirectional=True)
    fast.load_state_dict(plain.state_dict())
    x = np.random.default_rng(3).standard_normal((40, 2, 3))
    ProjectedElmanCell.calls.update(prepare=0, project_input=0, step=0)
    outputs = []
    for layer in (plain, fast):
        xt = mg.tensor(x, requires_grad=True)
        output, h_n = layer(xt)
        (output.sum() + (h_n ** 2).sum()).backward()
        outputs.append((output.data, h_n.data, xt.grad, [p.grad for p in layer.parameters()]))
    np.testing.assert_allclose(outputs[0][0], outputs[1][0], rtol=1e-12)
    np.testing.assert_allclose(outputs[0][1], outputs[1][1], rtol=1e-12)
    np.testing.assert_allclose(outputs[0][2], outputs[1][2], rtol=1e-12)
    for a, b in zip(outputs[0][3], outputs[1][3], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    # 40 steps in blocks of 16: 3 projections per direction; one prepare per direction
    assert ProjectedElmanCell.calls == {"prepare": 2, "project_input": 6, "step": 80}


def test_forward_of_a_cell_with_the_hooks_is_project_then_step(f64):
    cell = ProjectedElmanCell(3, 4)
    x, h = np.ones((2, 3)), np.full((2, 4), 0.1)
    np.testing.assert_allclose(cell(x, h).data, ElmanCell.forward(cell, mg.tensor(x), mg.tensor(h)).data,
                               rtol=1e-12)


# ---- one checked step, as torch's cells ---------------------------------------------------------------------

def test_calling_a_cell_checks_its_input_and_fills_in_the_state():
    cell = MinimalLSTMCell(3, 4)
    h, c = cell(np.ones(3))                   # unbatched, zero state
    assert h.shape == c.shape == (4,)
    h, c = cell(np.ones((2, 3)), (np.zeros((2, 4)), np.zeros((2, 4))))
    assert h.shape == (2, 4)
    with pytest.raises(ValueError, match=r"MinimalLSTMCell: expected input of shape \(batch, 3\) or \(3,\)"):
        cell(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"MinimalLSTMCell: the state must be a tuple \(h, c\), got ndarray"):
        cell(np.ones((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"expected cell state of shape \(2, 4\), got \(2, 3\)"):
        cell(np.ones((2, 3)), (np.zeros((2, 4)), np.zeros((2, 3))))


# ---- unroll: the one time loop ----------------------------------------------------------------------------------

def test_unroll_returns_every_state_in_the_order_the_steps_ran(f64):
    cell = MinimalLSTMCell(2, 3)
    x = mg.tensor(np.random.default_rng(4).standard_normal((5, 2, 2)))
    states = mg.nn.unroll(cell, x)
    assert len(states) == 6 and all(len(s) == 2 and s[0].shape == (2, 3) for s in states)
    assert not states[0][0].data.any(), "state_0 is the cell's initial state"
    backwards = mg.nn.unroll(cell, x, reverse=True)
    layer = mg.nn.Recurrent(MinimalLSTMCell, 2, 3, bidirectional=True)
    layer.load_state_dict({f"weight_l0{d}": cell.weight.data for d in ("", "_reverse")})
    output, _ = layer(x)
    np.testing.assert_array_equal(output.data[:, :, :3], np.stack([s[0].data for s in states[1:]]))
    np.testing.assert_array_equal(output.data[:, :, 3:], np.stack([s[0].data for s in backwards[1:]][::-1]))
    assert len(mg.nn.unroll(cell, x[:0])) == 1, "no steps: just the initial state"


def test_every_step_is_scoped_for_drawings():
    out, _ = mg.nn.Recurrent(ElmanCell, 2, 3, num_layers=2)(mg.tensor(np.ones((3, 1, 2))))
    seen, stack, scopes = set(), [out.node], set()
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            scopes.add(node.scope)
            stack.extend(node.parents)
    assert {s for s in scopes if len(s) == 2} == {(f"layer {k}", f"t={t}") for k in (0, 1) for t in range(3)}


# ---- errors a cell author meets ---------------------------------------------------------------------------------

class NoForward(mg.nn.RecurrentCell):
    pass


class WrongArity(MinimalLSTMCell):
    def forward(self, x, state):
        return super().forward(x, state)[0]


class WrongShape(ElmanCell):
    def forward(self, x, h):
        return super().forward(x, h)[:, :2]


class HookWithoutStep(ElmanCell):
    def project_input(self, x):
        return x @ self.W.T


class NoSuper(mg.nn.RecurrentCell):
    def __init__(self, input_size, hidden_size):
        mg.nn.Module.__init__(self)


@pytest.mark.parametrize("make, call, error, message", [
    (lambda: mg.nn.Recurrent(ElmanCell(2, 3), 2, 3), None, TypeError,
     r"cell must be a subclass of mg.nn.RecurrentCell, got .*ElmanCell.* \(pass the class"),
    (lambda: mg.nn.Recurrent(mg.nn.Linear, 2, 3), None, TypeError, "cell must be a subclass of mg.nn.RecurrentCell"),
    (lambda: mg.nn.Recurrent(ElmanCell, 2, 0), None, ValueError, "Recurrent: hidden_size must be a positive integer"),
    (lambda: mg.nn.Recurrent(NoSuper, 2, 3), None, TypeError, r"NoSuper.__init__ must call super\(\).__init__"),
    (lambda: mg.nn.Recurrent(NoForward, 2, 3), np.ones((3, 1, 2)), NotImplementedError,
     r"NoForward must define forward\(x, state\)"),
    (lambda: mg.nn.Recurrent(WrongArity, 2, 3), np.ones((3, 1, 2)), TypeError,
     r"WrongArity.forward must return the state as a tuple \(h, c\) \(state_names = \('h', 'c'\)\), got Tensor"),
    (lambda: mg.nn.Recurrent(WrongShape, 2, 3), np.ones((3, 1, 2)), ValueError,
     r"WrongShape.forward: state 'h' has shape \(1, 2\), expected \(batch, state size\) = \(1, 3\)"),
    (lambda: mg.nn.Recurrent(HookWithoutStep, 2, 3), np.ones((3, 1, 2)), NotImplementedError,
     r"HookWithoutStep defines project_input but not step"),
    (lambda: mg.nn.Recurrent(MinimalLSTMCell, 2, 3), (np.ones((3, 1, 2)), np.zeros((1, 1, 3))), ValueError,
     r"Recurrent: the initial state must be a tuple \(h_0, c_0\), got ndarray"),
    (lambda: mg.nn.Recurrent(ElmanCell, 2, 3, bidirectional=True), (np.ones((3, 1, 2)), np.zeros((1, 1, 3))),
     ValueError, r"Recurrent: expected h_0 of shape \(2, 1, 3\), got \(1, 1, 3\)"),
])
def test_mistakes_are_named(make, call, error, message):
    with pytest.raises(error, match=message):
        layer = make()
        if call is not None:
            layer(*call) if isinstance(call, tuple) else layer(call)


def test_cell_lookup_errors():
    layer = mg.nn.Recurrent(ElmanCell, 2, 3)
    with pytest.raises(IndexError, match=r"layer must be in \[0, 1\), got 1"):
        layer.cell(1)
    with pytest.raises(ValueError, match="reverse=True needs bidirectional=True"):
        layer.cell(0, reverse=True)
    with pytest.raises(ValueError, match=r"unroll: expected x of shape \(T, B, 2\), got \(3, 2\)"):
        mg.nn.unroll(layer.cell(0), np.ones((3, 2)))
    with pytest.raises(TypeError, match="unroll: expected a RecurrentCell, got Recurrent"):
        mg.nn.unroll(layer, np.ones((3, 1, 2)))


# ---- the registry of cell kinds -------------------------------------------------------------------------------------

def test_the_builtin_kinds_are_registered_with_their_layers():
    assert {"rnn", "lstm", "gru"} <= set(mg.nn.CELLS)
    assert mg.nn.CELLS["lstm"].cell is mg.nn.LSTMCell and isinstance(mg.nn.CELLS["lstm"].layer(2, 3), mg.nn.LSTM)
    assert mg.nn.cell_kind("gru") is mg.nn.CELLS["gru"] and mg.nn.cell_kind(mg.nn.RNNCell).name == "rnn"
    with pytest.raises(TypeError):
        mg.nn.CELLS["mine"] = None  # read-only: add with register_cell


def test_a_users_cell_can_be_registered(monkeypatch):
    monkeypatch.setattr(mg.nn.cell, "_REGISTRY", dict(mg.nn.cell._REGISTRY))
    monkeypatch.setattr(mg.nn.cell, "CELLS", __import__("types").MappingProxyType(mg.nn.cell._REGISTRY))
    kind = mg.nn.register_cell("elman", ElmanCell)
    assert mg.nn.cell.CELLS["elman"] is kind and kind.cell is ElmanCell
    layer = kind.layer(2, 3, num_layers=2, scale=0.5)
    assert isinstance(layer, mg.nn.Recurrent) and layer.cell(1).scale == 0.5
    assert mg.nn.register_cell("elman", ElmanCell) == kind, "registering the same cell again is harmless"
    with pytest.raises(ValueError, match="'elman' is already registered for ElmanCell; pass replace=True"):
        mg.nn.register_cell("elman", MinimalLSTMCell)
    assert mg.nn.register_cell("elman", MinimalLSTMCell, replace=True).cell is MinimalLSTMCell
    with pytest.raises(ValueError, match="the name must be a non-empty string without ':'"):
        mg.nn.register_cell("my:cell", ElmanCell)
    with pytest.raises(TypeError, match="cell must be a subclass of mg.nn.RecurrentCell"):
        mg.nn.register_cell("linear", mg.nn.Linear)


def test_cell_kind_loads_module_colon_class_and_names_what_it_cannot_find():
    kind = mg.nn.cell_kind("test_nn_cell:ElmanCell")
    assert kind.cell.__name__ == "ElmanCell" and kind.name == "test_nn_cell:ElmanCell"
    with pytest.raises(KeyError, match="unknown cell kind 'transformer': registered are .*gru.*lstm.*rnn"):
        mg.nn.cell_kind("transformer")
    with pytest.raises(KeyError, match="cannot load the cell 'no_such_module:Cell'"):
        mg.nn.cell_kind("no_such_module:Cell")
    with pytest.raises(TypeError, match="'numpy:ndarray' is .*not a subclass of mg.nn.RecurrentCell"):
        mg.nn.cell_kind("numpy:ndarray")


def test_the_viz_command_line_draws_a_users_cell(tmp_path):
    (tmp_path / "mycells.py").write_text(
        "import micrograd_seq as mg\n"
        "class Elman(mg.nn.RecurrentCell):\n"
        "    def __init__(self, input_size, hidden_size):\n"
        "        super().__init__(input_size, hidden_size)\n"
        "        self.W = mg.nn.Parameter(mg.random.generator().normal(size=(hidden_size, input_size)))\n"
        "    def forward(self, x, h):\n"
        "        return (x @ self.W.T + h).tanh().named('hidden')\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "micrograd_seq.viz", "--cell", "mycells:Elman", "--steps", "3",
                           "--out", "elman.dot"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    source = (tmp_path / "elman.dot").read_text(encoding="utf-8")
    assert all(f'cluster_t={t}' in source for t in range(3)) and "W_l0" in source
    done = subprocess.run([sys.executable, "-m", "micrograd_seq.viz", "--cell", "mycells:Nope", "--out", "x.dot"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "cannot load the cell 'mycells:Nope'" in done.stderr
