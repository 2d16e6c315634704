"""Tensor construction, dtype rules, attributes, conversions and shape errors."""
import re

import numpy as np
import pytest

import micrograd_seq as mg


def test_float_data_gets_the_default_dtype():
    assert mg.tensor([1.0, 2.0]).dtype == np.float32
    assert mg.tensor(np.ones(2, dtype=np.float64)).dtype == np.float32
    mg.set_default_dtype(np.float64)
    assert mg.tensor([1.0]).dtype == np.float64
    assert mg.get_default_dtype() == np.float64


def test_explicit_dtype_by_object_or_name():
    assert mg.tensor([1, 2], dtype="float64").dtype == np.float64
    assert mg.tensor([1.5], dtype=np.float32).dtype == np.float32
    assert mg.tensor([1.7], dtype="int32").dtype == np.int32


def test_integer_and_bool_data_keep_their_dtype():
    assert mg.tensor([1, 2, 3]).dtype.kind == "i"
    assert mg.tensor([True, False]).dtype == np.bool_


def test_integer_data_cannot_require_grad():
    with pytest.raises(TypeError, match=r"only floating tensors can require grad; this one has dtype int"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="dtype bool"):
        mg.tensor([True], requires_grad=True)


@pytest.mark.parametrize("data", [["a", "b"], {"x": 1}, [1 + 2j], object()])
def test_non_numeric_data_is_a_type_error(data):
    with pytest.raises(TypeError, match="tensor: "):
        mg.tensor(data)


def test_bad_dtype_arguments():
    with pytest.raises(TypeError, match="not a numpy dtype"):
        mg.tensor([1.0], dtype="floaty")
    with pytest.raises(TypeError, match="floating, integer or bool"):
        mg.tensor([1.0], dtype=np.complex128)
    with pytest.raises(TypeError, match="floating dtype"):
        mg.set_default_dtype(np.int64)


def test_attributes_and_conversions():
    t = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.numel() == 6 and t.dtype == np.float32
    assert t.size() == (2, 3) and t.size(1) == 3 and t.size(-2) == 2 and t.dim() == 2
    assert isinstance(t.data, np.ndarray) and t.detach().numpy() is t.data
    with pytest.raises(RuntimeError, match=r"numpy\(\) on a tensor that requires grad; use t.detach\(\).numpy\(\)"):
        t.numpy()
    assert t.grad is None and t.requires_grad and t.is_leaf and t.grad_fn is None
    assert t.T.shape == (3, 2)
    assert mg.tensor([[2.5]]).item() == 2.5
    with pytest.raises(ValueError, match=r"item: only a one-element tensor .* shape \(2, 3\)"):
        t.item()
    assert np.asarray(t) is t.data
    assert mg.Tensor([1.0]).dtype == np.float32


def test_detach_shares_data_and_cuts_the_graph():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    b = (a * 2).detach()
    assert not b.requires_grad and b.grad_fn is None
    c = a * 2
    assert np.shares_memory(c.detach().data, c.data)  # shared, read-only while c's graph is pending


def test_repr_shows_data_grad_fn_and_dtype():
    a = mg.tensor([1.0, 2.0], requires_grad=True)
    assert repr(a) == "tensor([1., 2.], requires_grad=True, dtype=float32)"
    r = repr(a.tanh())
    assert r.startswith("tensor([0.7616, 0.964") and "grad_fn=tanh" in r and "dtype=float32" in r
    assert repr(mg.tensor([3])) == "tensor([3], dtype=int64)"


def test_names_label_leaves_and_ops():
    x = mg.tensor([1.0], name="x")
    assert x.name == "x"
    y = (x * 2).named("double")
    assert y.name is None  # x does not require grad, so there is no graph to label
    w = mg.tensor([1.0], requires_grad=True, name="w")
    assert (w * 2).named("double").name == "double"


@pytest.mark.parametrize("expr, message", [
    (lambda a, b: a + b, "add: cannot broadcast shapes (2, 3) and (4,)"),
    (lambda a, b: a - b, "sub: cannot broadcast shapes (2, 3) and (4,)"),
    (lambda a, b: a * b, "mul: cannot broadcast shapes (2, 3) and (4,)"),
    (lambda a, b: a / b, "div: cannot broadcast shapes (2, 3) and (4,)"),
])
def test_broadcast_errors_name_both_shapes(expr, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        expr(mg.tensor(np.ones((2, 3))), mg.tensor(np.ones(4)))


def test_matmul_error_names_both_shapes():
    with pytest.raises(ValueError, match=re.escape("matmul: cannot multiply (2, 2) by (3,)")):
        mg.tensor(np.ones((2, 2))) @ mg.tensor(np.ones(3))
    with pytest.raises(ValueError, match=re.escape("matmul: cannot multiply (4, 2, 3) by (2, 5)")):
        mg.tensor(np.ones((4, 2, 3))) @ mg.tensor(np.ones((2, 5)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        mg.tensor(np.ones(2)) @ mg.tensor(2.0)


def test_reshape_error_names_old_and_new_shape():
    with pytest.raises(ValueError, match=re.escape("reshape: cannot reshape (2, 3) into (4,)")):
        mg.tensor(np.ones((2, 3))).reshape(4)


def test_concat_stack_chunk_errors():
    a, b = mg.tensor(np.ones((2, 3))), mg.tensor(np.ones((2, 4)))
    with pytest.raises(ValueError, match=re.escape("concat: shapes [(2, 3), (2, 4)] must agree outside axis 0")):
        mg.concat([a, b], 0)
    with pytest.raises(ValueError, match=re.escape("stack: all shapes must be equal, got [(2, 3), (2, 4)]")):
        mg.stack([a, b])
    with pytest.raises(ValueError, match="expected a non-empty list"):
        mg.concat([], 0)
    with pytest.raises(ValueError, match=re.escape("concat: axis 2 is out of range for shape (2, 3)")):
        mg.concat([a, a], 2)
    with pytest.raises(ValueError, match="chunk: chunks must be a positive integer, got 0"):
        a.chunk(0)
    with pytest.raises(ValueError, match=re.escape("chunk: axis 3 is out of range for shape (2, 3)")):
        a.chunk(2, axis=3)


def test_other_shape_and_type_errors():
    a = mg.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=re.escape("sum: axis 2 is out of range for shape (2, 3)")):
        a.sum(axis=2)
    with pytest.raises(ValueError, match="transpose: axes"):
        a.transpose(0, 0)
    with pytest.raises(TypeError, match="pow: the exponent must be a Python number"):
        a ** a
    with pytest.raises(IndexError, match=re.escape("getitem: index 5 is out of range for axis 0 of shape (2, 3)")):
        a[5]
    with pytest.raises(TypeError, match="index arrays must hold integers or bools"):
        a[np.array([0.5])]
    with pytest.raises(TypeError, match="where: the condition must be a bool array"):
        mg.where(np.ones(3), a, a)


# ---- in-place edits of values a pending backward needs (issue 10, section 1) ----------------

def leaf(values, name=None):
    return mg.tensor(values, requires_grad=True, dtype=np.float64, name=name)


def test_writing_a_saved_leaf_through_data_is_refused_naming_the_op_and_tensor():
    a, b = leaf([1.0, 2, 3]), leaf([4.0, 5, 6], name="b")
    y = (a * b).sum()
    with pytest.raises(RuntimeError, match=r"in-place write refused: 'b' was saved by 'mul' for a pending backward"):
        b.data[...] = 100
    y.backward()
    np.testing.assert_array_equal(a.grad, [4, 5, 6])  # not [100, 100, 100]
    b.data[...] = 100  # the graph is released: writes work again
    np.testing.assert_array_equal(b.data, [100, 100, 100])


def test_writing_a_recorded_output_through_detach_is_refused_until_backward():
    a = leaf([0.1, 0.2])
    h = a.tanh()
    with pytest.raises(RuntimeError, match=r"output of 'tanh', which a pending backward\(\) may read"):
        h.detach().data += 1
    with pytest.raises(RuntimeError, match="'tanh'"):
        h.data[0] = 5
    with pytest.raises(RuntimeError, match="'tanh'"):
        h.data.fill(0)
    h.sum().backward()
    np.testing.assert_allclose(a.grad, 1 - np.tanh([0.1, 0.2]) ** 2, rtol=1e-15)
    h.data[0] = 5  # released
    assert h.data[0] == 5


def test_the_callers_array_behind_from_numpy_is_read_only_while_saved():
    x = np.array([1.0, 2, 3], np.float32)
    p = mg.tensor([1.0, 1, 1], requires_grad=True)
    loss = (p * mg.from_numpy(x)).sum()
    with pytest.raises(ValueError, match="read-only"):  # numpy's own refusal: the write never happens
        x[:] = 0
    loss.backward()
    np.testing.assert_array_equal(p.grad, [1, 2, 3])
    x[:] = 0  # writable again once the graph is released
    assert x.flags.writeable


def test_tensor_copies_its_data_so_the_callers_array_never_matters():
    x = np.array([1.0, 2, 3], np.float32)
    p = mg.tensor([1.0, 1, 1], requires_grad=True)
    loss = (p * mg.tensor(x)).sum()
    x[:] = 0
    loss.backward()
    np.testing.assert_array_equal(p.grad, [1, 2, 3])


def test_asarray_of_a_pending_value_is_a_read_only_view():
    a = leaf([1.0, 2])
    h = a.exp()
    view = np.asarray(h)
    assert np.shares_memory(view, h.data) and not view.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        view[0] = 0
    h.sum().backward()
    assert np.asarray(h).flags.writeable


def test_a_graph_dropped_without_backward_gives_its_arrays_back():
    b = leaf([4.0, 5, 6])
    y = (leaf([1.0, 2, 3]) * b).sum()
    assert not b._data.flags.writeable
    del y
    assert b._data.flags.writeable
    b.data[...] = 0


def test_the_lock_lasts_while_any_pending_graph_needs_the_array():
    a, b = leaf([1.0, 2]), leaf([3.0, 4])
    y1, y2 = (a * b).sum(), (a * b * 2).sum()
    y1.backward()
    with pytest.raises(RuntimeError, match="saved by 'mul'"):
        b.data[0] = 9  # y2 still needs it
    y2.backward()
    b.data[0] = 9


def test_optimizer_step_after_retain_graph_works_and_the_stale_graph_refuses_backward():
    w = mg.nn.Parameter(np.array([1.0, 2.0]), dtype=np.float64)
    w.name = "w"
    x = mg.tensor([3.0, 4.0], dtype=np.float64)
    opt = mg.optim.SGD([w], lr=0.1)
    l1 = (w * x).sum()
    l2 = (w * w * x).sum()
    l1.backward(retain_graph=True)
    opt.step()  # a common pattern: keeps working
    np.testing.assert_allclose(w.data, [1 - 0.3, 2 - 0.4])
    with pytest.raises(RuntimeError, match=r"'w' saved by 'mul' .*was modified in place .*after it was saved"):
        l2.backward()
    assert w.grad is not None and np.allclose(w.grad, [3, 4])  # the refused backward added nothing
    l1.backward()  # d(w . x)/dw = x never read w: l1's graph is not stale (as in torch)
    np.testing.assert_allclose(w.grad, [6, 8])


def test_load_state_dict_after_retain_graph_works_and_makes_the_graph_stale():
    first, layer = mg.nn.Linear(2, 2), mg.nn.Linear(2, 1)
    loss = layer(first(mg.tensor([[1.0, 2.0]])).tanh()).sum()  # the gradient into `first` reads layer.weight
    loss.backward(retain_graph=True)
    state = {k: v + 1 for k, v in layer.state_dict().items()}
    layer.load_state_dict(state)
    np.testing.assert_array_equal(layer.weight.data, state["weight"])
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


def test_in_place_methods_follow_torchs_rules():
    w = leaf([1.0, 2.0], name="w")
    with pytest.raises(RuntimeError, match=r"leaf tensor that requires grad \(w\) is being used in an in-place"):
        w.add_(1)
    h = w * 2
    with pytest.raises(RuntimeError, match="in-place operations on a recorded tensor"):
        h.mul_(2)
    with mg.no_grad():
        with pytest.raises(RuntimeError, match=r"cannot write in place: it is the output of 'mul'"):
            h.detach().zero_()
        assert w.add_(1) is w and w.sub_(np.array([1.0, 1.0]), alpha=2) is w
        w.mul_(3).div_(2)
        np.testing.assert_array_equal(w.data, [0.0, 1.5])
        w.copy_(mg.tensor([7.0, 8.0]))
        np.testing.assert_array_equal(w.data, [7, 8])
        w.fill_(2).zero_()
        np.testing.assert_array_equal(w.data, [0, 0])
        expected = r"copy_: cannot write a value of shape \(3,\) into a tensor of shape \(2,\)"
        with pytest.raises(ValueError, match=expected):
            w.copy_(np.ones(3))
        ints = mg.tensor([1, 2])
        with pytest.raises(TypeError, match="copy_: cannot write dtype float64 into a tensor of dtype int"):
            ints.copy_(np.array([0.5, 1.5]))


def test_data_setter_swaps_arrays_as_torch():
    w = leaf([1.0, 2.0])
    w.data = np.array([3.0, 4.0, 5.0])  # a leaf may change shape and dtype
    assert w.shape == (3,)
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad, [2, 2, 2])
    h = w * 2
    with pytest.raises(ValueError, match="the output of 'mul' has shape"):
        h.data = np.ones(2)
    with pytest.raises(TypeError, match="numeric numpy array"):
        w.data = [1.0, 2.0]


# ---- numpy interop (issue 10, section 2) -----------------------------------------------------

def test_np_array_copies_and_asarray_with_copy_true_copies():
    t = mg.tensor([1.0, 2.0])
    best = np.array(t)
    assert not np.shares_memory(best, t.data)
    assert not np.shares_memory(np.asarray(t, copy=True), t.data)
    assert np.asarray(t) is t.data  # the no-copy request shares, as numpy's protocol says
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="needs a copy"):
        np.asarray(t, dtype=np.float64, copy=False)


def test_a_saved_best_copy_does_not_change_when_the_optimizer_steps():
    w = mg.nn.Parameter(np.array([1.0, 2.0]))
    best = np.array(w)
    (w * w).sum().backward()
    mg.optim.SGD([w], lr=0.5).step()
    np.testing.assert_array_equal(best, [1.0, 2.0])
    assert not np.array_equal(w.data, best)


def test_comparisons_are_elementwise_bool_tensors_without_grad():
    a = leaf([1.0, 2.0, 3.0])
    for result, expected in [(a == 2, [False, True, False]), (a != 2, [True, False, True]),
                             (a < 2, [True, False, False]), (a <= 2, [True, True, False]),
                             (a > 2, [False, False, True]), (a >= 2, [False, True, True]),
                             (2 < a, [False, False, True]), (a == a, [True, True, True])]:  # noqa: SIM300
        assert isinstance(result, mg.Tensor) and result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)
    assert {a: 1}[a] == 1  # still hashable by identity, as torch's
    assert bool(mg.tensor(0.0) == 0)
    with pytest.raises(RuntimeError, match="Boolean value of a tensor with 3 values is ambiguous"):
        bool(a == 2)
    with pytest.raises(ValueError, match=r"eq: cannot broadcast shapes \(3,\) and \(2,\)"):
        a == np.ones(2)  # noqa: B015


# ---- torch's spellings (issue 13) ---------------------------------------------------------------

def test_size_dim_and_numel_follow_torch():
    t = mg.tensor(np.zeros((2, 3, 4)))
    assert t.size() == (2, 3, 4) and t.size(0) == 2 and t.size(-1) == 4 and t.dim() == 3 and t.numel() == 24
    with pytest.raises(ValueError, match="size: axis 3 is out of range"):
        t.size(3)


@pytest.mark.parametrize("ours, theirs", [
    (lambda t: t.view(4, 6), lambda t: t.view(4, 6)),
    (lambda t: t.view(-1), lambda t: t.view(-1)),
    (lambda t: t.view_as(mg.tensor(np.zeros((6, 4)))), lambda t: t.view(6, 4)),
    (lambda t: t.flatten(), lambda t: t.flatten()),
    (lambda t: t.flatten(1), lambda t: t.flatten(1)),
    (lambda t: t.flatten(0, 1), lambda t: t.flatten(0, 1)),
    (lambda t: t.unsqueeze(0), lambda t: t.unsqueeze(0)),
    (lambda t: t.unsqueeze(-1), lambda t: t.unsqueeze(-1)),
    (lambda t: t.unsqueeze(1).squeeze(), lambda t: t.unsqueeze(1).squeeze()),
    (lambda t: t.unsqueeze(1).squeeze(1), lambda t: t.unsqueeze(1).squeeze(1)),
    (lambda t: t.squeeze(0), lambda t: t.squeeze(0)),
    (lambda t: t.permute(2, 0, 1), lambda t: t.permute(2, 0, 1)),
    (lambda t: t.transpose(0, 2), lambda t: t.transpose(0, 2)),  # torch's swap on a 3-d tensor
    (lambda t: t.transpose(1, -1), lambda t: t.transpose(1, -1)),
    (lambda t: t[0].t(), lambda t: t[0].t()),
    (lambda t: t.contiguous() * 2, lambda t: t.contiguous() * 2),
    (lambda t: t.masked_fill(t.data > 0, -1.5), lambda t: t.masked_fill(t > 0, -1.5)),
    (lambda t: t.sum(dim=1, keepdim=True), lambda t: t.sum(dim=1, keepdim=True)),
    (lambda t: t.mean(dim=(0, 2)), lambda t: t.mean(dim=(0, 2))),
    (lambda t: t.softmax(dim=1), lambda t: t.softmax(dim=1)),
    (lambda t: t.log_softmax(dim=0), lambda t: t.log_softmax(dim=0)),
    (lambda t: t.amax(dim=(1, 2)), lambda t: t.amax(dim=(1, 2))),
    (lambda t: mg.cat([t, t * 2], dim=1), None),
    (lambda t: mg.stack([t, t], dim=0), None),
])
def test_shape_and_reduction_methods_match_torch(ours, theirs):
    torch = pytest.importorskip("torch")
    data = np.random.default_rng(0).standard_normal((2, 3, 4))
    a = mg.tensor(data, requires_grad=True, dtype=np.float64)
    ta = torch.tensor(data, requires_grad=True)
    if theirs is None:
        theirs = {"cat": lambda t: torch.cat([t, t * 2], dim=1), "stack": lambda t: torch.stack([t, t], dim=0)}[
            "cat" if ours(a).shape == (2, 6, 4) else "stack"]
    out, tout = ours(a), theirs(ta)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-12)
    w = np.random.default_rng(1).standard_normal(out.shape)
    (out * w).sum().backward()
    (tout * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_both_spellings_at_once_is_a_type_error():
    t = mg.tensor(np.zeros((2, 3)))
    for call in (lambda: t.sum(axis=0, dim=0), lambda: t.mean(keepdims=True, keepdim=True),
                 lambda: t.softmax(axis=0, dim=0), lambda: t.chunk(2, axis=0, dim=0),
                 lambda: mg.concat([t, t], axis=0, dim=0), lambda: mg.stack([t], axis=0, dim=1),
                 lambda: mg.functional.log_softmax(t, 1, axis=1)):
        with pytest.raises(TypeError, match="give .*dim.* not both"):
            call()


def test_bool_index_and_count_results_are_constants():
    t = mg.tensor([[1.0, 5.0], [7.0, 2.0]], requires_grad=True)
    assert t.argmax().item() == 2 and t.argmax(dim=1).tolist() == [1, 0] and t.argmin(1, keepdim=True).shape == (2, 1)
    assert (t > 1).all().item() is False and (t > 1).any(dim=1).tolist() == [True, True]
    assert not t.argmax().requires_grad


def test_new_tensors_and_requires_grad_():
    t = mg.tensor(np.zeros(2), dtype=np.float64)
    z = t.new_zeros(2, 3)
    assert z.shape == (2, 3) and z.dtype == np.float64 and not z.data.any()
    o = t.new_ones((4,), dtype=mg.float32, requires_grad=True)
    assert o.dtype == np.float32 and o.requires_grad and (o.data == 1).all()
    assert t.requires_grad_() is t and t.requires_grad
    t.requires_grad_(False)
    assert not t.requires_grad
    with pytest.raises(TypeError, match="new_zeros: the size must be non-negative integers"):
        t.new_zeros(-1)
    with pytest.raises(ValueError, match="t: expects a tensor with at most 2 dimensions"):
        mg.tensor(np.zeros((2, 2, 2))).t()
    with pytest.raises(ValueError, match=r"masked_fill: a mask of shape \(3,\) does not broadcast"):
        t.masked_fill(np.array([True, False, True]), 0.0)
    with pytest.raises(TypeError, match="masked_fill: the mask must be bool"):
        t.masked_fill(np.array([1, 0]), 0.0)
    assert t.type() == "float64" and t.type(mg.float32).dtype == np.float32
