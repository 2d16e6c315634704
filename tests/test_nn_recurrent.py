"""RNN, LSTM and GRU, cells and layers: torch parity, gradcheck, the equations, names, shapes, dropout, errors.

One module for the three kinds. Parity: our module and torch's get the same weights (float64),
and a "read-out", the sum of every output (and final state) times fixed random weights, is
compared with one backward, which checks the full vector-Jacobian product with respect to the
input, the initial states and every parameter.
"""
from __future__ import annotations

import doctest
import math
from typing import Any

import numpy as np
import pytest

import micrograd_seq as mg

try:  # torch is the reference oracle of the parity tests only
    import torch
except ImportError:
    torch = None
requires_torch = pytest.mark.skipif(torch is None, reason="torch (the reference oracle) is not installed")

RTOL, ATOL = 1e-9, 1e-13
SEQ, BATCH, INPUT, HIDDEN = 4, 3, 5, 4
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
STATES = {"RNN": 1, "LSTM": 2, "GRU": 1}
# Each kind with the options it is checked under (the RNN with both nonlinearities).
KIND_OPTIONS = [("RNN", {"nonlinearity": "tanh"}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}), ("GRU", {})]
KIND_IDS = ["RNN-tanh", "RNN-relu", "LSTM", "GRU"]
KINDS = list(GATES)
# Layer configurations every layer kind is checked under.
LAYER_CONFIGS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True},
    {"batch_first": True},
    {"bias": False},
    {"num_layers": 2, "bidirectional": True, "batch_first": True, "bias": False},
]


# ---- our module and torch's, side by side ------------------------------------------------------

def twins(name: str, *args: Any, **kwargs: Any) -> tuple[mg.nn.Module, Any]:
    """Our ``mg.nn.<name>`` and torch's ``torch.nn.<name>``, torch's loaded from our state_dict."""
    assert mg.get_default_dtype() == np.float64, "parity is checked in float64: use the f64 fixture"
    ours = getattr(mg.nn, name)(*args, **kwargs)
    theirs = getattr(torch.nn, name)(*args, **kwargs).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def _leaves(obj: Any) -> list[Any]:
    """The tensors in a nested tuple, depth first (None dropped)."""
    if isinstance(obj, (tuple, list)):
        return [leaf for item in obj for leaf in _leaves(item)]
    return [] if obj is None else [obj]


def _rebuild(obj: Any, make: Any) -> Any:
    """``obj`` (array, None or tuple of them) with every array passed through ``make``."""
    if isinstance(obj, tuple):
        return tuple(_rebuild(item, make) for item in obj)
    return None if obj is None else make(obj)


def _readout_grads(module: Any, x: Any, state: Any, weights: list[np.ndarray], to_numpy: Any) -> tuple:
    """Outputs, input gradients and parameter gradients of sum(output_k * weights_k)."""
    result = module(x) if state is None else module(x, state)
    outputs = _leaves(result)
    total = sum((o * w).sum() for o, w in zip(outputs, weights, strict=True))
    total.backward()
    inputs = _leaves((x, state))
    return ([to_numpy(o) for o in outputs], [to_numpy(t.grad) for t in inputs],
            {name: to_numpy(p.grad) for name, p in module.named_parameters()})


def assert_same_as_torch(ours: Any, theirs: Any, x: np.ndarray, state: Any = None, seed: int = 0) -> None:
    """Outputs, final states and read-out gradients of ours and torch's agree to RTOL."""
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    expected_out = _leaves(theirs(torch.from_numpy(x)) if state is None else
                           theirs(torch.from_numpy(x), _rebuild(state, torch.from_numpy)))
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(tuple(o.shape)) for o in expected_out]

    got = _readout_grads(ours, mg.tensor(x, requires_grad=True),
                         _rebuild(state, lambda a: mg.tensor(a, requires_grad=True)), weights,
                         lambda a: None if a is None else np.asarray(a))
    want = _readout_grads(theirs, torch.tensor(x, requires_grad=True),
                          _rebuild(state, lambda a: torch.tensor(a, requires_grad=True)),
                          [torch.from_numpy(w) for w in weights],
                          lambda a: None if a is None else a.detach().numpy())
    for what, ours_part, torch_part in zip(("output", "input gradient"), got[:2], want[:2], strict=True):
        assert len(ours_part) == len(torch_part), what
        for k, (a, b) in enumerate(zip(ours_part, torch_part, strict=True)):
            assert a is not None and a.shape == b.shape, f"{what} {k}"
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=f"{what} {k}")
    assert list(got[2]) == list(want[2])
    for param, grad in got[2].items():
        np.testing.assert_allclose(grad, want[2][param], rtol=RTOL, atol=ATOL, err_msg=param)


def layer_case(config: dict, batched: bool, given_state: bool, states: int,
               seed: int = 0) -> tuple[np.ndarray, Any]:
    """A random input for a layer under ``config`` and, if asked, its initial state(s)."""
    rng = np.random.default_rng(seed)
    if not batched:
        x_shape = (SEQ, INPUT)
    elif config.get("batch_first"):
        x_shape = (BATCH, SEQ, INPUT)
    else:
        x_shape = (SEQ, BATCH, INPUT)
    x = rng.standard_normal(x_shape)
    if not given_state:
        return x, None
    stacks = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
    shape = (stacks, BATCH, HIDDEN) if batched else (stacks, HIDDEN)
    made = tuple(rng.standard_normal(shape) for _ in range(states))
    return x, made if states > 1 else made[0]


def cell_case(batched: bool, given_state: bool, states: int, seed: int = 0) -> tuple[np.ndarray, Any]:
    """A random input for a cell and, if asked, its state(s)."""
    rng = np.random.default_rng(seed)
    lead = (BATCH,) if batched else ()
    x = rng.standard_normal(lead + (INPUT,))
    if not given_state:
        return x, None
    made = tuple(rng.standard_normal(lead + (HIDDEN,)) for _ in range(states))
    return x, made if states > 1 else made[0]


# ---- torch parity -----------------------------------------------------------------------------

@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@requires_torch
@pytest.mark.parametrize("kind, options", KIND_OPTIONS, ids=KIND_IDS)
def test_cell_matches_torch(f64, kind, options, bias, given_state, batched):
    x, state = cell_case(batched, given_state, states=STATES[kind])
    assert_same_as_torch(*twins(f"{kind}Cell", INPUT, HIDDEN, bias=bias, **options), x, state)


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=str)
@requires_torch
@pytest.mark.parametrize("kind, options", KIND_OPTIONS, ids=KIND_IDS)
def test_layer_matches_torch(f64, kind, options, config, batched, given_state):
    x, state = layer_case(config, batched, given_state, states=STATES[kind])
    assert_same_as_torch(*twins(kind, INPUT, HIDDEN, **config, **options), x, state)


@pytest.mark.parametrize("kind, options", KIND_OPTIONS, ids=KIND_IDS)
def test_recurrent_over_the_builtin_cell_is_the_builtin_layer(f64, kind, options):
    """Recurrent(mg.nn.<kind>Cell, ...) and mg.nn.<kind>(...): the same names, numbers and gradients."""
    config = {"num_layers": 2, "bidirectional": True, "batch_first": True}
    builtin = getattr(mg.nn, kind)(INPUT, HIDDEN, **config, **options)
    generic = mg.nn.Recurrent(getattr(mg.nn, f"{kind}Cell"), INPUT, HIDDEN, **config, **options)
    generic.load_state_dict(builtin.state_dict())
    x, state = layer_case(config, True, True, states=STATES[kind])
    got = [_readout_grads(m, mg.tensor(x, requires_grad=True),
                          _rebuild(state, lambda a: mg.tensor(a, requires_grad=True)),
                          [np.ones(s) for s in ((BATCH, SEQ, 2 * HIDDEN),) + ((4, BATCH, HIDDEN),) * STATES[kind]],
                          np.asarray) for m in (builtin, generic)]
    for part_builtin, part_generic in zip(got[0][:2], got[1][:2], strict=True):
        for a, b in zip(part_builtin, part_generic, strict=True):
            np.testing.assert_array_equal(a, b)
    assert list(got[0][2]) == list(got[1][2])
    for name in got[0][2]:
        np.testing.assert_array_equal(got[0][2][name], got[1][2][name], err_msg=name)


# ---- gradcheck and the equations ------------------------------------------------------------------

@pytest.mark.parametrize("kind, options", KIND_OPTIONS, ids=KIND_IDS)
def test_cell_gradcheck(f64, kind, options):
    cell = getattr(mg.nn, f"{kind}Cell")(3, 2, **options)
    rng = np.random.default_rng(1)
    x, *states = (mg.tensor(rng.standard_normal(shape), requires_grad=True)
                  for shape in [(2, 3)] + [(2, 2)] * STATES[kind])
    n = len(states)
    assert mg.gradcheck(lambda x, *rest: cell(x, tuple(rest[:n]) if n > 1 else rest[0]),
                        x, *states, *cell.parameters())


# (layer, x shape, initial state shape): two layers, both directions, batch first or unbatched.
LAYER_GRADCHECKS = {
    "LSTM": (dict(input_size=2, hidden_size=1, num_layers=2, bidirectional=True), (3, 1, 2), (4, 1, 1)),
    "GRU": (dict(input_size=2, hidden_size=1, num_layers=2, bidirectional=True, batch_first=True), (1, 3, 2),
            (4, 1, 1)),
    "RNN": (dict(input_size=2, hidden_size=2, num_layers=2, bidirectional=True), (3, 2), (4, 2)),
}


@pytest.mark.parametrize("kind", KINDS)
def test_layer_gradcheck(f64, kind):
    config, x_shape, state_shape = LAYER_GRADCHECKS[kind]
    layer = getattr(mg.nn, kind)(**config)
    rng = np.random.default_rng(2)
    x, *states = (mg.tensor(rng.standard_normal(shape), requires_grad=True)
                  for shape in [x_shape] + [state_shape] * STATES[kind])
    n = len(states)

    def flat(x, *rest):
        output, final = layer(x, tuple(rest[:n]) if n > 1 else rest[0])
        return output, final
    assert mg.gradcheck(flat, x, *states, *layer.parameters())


def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-a))


def reference_step(kind: str, cell: Any, x: np.ndarray, state: Any) -> Any:
    """One step from the textbook equations in numpy, with torch's gate order."""
    w_ih, w_hh, b_ih, b_hh = (getattr(cell, n).data for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    if kind == "RNN":   # h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh)
        pre = x @ w_ih.T + b_ih + state @ w_hh.T + b_hh
        return np.tanh(pre) if cell.nonlinearity == "tanh" else np.maximum(pre, 0)
    if kind == "LSTM":  # i, f, g, o; c' = f c + i g; h' = o tanh(c')
        h, c = state
        i, f, g, o = np.split(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=-1)
        c_next = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(c_next), c_next
    # GRU: r, z, n with n = tanh(W_in x + b_in + r * (W_hn h + b_hn)); h' = (1 - z) n + z h
    xr, xz, xn = np.split(x @ w_ih.T + b_ih, 3, axis=-1)
    hr, hz, hn = np.split(state @ w_hh.T + b_hh, 3, axis=-1)
    r, z = sigmoid(xr + hr), sigmoid(xz + hz)
    return (1 - z) * np.tanh(xn + r * hn) + z * state


@pytest.mark.parametrize("kind, options", KIND_OPTIONS, ids=KIND_IDS)
def test_cell_is_the_textbook_equation(f64, kind, options):
    """The RNN's Elman equation, the LSTM's gates i, f, g, o, and torch's GRU, whose reset gate
    scales the projected state W_hn h + b_hn."""
    cell = getattr(mg.nn, f"{kind}Cell")(3, 2, **options)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3))
    state = tuple(rng.standard_normal((4, 2)) for _ in range(STATES[kind]))
    state = state if len(state) > 1 else state[0]
    got, want = _leaves(cell(x, state)), _leaves(reference_step(kind, cell, x, state))
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a.data, b, rtol=1e-13)


# ---- torch's names, shapes and initialisation ---------------------------------------------------------

def assert_uniform(values: np.ndarray, bound: float) -> None:
    """Values look like U(-bound, bound): inside it, reaching near both ends, std bound/sqrt(3)."""
    assert np.abs(values).max() <= bound
    assert values.min() < -0.95 * bound and values.max() > 0.95 * bound
    assert abs(values.std() / (bound / math.sqrt(3)) - 1) < 0.06
    assert abs(values.mean()) < 0.1 * bound


@pytest.mark.parametrize("kind", KINDS)
def test_layers_initialise_like_torch(kind):
    """Every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), in the default dtype."""
    mg.manual_seed(0)
    layer = getattr(mg.nn, kind)(30, 25, num_layers=2, bidirectional=True)
    values = np.concatenate([p.data.ravel() for p in layer.parameters()])
    assert all(p.dtype == np.float32 for p in layer.parameters())
    assert_uniform(values, 1 / math.sqrt(25))


@pytest.mark.parametrize("kind", KINDS)
def test_cells_initialise_like_torch(kind):
    mg.manual_seed(1)
    cell = getattr(mg.nn, f"{kind}Cell")(40, 16)
    assert_uniform(np.concatenate([p.data.ravel() for p in cell.parameters()]), 1 / math.sqrt(16))


def test_manual_seed_makes_initialisation_reproducible():
    mg.manual_seed(7)
    first = mg.nn.LSTM(3, 4).state_dict()
    mg.manual_seed(7)
    second = mg.nn.LSTM(3, 4).state_dict()
    third = mg.nn.LSTM(3, 4).state_dict()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert not np.array_equal(first["weight_ih_l0"], third["weight_ih_l0"])


@pytest.mark.parametrize("kind", KINDS)
def test_parameter_names_and_shapes_are_torchs(kind):
    g, h = GATES[kind], 5
    layer = getattr(mg.nn, kind)(3, h, num_layers=2, bidirectional=True)
    expected = {}
    for k, inputs in ((0, 3), (1, 2 * h)):
        for suffix in ("", "_reverse"):
            expected.update({f"weight_ih_l{k}{suffix}": (g * h, inputs), f"weight_hh_l{k}{suffix}": (g * h, h),
                             f"bias_ih_l{k}{suffix}": (g * h,), f"bias_hh_l{k}{suffix}": (g * h,)})
    assert {name: p.shape for name, p in layer.named_parameters()} == expected
    assert list(dict(layer.named_parameters())) == list(expected)  # torch's order
    assert [p.name for p in layer.parameters()] == list(expected), "drawings label a weight with its layer name"
    cell = getattr(mg.nn, f"{kind}Cell")(3, h, bias=False)
    assert {name: p.shape for name, p in cell.named_parameters()} == {"weight_ih": (g * h, 3),
                                                                     "weight_hh": (g * h, h)}


@pytest.mark.parametrize("kind", KINDS)
def test_return_shapes(kind):
    layer = getattr(mg.nn, kind)(3, 4, num_layers=2, bidirectional=True, batch_first=True)
    output, state = layer(np.zeros((6, 5, 3)))  # (batch, seq, features)
    assert output.shape == (6, 5, 8)
    for s in (state if kind == "LSTM" else (state,)):
        assert s.shape == (4, 6, 4)
    output, state = layer(np.zeros((5, 3)))  # unbatched (seq, features)
    assert output.shape == (5, 8)
    for s in (state if kind == "LSTM" else (state,)):
        assert s.shape == (4, 4)


# ---- dropout between layers, scopes -------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_inter_layer_dropout_acts_only_in_training_and_only_between_layers(f64, kind):
    mg.manual_seed(2)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    layer = getattr(mg.nn, kind)(3, 4, num_layers=2, dropout=1.0)
    plain = getattr(mg.nn, kind)(3, 4, num_layers=2)
    plain.load_state_dict(layer.state_dict())
    # Training with p = 1: the second layer sees only zeros, so it alone gives the output.
    top = getattr(mg.nn, kind)(4, 4)
    top.load_state_dict({k.replace("_l1", "_l0"): v for k, v in layer.state_dict().items() if "_l1" in k})
    np.testing.assert_array_equal(layer(x)[0].data, top(np.zeros((5, 2, 4)))[0].data)
    # In eval mode dropout does nothing: the same as the model without it.
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].data, plain(x)[0].data)
    layer.train()
    assert not np.allclose(layer(x)[0].data, plain(x)[0].data)


def test_dropout_on_a_single_layer_warns_that_it_does_nothing(f64):
    with pytest.warns(UserWarning, match=r"dropout=0.5 acts between stacked layers only"):
        lstm = mg.nn.LSTM(3, 4, dropout=0.5)
    plain = mg.nn.LSTM(3, 4)
    plain.load_state_dict(lstm.state_dict())
    x = np.ones((3, 1, 3))
    np.testing.assert_array_equal(lstm(x)[0].data, plain(x)[0].data)  # in training too


def _scopes(output: mg.Tensor) -> set[tuple[str, ...]]:
    seen, stack, scopes = set(), [output.node], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        scopes.add(node.scope)
        stack.extend(node.parents)
    return scopes


def test_each_time_step_is_scoped_and_layers_and_directions_only_when_several():
    out, _ = mg.nn.GRU(2, 3)(np.ones((3, 1, 2)))
    assert {s for s in _scopes(out) if s} == {("t=0",), ("t=1",), ("t=2",)}
    out, _ = mg.nn.LSTM(2, 3, num_layers=2, bidirectional=True)(np.ones((2, 1, 2)))
    assert {s for s in _scopes(out) if len(s) == 3} == {
        (f"layer {k}", d, f"t={t}") for k in (0, 1) for d in ("forward", "reverse") for t in (0, 1)}


# ---- truncated BPTT, learning ---------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_truncated_bptt_stops_gradients_at_the_chunk_boundary(f64, kind):
    """state.detach() between chunks: no gradient reaches the first chunk, and the second chunk's
    gradients are exactly those of BPTT through that chunk alone from the same start state."""
    layer = getattr(mg.nn, kind)(2, 3)
    rng = np.random.default_rng(4)
    first, second = rng.standard_normal((4, 2, 2)), rng.standard_normal((4, 2, 2))
    readout = rng.standard_normal((4, 2, 3))
    each = (lambda state, fn: tuple(fn(s) for s in state)) if kind == "LSTM" else (lambda state, fn: fn(state))

    def run(detach: bool):
        layer.zero_grad()
        x1, x2 = mg.tensor(first, requires_grad=True), mg.tensor(second, requires_grad=True)
        _, state = layer(x1)
        h = _leaves(state)[0]
        h.retain_grad()
        out, _ = layer(x2, each(state, lambda s: s.detach()) if detach else state)
        (out * readout).sum().backward()
        return x1, x2, state, h, {name: p.grad.copy() for name, p in layer.named_parameters()}

    x1, x2, state, h, truncated = run(detach=True)
    assert x1.grad is None and h.grad is None  # nothing flowed back past the boundary
    x1_full, x2_full, _, h_full, full = run(detach=False)
    assert np.abs(x1_full.grad).max() > 1e-3 and np.abs(h_full.grad).max() > 1e-3
    np.testing.assert_allclose(x2.grad, x2_full.grad, rtol=1e-12)  # inside the chunk, the same
    assert any(not np.allclose(truncated[n], full[n], rtol=1e-6) for n in full)  # full BPTT adds chunk 1

    layer.zero_grad()  # BPTT through the second chunk alone, from the first chunk's final state as data
    out, _ = layer(mg.tensor(second), each(state, lambda s: mg.tensor(s.data)))
    (out * readout).sum().backward()
    for name, p in layer.named_parameters():
        np.testing.assert_array_equal(truncated[name], p.grad, err_msg=name)


@pytest.mark.parametrize("module", ["micrograd_seq.nn.recurrent", "micrograd_seq.nn.cell"])
def test_module_docstring_examples_run(module):
    import importlib
    found = importlib.import_module(module)
    if module.endswith("recurrent"):
        assert "h.detach()" in found.__doc__  # the truncated BPTT recipe
    result = doctest.testmod(found, raise_on_error=False, verbose=False)
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


# ---- errors ------------------------------------------------------------------------------------------------

ERRORS = [  # (what is called, the error it raises, the message)
    (lambda: mg.nn.LSTMCell(3, 2)(np.zeros((4, 5))),
     ValueError, r"LSTMCell: expected input of shape \(batch, 3\) or \(3,\), got \(4, 5\)"),
    (lambda: mg.nn.LSTMCell(3, 2)(np.zeros((4, 3)), (np.zeros((4, 3)), np.zeros((4, 2)))),
     ValueError, r"expected hidden state of shape \(4, 2\), got \(4, 3\)"),
    (lambda: mg.nn.LSTMCell(3, 2)(np.zeros(3), (np.zeros(2), np.zeros((1, 2)))),
     ValueError, r"expected cell state of shape \(2,\), got \(1, 2\)"),
    (lambda: mg.nn.LSTMCell(3, 2)(np.zeros((4, 3)), np.zeros((2, 4, 2))),
     ValueError, r"the state must be a tuple \(h, c\), got ndarray"),
    (lambda: mg.nn.LSTM(3, 2, num_layers=2)(np.zeros((5, 4, 2))),
     ValueError, r"expected input of shape \(seq, batch, 3\) or \(seq, 3\), got \(5, 4, 2\)"),
    (lambda: mg.nn.LSTM(3, 2, num_layers=2)(np.zeros(5)), ValueError, r"expected input of shape .* got \(5,\)"),
    (lambda: mg.nn.LSTM(3, 2, num_layers=2)(np.zeros((5, 4, 3)), (np.zeros((2, 4, 2)), np.zeros((1, 4, 2)))),
     ValueError, r"expected c_0 of shape \(2, 4, 2\), got \(1, 4, 2\)"),
    (lambda: mg.nn.LSTM(3, 2, num_layers=2)(np.zeros((5, 3)), (np.zeros((2, 1, 2)), np.zeros((2, 2)))),
     ValueError, r"expected h_0 of shape \(2, 2\), got \(2, 1, 2\)"),
    (lambda: mg.nn.LSTM(3, 2, num_layers=2)(np.zeros((5, 4, 3)), np.zeros((2, 4, 2))),
     ValueError, r"the initial state must be a tuple \(h_0, c_0\)"),
    (lambda: mg.nn.LSTM(3, 2)(np.zeros((0, 4, 3))), ValueError, r"the input sequence is empty"),
    (lambda: mg.nn.LSTM(3, 2, batch_first=True)(np.zeros((4, 5, 2))),
     ValueError, r"expected input of shape \(batch, seq, 3\)"),
    (lambda: mg.nn.GRUCell(3, 2)(np.zeros((4, 2))),
     ValueError, r"GRUCell: expected input of shape \(batch, 3\) or \(3,\), got \(4, 2\)"),
    (lambda: mg.nn.GRUCell(3, 2)(np.zeros((4, 3)), np.zeros(2)),
     ValueError, r"GRUCell: expected hidden state of shape \(4, 2\), got \(2,\)"),
    (lambda: mg.nn.GRU(3, 2, bidirectional=True)(np.zeros((5, 4))),
     ValueError, r"GRU: expected input of shape \(seq, batch, 3\) or \(seq, 3\), got \(5, 4\)"),
    (lambda: mg.nn.GRU(3, 2, bidirectional=True)(np.zeros((5, 4, 3)), np.zeros((1, 4, 2))),
     ValueError, r"GRU: expected h_0 of shape \(2, 4, 2\), got \(1, 4, 2\)"),
    (lambda: mg.nn.RNNCell(3, 2, nonlinearity="sigmoid"),
     ValueError, r"RNNCell: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
    (lambda: mg.nn.RNN(3, 2, nonlinearity="gelu"),
     ValueError, r"RNN: nonlinearity must be 'tanh' or 'relu', got 'gelu'"),
    (lambda: mg.nn.rnn_step(mg.tensor(np.zeros((1, 2))), mg.tensor(np.zeros((1, 2))), mg.tensor(np.eye(2)), None,
                            "sigmoid"),
     ValueError, r"rnn_step: nonlinearity must be 'tanh' or 'relu', got 'sigmoid'"),
    (lambda: mg.nn.RNNCell(3, 2)(np.zeros((2, 2, 3))),
     ValueError, r"RNNCell: expected input of shape \(batch, 3\) or \(3,\), got \(2, 2, 3\)"),
    (lambda: mg.nn.RNNCell(3, 2)(np.zeros(3), np.zeros((1, 2))),
     ValueError, r"RNNCell: expected hidden state of shape \(2,\), got \(1, 2\)"),
    (lambda: mg.nn.RNN(3, 2, batch_first=True)(np.zeros((4, 5, 1))),
     ValueError, r"RNN: expected input of shape \(batch, seq, 3\) or \(seq, 3\), got \(4, 5, 1\)"),
    (lambda: mg.nn.RNN(3, 2, batch_first=True)(np.zeros((4, 5, 3)), np.zeros((1, 5, 2))),
     ValueError, r"RNN: expected h_0 of shape \(1, 4, 2\), got \(1, 5, 2\)"),
]


@pytest.mark.parametrize("call, error, message", ERRORS, ids=[m for _, _, m in ERRORS])
def test_bad_calls_name_the_shapes_and_arguments(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("kind", KINDS)
def test_constructor_errors(kind):
    layer, cell = getattr(mg.nn, kind), getattr(mg.nn, f"{kind}Cell")
    with pytest.raises(ValueError, match=rf"{kind}: input_size must be a positive integer, got 0"):
        layer(0, 4)
    with pytest.raises(ValueError, match=rf"{kind}: hidden_size must be a positive integer, got 2.5"):
        layer(3, 2.5)
    with pytest.raises(ValueError, match=rf"{kind}: num_layers must be a positive integer, got 0"):
        layer(3, 4, num_layers=0)
    with pytest.raises(ValueError, match=rf"{kind}: dropout probability must be a number in \[0, 1\], got 1.5"):
        layer(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match=rf"{kind}: dropout probability must be a number in \[0, 1\], got '0.1'"):
        layer(3, 4, num_layers=2, dropout="0.1")
    with pytest.raises(ValueError, match=rf"{kind}Cell: hidden_size must be a positive integer, got -1"):
        cell(3, -1)


# ---- LSTM with projections (proj_size) ------------------------------------------------------------

PROJ = 2


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("given_state", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("config", LAYER_CONFIGS, ids=str)
@requires_torch
def test_lstm_with_projections_matches_torch(f64, config, batched, given_state):
    """h_t = W_hr (o_t tanh(c_t)): outputs, h_n, c_n and every gradient as torch's, under every layer config."""
    x, _ = layer_case(config, batched, False, states=2)
    state = None
    if given_state:
        stacks = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
        lead = (stacks, BATCH) if batched else (stacks,)
        rng = np.random.default_rng(5)
        state = (rng.standard_normal((*lead, PROJ)), rng.standard_normal((*lead, HIDDEN)))
    assert_same_as_torch(*twins("LSTM", INPUT, HIDDEN, **config, proj_size=PROJ), x, state)


def test_lstm_with_projections_has_torchs_shapes_names_and_repr():
    lstm = mg.nn.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True, proj_size=PROJ)
    shapes = {name: p.shape for name, p in lstm.named_parameters()}
    assert list(shapes)[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"]
    assert shapes["weight_hh_l0"] == (4 * HIDDEN, PROJ) and shapes["weight_hr_l1_reverse"] == (PROJ, HIDDEN)
    assert shapes["weight_ih_l1"] == (4 * HIDDEN, 2 * PROJ)  # the layer above reads the projected outputs
    output, (h_n, c_n) = lstm(np.ones((SEQ, BATCH, INPUT)))
    assert output.shape == (SEQ, BATCH, 2 * PROJ) and h_n.shape == (4, BATCH, PROJ) and c_n.shape == (4, BATCH, HIDDEN)
    assert repr(lstm) == "LSTM(5, 4, proj_size=2, num_layers=2, bidirectional=True)"
    assert repr(mg.nn.LSTM(INPUT, HIDDEN, proj_size=0)) == "LSTM(5, 4)"
    assert lstm.cell(0).state_sizes == (PROJ, HIDDEN)


@pytest.mark.parametrize("proj_size, error, message", [
    (-1, ValueError, "LSTM: proj_size should be a positive integer or zero to disable projections, got -1"),
    (HIDDEN, ValueError, "LSTM: proj_size has to be smaller than hidden_size, got proj_size=4 and hidden_size=4"),
    (HIDDEN + 1, ValueError, "LSTM: proj_size has to be smaller than hidden_size"),
    (1.5, TypeError, "LSTM: proj_size must be an int, got float 1.5"),
    (True, TypeError, "LSTM: proj_size must be an int, got bool True"),
])
def test_lstm_proj_size_errors_as_torch(proj_size, error, message):
    with pytest.raises(error) as caught:
        mg.nn.LSTM(INPUT, HIDDEN, proj_size=proj_size)
    assert message in str(caught.value)
    if torch is not None:
        with pytest.raises((ValueError, TypeError)):
            torch.nn.LSTM(INPUT, HIDDEN, proj_size=proj_size)


def test_lstm_with_projections_names_the_width_of_a_wrong_state():
    lstm = mg.nn.LSTM(INPUT, HIDDEN, proj_size=PROJ)
    with pytest.raises(ValueError, match=r"LSTM: expected h_0 of shape \(1, 3, 2\), got \(1, 3, 4\)"):
        lstm(np.ones((SEQ, BATCH, INPUT)), (np.zeros((1, BATCH, HIDDEN)), np.zeros((1, BATCH, HIDDEN))))
    with pytest.raises(ValueError, match=r"LSTM: expected c_0 of shape \(1, 3, 4\), got \(1, 3, 2\)"):
        lstm(np.ones((SEQ, BATCH, INPUT)), (np.zeros((1, BATCH, PROJ)), np.zeros((1, BATCH, PROJ))))


def test_rnn_and_gru_take_no_proj_size():
    for kind in ("RNN", "GRU"):
        with pytest.raises(TypeError, match="proj_size"):
            getattr(mg.nn, kind)(INPUT, HIDDEN, proj_size=PROJ)
