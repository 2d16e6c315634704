"""Shared checks for the RNN/LSTM/GRU tests: our module and torch's, same weights, same read-out.

A "read-out" is the sum of every output (and final state) times fixed random weights, so one
backward checks the full vector-Jacobian product with respect to the input, the initial
states and every parameter.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import micrograd_seq as mg

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-9, 1e-13
SEQ, BATCH, INPUT, HIDDEN = 4, 3, 5, 4

# Layer configurations every layer type is checked under (RNN adds its nonlinearity).
LAYER_CONFIGS = [
    {},
    {"num_layers": 2},
    {"bidirectional": True},
    {"num_layers": 2, "bidirectional": True},
    {"batch_first": True},
    {"bias": False},
    {"num_layers": 2, "bidirectional": True, "batch_first": True, "bias": False},
]


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


def assert_same_as_torch(name: str, args: tuple, kwargs: dict, x: np.ndarray, state: Any = None,
                         seed: int = 0) -> None:
    """Outputs, final states and read-out gradients of ours and torch's agree to RTOL."""
    ours, theirs = twins(name, *args, **kwargs)
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
