"""The project's thesis: backpropagation through time falls out of one generic ``backward()``.

For the vanilla RNN, the LSTM and the GRU, the gradients derived by hand and written in plain
numpy (``micrograd_seq.teaching.bptt_*``) equal, to 1e-10 in float64, the gradients that
``loss.backward()`` computes through the cells of ``mg.nn`` (a recurrent layer, a Linear
readout and ``cross_entropy(reduction="sum")``), in which no derivative is written anywhere:
for every weight, for the initial state, and for dL/dh_t (and dL/dc_t) at every time step.
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import micrograd_seq as mg
from micrograd_seq.teaching import autodiff_gradients, bptt_rnn, build_model, compare, hand_gradients, random_problem

CELLS = ["rnn", "lstm", "gru"]
EXACT = {"rtol": 1e-10, "atol": 1e-12}


@settings(max_examples=100, deadline=None)
@given(cell=st.sampled_from(CELLS), T=st.integers(1, 12), B=st.integers(1, 4), D=st.integers(1, 5),
       H=st.integers(1, 6), K=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_hand_derived_bptt_equals_autodiff(cell, T, B, D, H, K, seed):
    problem = random_problem(cell, T, B, D, H, K, seed)
    hand_loss, hand = hand_gradients(problem)
    auto_loss, auto = autodiff_gradients(problem)
    np.testing.assert_allclose(hand_loss, auto_loss, **EXACT)
    expected = {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "V", "b_V", "h"} | ({"c"} if cell == "lstm" else set())
    assert set(hand) == set(auto) == expected
    for name in expected:
        assert hand[name].shape == auto[name].shape, name
        np.testing.assert_allclose(hand[name], auto[name], err_msg=f"{cell}: dL/d{name}", **EXACT)


@pytest.mark.parametrize("cell", CELLS)
def test_the_states_carry_gradient_at_every_step(cell):
    # The comparison above is not vacuous: every dL/dh_t, h_0 included, is non-zero.
    _, grads = hand_gradients(random_problem(cell, T=6, B=2, D=3, H=4, K=3, seed=1))
    assert np.all(np.abs(grads["h"]).sum(axis=(1, 2)) > 0)


@pytest.mark.parametrize("cell", CELLS)
def test_the_autodiff_side_is_the_mg_nn_layer(cell, f64):
    # autodiff_gradients unrolls the layer step by step to keep every h_t; the layer's own
    # forward must give the same output and the same weight gradients.
    problem = random_problem(cell, T=7, B=3, D=4, H=5, K=3, seed=2)
    layer, head = build_model(problem)
    state = tuple(s[None] for s in problem.states.values())
    output, _ = layer(problem.xs, state if cell == "lstm" else state[0])
    T, B = problem.ys.shape
    loss = mg.functional.cross_entropy(head(output).reshape(T * B, -1), problem.ys.reshape(-1), reduction="sum")
    loss.backward()
    auto_loss, auto = autodiff_gradients(problem)
    np.testing.assert_allclose(loss.item(), auto_loss, **EXACT)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(getattr(layer, f"{name}_l0").grad, auto[name], **EXACT)
    np.testing.assert_allclose(head.weight.grad, auto["V"], **EXACT)


@pytest.mark.parametrize("cell", CELLS)
def test_hand_derived_bptt_equals_torch(cell):
    # A third witness, independent of this engine: torch's autograd on torch.nn's layers.
    torch = pytest.importorskip("torch")
    problem = random_problem(cell, T=6, B=3, D=4, H=5, K=4, seed=3)
    _, hand = hand_gradients(problem)
    p = {name: torch.tensor(value, requires_grad=True) for name, value in problem.params.items()}
    layer = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](4, 5).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(layer, f"{name}_l0").copy_(p[name])
    states = [torch.tensor(s[None], requires_grad=True) for s in problem.states.values()]
    output, _ = layer(torch.tensor(problem.xs), tuple(states) if cell == "lstm" else states[0])
    logits = output @ p["V"].T + p["b_V"]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 4), torch.tensor(problem.ys).reshape(-1),
                                             reduction="sum")
    loss.backward()
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        np.testing.assert_allclose(hand[name], getattr(layer, f"{name}_l0").grad.numpy(), **EXACT)
    np.testing.assert_allclose(hand["V"], p["V"].grad.numpy(), **EXACT)
    np.testing.assert_allclose(hand["h"][0], states[0].grad.numpy()[0], **EXACT)


@pytest.mark.parametrize("cell", CELLS)
def test_compare_reports_agreement(cell):
    assert compare(cell, T=8, B=2, D=3, H=4, K=3, seed=5) < 1e-12


def test_compare_catches_a_wrong_derivation(monkeypatch):
    # Forget that W_hh is shared: keep only the last step's contribution. compare must notice.
    real_backward = bptt_rnn.backward

    def last_step_only(params, cache):
        grads = real_backward(params, cache)
        one_step = dict(cache, xs=cache["xs"][-1:], hs=cache["hs"][-2:], ys=cache["ys"][-1:], probs=cache["probs"][-1:])
        grads["weight_hh"] = real_backward(params, one_step)["weight_hh"]
        return grads

    monkeypatch.setattr(bptt_rnn, "backward", last_step_only)
    assert compare("rnn", T=6, seed=0) > 1e-3


@pytest.mark.parametrize("bad, message", [({"cell": "lstmm"}, "cell must be one of"),
                                          ({"T": 0}, "T must be a positive integer"),
                                          ({"H": 2.5}, "H must be a positive integer")])
def test_random_problem_rejects_bad_arguments(bad, message):
    args = dict(cell="rnn", T=3, B=2, D=2, H=3, K=2) | bad
    with pytest.raises(ValueError, match=message):
        random_problem(**args)
