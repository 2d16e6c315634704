"""What the RNN, LSTM and GRU layers share: initialisation, names, inter-layer dropout, scopes, errors."""
import math

import numpy as np
import pytest

import micrograd_seq as mg

KINDS = ["RNN", "LSTM", "GRU"]
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


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
