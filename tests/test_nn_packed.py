"""Variable-length sequences (mg.nn.utils.rnn) and recurrent layers over packed batches, against torch.

The conversions (pad_sequence, pack_padded_sequence, pack_sequence, pad_packed_sequence) give
torch's numbers, batch sizes and orders, pass gradients back (padding gets exactly zero) and
refuse bad input as torch does.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import micrograd_seq as mg
from micrograd_seq.nn.utils.rnn import (
    PackedSequence,
    pack_padded_sequence,
    pack_sequence,
    pad_packed_sequence,
    pad_sequence,
)

try:  # torch is the reference oracle of the parity tests only
    import torch
    from torch.nn.utils import rnn as torch_rnn
except ImportError:
    torch = None
requires_torch = pytest.mark.skipif(torch is None, reason="torch (the reference oracle) is not installed")

FEATURES = 3

# Up to 16 sequences: torch sorts lengths stably up to 16 (beyond, its order of equal lengths is
# its sort's, and only sorted_indices could differ from ours).
# The f64 fixture sets the default dtype once, which holds for every example.
EXAMPLES = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
lengths_lists = st.lists(st.integers(1, 5), min_size=1, max_size=6)


def padded_batch(lengths: list[int], batch_first: bool, seed: int = 0, extra: int = 0) -> np.ndarray:
    """A random padded batch for ``lengths`` (``extra`` steps longer than the longest)."""
    shape = (max(lengths) + extra, len(lengths), FEATURES)
    x = np.random.default_rng(seed).standard_normal(shape)
    return x.transpose(1, 0, 2).copy() if batch_first else x


def same_packed(ours: PackedSequence, theirs) -> None:
    np.testing.assert_array_equal(np.array(ours.data), theirs.data.detach().numpy())
    np.testing.assert_array_equal(ours.batch_sizes.numpy(), theirs.batch_sizes.numpy())
    assert ours.batch_sizes.dtype == np.int64
    for mine, torchs in ((ours.sorted_indices, theirs.sorted_indices),
                         (ours.unsorted_indices, theirs.unsorted_indices)):
        assert (mine is None) == (torchs is None)
        if mine is not None:
            np.testing.assert_array_equal(mine.numpy(), torchs.numpy())


# ---- the conversions against torch --------------------------------------------------------------

@requires_torch
@settings(max_examples=40, **EXAMPLES)
@given(lengths=lengths_lists, batch_first=st.booleans(), enforce_sorted=st.booleans(), extra=st.integers(0, 2),
       total=st.integers(0, 2))
def test_pack_then_pad_matches_torch_with_gradients(f64, lengths, batch_first, enforce_sorted, extra, total):
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    x = padded_batch(lengths, batch_first, extra=extra)
    ours_x, torch_x = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours = pack_padded_sequence(ours_x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    theirs = torch_rnn.pack_padded_sequence(torch_x, lengths, batch_first=batch_first, enforce_sorted=enforce_sorted)
    same_packed(ours, theirs)
    total_length = max(lengths) + total
    padded, got_lengths = pad_packed_sequence(ours, batch_first, padding_value=-1.5, total_length=total_length)
    want, want_lengths = torch_rnn.pad_packed_sequence(theirs, batch_first, padding_value=-1.5,
                                                       total_length=total_length)
    np.testing.assert_array_equal(np.array(padded), want.detach().numpy())
    np.testing.assert_array_equal(got_lengths.numpy(), want_lengths.numpy())
    weights = np.random.default_rng(1).standard_normal(padded.shape)
    (padded * mg.tensor(weights)).sum().backward()
    (want * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_array_equal(ours_x.grad, torch_x.grad.numpy())


def test_padding_gets_exactly_zero_gradient(f64):
    x = mg.tensor(np.ones((4, 3, 2)), requires_grad=True)
    padded, _ = pad_packed_sequence(pack_padded_sequence(x, [4, 2, 1]))
    padded.sum().backward()
    mask = np.arange(4)[:, None] < np.array([4, 2, 1])
    np.testing.assert_array_equal(x.grad, np.broadcast_to(mask[..., None], (4, 3, 2)).astype(float))


@requires_torch
@settings(max_examples=30, **EXAMPLES)
@given(lengths=st.lists(st.integers(0, 4), min_size=1, max_size=5), batch_first=st.booleans(),
       side=st.sampled_from(["right", "left"]))
def test_pad_sequence_matches_torch_with_gradients(f64, lengths, batch_first, side):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((n, FEATURES)) for n in lengths]
    ours = [mg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    got = pad_sequence(ours, batch_first=batch_first, padding_value=2.0, padding_side=side)
    want = torch_rnn.pad_sequence(theirs, batch_first=batch_first, padding_value=2.0, padding_side=side)
    np.testing.assert_array_equal(np.array(got), want.detach().numpy())
    weights = rng.standard_normal(got.shape)
    (got * mg.tensor(weights)).sum().backward()
    (want * torch.from_numpy(weights)).sum().backward()
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(np.zeros(a.shape) if a.grad is None else a.grad, b.grad.numpy())


@requires_torch
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_sequence_matches_torch(f64, enforce_sorted):
    lengths = [4, 4, 2, 1] if enforce_sorted else [2, 4, 1, 4]
    arrays = [np.random.default_rng(n).standard_normal((n, FEATURES)) for n in lengths]
    same_packed(pack_sequence([mg.tensor(a) for a in arrays], enforce_sorted=enforce_sorted),
                torch_rnn.pack_sequence([torch.from_numpy(a) for a in arrays], enforce_sorted=enforce_sorted))


def test_lengths_may_be_a_list_an_array_or_an_integer_tensor(f64):
    x = mg.tensor(np.ones((3, 2, 1)))
    for lengths in ([3, 1], np.array([3, 1]), mg.tensor(np.array([3, 1]))):
        assert pack_padded_sequence(x, lengths).batch_sizes.tolist() == [2, 1, 1]


def test_a_packed_sequence_is_a_named_tuple_as_torchs():
    packed = pack_sequence([mg.tensor(np.ones((2, 1))), mg.tensor(np.ones((1, 1)))])
    assert PackedSequence._fields == ("data", "batch_sizes", "sorted_indices", "unsorted_indices")
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert data.shape == (3, 1) and batch_sizes.tolist() == [2, 1]
    assert sorted_indices is None and unsorted_indices is None


def test_the_old_home_of_clipping_still_imports():
    from micrograd_seq.nn.utils import clip_grad_norm_, clip_grad_value_
    assert mg.nn.utils.clip_grad_norm_ is clip_grad_norm_ and mg.nn.utils.clip_grad_value_ is clip_grad_value_
    assert mg.nn.utils.rnn.pad_sequence is pad_sequence


# ---- errors, as torch's -----------------------------------------------------------------------

X = np.zeros((4, 3, 2))


@pytest.mark.parametrize("call, error, words", [
    (lambda: pack_padded_sequence(X, [2, 3, 1]), RuntimeError, "sorted in decreasing order"),
    (lambda: pack_padded_sequence(X, [3, 2, 0]), RuntimeError, "greater than 0"),
    (lambda: pack_padded_sequence(X, [3, 0, 2], enforce_sorted=False), RuntimeError, "greater than 0"),
    (lambda: pack_padded_sequence(X, [5, 2, 1]), ValueError, "longer than the input's 4 time steps"),
    (lambda: pack_padded_sequence(X, [4, 2, 2, 1], batch_first=True), ValueError, "longer than the input's 3"),
    (lambda: pack_padded_sequence(X, [3, 2]), RuntimeError, "equal to the batch size, but got 2 (batch_size=3)"),
    (lambda: pack_padded_sequence(X, [[3, 2, 1]]), ValueError, "lengths must be 1-d"),
    (lambda: pack_padded_sequence(X, [3.0, 2.0, 1.0]), TypeError, "lengths must be integers"),
    (lambda: pack_padded_sequence(np.zeros((0, 3, 2)), [1, 1, 1]), RuntimeError, "cannot pack empty tensors"),
    (lambda: pack_padded_sequence(np.zeros(3), [3]), ValueError, "expected input of shape (T, B, *)"),
    (lambda: pad_packed_sequence(pack_padded_sequence(X, [3, 2, 1]), total_length=2), ValueError,
     "total_length=2 and max sequence length being 3"),
    (lambda: pad_packed_sequence(pack_padded_sequence(X, [3, 2, 1]), total_length=3.0), TypeError,
     "total_length must be an int"),
    (lambda: pad_packed_sequence(X), TypeError, "expected a PackedSequence"),
    (lambda: pad_sequence([]), RuntimeError, "empty list of sequences"),
    (lambda: pad_sequence([np.ones((2, 3)), np.ones((3, 2))]), ValueError, "same trailing shape"),
    (lambda: pad_sequence([np.ones(()), np.ones(3)]), ValueError, "sequence 0 is 0-d"),
    (lambda: pad_sequence([np.ones(3)], padding_side="middle"), ValueError, "'left' or 'right'"),
    (lambda: pack_sequence([np.ones((2, 1)), np.ones((3, 1))]), RuntimeError, "sorted in decreasing order"),
    (lambda: pack_sequence([np.ones((0, 1)), np.ones((3, 1))], enforce_sorted=False), RuntimeError,
     "greater than 0"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_input_is_refused_naming_the_problem(call, error, words):
    with pytest.raises(error, match=None) as caught:
        call()
    assert words in str(caught.value)


@requires_torch
@pytest.mark.parametrize("lengths, enforce_sorted", [([2, 3, 1], True), ([3, 2, 0], True), ([3, 0, 2], False),
                                                     ([3, 2], True)])
def test_torch_refuses_the_same_lengths_with_the_same_error_type(lengths, enforce_sorted):
    for pack in (torch_rnn.pack_padded_sequence, pack_padded_sequence):
        with pytest.raises(RuntimeError):
            pack(torch.zeros(4, 3, 2) if pack is torch_rnn.pack_padded_sequence else X, lengths,
                 enforce_sorted=enforce_sorted)


def test_the_module_docstring_example_runs():
    import doctest

    import micrograd_seq.nn.utils.rnn as module
    result = doctest.testmod(module, raise_on_error=False, verbose=False)
    assert result.attempted > 0 and result.failed == 0


# ---- recurrent layers over packed batches, against torch ----------------------------------------

INPUT, HIDDEN, PROJ = 3, 4, 2
STATES = {"RNN": 1, "LSTM": 2, "GRU": 1}
# Random lengths with a sequence of length 1 among them.
lengths_with_a_one = st.lists(st.integers(1, 6), min_size=1, max_size=5).map(lambda rest: [*rest, 1])


def twin_layers(kind: str, **config):
    """Our mg.nn.<kind> and torch's, torch's loaded from our state_dict (float64)."""
    ours = getattr(mg.nn, kind)(INPUT, HIDDEN, **config)
    theirs = getattr(torch.nn, kind)(INPUT, HIDDEN, **config).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def packed_readout(lib, layer, x, lengths, state, enforce_sorted, weights):
    """Pack x, run the layer, pad the output back; return (padded output, final states) and the
    read-out sum(part * weight) over them."""
    rnn = torch_rnn if lib is torch else mg.nn.utils.rnn
    packed = rnn.pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    output, final = layer(packed, state)
    padded, got_lengths = rnn.pad_packed_sequence(output, total_length=x.shape[0])
    assert list(np.asarray(got_lengths)) == list(lengths)
    parts = [padded, *(final if isinstance(final, tuple) else (final,))]
    total = sum((part * lib.from_numpy(w) if lib is torch else part * mg.tensor(w)).sum()
                for part, w in zip(parts, weights, strict=True))
    return parts, total


def assert_packed_layer_matches_torch(kind, config, lengths, enforce_sorted, seed=0):
    """Outputs, final states, and the read-out's gradients with respect to the input, the initial
    states and every parameter agree with torch's to 1e-9."""
    ours, theirs = twin_layers(kind, **config)
    rng = np.random.default_rng(seed)
    stacks = config.get("num_layers", 1) * (2 if config.get("bidirectional") else 1)
    width = config.get("proj_size") or HIDDEN
    x = rng.standard_normal((max(lengths) + 1, len(lengths), INPUT))   # one step of padding past the longest
    state = [rng.standard_normal((stacks, len(lengths), width))] + \
        [rng.standard_normal((stacks, len(lengths), HIDDEN)) for _ in range(STATES[kind] - 1)]
    direction = 2 if config.get("bidirectional") else 1
    weights = [rng.standard_normal((x.shape[0], len(lengths), direction * width))] + \
        [rng.standard_normal(s.shape) for s in state]
    results = []
    for lib, layer, make in ((mg, ours, lambda a: mg.tensor(a, requires_grad=True)),
                             (torch, theirs, lambda a: torch.tensor(a, requires_grad=True))):
        inputs = [make(x), *(make(s) for s in state)]
        given = tuple(inputs[1:]) if STATES[kind] > 1 else inputs[1]
        parts, total = packed_readout(lib, layer, inputs[0], lengths, given, enforce_sorted, weights)
        total.backward()
        to_numpy = np.array if lib is mg else (lambda t: t.detach().numpy())
        results.append(([to_numpy(p) for p in parts], [to_numpy(t.grad) for t in inputs],
                        {name: to_numpy(p.grad) for name, p in layer.named_parameters()}))
    (our_parts, our_grads, our_params), (their_parts, their_grads, their_params) = results
    for what, mine, torchs in (("output/final state", our_parts, their_parts),
                               ("gradient of input/initial state", our_grads, their_grads)):
        for k, (a, b) in enumerate(zip(mine, torchs, strict=True)):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=f"{what} {k}")
    assert list(our_params) == list(their_params)
    for name, grad in our_params.items():
        np.testing.assert_allclose(grad, their_params[name], rtol=1e-9, atol=1e-12, err_msg=name)
    padding = np.arange(x.shape[0])[:, None] >= np.array(lengths)          # (T, B): past each sequence's end
    assert not our_grads[0][padding].any()                                 # padding gets exactly zero gradient


@requires_torch
@settings(max_examples=4, **EXAMPLES)
@given(lengths=lengths_with_a_one)
@pytest.mark.parametrize("enforce_sorted", [True, False], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("config", [{}, {"bidirectional": True}, {"num_layers": 2},
                                    {"num_layers": 2, "bidirectional": True}], ids=str)
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_packed_layer_matches_torch(f64, kind, config, enforce_sorted, lengths):
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    assert_packed_layer_matches_torch(kind, config, lengths, enforce_sorted)


@requires_torch
@settings(max_examples=4, **EXAMPLES)
@given(lengths=lengths_with_a_one)
@pytest.mark.parametrize("enforce_sorted", [True, False], ids=["sorted", "unsorted"])
@pytest.mark.parametrize("config", [{}, {"bidirectional": True}, {"num_layers": 2},
                                    {"num_layers": 2, "bidirectional": True}], ids=str)
def test_packed_lstm_with_projections_matches_torch(f64, config, enforce_sorted, lengths):
    if enforce_sorted:
        lengths = sorted(lengths, reverse=True)
    assert_packed_layer_matches_torch("LSTM", {**config, "proj_size": PROJ}, lengths, enforce_sorted)


@requires_torch
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_a_packed_batch_starts_from_zeros_by_default(f64, kind):
    ours, theirs = twin_layers(kind, num_layers=2, bidirectional=True)
    x, lengths = np.random.default_rng(3).standard_normal((4, 3, INPUT)), [2, 4, 1]
    output, final = ours(pack_padded_sequence(mg.tensor(x), lengths, enforce_sorted=False))
    want, want_final = theirs(torch_rnn.pack_padded_sequence(torch.from_numpy(x), lengths, enforce_sorted=False))
    np.testing.assert_allclose(np.array(output.data), want.data.detach().numpy(), rtol=1e-9, atol=1e-12)
    for a, b in zip(final if isinstance(final, tuple) else (final,),
                    want_final if isinstance(want_final, tuple) else (want_final,), strict=True):
        np.testing.assert_allclose(np.array(a), b.detach().numpy(), rtol=1e-9, atol=1e-12)
    assert output.batch_sizes.tolist() == [3, 2, 1, 1] and output.sorted_indices.tolist() == [1, 0, 2]


class ElmanCell(mg.nn.RecurrentCell):
    """A user cell with no speed hooks: the loop calls its forward at every step."""

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        rng = np.random.default_rng(input_size)
        self.W = mg.nn.Parameter(rng.standard_normal((hidden_size, input_size)) * 0.5)
        self.U = mg.nn.Parameter(rng.standard_normal((hidden_size, hidden_size)) * 0.5)

    def forward(self, x, h):
        return (x @ self.W.T + h @ self.U.T).tanh()


@pytest.mark.parametrize("cell", [ElmanCell, mg.nn.GRUCell], ids=["forward-only", "project_input"])
def test_a_user_cell_over_a_packed_batch_runs_each_sequence_to_its_own_end(f64, cell):
    """Packed, each sequence's outputs and final state are those of running it alone, and so are the gradients."""
    layer = mg.nn.Recurrent(cell, INPUT, HIDDEN, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(4)
    sequences = [rng.standard_normal((n, INPUT)) for n in (3, 5, 1)]
    packed = pack_sequence([mg.tensor(s) for s in sequences], enforce_sorted=False)
    output, h_n = layer(packed)
    padded, _ = pad_packed_sequence(output)
    (padded.sum() + (h_n ** 2).sum()).backward()
    packed_grads = {name: p.grad.copy() for name, p in layer.named_parameters()}
    layer.zero_grad()
    total = 0.0
    for b, seq in enumerate(sequences):
        alone, h_alone = layer(mg.tensor(seq[:, None, :]))
        np.testing.assert_allclose(np.array(padded[:len(seq), b]), np.array(alone[:, 0]), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.array(h_n[:, b]), np.array(h_alone[:, 0]), rtol=1e-12, atol=1e-14)
        total = total + alone.sum() + (h_alone ** 2).sum()
    total.backward()
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(packed_grads[name], p.grad, rtol=1e-10, atol=1e-13, err_msg=name)


def test_a_packed_step_advances_only_the_running_rows():
    """At each step the cell sees batch_sizes[t] rows: the batch shrinks going forward, grows in reverse."""
    seen = []

    class Watching(ElmanCell):
        def forward(self, x, h):
            seen.append(x.shape[0])
            return super().forward(x, h)

    layer = mg.nn.Recurrent(Watching, INPUT, HIDDEN, bidirectional=True)
    layer(pack_sequence([mg.tensor(np.ones((n, INPUT))) for n in (4, 2, 2, 1)]))
    assert seen == [4, 3, 1, 1] + [1, 1, 3, 4]


def test_a_packed_batch_is_refused_with_the_wrong_width_or_state(f64):
    layer = mg.nn.LSTM(INPUT, HIDDEN)
    packed = pack_sequence([mg.tensor(np.ones((2, INPUT))), mg.tensor(np.ones((1, INPUT)))])
    with pytest.raises(ValueError, match=r"LSTM: expected packed data of shape \(rows, 3\), got \(3, 2\)"):
        layer(pack_sequence([mg.tensor(np.ones((2, 2))), mg.tensor(np.ones((1, 2)))]))
    with pytest.raises(ValueError, match=r"LSTM: expected h_0 of shape \(1, 2, 4\), got \(1, 3, 4\)"):
        layer(packed, (np.zeros((1, 3, HIDDEN)), np.zeros((1, 3, HIDDEN))))


# ---- forward mode ---------------------------------------------------------------------------------

def test_forward_mode_through_a_packed_lstm_equals_the_reverse_mode_jacobian(f64):
    """mg.func.jvp through pack -> LSTM (2 layers, both directions, projections) -> pad, with respect to
    the input, h_0, c_0 and a weight, is J v for the Jacobian jacrev builds by backward passes.
    (torch.func.jvp cannot be the oracle: torch has no forward-mode rule for packing.)"""
    lstm = mg.nn.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True, proj_size=PROJ)
    lengths = [3, 4, 1]

    def run(x, h_0, c_0, weight_hh):
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        output, (h_n, c_n) = mg.func.functional_call(lstm, {"weight_hh_l0": weight_hh}, (packed, (h_0, c_0)))
        return pad_packed_sequence(output)[0], h_n, c_n

    rng = np.random.default_rng(6)
    primals = (rng.standard_normal((4, 3, INPUT)), rng.standard_normal((4, 3, PROJ)),
               rng.standard_normal((4, 3, HIDDEN)), np.array(lstm.weight_hh_l0.detach()))
    tangents = tuple(rng.standard_normal(p.shape) for p in primals)
    outputs, derivatives = mg.func.jvp(run, primals, tangents)
    jacobians = mg.func.jacrev(run, argnums=(0, 1, 2, 3))(*primals)
    for out, derivative, per_argument in zip(outputs, derivatives, jacobians, strict=True):
        expected = sum(np.tensordot(np.array(j), v, axes=v.ndim) for j, v in zip(per_argument, tangents, strict=True))
        assert derivative.shape == out.shape
        np.testing.assert_allclose(np.array(derivative), expected, rtol=1e-10, atol=1e-12)


@requires_torch
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # importing torch.func scripts with torch.jit
def test_torch_has_no_forward_mode_through_packing():
    """Why the test above takes the reverse-mode Jacobian as its oracle (docs/pytorch.md lists this)."""
    x = torch.ones(2, 2, 1, dtype=torch.float64)
    with pytest.raises(NotImplementedError, match="forward AD"):
        torch.func.jvp(lambda x: torch_rnn.pack_padded_sequence(x, [2, 1]).data, (x,), (x,))


def test_a_packed_sequence_made_by_hand_without_unsorted_indices_is_unsorted_by_their_inverse(f64):
    layer = mg.nn.GRU(INPUT, HIDDEN)
    made = pack_sequence([mg.tensor(np.full((n, INPUT), n / 4)) for n in (1, 3, 2)], enforce_sorted=False)
    _, h_n = layer(made)
    _, h_by_hand = layer(PackedSequence(made.data, made.batch_sizes, made.sorted_indices))
    np.testing.assert_array_equal(np.array(h_by_hand), np.array(h_n))
