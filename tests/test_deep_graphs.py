"""No recursion anywhere in backward: a million-node chain and a 20,000-step RNN go through."""
import time

import numpy as np

import micrograd_seq as mg


def test_million_node_chain(capsys):
    x = mg.tensor([0.5], requires_grad=True, dtype=np.float64)
    start = time.perf_counter()
    y = x
    for _ in range(1_000_000):
        y = y * 1.0
    built = time.perf_counter() - start
    y.sum().backward()
    with capsys.disabled():
        print(f"\n1,000,000-node chain: built in {built:.1f}s, backward in {time.perf_counter() - start - built:.1f}s")
    np.testing.assert_array_equal(x.grad, [1.0])


def test_20000_step_tanh_rnn_from_primitives(capsys):
    rng = np.random.default_rng(0)
    steps, hidden = 20_000, 8
    w_xh = mg.tensor(rng.standard_normal((3, hidden)) * 0.3, requires_grad=True, dtype=np.float64)
    w_hh = mg.tensor(rng.standard_normal((hidden, hidden)) * 0.3, requires_grad=True, dtype=np.float64)
    xs = rng.standard_normal((steps, 3))
    start = time.perf_counter()
    h = mg.tensor(np.zeros(hidden), dtype=np.float64)
    for t in range(steps):
        h = (mg.tensor(xs[t], dtype=np.float64) @ w_xh + h @ w_hh).tanh()
    loss = (h * h).sum()
    loss.backward()
    with capsys.disabled():
        print(f"\n20,000-step tanh RNN: forward + backward in {time.perf_counter() - start:.1f}s")
    assert w_hh.grad.shape == (hidden, hidden) and np.isfinite(w_hh.grad).all()
    assert np.abs(w_hh.grad).sum() > 0
