"""LSTMCell and LSTM: torch parity, gradcheck, errors, truncated BPTT, and learning a toy task."""
import numpy as np
import pytest
from recurrent_parity import HIDDEN, INPUT, LAYER_CONFIGS, assert_same_as_torch, cell_case, layer_case

import micrograd_seq as mg


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_cell_matches_torch(f64, batched, given_state, bias):
    x, state = cell_case(batched, given_state, states=2)
    assert_same_as_torch("LSTMCell", (INPUT, HIDDEN), {"bias": bias}, x, state)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=str)
def test_layer_matches_torch(f64, config, batched, given_state):
    x, state = layer_case(config, batched, given_state, states=2)
    assert_same_as_torch("LSTM", (INPUT, HIDDEN), config, x, state)


def test_cell_gradcheck(f64):
    cell = mg.nn.LSTMCell(3, 2)
    rng = np.random.default_rng(1)
    x, h, c = (mg.tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(2, 3), (2, 2), (2, 2)])
    assert mg.gradcheck(lambda x, h, c, *params: cell(x, (h, c)), x, h, c, *cell.parameters())


def test_layer_gradcheck(f64):
    lstm = mg.nn.LSTM(2, 1, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(2)
    x, h0, c0 = (mg.tensor(rng.standard_normal(shape), requires_grad=True)
                 for shape in [(3, 1, 2), (4, 1, 1), (4, 1, 1)])

    def flat(x, h0, c0, *params):
        output, (h_n, c_n) = lstm(x, (h0, c0))
        return output, h_n, c_n
    assert mg.gradcheck(flat, x, h0, c0, *lstm.parameters())


def test_cell_returns_the_gate_equations(f64):
    """h', c' from the textbook equations with torch's gate order i, f, g, o."""
    cell = mg.nn.LSTMCell(3, 2)
    rng = np.random.default_rng(3)
    x, h, c = rng.standard_normal((4, 3)), rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    gates = x @ cell.weight_ih.data.T + cell.bias_ih.data + h @ cell.weight_hh.data.T + cell.bias_hh.data
    sigmoid = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    i, f, g, o = sigmoid(gates[:, :2]), sigmoid(gates[:, 2:4]), np.tanh(gates[:, 4:6]), sigmoid(gates[:, 6:])
    c_next = f * c + i * g
    h_new, c_new = cell(x, (h, c))
    np.testing.assert_allclose(c_new.data, c_next, rtol=1e-13)
    np.testing.assert_allclose(h_new.data, o * np.tanh(c_next), rtol=1e-13)


def test_cell_errors():
    cell = mg.nn.LSTMCell(3, 2)
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, 3\) or \(3,\), got \(4, 5\)"):
        cell(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"expected hidden state of shape \(4, 2\), got \(4, 3\)"):
        cell(np.zeros((4, 3)), (np.zeros((4, 3)), np.zeros((4, 2))))
    with pytest.raises(ValueError, match=r"expected cell state of shape \(2,\), got \(1, 2\)"):
        cell(np.zeros(3), (np.zeros(2), np.zeros((1, 2))))
    with pytest.raises(ValueError, match=r"the state must be a tuple \(h, c\), got ndarray"):
        cell(np.zeros((4, 3)), np.zeros((2, 4, 2)))


def test_layer_errors():
    lstm = mg.nn.LSTM(3, 2, num_layers=2)
    with pytest.raises(ValueError, match=r"expected input of shape \(seq, batch, 3\) or \(seq, 3\), got \(5, 4, 2\)"):
        lstm(np.zeros((5, 4, 2)))
    with pytest.raises(ValueError, match=r"expected input of shape .* got \(5,\)"):
        lstm(np.zeros(5))
    with pytest.raises(ValueError, match=r"expected c_0 of shape \(2, 4, 2\), got \(1, 4, 2\)"):
        lstm(np.zeros((5, 4, 3)), (np.zeros((2, 4, 2)), np.zeros((1, 4, 2))))
    with pytest.raises(ValueError, match=r"expected h_0 of shape \(2, 2\), got \(2, 1, 2\)"):
        lstm(np.zeros((5, 3)), (np.zeros((2, 1, 2)), np.zeros((2, 2))))
    with pytest.raises(ValueError, match=r"the initial state must be a tuple \(h_0, c_0\)"):
        lstm(np.zeros((5, 4, 3)), np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match=r"the input sequence is empty"):
        lstm(np.zeros((0, 4, 3)))
    with pytest.raises(ValueError, match=r"expected input of shape \(batch, seq, 3\)"):
        mg.nn.LSTM(3, 2, batch_first=True)(np.zeros((4, 5, 2)))


def test_truncated_bptt_stops_gradients_at_the_chunk_boundary(f64):
    """h.detach() between chunks: no gradient reaches the first chunk, and the second chunk's
    gradients are exactly those of BPTT through that chunk alone from the same start state."""
    lstm = mg.nn.LSTM(2, 3)
    rng = np.random.default_rng(4)
    first, second = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 2))
    readout = rng.standard_normal((4, 2, 3))

    def run(detach: bool):
        lstm.zero_grad()
        x1, x2 = mg.tensor(first, requires_grad=True), mg.tensor(second, requires_grad=True)
        _, (h, c) = lstm(x1)
        h.retain_grad()
        out, _ = lstm(x2, (h.detach(), c.detach()) if detach else (h, c))
        (out * readout).sum().backward()
        return x1, x2, (h, c), {name: p.grad.copy() for name, p in lstm.named_parameters()}

    x1, x2, (h, c), truncated = run(detach=True)
    assert x1.grad is None and h.grad is None  # nothing flowed back past the boundary
    x1_full, x2_full, (h_full, _), full = run(detach=False)
    assert np.abs(x1_full.grad).max() > 1e-3 and np.abs(h_full.grad).max() > 1e-3
    np.testing.assert_allclose(x2.grad, x2_full.grad, rtol=1e-12)  # inside the chunk, the same
    assert any(not np.allclose(truncated[n], full[n], rtol=1e-6) for n in full)  # full BPTT adds chunk 1

    lstm.zero_grad()  # BPTT through the second chunk alone, from the first chunk's final state as data
    out, _ = lstm(mg.tensor(second), (mg.tensor(h.data), mg.tensor(c.data)))
    (out * readout).sum().backward()
    for name, p in lstm.named_parameters():
        np.testing.assert_array_equal(truncated[name], p.grad, err_msg=name)


def test_docstring_truncated_bptt_example_runs():
    import doctest

    from micrograd_seq.nn import recurrent
    assert "h.detach()" in recurrent.__doc__
    result = doctest.testmod(recurrent, raise_on_error=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0


def test_small_lstm_learns_to_echo_the_input_from_three_steps_ago():
    """Toy memory task: output at step t the bit seen at step t-3. Chance level is ln 2 = 0.69;
    after 120 Adam steps the held-out cross-entropy is below 0.05 (it takes about a second)."""
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    lag, steps, batch = 3, 10, 32
    lstm, head = mg.nn.LSTM(1, 12), mg.nn.Linear(12, 2)
    opt = mg.optim.Adam([*lstm.parameters(), *head.parameters()], lr=0.05)

    def batch_loss(bits):
        targets = np.full(bits.shape, -100)  # ignore_index: no target before the lag
        targets[lag:] = bits[:-lag]
        out, _ = lstm(bits[..., None].astype(np.float32))
        logits = head(out).reshape(-1, 2)
        return mg.functional.cross_entropy(logits, targets.reshape(-1)), logits, targets.reshape(-1)

    first = None
    for _ in range(120):
        loss, _, _ = batch_loss(rng.integers(0, 2, size=(steps, batch)))
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    with mg.no_grad():
        loss, logits, targets = batch_loss(rng.integers(0, 2, size=(steps, 256)))
    kept = targets != -100
    assert first > 0.6 and loss.item() < 0.05
    assert (logits.data.argmax(axis=1)[kept] == targets[kept]).mean() > 0.99
