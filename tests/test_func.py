"""Forward mode and Jacobians (mg.func) equal torch.func's: every op, layers, batched tangents (issue 15)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import micrograd_seq as mg

torch = pytest.importorskip("torch")

from programs import Program, close, forward, make_leaves, programs  # noqa: E402


def _jvps(program: Program, directions: int | None, seed: int):
    """Our jvp of the whole program (every value in its pool) and torch.func's, per direction."""
    ours_leaves = [t.data for t in make_leaves(program, "mg", requires_grad=False)]
    rng = np.random.default_rng(seed)
    shape = (lambda s: s) if directions is None else (lambda s: (directions, *s))
    tangents = [np.asarray(rng.standard_normal(shape(x.shape))) for x in ours_leaves]
    _, ours = mg.func.jvp(lambda *leaves: tuple(forward(program, "mg", list(leaves))), ours_leaves, tangents)
    torch_leaves = [torch.from_numpy(x) for x in ours_leaves]

    def theirs(tangent):
        return torch.func.jvp(lambda *leaves: tuple(forward(program, "torch", list(leaves))), tuple(torch_leaves),
                              tuple(torch.from_numpy(np.asarray(t)) for t in tangent))[1]
    if directions is None:
        return ours, theirs(tangents)
    per_direction = [theirs([t[k] for t in tangents]) for k in range(directions)]
    return ours, [torch.stack([d[i] for d in per_direction]) if directions else None for i in range(len(ours))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs(), st.sampled_from([None, 1, 3]), st.integers(0, 2**16))
def test_jvp_of_random_programs_equals_torch_func(program: Program, directions, seed):
    ours, theirs = _jvps(program, directions, seed)
    assert len(ours) == len(theirs)
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert close(a.data, b.numpy()), f"tangent of value {k} ({directions} directions)"


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_jvp_through_recurrent_layers_with_batched_tangents(kind, f64):
    mg.manual_seed(0)
    layer = getattr(mg.nn, kind)(3, 4, num_layers=2, bidirectional=True)
    reference = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True).double()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    rng = np.random.default_rng(1)
    x, directions = rng.standard_normal((5, 2, 3)), rng.standard_normal((4, 5, 2, 3))
    (output, *_), (tangent, *_) = mg.func.jvp(lambda x: _flat(layer(x)), (x,), (directions,))
    for k in range(4):
        want_out, want = torch.func.jvp(lambda x: reference(x)[0], (torch.from_numpy(x),),
                                        (torch.from_numpy(directions[k]),))
        np.testing.assert_allclose(tangent.data[k], want.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(output.data, want_out.detach().numpy(), rtol=1e-12)


def _flat(result):
    output, state = result
    return (output, *(state if isinstance(state, tuple) else (state,)))


def test_jvp_with_respect_to_parameters_through_functional_call(f64):
    mg.manual_seed(0)
    cell = mg.nn.LSTMCell(3, 4)
    reference = torch.nn.LSTMCell(3, 4).double()
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in cell.state_dict().items()})
    x = np.random.default_rng(2).standard_normal((2, 3))
    names = [name for name, _ in cell.named_parameters()]
    params = tuple(p.data for _, p in cell.named_parameters())
    tangents = tuple(np.random.default_rng(3 + k).standard_normal(p.shape) for k, p in enumerate(params))
    _, (dh, dc) = mg.func.jvp(lambda *ps: mg.func.functional_call(cell, dict(zip(names, ps, strict=True)), (x,)),
                              params, tangents)
    _, (want_h, want_c) = torch.func.jvp(
        lambda *ps: torch.func.functional_call(reference, dict(zip(names, ps, strict=True)), (torch.from_numpy(x),)),
        tuple(torch.from_numpy(p) for p in params), tuple(torch.from_numpy(t) for t in tangents))
    np.testing.assert_allclose(dh.data, want_h.detach().numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dc.data, want_c.detach().numpy(), rtol=1e-10, atol=1e-13)
    assert all(p.data is q for (_, p), q in zip(cell.named_parameters(), params, strict=True))  # put back


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_functional_call_on_a_layer_swaps_its_torch_named_parameters_as_torch(f64, kind):
    mg.manual_seed(0)
    ours = getattr(mg.nn, kind)(3, 4, num_layers=2, bidirectional=True)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 2, 3))
    swapped = {name: rng.standard_normal(p.shape) for name, p in ours.named_parameters()
               if name.startswith(("weight_hh_l1", "bias_ih_l0_reverse"))}
    got, _ = mg.func.functional_call(ours, swapped, (x,))
    want, _ = torch.func.functional_call(theirs, {k: torch.from_numpy(v) for k, v in swapped.items()},
                                         (torch.from_numpy(x),))
    np.testing.assert_allclose(got.data, want.detach().numpy(), rtol=1e-12, atol=1e-14)
    unchanged, _ = ours(x)  # put back: the layer computes with its own weights again
    np.testing.assert_allclose(unchanged.data, theirs(torch.from_numpy(x))[0].detach().numpy(), rtol=1e-12)
    assert not np.allclose(unchanged.data, got.data)


def test_functional_call_takes_torchs_arguments():
    lin = mg.nn.Linear(2, 1)
    ones = {"weight": np.ones((1, 2)), "bias": np.zeros(1)}
    x = np.array([[1.0, 2.0]])
    assert mg.func.functional_call(lin, ones, x).item() == 3  # one argument, not in a tuple
    assert mg.func.functional_call(lin, ({"weight": ones["weight"]}, {"bias": ones["bias"]}), (x,)).item() == 3
    assert mg.func.functional_call(lin, {"weight": ones["weight"]}, args=(), kwargs={"x": x}).shape == (1, 1)
    with pytest.raises(KeyError, match=r"strict=True, and Linear's parameter\(s\) \['bias'\] are not given"):
        mg.func.functional_call(lin, {"weight": ones["weight"]}, (x,), strict=True)
    with pytest.raises(ValueError, match=r"\['bias'\] appear in more than one dict"):
        mg.func.functional_call(lin, (ones, {"bias": ones["bias"]}), (x,))


def test_functional_call_swaps_every_name_of_a_tied_weight():
    model = mg.nn.Sequential(mg.nn.Linear(2, 2, bias=False), mg.nn.Linear(2, 2, bias=False))
    model[1].weight = model[0].weight
    x, eye = np.array([[1.0, 2.0]]), np.eye(2)
    np.testing.assert_array_equal(mg.func.functional_call(model, {"0.weight": 2 * eye}, (x,)).data, [[4.0, 8.0]])
    untied = mg.func.functional_call(model, {"0.weight": 2 * eye}, (x,), tie_weights=False).data
    np.testing.assert_allclose(untied, 2 * x @ model[0].weight.data.T)


@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
def test_jacfwd_and_jacrev_equal_torch_func(argnums):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))

    def ours(x, w):
        h = (x @ w).tanh()
        return h.softmax(dim=1), h.sum(dim=0)

    def theirs(x, w):
        h = (x @ w).tanh()
        return h.softmax(dim=1), h.sum(dim=0)
    want = torch.func.jacfwd(theirs, argnums=argnums)(torch.from_numpy(x), torch.from_numpy(w))
    for transform in (mg.func.jacfwd, mg.func.jacrev):
        got = transform(ours, argnums=argnums)(x, w)
        got_flat = [got] if isinstance(argnums, int) else list(got)
        want_flat = [want] if isinstance(argnums, int) else list(want)
        for g_per_arg, w_per_arg in zip(got_flat, want_flat, strict=True):
            for g, wt in zip(g_per_arg, w_per_arg, strict=True):  # per output
                assert g.shape == tuple(wt.shape)
                np.testing.assert_allclose(g.data, wt.numpy(), rtol=1e-12, atol=1e-14)
    assert mg.func.jacfwd(lambda v: v.sum())(np.zeros(0)).shape == (0,)


def test_forward_mode_errors_name_what_is_wrong():
    x = np.ones(3)
    with pytest.raises(TypeError, match="jvp: primals and tangents must be tuples"):
        mg.func.jvp(lambda v: v, x, x)
    with pytest.raises(ValueError, match=r"jvp: tangent 0 has shape \(2,\); expected its primal's shape \(3,\)"):
        mg.func.jvp(lambda v: v, (x,), (np.ones(2),))
    with pytest.raises(ValueError, match="the tangents disagree on the number of directions"):
        mg.func.jvp(lambda a, b: a + b, (x, x), (np.ones((2, 3)), np.ones(3)))
    with pytest.raises(TypeError, match="func must return a Tensor"):
        mg.func.jvp(lambda v: "no", (x,), (x,))
    with pytest.raises(RuntimeError, match="nested dual levels"):
        mg.func.jvp(lambda v: mg.func.jvp(lambda u: u, (v,), (x,))[1], (x,), (x,))
    with pytest.raises(KeyError, match=r"functional_call: Linear has no parameter\(s\) \['weights'\]"):
        mg.func.functional_call(mg.nn.Linear(3, 1), {"weights": np.ones((1, 3))}, x)
    with pytest.raises(TypeError, match="argnums must be a non-negative int"):
        mg.func.jacfwd(lambda v: v, argnums=-1)


def test_reverse_mode_builds_no_forward_rules():
    from micrograd_seq.graph import FORWARD
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert FORWARD.on == 0
    y = (x * x).tanh()
    assert not hasattr(y, "_tangent")
    mg.func.jvp(lambda v: v * 2, (np.ones(2),), (np.ones(2),))
    assert FORWARD.on == 0
