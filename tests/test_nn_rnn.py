"""RNNCell and RNN (tanh and relu): torch parity, gradcheck, the equation, and errors."""
import numpy as np
import pytest
from recurrent_parity import HIDDEN, INPUT, LAYER_CONFIGS, assert_same_as_torch, cell_case, layer_case

import micrograd_seq as mg


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_cell_matches_torch(f64, nonlinearity, bias, given_state, batched):
    x, h = cell_case(batched, given_state, states=1)
    assert_same_as_torch("RNNCell", (INPUT, HIDDEN), {"bias": bias, "nonlinearity": nonlinearity}, x, h)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=str)
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_layer_matches_torch(f64, nonlinearity, config, batched, given_state):
    x, h0 = layer_case(config, batched, given_state, states=1)
    assert_same_as_torch("RNN", (INPUT, HIDDEN), {**config, "nonlinearity": nonlinearity}, x, h0)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_cell_gradcheck(f64, nonlinearity):
    cell = mg.nn.RNNCell(3, 2, nonlinearity=nonlinearity)
    rng = np.random.default_rng(1)
    x, h = (mg.tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(2, 3), (2, 2)])
    assert mg.gradcheck(lambda x, h, *params: cell(x, h), x, h, *cell.parameters())


def test_layer_gradcheck(f64):
    rnn = mg.nn.RNN(2, 2, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(2)
    x, h0 = (mg.tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(3, 2), (4, 2)])
    assert mg.gradcheck(lambda x, h0, *params: rnn(x, h0), x, h0, *rnn.parameters())


@pytest.mark.parametrize("nonlinearity, act", [("tanh", np.tanh), ("relu", lambda a: np.maximum(a, 0))])
def test_cell_is_the_elman_equation(f64, nonlinearity, act):
    cell = mg.nn.RNNCell(3, 2, nonlinearity=nonlinearity)
    rng = np.random.default_rng(3)
    x, h = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    pre = x @ cell.weight_ih.data.T + cell.bias_ih.data + h @ cell.weight_hh.data.T + cell.bias_hh.data
    np.testing.assert_allclose(cell(x, h).data, act(pre), rtol=1e-13)


def test_errors():
    with pytest.raises(ValueError, match=r"RNNCell: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        mg.nn.RNNCell(3, 2, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"RNN: nonlinearity must be 'tanh' or 'relu', got 'gelu'"):
        mg.nn.RNN(3, 2, nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"rnn_step: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"):
        mg.nn.rnn_step(mg.tensor(np.zeros((1, 2))), mg.tensor(np.zeros((1, 2))), mg.tensor(np.eye(2)), None, "sigmoid")
    cell, rnn = mg.nn.RNNCell(3, 2), mg.nn.RNN(3, 2, batch_first=True)
    with pytest.raises(ValueError, match=r"RNNCell: expected input of shape \(batch, 3\) or \(3,\), got \(2, 2, 3\)"):
        cell(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match=r"RNNCell: expected hidden state of shape \(2,\), got \(1, 2\)"):
        cell(np.zeros(3), np.zeros((1, 2)))
    expected = r"RNN: expected input of shape \(batch, seq, 3\) or \(seq, 3\), got \(4, 5, 1\)"
    with pytest.raises(ValueError, match=expected):
        rnn(np.zeros((4, 5, 1)))
    with pytest.raises(ValueError, match=r"RNN: expected h_0 of shape \(1, 4, 2\), got \(1, 5, 2\)"):
        rnn(np.zeros((4, 5, 3)), np.zeros((1, 5, 2)))
