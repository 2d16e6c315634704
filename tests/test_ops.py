"""Every primitive op: forward equals numpy's, backward equals central differences (float64)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import micrograd_seq as mg

settings.register_profile("ops", max_examples=25, deadline=None)
settings.load_profile("ops")

SMALL = dict(min_dims=0, max_dims=3, min_side=1, max_side=4)


def leaf(shape, seed, positive=False, spread=1.0):
    rng = np.random.default_rng(seed)
    data = rng.uniform(0.5, 2.0, size=shape) if positive else rng.standard_normal(shape) * spread
    return mg.tensor(data, requires_grad=True, dtype=np.float64)


def check(fn, *inputs):
    assert mg.gradcheck(fn, *inputs)


broadcast_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, **SMALL)


@pytest.mark.parametrize("name, op, np_op", [
    ("add", lambda a, b: a + b, np.add),
    ("sub", lambda a, b: a - b, np.subtract),
    ("mul", lambda a, b: a * b, np.multiply),
    ("div", lambda a, b: a / b, np.divide),
])
@given(shapes=broadcast_pairs, seed=st.integers(0, 2**16))
def test_binary_broadcasting(name, op, np_op, shapes, seed):
    sa, sb = shapes.input_shapes
    a, b = leaf(sa, seed), leaf(sb, seed + 1, positive=(name == "div"))
    out = op(a, b)
    np.testing.assert_array_equal(out.data, np_op(a.data, b.data))
    assert out.shape == shapes.result_shape
    check(op, a, b)


@pytest.mark.parametrize("op", [lambda a: a + 2.5, lambda a: 2.5 + a, lambda a: a - 1, lambda a: 1 - a,
                                lambda a: a * 3, lambda a: 3 * a, lambda a: a / 4, lambda a: 4 / a, lambda a: -a])
@given(shape=hnp.array_shapes(**SMALL), seed=st.integers(0, 2**16))
def test_python_scalars_on_either_side(op, shape, seed):
    a = leaf(shape, seed, positive=True)
    with np.errstate(all="ignore"):
        expected = op(a.data)
    np.testing.assert_allclose(op(a).data, expected)
    check(op, a)


@pytest.mark.parametrize("exponent", [2, 3, 0.5, -1.5, 1])
@given(shape=hnp.array_shapes(**SMALL), seed=st.integers(0, 2**16))
def test_pow_scalar_exponent(exponent, shape, seed):
    a = leaf(shape, seed, positive=True)
    np.testing.assert_allclose((a ** exponent).data, a.data ** exponent)
    check(lambda t: t ** exponent, a)


@pytest.mark.parametrize("method, np_fn, positive", [
    ("exp", np.exp, False), ("log", np.log, True), ("tanh", np.tanh, False),
    ("sigmoid", lambda x: 1 / (1 + np.exp(-x)), False), ("relu", lambda x: np.maximum(x, 0), False),
])
@given(shape=hnp.array_shapes(**SMALL), seed=st.integers(0, 2**16))
def test_unary(method, np_fn, positive, shape, seed):
    a = leaf(shape, seed, positive=positive)
    if method == "relu":  # keep away from the kink, where the derivative is not defined
        a.data[np.abs(a.data) < 1e-3] = 0.5
    np.testing.assert_allclose(getattr(a, method)().data, np_fn(a.data), rtol=1e-15)
    check(lambda t: getattr(t, method)(), a)


def test_sigmoid_and_log_softmax_are_stable_at_1000():
    x = mg.tensor([-1000.0, -30.0, 0.0, 30.0, 1000.0], requires_grad=True, dtype=np.float64)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # overflow would raise here
        s = x.sigmoid()
        ls = x.log_softmax(0)
        (s.sum() + ls.sum()).backward()
    np.testing.assert_allclose(s.data, [0.0, 1 / (1 + np.exp(30.0)), 0.5, 1 / (1 + np.exp(-30.0)), 1.0],
                               rtol=1e-15, atol=1e-300)
    assert np.isfinite(ls.data).all() and np.isfinite(x.grad).all()
    np.testing.assert_allclose(ls.data[-1], 0.0)


matmul_shapes = st.sampled_from([
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
    ((5, 2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4)), ((2, 2, 3), (3,)),
    ((1, 2, 3), (4, 3, 2)),
])


@given(shapes=matmul_shapes, seed=st.integers(0, 2**16))
def test_matmul_like_numpy(shapes, seed):
    a, b = leaf(shapes[0], seed), leaf(shapes[1], seed + 1)
    np.testing.assert_allclose((a @ b).data, np.matmul(a.data, b.data), rtol=1e-13)
    check(lambda x, y: x @ y, a, b)


def test_matmul_with_a_constant_skips_its_gradient():
    a = mg.tensor(np.ones((2, 3)), dtype=np.float64)
    b = leaf((3, 4), 0)
    (a @ b).sum().backward()
    assert a.grad is None
    np.testing.assert_allclose(b.grad, np.full((3, 4), 2.0))


axis_cases = st.sampled_from([None, 0, -1, (0,), (0, 1), (1, -1)])


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@given(shape=hnp.array_shapes(min_dims=2, max_dims=3, min_side=1, max_side=4), axis=axis_cases,
       keepdims=st.booleans(), seed=st.integers(0, 2**16))
def test_reductions(name, shape, axis, keepdims, seed):
    if isinstance(axis, tuple) and len(shape) < 3 and -1 in axis and 1 in axis:
        axis = (0, 1)
    a = leaf(shape, seed)
    out = getattr(a, name)(axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(out.data, getattr(np, name)(a.data, axis=axis, keepdims=keepdims), rtol=1e-14)
    check(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), a)


def test_max_shares_gradient_between_ties():
    a = mg.tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True, dtype=np.float64)
    a.max(axis=1).sum().backward()
    np.testing.assert_array_equal(a.grad, [[0, 0.5, 0.5], [1, 0, 0]])


@given(seed=st.integers(0, 2**16))
def test_reshape_transpose_T(seed):
    a = leaf((2, 3, 4), seed)
    np.testing.assert_array_equal(a.reshape(6, 4).data, a.data.reshape(6, 4))
    np.testing.assert_array_equal(a.reshape((4, -1)).data, a.data.reshape(4, -1))
    np.testing.assert_array_equal(a.transpose(1, 0, 2).data, a.data.transpose(1, 0, 2))
    np.testing.assert_array_equal(a.T.data, a.data.T)
    check(lambda t: t.reshape(4, 6), a)
    check(lambda t: t.transpose(2, 0, 1), a)
    check(lambda t: t.T, a)


@pytest.mark.parametrize("key", [
    1, -1, slice(1, 3), (slice(None), 2), (None, 0), (Ellipsis, 1), (0, Ellipsis, slice(None, None, 2)),
    np.array([0, 2, 2, 0]), [1, 1, 1], (np.array([0, 1, 1]), np.array([2, 3, 3])),
    (slice(None), np.array([3, 0, 3])), np.array([True, False, True]),
])
def test_indexing(key):
    a = leaf((3, 4, 2), 7)
    np.testing.assert_array_equal(a[key].data, a.data[key])
    check(lambda t: t[key], a)


def test_embedding_lookup_accumulates_repeated_indices():
    table = mg.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True, dtype=np.float64)
    table[np.array([2, 0, 2, 2])].sum().backward()
    np.testing.assert_array_equal(table.grad, [[1, 1], [0, 0], [3, 3]])


@given(seed=st.integers(0, 2**16), axis=st.sampled_from([0, 1, -1]))
def test_concat_stack_chunk(seed, axis):
    a, b = leaf((2, 3), seed), leaf((2, 3), seed + 1)
    np.testing.assert_array_equal(mg.concat([a, b], axis).data, np.concatenate([a.data, b.data], axis))
    check(lambda x, y: mg.concat([x, y, x], axis), a, b)
    stack_axis = axis if axis != -1 else 2
    np.testing.assert_array_equal(mg.stack([a, b], stack_axis).data, np.stack([a.data, b.data], stack_axis))
    check(lambda x, y: mg.stack([x, y], stack_axis), a, b)
    c = leaf((4, 7), seed + 2)
    pieces = c.chunk(3, axis=1)
    assert [p.shape for p in pieces] == [(4, 3), (4, 3), (4, 1)]  # as torch.chunk
    np.testing.assert_array_equal(mg.concat(pieces, 1).data, c.data)
    check(lambda t: t.chunk(3, axis=1)[0] * 2 + t.chunk(3, axis=1)[2].sum(), c)
    check(lambda t: mg.chunk(t, 2, 0)[1], c)


def test_chunk_gradients_land_in_one_buffer():
    gates = mg.tensor(np.zeros((2, 8)), requires_grad=True, dtype=np.float64)
    i, f, g, o = gates.chunk(4, axis=-1)
    (i * 1 + f * 2 + g * 3 + o * 4).sum().backward()
    np.testing.assert_array_equal(gates.grad, np.repeat([[1, 1, 2, 2, 3, 3, 4, 4]], 2, axis=0))


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, **SMALL), seed=st.integers(0, 2**16))
def test_where(shapes, seed):
    sc, sa, sb = shapes.input_shapes
    cond = np.random.default_rng(seed).random(sc) > 0.5
    a, b = leaf(sa, seed), leaf(sb, seed + 1)
    np.testing.assert_array_equal(mg.where(cond, a, b).data, np.where(cond, a.data, b.data))
    check(lambda x, y: mg.where(cond, x, y), a, b)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_and_log_softmax(axis):
    a = leaf((3, 5), 3, spread=3.0)
    e = np.exp(a.data - a.data.max(axis=axis, keepdims=True))
    expected = e / e.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(a.softmax(axis).data, expected, rtol=1e-14)
    np.testing.assert_allclose(a.log_softmax(axis).data, np.log(expected), rtol=1e-12, atol=1e-15)
    check(lambda t: t.softmax(axis), a)
    check(lambda t: t.log_softmax(axis), a)


def test_float32_stays_float32():
    a = mg.tensor(np.ones((2, 2)), requires_grad=True)
    out = ((a * 2.0 + 1) / 3 - a.sigmoid()).tanh() @ a
    assert out.dtype == np.float32
    out.sum().backward()
    assert a.grad.dtype == np.float32


def test_integer_mask_times_float_keeps_float_dtype():
    a = mg.tensor(np.ones(3), requires_grad=True)
    out = a * mg.tensor([1, 0, 1])
    assert out.dtype == np.float32
    out.sum().backward()
    np.testing.assert_array_equal(a.grad, [1, 0, 1])


# ---- edge cases, as torch (issue 10, section 4) -----------------------------------------------

def test_power_zero_and_small_integer_powers_have_finite_gradients_at_zero():
    torch = pytest.importorskip("torch")
    for exponent in (0, 1, 2, 3):
        a = mg.tensor([0.0, 1.5], requires_grad=True, dtype=np.float64)
        ta = torch.tensor([0.0, 1.5], requires_grad=True, dtype=torch.float64)
        (a ** exponent).sum().backward()
        (ta ** exponent).sum().backward()
        assert np.isfinite(a.grad).all()
        np.testing.assert_array_equal(a.grad, ta.grad.numpy())


def test_an_integer_tensor_to_a_negative_power_names_the_op():
    with pytest.raises(ValueError, match=r"pow: an integer tensor \(dtype int64\) cannot be raised to the negative "
                                         r"power -1"):
        mg.tensor([2, 3]) ** -1
    with pytest.raises(TypeError, match="pow: the exponent must be a Python number, got str"):
        mg.tensor([2.0]) ** "2"


def test_transpose_axes_out_of_range_are_refused_not_wrapped():
    t = mg.tensor(np.ones((2, 3)))
    for axes in [(1, 2), (0, -3), (0, 0), (0,), (0, 1, 2)]:
        with pytest.raises(ValueError, match="transpose: axes .* are not a permutation of the 2 axes"):
            t.transpose(*axes)
    assert t.transpose(-1, 0).shape == (3, 2)


def test_indexing_a_0d_tensor_is_torchs_index_error():
    t = mg.tensor(2.0)
    with pytest.raises(IndexError, match=r"getitem: invalid index of a 0-d tensor; use t.item\(\)"):
        t[0]
    assert t[...].shape == () and t[None].shape == (1,)


def test_empty_dimensions_behave_as_torchs():
    torch = pytest.importorskip("torch")
    a = mg.tensor(np.ones((2, 3, 0)), requires_grad=True, dtype=np.float64)
    b = mg.tensor(np.ones((0, 4)), requires_grad=True, dtype=np.float64)
    out = a @ b
    assert out.shape == (2, 3, 4) and not out.data.any()
    out.sum().backward()
    assert a.grad.shape == (2, 3, 0) and b.grad.shape == (0, 4)

    empty = mg.tensor(np.zeros((0, 3)), requires_grad=True, dtype=np.float64)
    assert empty.max(axis=1).shape == torch.zeros(0, 3).amax(dim=1).shape == (0,)
    with pytest.raises(IndexError, match=r"max: axis 0 of shape \(0, 3\) is empty"):
        empty.max(axis=0)
    with pytest.raises(RuntimeError, match="without an axis"):
        empty.max()
    assert np.isnan(empty.mean().item()) and np.isnan(torch.zeros(0, 3).mean().item())
    np.testing.assert_array_equal(empty.sum(axis=0).data, np.zeros(3))
    assert empty.softmax(axis=0).shape == (0, 3)

    scalar = mg.tensor(2.0, requires_grad=True, dtype=np.float64)
    assert scalar.sum(axis=0).item() == 2.0 and scalar.sum(axis=-1).item() == 2.0
    assert scalar.softmax(axis=0).item() == torch.tensor(2.0).softmax(dim=0).item() == 1.0
    scalar.sum(axis=0).backward()
    assert scalar.grad == 1.0
    with pytest.raises(ValueError, match="axis 1 is out of range for shape"):
        scalar.sum(axis=1)

    pieces = mg.tensor(np.zeros((0, 3))).chunk(2)
    assert [p.shape for p in pieces] == [t.shape for t in torch.zeros(0, 3).chunk(2)]


def test_logsigmoid_is_exact_where_log_of_sigmoid_saturates():
    torch = pytest.importorskip("torch")
    x = mg.tensor([-100.0, -20.0, 0.0, 30.0], dtype=np.float32, requires_grad=True)
    assert x.sigmoid().log().data[0] == -88.0  # the cap, as documented next to sigmoid
    y = mg.functional.logsigmoid(x)
    tx = torch.tensor([-100.0, -20.0, 0.0, 30.0], requires_grad=True)
    ty = torch.nn.functional.logsigmoid(tx)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-6)
    assert y.data[0] == -100.0
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-6)
    assert mg.gradcheck(mg.functional.logsigmoid, mg.tensor([-30.0, -1.0, 0.5, 40.0], dtype=np.float64,
                                                              requires_grad=True))


def test_index_arrays_are_copied_so_changing_them_later_changes_nothing():
    w = mg.tensor(np.arange(4.0), requires_grad=True, dtype=np.float64)
    idx = np.array([0, 2, 2])
    cond = np.array([True, False, True, False])
    y = w[idx].sum() + mg.where(cond, w, 0.0).sum()
    idx[:] = 3
    cond[:] = False
    y.backward()
    np.testing.assert_array_equal(w.grad, [2, 0, 3, 0])


# ---- ops behind torch's tensor methods (issue 13) --------------------------------------------------

def _torch_pair(shape, seed, low=-2.0, high=2.0):
    torch = pytest.importorskip("torch")
    data = np.random.default_rng(seed).uniform(low, high, size=shape)
    return (mg.tensor(data, requires_grad=True, dtype=np.float64), torch.tensor(data, requires_grad=True), torch)


def _same_forward_and_backward(ours, theirs, a, ta, seed=1):
    """Values equal torch's, and so does the gradient of a random weighting of them."""
    np.testing.assert_allclose(np.asarray(ours.data, dtype=np.float64), theirs.detach().numpy(), rtol=1e-12,
                               atol=1e-15)
    weights = np.random.default_rng(seed).standard_normal(ours.shape)
    import torch
    (ours * weights).sum().backward()
    (theirs * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-12, atol=1e-15)


@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), seed=st.integers(0, 2**16))
def test_abs_sqrt_clamp_clone_match_torch_and_central_differences(shape, seed):
    for ours_fn, torch_fn, positive in [
        (lambda t: t.abs(), lambda t: t.abs(), False),
        (lambda t: t.sqrt(), lambda t: t.sqrt(), True),
        (lambda t: t.clamp(-0.5, 0.7), lambda t: t.clamp(-0.5, 0.7), False),
        (lambda t: t.clamp(min=0.1), lambda t: t.clamp(min=0.1), False),
        (lambda t: t.clamp(max=0.1), lambda t: t.clamp(max=0.1), False),
        (lambda t: t.clone() * 2, lambda t: t.clone() * 2, False),
    ]:
        a, ta, _ = _torch_pair(shape, seed, *((0.5, 2.0) if positive else (-2.0, 2.0)))
        _same_forward_and_backward(ours_fn(a), torch_fn(ta), a, ta)
        check(ours_fn, leaf(shape, seed, positive=positive))


def test_clamp_and_abs_at_their_kinks_as_torch():
    a, ta, torch = _torch_pair((4,), 0)
    a.data[...] = ta.data[...] = torch.tensor([-1.0, 0.0, 0.5, 1.0], dtype=torch.float64)
    _same_forward_and_backward(a.clamp(-1.0, 0.5), ta.clamp(-1.0, 0.5), a, ta)  # ends inclusive, as torch
    b, tb, _ = _torch_pair((3,), 0)
    b.data[...] = tb.data[...] = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64)
    _same_forward_and_backward(b.abs(), tb.abs(), b, tb)  # sign(0) = 0
    with pytest.raises(ValueError, match="clamp: give min, max or both"):
        b.clamp()
    with pytest.raises(TypeError, match="clamp: min must be a number, got str"):
        b.clamp("0")


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5), seed=st.integers(0, 2**16),
       data=st.data())
def test_split_and_narrow_match_torch(shape, seed, data):
    a, ta, torch = _torch_pair(shape, seed)
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    size = data.draw(st.integers(1, max(n, 1)))
    ours, theirs = a.split(size, dim=dim), ta.split(size, dim=dim)
    assert [p.shape for p in ours] == [tuple(p.shape) for p in theirs]
    sections = data.draw(st.lists(st.integers(0, n), min_size=1, max_size=3).filter(lambda s: sum(s) <= n))
    sections[-1] += n - sum(sections)
    pieces, tpieces = a.split(sections, dim), ta.split(sections, dim)
    start = data.draw(st.integers(0, n))
    length = data.draw(st.integers(0, n - start))
    narrow, tnarrow = a.narrow(dim, start, length), ta.narrow(dim, start, length)
    weights = [np.random.default_rng(k).standard_normal(p.shape) for k, p in enumerate([*ours, *pieces, narrow])]
    total = sum(((p * w).sum() for p, w in zip([*ours, *pieces, narrow], weights, strict=True)), mg.tensor(0.0))
    ttotal = sum((p * torch.from_numpy(w)).sum() for p, w in zip([*theirs, *tpieces, tnarrow], weights, strict=True))
    total.backward()
    ttotal.backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_split_and_narrow_errors_name_the_argument():
    t = mg.tensor(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"split: the sizes \[1, 2\] must add up to 4"):
        t.split([1, 2])
    with pytest.raises(ValueError, match="split: split_size must be a positive integer, got 0"):
        t.split(0)
    with pytest.raises(TypeError, match="split_size_or_sections must be an int or a list of ints"):
        t.split(1.5)
    with pytest.raises(ValueError, match=r"narrow: start 3 \+ length 2 exceeds axis 0 of shape \(4, 3\)"):
        t.narrow(0, 3, 2)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        t.narrow(2, 0, 1)


def test_max_with_a_dim_is_torchs_values_and_indices():
    a, ta, torch = _torch_pair((3, 4), 3)
    values, indices = a.max(1)
    tvalues, tindices = ta.max(1)
    np.testing.assert_array_equal(indices.data, tindices.numpy())
    assert indices.dtype == np.int64 and not indices.requires_grad
    assert a.max(dim=0, keepdim=True).values.shape == (1, 4)
    _same_forward_and_backward(values, tvalues, a, ta)
    b = mg.tensor([[1.0, 3.0, 3.0]], requires_grad=True, dtype=np.float64)
    tb = torch.tensor([[1.0, 3.0, 3.0]], requires_grad=True, dtype=torch.float64)
    b.max(1).values.sum().backward()
    tb.max(1).values.sum().backward()
    np.testing.assert_array_equal(b.grad, tb.grad.numpy())  # the first maximal entry, as torch
    assert a.max(axis=1).shape == (3,)  # numpy's spelling: the values
    with pytest.raises(TypeError, match="max: give dim= and keepdim= .* not both"):
        a.max(1, axis=0)


def test_cast_is_differentiable_between_floats_and_a_constant_to_integers():
    a, ta, torch = _torch_pair((3,), 4)
    _same_forward_and_backward(a.float().double() * 3, ta.float().double() * 3, a, ta)
    assert a.float().dtype == np.float32 and a.to(mg.float32).grad_fn == "cast"
    assert not a.long().requires_grad and a.long().dtype == np.int64
    np.testing.assert_array_equal(a.long().data, ta.long().numpy())
    assert a.to("cpu") is a and a.to(a) is a
    with pytest.raises(ValueError, match="to: this library runs on the CPU only, got device 'cuda'"):
        a.to("cuda")
    with pytest.raises(TypeError, match="to: dtype must be floating, integer or bool, got object"):
        a.to(object)
