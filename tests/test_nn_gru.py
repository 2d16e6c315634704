"""GRUCell and GRU: torch parity, gradcheck, torch's form of the candidate, and errors."""
import numpy as np
import pytest
from recurrent_parity import HIDDEN, INPUT, LAYER_CONFIGS, assert_same_as_torch, cell_case, layer_case

import micrograd_seq as mg


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_cell_matches_torch(f64, batched, given_state, bias):
    x, h = cell_case(batched, given_state, states=1)
    assert_same_as_torch("GRUCell", (INPUT, HIDDEN), {"bias": bias}, x, h)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=str)
def test_layer_matches_torch(f64, config, batched, given_state):
    x, h0 = layer_case(config, batched, given_state, states=1)
    assert_same_as_torch("GRU", (INPUT, HIDDEN), config, x, h0)


def test_cell_gradcheck(f64):
    cell = mg.nn.GRUCell(3, 2)
    rng = np.random.default_rng(1)
    x, h = (mg.tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(2, 3), (2, 2)])
    assert mg.gradcheck(lambda x, h, *params: cell(x, h), x, h, *cell.parameters())


def test_layer_gradcheck(f64):
    gru = mg.nn.GRU(2, 1, num_layers=2, bidirectional=True, batch_first=True)
    rng = np.random.default_rng(2)
    x, h0 = (mg.tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(1, 3, 2), (4, 1, 1)])
    assert mg.gradcheck(lambda x, h0, *params: gru(x, h0), x, h0, *gru.parameters())


def test_cell_applies_the_reset_gate_to_the_projected_state(f64):
    """torch's GRU: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)), gates stacked r, z, n."""
    cell = mg.nn.GRUCell(3, 2)
    rng = np.random.default_rng(3)
    x, h = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    xs = x @ cell.weight_ih.data.T + cell.bias_ih.data
    hs = h @ cell.weight_hh.data.T + cell.bias_hh.data
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    r, z = sigmoid(xs[:, :2] + hs[:, :2]), sigmoid(xs[:, 2:4] + hs[:, 2:4])
    n = np.tanh(xs[:, 4:] + r * hs[:, 4:])
    np.testing.assert_allclose(cell(x, h).data, (1 - z) * n + z * h, rtol=1e-13)


def test_errors():
    cell, gru = mg.nn.GRUCell(3, 2), mg.nn.GRU(3, 2, bidirectional=True)
    with pytest.raises(ValueError, match=r"GRUCell: expected input of shape \(batch, 3\) or \(3,\), got \(4, 2\)"):
        cell(np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"GRUCell: expected hidden state of shape \(4, 2\), got \(2,\)"):
        cell(np.zeros((4, 3)), np.zeros(2))
    with pytest.raises(ValueError, match=r"GRU: expected input of shape \(seq, batch, 3\) or \(seq, 3\), got \(5, 4\)"):
        gru(np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"GRU: expected h_0 of shape \(2, 4, 2\), got \(1, 4, 2\)"):
        gru(np.zeros((5, 4, 3)), np.zeros((1, 4, 2)))
