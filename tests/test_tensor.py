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
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and t.dtype == np.float32
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
