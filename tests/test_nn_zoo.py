"""The cell zoo: each cell is its paper's equations (checked against the same equations written in
torch, float64, values and gradients), passes gradcheck, runs in Recurrent, and is registered."""
from __future__ import annotations

import numpy as np
import pytest

import micrograd_seq as mg

torch = pytest.importorskip("torch")
F = torch.nn.functional

ZOO = {"peephole_lstm": mg.nn.zoo.PeepholeLSTMCell, "cifg_lstm": mg.nn.zoo.CIFGLSTMCell,
       "cho_gru": mg.nn.zoo.ChoGRUCell, "mgu": mg.nn.zoo.MGUCell, "indrnn": mg.nn.zoo.IndRNNCell,
       "janet": mg.nn.zoo.JANETCell, "ln_lstm": mg.nn.zoo.LayerNormLSTMCell}


# Each paper's equations in torch, reading parameters by name from p; state as the cell takes it.
def peephole(p, x, state):
    h, c = state
    i, f, g, o = (x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]).chunk(4, -1)
    i, f = torch.sigmoid(i + p["peephole_i"] * c), torch.sigmoid(f + p["peephole_f"] * c)
    c = f * c + i * torch.tanh(g)
    return torch.sigmoid(o + p["peephole_o"] * c) * torch.tanh(c), c


def cifg(p, x, state):
    h, c = state
    i, g, o = (x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"]).chunk(3, -1)
    i = torch.sigmoid(i)
    c = (1 - i) * c + i * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def cho_gru(p, x, h):
    W_r, W_z, W = p["weight_ih"].chunk(3)
    U_r, U_z, U = p["weight_hh"].chunk(3)
    b_r, b_z, b = (p["bias_ih"] + p["bias_hh"]).chunk(3)
    r, z = torch.sigmoid(x @ W_r.T + h @ U_r.T + b_r), torch.sigmoid(x @ W_z.T + h @ U_z.T + b_z)
    candidate = torch.tanh(x @ W.T + (r * h) @ U.T + b)
    return z * h + (1 - z) * candidate


def mgu(p, x, h):
    W_f, W_h = p["weight_ih"].chunk(2)
    U_f, U_h = p["weight_hh"].chunk(2)
    b_f, b_h = p["bias"].chunk(2)
    f = torch.sigmoid(x @ W_f.T + h @ U_f.T + b_f)
    return (1 - f) * h + f * torch.tanh(x @ W_h.T + (f * h) @ U_h.T + b_h)


def indrnn(p, x, h):
    return torch.relu(x @ p["weight_ih"].T + p["weight_hh"] * h + p["bias_ih"])


def janet(p, x, h, beta=1.0):
    W_f, W_c = p["weight_ih"].chunk(2)
    U_f, U_c = p["weight_hh"].chunk(2)
    b_f, b_c = p["bias"].chunk(2)
    s = x @ W_f.T + h @ U_f.T + b_f
    return torch.sigmoid(s) * h + (1 - torch.sigmoid(s - beta)) * torch.tanh(x @ W_c.T + h @ U_c.T + b_c)


def ln_lstm(p, x, state):
    h, c = state
    n = p["weight_ih"].shape[0]
    gates = (F.layer_norm(h @ p["weight_hh"].T, (n,), p["ln_hh.weight"]) +
             F.layer_norm(x @ p["weight_ih"].T, (n,), p["ln_ih.weight"]) + p["bias"])
    i, f, g, o = gates.chunk(4, -1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    hidden = torch.sigmoid(o) * torch.tanh(F.layer_norm(c, (n // 4,), p["ln_c.weight"], p["ln_c.bias"]))
    return hidden, c


REFERENCES = {"peephole_lstm": peephole, "cifg_lstm": cifg, "cho_gru": cho_gru, "mgu": mgu, "indrnn": indrnn,
              "janet": janet, "ln_lstm": ln_lstm}


def as_list(out):
    return list(out) if isinstance(out, tuple) else [out]


def random_cell(name: str, D: int = 3, H: int = 4, seed: int = 0):
    """A zoo cell with every parameter random (LayerNorm gains included), and a random input and state."""
    mg.manual_seed(seed)
    cell = ZOO[name](D, H)
    rng = np.random.default_rng(seed)
    for _, p in cell.named_parameters():
        p.data[...] = rng.normal(0, 0.6, p.shape)
    x = rng.standard_normal((2, D))
    state = tuple(rng.standard_normal((2, H)) for _ in cell.state_names)
    return cell, x, state if len(state) > 1 else state[0]


@pytest.mark.parametrize("name", ZOO)
def test_each_cell_is_its_papers_equations(f64, name):
    cell, x, state = random_cell(name)
    ours_in = [mg.tensor(a, requires_grad=True) for a in [x, *as_list(state)]]
    out = as_list(cell(ours_in[0], tuple(ours_in[1:]) if len(ours_in) > 2 else ours_in[1]))
    p = {n: torch.tensor(q.data, requires_grad=True) for n, q in cell.named_parameters()}
    theirs_in = [torch.tensor(a, requires_grad=True) for a in [x, *as_list(state)]]
    expected = as_list(REFERENCES[name](p, theirs_in[0], tuple(theirs_in[1:]) if len(theirs_in) > 2 else theirs_in[1]))
    weights = [np.random.default_rng(9).standard_normal(o.shape) for o in out]
    sum((o * w).sum() for o, w in zip(out, weights, strict=True)).backward()
    sum((o * torch.from_numpy(w)).sum() for o, w in zip(expected, weights, strict=True)).backward()
    for a, b in zip(out, expected, strict=True):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12, atol=1e-14)
    for a, b in zip(ours_in, theirs_in, strict=True):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), rtol=1e-10, atol=1e-13)
    for n, q in cell.named_parameters():
        np.testing.assert_allclose(q.grad, p[n].grad.numpy(), rtol=1e-10, atol=1e-13, err_msg=n)


@pytest.mark.parametrize("name", ZOO)
def test_each_cell_passes_gradcheck_in_a_two_layer_bidirectional_layer(f64, name):
    mg.manual_seed(1)
    layer = mg.nn.CELLS[name].layer(2, 2, num_layers=2, bidirectional=True)
    assert isinstance(layer, mg.nn.Recurrent) and layer.cell(1, reverse=True).__class__ is ZOO[name]
    rng = np.random.default_rng(1)
    x = mg.tensor(rng.standard_normal((3, 1, 2)), requires_grad=True)
    states = [mg.tensor(rng.standard_normal((4, 1, 2)), requires_grad=True) for _ in ZOO[name].state_names]
    n = len(states)
    assert mg.gradcheck(lambda x, *rest: layer(x, tuple(rest[:n]) if n > 1 else rest[0]),
                        x, *states, *layer.parameters())


def test_peephole_lstm_with_zero_peepholes_is_torchs_lstm_cell(f64):
    cell, x, (h, c) = random_cell("peephole_lstm")
    for gate in "ifo":
        getattr(cell, f"peephole_{gate}").data[...] = 0.0
    theirs = torch.nn.LSTMCell(3, 4).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in cell.state_dict().items() if "peephole" not in k})
    want = theirs(torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c)))
    for a, b in zip(cell(x, (h, c)), want, strict=True):
        np.testing.assert_allclose(a.data, b.detach().numpy(), rtol=1e-12)


def test_cho_gru_is_not_torchs_gru_but_agrees_from_a_zero_state_without_b_hn(f64):
    cell, x, h = random_cell("cho_gru")
    theirs = torch.nn.GRUCell(3, 4).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in cell.state_dict().items()})
    differ = np.abs(cell(x, h).data - theirs(torch.from_numpy(x), torch.from_numpy(h)).detach().numpy()).max()
    assert differ > 1e-2, "resetting before the matmul is a different cell"
    cell.bias_hh.data[8:] = 0.0  # b_hn = 0 and h = 0: r ⊙ (U h + b_hn) = U (r ⊙ h) = 0
    with torch.no_grad():
        theirs.bias_hh[8:] = 0.0
    zero = np.zeros((2, 4))
    np.testing.assert_allclose(cell(x, zero).data, theirs(torch.from_numpy(x), torch.from_numpy(zero)).detach().numpy(),
                               rtol=1e-12)


def test_indrnn_units_are_independent_and_start_in_zero_to_one(f64):
    mg.manual_seed(2)
    cell = mg.nn.zoo.IndRNNCell(3, 50)
    assert cell.weight_hh.shape == (50,) and cell.weight_hh.data.min() >= 0.0 and cell.weight_hh.data.max() <= 1.0
    h0 = np.abs(np.random.default_rng(2).standard_normal(50))
    step = mg.teaching.jacobians(cell, np.ones((1, 3)), state=h0)[0]           # dh_1/dh_0, (H, H)
    assert np.count_nonzero(step - np.diag(np.diag(step))) == 0, "each unit sees only its own past"
    assert np.count_nonzero(np.diag(step)) > 25


def test_janet_chrono_initialisation():
    mg.manual_seed(3)
    cell = mg.nn.zoo.JANETCell(3, 200, t_max=100)
    b_f, b_c = cell.bias.data[:200], cell.bias.data[200:]
    assert b_f.min() >= 0.0 and b_f.max() <= np.log(99.0) + 1e-6 and b_f.std() > 0.5
    assert not b_c.any()
    with pytest.raises(ValueError, match="JANETCell: t_max must be greater than 2, got 2"):
        mg.nn.zoo.JANETCell(3, 4, t_max=2)


def test_every_zoo_cell_is_registered_and_importable_from_the_package():
    for name, cell in ZOO.items():
        assert mg.nn.CELLS[name].cell is cell and cell.__module__ == "micrograd_seq.nn.zoo"
    assert sorted(mg.nn.zoo.__all__) == sorted(cell.__name__ for cell in ZOO.values())
