"""numpy applied to tensors: differentiable ufuncs and functions become ops; nothing drops a gradient silently."""
import numpy as np
import pytest

import micrograd_seq as mg


def leaf(values):
    return mg.tensor(values, requires_grad=True, dtype=np.float64)


@pytest.mark.parametrize("call, method", [
    (lambda t: np.tanh(t), lambda t: t.tanh()),
    (lambda t: np.exp(t), lambda t: t.exp()),
    (lambda t: np.log(t), lambda t: t.log()),
    (lambda t: np.maximum(t, 0), lambda t: t.relu()),
    (lambda t: np.maximum(0, t), lambda t: t.relu()),
    (lambda t: np.negative(t), lambda t: -t),
    (lambda t: np.power(t, 3), lambda t: t ** 3),
    (lambda t: np.add(t, 2.0), lambda t: t + 2),
    (lambda t: np.array([1.0, 2.0, 3.0]) + t, lambda t: t + np.array([1.0, 2.0, 3.0])),
    (lambda t: np.array([1.0, 2.0, 3.0]) * t, lambda t: t * np.array([1.0, 2.0, 3.0])),
    (lambda t: np.float64(2.0) - t, lambda t: 2.0 - t),
    (lambda t: np.array([1.0, 2.0, 3.0]) / t, lambda t: np.array([1.0, 2.0, 3.0]) / t),
    (lambda t: np.sum(t), lambda t: t.sum()),
    (lambda t: np.mean(t, axis=0), lambda t: t.mean(axis=0)),
    (lambda t: np.max(t), lambda t: t.max()),
    (lambda t: np.concatenate([t, t]), lambda t: mg.concat([t, t])),
    (lambda t: np.stack([t, t], axis=1), lambda t: mg.stack([t, t], axis=1)),
    (lambda t: np.reshape(t, (3, 1)), lambda t: t.reshape(3, 1)),
    (lambda t: np.where(np.array([True, False, True]), t, 0.0),
     lambda t: mg.where(np.array([True, False, True]), t, 0.0)),
    (lambda t: np.array([[1.0, 2.0, 3.0]]) @ t, lambda t: mg.tensor([[1.0, 2.0, 3.0]], dtype=np.float64) @ t),
])
def test_differentiable_numpy_calls_are_the_ops(call, method):
    t1, t2 = leaf([0.5, 1.5, 2.0]), leaf([0.5, 1.5, 2.0])
    a, b = call(t1), method(t2)
    assert isinstance(a, mg.Tensor) and a.requires_grad
    np.testing.assert_array_equal(a.data, b.data)
    a.sum().backward()
    b.sum().backward()
    np.testing.assert_array_equal(t1.grad, t2.grad)


@pytest.mark.parametrize("call", [
    lambda t: np.sin(t), lambda t: np.sqrt(t), lambda t: np.maximum(t, 1.0), lambda t: np.clip(t, 0, 1),
    lambda t: np.add.reduce(t), lambda t: np.linalg.norm(t), lambda t: np.dot(t, t), lambda t: np.cumsum(t),
    lambda t: np.sum(t, dtype=np.float32),
])
def test_anything_else_on_a_tensor_that_requires_grad_is_a_type_error_naming_it(call):
    with pytest.raises(TypeError, match=r"np\.\w+(\.reduce)? has no differentiable op, so applied to a tensor that "
                                        r"requires grad it would silently drop the gradient"):
        call(leaf([0.5, 1.5]))


def test_the_refusal_says_what_to_write_instead():
    with pytest.raises(TypeError, match=r"np.sqrt .* write t \*\* 0.5"):
        np.sqrt(leaf([1.0]))


def test_without_a_gradient_to_lose_numpy_computes_on_the_values_and_returns_tensors():
    t = mg.tensor([0.5, 1.5])
    s = np.sin(t)
    assert isinstance(s, mg.Tensor) and not s.requires_grad
    np.testing.assert_allclose(s.data, np.sin([0.5, 1.5]))
    w = leaf([0.5, 1.5])
    with mg.no_grad():
        assert isinstance(np.sin(w), mg.Tensor)
    finite = np.isfinite(w)  # a bool result has no gradient to lose
    assert isinstance(finite, mg.Tensor) and finite.dtype == np.bool_
    np.testing.assert_array_equal(finite.data, [True, True])
    assert np.allclose(w, [0.5, 1.5]) is True
    assert int(np.argmax(w)) == 1


def test_writing_a_numpy_result_into_a_tensor_through_out_is_refused():
    t = mg.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="cannot write into a tensor through out="):
        np.add(np.ones(2), 1, out=t)
    total = np.zeros(2, dtype=np.float32)
    total += t  # accumulating a constant tensor's values into an array is fine
    np.testing.assert_array_equal(total, [1, 2])
    with pytest.raises(TypeError, match="np.add has no differentiable op"):
        total += leaf([1.0, 2.0])  # ... but not a gradient-carrying one
