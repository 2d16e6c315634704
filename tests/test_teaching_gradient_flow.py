"""Gradient flow through time: the norms are exact, and they vanish, explode and get clipped as claimed."""
import sys

import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq.teaching import (
    build_model,
    hand_gradients,
    hidden_grad_norms,
    jacobian_norms,
    jacobians,
    plot_gradient_flow,
    random_problem,
    unroll,
)
from micrograd_seq.teaching.unroll import initial_state

LAYERS = {"rnn": mg.nn.RNN, "lstm": mg.nn.LSTM, "gru": mg.nn.GRU}


def rnn_with_gain(gain, D=4, H=16, seed=0):
    """A tanh RNN whose recurrent weights are N(0, gain^2 / H): its Jacobians shrink for small gain, grow for large."""
    mg.manual_seed(seed)
    rnn = mg.nn.RNN(D, H)
    rnn.weight_hh_l0.data[...] = np.random.default_rng(seed).normal(0.0, gain / np.sqrt(H), (H, H))
    return rnn


def last_step_loss(H=16, K=4, B=8, seed=0):
    """Cross-entropy of a Linear readout of the last hidden state only.

    It isolates how far back the gradient reaches.
    """
    mg.manual_seed(seed)
    head = mg.nn.Linear(H, K)
    targets = np.random.default_rng(seed).integers(0, K, B)
    return lambda output: mg.functional.cross_entropy(head(output[-1]), targets, reduction="sum")


@pytest.mark.parametrize("cell", LAYERS)
def test_jacobians_match_finite_differences(cell, f64):
    mg.manual_seed(1)
    T, B, D, H = 5, 2, 3, 4
    layer = LAYERS[cell](D, H)
    x = np.random.default_rng(1).normal(size=(T, B, D))
    J = jacobians(layer, x)
    assert J.shape == (T + 1, B, H, H)
    with mg.no_grad():
        states = unroll(layer, mg.tensor(x), initial_state("test", layer, B, None, np.float64))
        eps = 1e-6
        for t in range(T + 1):
            for k in range(H):
                nudge = np.zeros((B, H))
                nudge[:, k] = eps
                ends = [unroll(layer, mg.tensor(x[t:]), (states[t][0] + sign * nudge,) + states[t][1:])[-1][0].data
                        for sign in (1, -1)]  # for the LSTM, c_t is held fixed
                np.testing.assert_allclose(J[t, :, :, k], (ends[0] - ends[1]) / (2 * eps), atol=1e-8)


def test_rnn_jacobian_is_the_product_of_step_jacobians(f64):
    # dh_T/dh_t = prod_{k=T..t+1} diag(1 - h_k^2) W_hh, the textbook form.
    layer = rnn_with_gain(1.0, D=3, H=5)
    x = np.random.default_rng(2).normal(size=(6, 3))
    with mg.no_grad():
        hs = [h.data for h, in unroll(layer, mg.tensor(x[:, None]), initial_state("test", layer, 1, None, np.float64))]
    product = np.eye(5)
    W = layer.weight_hh_l0.data
    J = jacobians(layer, x)
    for t in range(6, -1, -1):
        np.testing.assert_allclose(J[t], product, rtol=1e-10, atol=1e-14)
        if t:
            product = product @ (np.diag(1 - hs[t][0] ** 2) @ W)


@pytest.mark.parametrize("cell", LAYERS)
def test_hidden_grad_norms_match_the_hand_derived_bptt(cell, f64):
    problem = random_problem(cell, T=7, B=3, D=4, H=5, K=3, seed=4)
    _, hand = hand_gradients(problem)
    layer, head = build_model(problem)
    T, B = problem.ys.shape

    def loss_fn(output):
        return mg.functional.cross_entropy(head(output).reshape(T * B, -1), problem.ys.reshape(-1), reduction="sum")

    state = tuple(problem.states.values()) if cell == "lstm" else problem.states["h"]
    norms = hidden_grad_norms(layer, problem.xs, loss_fn, state)
    np.testing.assert_allclose(norms, np.linalg.norm(hand["h"], axis=(1, 2)), rtol=1e-10)
    assert layer.weight_hh_l0.grad is None  # the layer's weights were constants


def test_gradients_vanish_through_a_50_step_rnn_with_small_weights(f64):
    x = np.random.default_rng(0).normal(size=(50, 8, 4))
    norms = hidden_grad_norms(rnn_with_gain(0.5), x, last_step_loss())
    assert norms[0] / norms[-1] < 1e-8
    assert jacobian_norms(rnn_with_gain(0.5), x)[0].max() < 1e-8


def test_gradients_explode_through_a_50_step_rnn_with_large_weights(f64):
    x = np.random.default_rng(0).normal(size=(50, 8, 4))
    norms = hidden_grad_norms(rnn_with_gain(3.0), x, last_step_loss())
    assert norms[0] / norms[-1] > 100
    growth = jacobian_norms(rnn_with_gain(3.0), x)[0]  # ||dh_T/dh_0|| for each of the 8 sequences
    assert growth.min() > 1 and np.median(growth) > 100


def test_an_open_forget_gate_keeps_the_lstm_gradient(f64):
    x = np.random.default_rng(0).normal(size=(50, 8, 4))
    mg.manual_seed(0)
    lstm = mg.nn.LSTM(4, 16)
    shut = hidden_grad_norms(lstm, x, last_step_loss())
    lstm.bias_ih_l0.data[16:32] += 3.0  # forget gate f = sigmoid(... + 3), about 0.95
    kept = hidden_grad_norms(lstm, x, last_step_loss())
    assert kept[0] / kept[-1] > 1e4 * shut[0] / shut[-1]


def test_clip_grad_norm_bounds_an_exploding_gradient(f64):
    x = np.random.default_rng(0).normal(size=(50, 8, 4))
    rnn, loss_fn = rnn_with_gain(3.0), last_step_loss()
    output, _ = rnn(x)
    loss_fn(output).backward()
    before = [p.grad.copy() for p in rnn.parameters()]
    total = mg.nn.utils.clip_grad_norm_(rnn.parameters(), max_norm=1.0)
    after = [p.grad for p in rnn.parameters()]
    assert total > 100
    np.testing.assert_allclose(total, np.sqrt(sum((g ** 2).sum() for g in before)), rtol=1e-12)
    assert np.sqrt(sum((g ** 2).sum() for g in after)) <= 1.0
    for b, a in zip(before, after, strict=True):  # same direction, shorter
        np.testing.assert_allclose(a, b / (total + 1e-6), rtol=1e-12)


def test_unbatched_input_gives_one_sequences_results(f64):
    mg.manual_seed(0)
    gru = mg.nn.GRU(3, 4)
    x = np.random.default_rng(0).normal(size=(5, 3))
    h0 = np.random.default_rng(1).normal(size=4)
    np.testing.assert_allclose(jacobians(gru, x, h0), jacobians(gru, x[:, None], h0[None])[:, 0])
    assert jacobian_norms(gru, x, h0).shape == (6,)
    norms = hidden_grad_norms(gru, x, lambda out: (out ** 2).sum(), h0)
    assert norms.shape == (6,) and np.isclose(norms[-1], 2 * np.linalg.norm(gru(x, h0[None])[0].data[-1]))


def test_bad_arguments_get_clear_errors():
    rnn = mg.nn.RNN(3, 4)
    with pytest.raises(TypeError, match=r"expected a recurrent layer \(mg.nn.RNN, LSTM, GRU or Recurrent\) or a "
                                        "RecurrentCell, got Linear"):
        jacobians(mg.nn.Linear(3, 4), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="num_layers=1 and bidirectional=False, got num_layers=2"):
        jacobians(mg.nn.RNN(3, 4, num_layers=2), np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"expected x of shape \(T, B, 3\) or \(T, 3\) with T >= 1, got \(5, 2\)"):
        jacobian_norms(rnn, np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"jacobians: expected h_0 of shape \(2, 4\), got \(4,\)"):
        jacobians(rnn, np.zeros((5, 2, 3)), np.zeros(4))
    with pytest.raises(ValueError, match=r"jacobians: the initial state of LSTMCell is a tuple \(h_0, c_0\)"):
        jacobians(mg.nn.LSTM(3, 4), np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(ValueError, match=r"loss_fn must return a one-element tensor, got a tensor of shape \(5, 4\)"):
        hidden_grad_norms(rnn, np.zeros((5, 3)), lambda out: out)


def test_plot_gradient_flow_writes_a_png(tmp_path, f64):
    pytest.importorskip("matplotlib")
    layers = {"RNN": rnn_with_gain(0.5, D=2, H=3), "GRU": mg.nn.GRU(2, 3)}
    path = plot_gradient_flow(layers, np.ones((6, 2, 2)), lambda out: out[-1].sum(), tmp_path / "sub" / "flow.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_gradient_flow_says_when_matplotlib_is_missing(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"plot_gradient_flow needs matplotlib: pip install"):
        plot_gradient_flow({}, np.ones((2, 1, 1)), lambda out: out.sum(), tmp_path / "flow.png")


def test_tiny_float32_gradient_norms_do_not_underflow_to_zero():
    mg.manual_seed(0)
    rnn = mg.nn.RNN(2, 32)
    x = np.random.default_rng(0).uniform(size=(100, 64, 2)).astype(np.float32)
    norms = mg.teaching.hidden_grad_norms(rnn, x, lambda o: o[-1].sum())
    assert (norms > 0).all()
