"""RTRL: forward mode through time gives backward()'s gradients, online and all at once.

The reference everywhere is one ``backward()`` through the library's own loop (reverse mode, BPTT).
The user-defined cell is a minimal gated unit (Zhou et al. 2016) written here as a user would,
``forward`` only; another has a learned initial state, so S_0 = ds_0/dθ is not zero.
"""
from __future__ import annotations

import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq.teaching import RTRL, hand_gradients, random_problem, rtrl, unroll
from micrograd_seq.teaching.unroll import check_layer


class MGUCell(mg.nn.RecurrentCell):
    """f = σ(W_f x + U_f h + b_f);  h̃ = tanh(W_h x + U_h (f h) + b_h);  h' = (1 - f) h + f h̃."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        rng = mg.random.generator()
        self.W = mg.nn.Parameter(rng.normal(0, 0.5, (2 * hidden_size, input_size)))
        self.U_f = mg.nn.Parameter(rng.normal(0, 0.5, (hidden_size, hidden_size)))
        self.U_h = mg.nn.Parameter(rng.normal(0, 0.5, (hidden_size, hidden_size)))
        self.b = mg.nn.Parameter(rng.normal(0, 0.5, 2 * hidden_size))

    def forward(self, x, h):
        x_f, x_h = (x @ self.W.T + self.b).chunk(2, axis=-1)
        f = (x_f + h @ self.U_f.T).sigmoid()
        candidate = (x_h + (f * h) @ self.U_h.T).tanh()
        return (1 - f) * h + f * candidate


class LearnedStartCell(mg.nn.RecurrentCell):
    """A two-state tanh cell whose initial state (h_0, c_0) is a parameter."""

    state_names = ("h", "c")

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        rng = mg.random.generator()
        self.W = mg.nn.Parameter(rng.normal(0, 0.5, (hidden_size, input_size)))
        self.U = mg.nn.Parameter(rng.normal(0, 0.5, (hidden_size, hidden_size)))
        self.h0 = mg.nn.Parameter(rng.normal(0, 0.5, hidden_size))
        self.c0 = mg.nn.Parameter(rng.normal(0, 0.5, hidden_size))

    def initial_state(self, batch, like):
        zeros = mg.zeros(batch, self.hidden_size, dtype=like.dtype)
        return zeros + self.h0, zeros + self.c0

    def forward(self, x, state):
        h, c = state
        c = 0.5 * c + (x @ self.W.T + h @ self.U.T).tanh()
        return c.tanh() * h.sigmoid(), c


MODELS = {
    "rnn": lambda D, H: mg.nn.RNN(D, H),
    "lstm": lambda D, H: mg.nn.LSTM(D, H),
    "gru": lambda D, H: mg.nn.GRU(D, H),
    "user MGU cell": lambda D, H: MGUCell(D, H),
    "user MGU layer": lambda D, H: mg.nn.Recurrent(MGUCell, D, H),
    "zoo peephole cell": lambda D, H: mg.nn.zoo.PeepholeLSTMCell(D, H),
    "learned initial state": lambda D, H: LearnedStartCell(D, H),
}


def problem(name, T=6, B=3, D=4, H=5, K=3, seed=0):
    """A model, a readout, inputs (T, B, D), classes (T, B), and the per-step loss."""
    mg.manual_seed(seed)
    layer, head = MODELS[name](D, H), mg.nn.Linear(H, K)
    rng = np.random.default_rng(seed)
    x, ys = rng.normal(size=(T, B, D)), rng.integers(0, K, (T, B))

    def loss_fn(h, y):
        return mg.functional.cross_entropy(head(h), y, reduction="sum")
    return layer, head, x, ys, loss_fn


def backward_gradients(layer, head, x, targets, loss_fn, state=None, steps=None):
    """L over the first ``steps`` steps and every gradient, by one backward() through the unrolled loop."""
    for module in (layer, head):
        module.zero_grad()
    x = x[:steps]
    states = unroll(layer, mg.tensor(x), state)
    loss = sum(loss_fn(s[0], y) for s, y in zip(states[1:], targets, strict=False) if y is not None)
    loss.backward()
    grads = {name: p.grad.copy() for name, p in [*layer.named_parameters(), *head.named_parameters(prefix="head")]
             if p.grad is not None}
    for module in (layer, head):
        module.zero_grad()
    return loss.item(), grads


def read_grads(layer, head):
    return {name: p.grad for name, p in [*layer.named_parameters(), *head.named_parameters(prefix="head")]}


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


@pytest.mark.parametrize("name", MODELS)
def test_rtrl_equals_backward(name, f64):
    layer, head, x, ys, loss_fn = problem(name)
    want_loss, want = backward_gradients(layer, head, x, ys, loss_fn)
    loss, grads = rtrl(layer, x, ys, loss_fn)
    assert abs(loss - want_loss) < 1e-10
    assert grads.keys() == dict(layer.named_parameters()).keys()
    assert max_difference(grads, {k: want[k] for k in grads}) < 1e-10
    assert max_difference(read_grads(layer, head), want) < 1e-10   # .grad too, the readout's included


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru", "user MGU cell"])
def test_a_given_initial_state_and_small_chunks_change_nothing(name, f64):
    layer, head, x, ys, loss_fn = problem(name)
    names = check_layer("test", layer).state_names
    rng = np.random.default_rng(1)
    state = tuple(rng.normal(size=(3, 5)) for _ in names)   # (h,) stands for h, as everywhere in the library
    want_loss, want = backward_gradients(layer, head, x, ys, loss_fn, state=state[0] if len(state) == 1 else state)
    loss, grads = rtrl(layer, x, ys, loss_fn, state=state, chunk_size=7)
    assert abs(loss - want_loss) < 1e-10
    assert max_difference(grads, {k: want[k] for k in grads}) < 1e-10


def test_rtrl_equals_the_hand_derived_bptt(f64):
    """The third way: the numpy derivation of docs/bptt.md gives the same numbers."""
    p = random_problem("lstm", T=5, B=2, D=3, H=4, K=3)
    hand_loss, hand = hand_gradients(p)
    lstm, head = mg.teaching.build_model(p)
    loss, grads = rtrl(lstm, p.xs, p.ys, lambda h, y: mg.functional.cross_entropy(head(h), y, reduction="sum"),
                       state=(p.states["h"], p.states["c"]))
    assert abs(loss - hand_loss) < 1e-10
    assert max(np.max(np.abs(grads[f"{n}_l0"] - hand[n])) for n in ("weight_ih", "weight_hh", "bias_ih")) < 1e-10
    assert np.max(np.abs(head.weight.grad - hand["V"])) < 1e-10


def test_a_loss_at_the_last_step_only(f64):
    layer, head, x, ys, loss_fn = problem("gru")
    targets = [None] * (len(x) - 1) + [ys[-1]]
    want_loss, want = backward_gradients(layer, head, x, targets, loss_fn)
    loss, grads = rtrl(layer, x, targets, loss_fn)
    assert abs(loss - want_loss) < 1e-10
    assert max_difference(grads, {k: want[k] for k in grads}) < 1e-10


def test_one_unbatched_sequence(f64):
    layer, head, x, ys, loss_fn = problem("lstm", B=1)
    _, want = backward_gradients(layer, head, x, ys, loss_fn)
    seen = []

    def unbatched_loss(h, y):
        seen.append(h.shape)
        return loss_fn(h[None], y)
    _, grads = rtrl(layer, x[:, 0], ys, unbatched_loss, state=(np.zeros(5), np.zeros(5)))
    assert set(seen) == {(5,)}
    assert max_difference(grads, {k: want[k] for k in grads}) < 1e-10


def test_frozen_parameters_get_no_sensitivities(f64):
    layer, head, x, ys, loss_fn = problem("rnn")
    layer.weight_ih_l0.requires_grad = False
    _, want = backward_gradients(layer, head, x, ys, loss_fn)
    online = RTRL(layer, loss_fn)
    for x_t, y in zip(x, ys, strict=True):
        online.step(x_t, y)
    assert online.grads.keys() == {"weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}
    assert online.num_directions == 5 * 5 + 5 + 5
    assert layer.weight_ih_l0.grad is None
    assert max_difference(online.grads, {k: want[k] for k in online.grads}) < 1e-10


@pytest.mark.parametrize("name", ["lstm", "user MGU layer"])
def test_online_gradient_after_k_steps_is_bptt_over_those_k_steps(name, f64):
    layer, head, x, ys, loss_fn = problem(name)
    references = [backward_gradients(layer, head, x, ys, loss_fn, steps=k) for k in range(1, len(x) + 1)]
    online = RTRL(layer, loss_fn)
    total = 0.0
    for k, (x_t, y) in enumerate(zip(x, ys, strict=True)):
        total += online.step(mg.tensor(x_t), y)
        want_loss, want = references[k]
        assert abs(total - want_loss) < 1e-10
        assert max_difference(online.grads, {n: want[n] for n in online.grads}) < 1e-10
        assert max_difference(read_grads(layer, head), want) < 1e-10  # no zero_grad: .grad sums the steps too


def test_sensitivities_are_the_jacobian_of_the_state_by_reverse_mode(f64):
    """ds_T/dθ that RTRL carries equals jacrev of the unrolled map θ -> s_T."""
    layer, head, x, ys, loss_fn = problem("lstm", T=4, B=2)
    online = RTRL(layer, loss_fn)
    for x_t in x:
        online.step(x_t)                                              # no targets: states and sensitivities only
    W = layer.weight_hh_l0.data

    def final_state(w):  # with the cell's name: the layer's weight_hh_l0 only names the cell's weight_hh
        state = (mg.zeros(2, 5), mg.zeros(2, 5))
        for x_t in x:
            state = mg.func.functional_call(layer.cell(0), {"weight_hh": w}, (mg.tensor(x_t), state))
        return state
    dh, dc = mg.func.jacrev(final_state)(W)                          # (B, H, 4H, H) each
    sens = online.sensitivities
    assert sens.keys() == {"h", "c"} and sens["h"].keys() == dict(layer.named_parameters()).keys()
    np.testing.assert_allclose(sens["h"]["weight_hh_l0"], dh.data, atol=1e-12)
    np.testing.assert_allclose(sens["c"]["weight_hh_l0"], dc.data, atol=1e-12)
    np.testing.assert_allclose(online.state[0].data, final_state(W)[0].data, atol=1e-14)


def test_learning_online_updates_the_weights_every_step(f64):
    """With an optimizer step after every RTRL step, the loss of a simple stream falls; no history is kept."""
    mg.manual_seed(0)
    cell, head = mg.nn.GRUCell(1, 6), mg.nn.Linear(6, 1)
    opt = mg.optim.Adam([*cell.parameters(), *head.parameters()], lr=0.02)
    online = RTRL(cell, lambda h, y: mg.functional.mse_loss(head(h), mg.tensor(y)))
    wave = np.sin(0.3 * np.arange(601))
    losses = []
    for t in range(600):
        opt.zero_grad()
        losses.append(online.step(wave[t:t + 1], wave[t + 1:t + 2]))
        opt.step()
    assert np.mean(losses[-100:]) < 0.25 * np.mean(losses[:100])


def test_reset_starts_a_new_sequence(f64):
    layer, head, x, ys, loss_fn = problem("rnn")
    online = RTRL(layer, loss_fn)
    assert online.state is None and online.sensitivities == {}
    online.step(x[0], ys[0])
    online.reset()
    assert online.state is None and all(not g.any() for g in online.grads.values())
    for x_t, y in zip(x[:3], ys[:3], strict=True):
        online.step(x_t, y)
    _, want = backward_gradients(layer, head, x, ys, loss_fn, steps=3)
    assert max_difference(online.grads, {k: want[k] for k in online.grads}) < 1e-10


def test_stacked_and_bidirectional_layers_are_refused():
    for layer in (mg.nn.LSTM(2, 3, num_layers=2), mg.nn.GRU(2, 3, bidirectional=True)):
        with pytest.raises(ValueError, match="num_layers=1 and bidirectional=False"):
            rtrl(layer, np.zeros((4, 2)), [None] * 4, lambda h, y: h.sum())
        with pytest.raises(ValueError, match="num_layers=1 and bidirectional=False"):
            RTRL(layer, lambda h, y: h.sum())


@pytest.mark.parametrize("call, error, message", [
    (lambda m: rtrl(mg.nn.Linear(2, 3), np.zeros((4, 2)), [None] * 4, m.loss), TypeError, "expected a recurrent"),
    (lambda m: rtrl(m.rnn, np.zeros((4, 5)), [None] * 4, m.loss), ValueError, r"expected x of shape \(T, B, 2\)"),
    (lambda m: rtrl(m.rnn, np.zeros((0, 2)), [], m.loss), ValueError, "T >= 1"),
    (lambda m: rtrl(m.rnn, np.zeros((4, 2)), [1, 2], m.loss), ValueError, "got 2 targets for 4 time steps"),
    (lambda m: RTRL(m.rnn, "mse"), TypeError, "loss_fn must be callable"),
    (lambda m: RTRL(m.rnn, m.loss, chunk_size=0), ValueError, "chunk_size must be a positive integer"),
    (lambda m: RTRL(m.rnn, lambda h, y: h).step(np.zeros((1, 2)), 0.0), ValueError, "one-element tensor"),
    (lambda m: RTRL(m.rnn, m.loss).step(np.zeros((1, 3))), ValueError, r"expected x_t of shape \(B, 2\)"),
    (lambda m: RTRL(m.rnn, m.loss, state=np.zeros((2, 3))).step(np.zeros((1, 2))), ValueError, "h_0 of shape"),
    (lambda m: RTRL(m.lstm, m.loss, state=np.zeros((1, 3))).step(np.zeros((1, 2))), ValueError, "tuple"),
])
def test_bad_arguments_get_clear_errors(call, error, message):
    class Models:
        rnn, lstm = mg.nn.RNN(2, 3), mg.nn.LSTMCell(2, 3)

        @staticmethod
        def loss(h, y):
            return h.sum()
    with pytest.raises(error, match=message):
        call(Models)


def test_a_change_of_batch_size_needs_a_reset():
    online = RTRL(mg.nn.RNNCell(2, 3), lambda h, y: h.sum())
    online.step(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="call reset"):
        online.step(np.zeros((3, 2)))
    online.reset()
    online.step(np.zeros((3, 2)))
