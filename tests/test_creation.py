"""Making tensors in torch's spelling: shapes, dtypes, requires_grad, seeding, errors (issue 13)."""
import numpy as np
import pytest

import micrograd_seq as mg


def test_shapes_dtypes_and_values_match_torch():
    torch = pytest.importorskip("torch")
    pairs = [
        (mg.zeros(2, 3), torch.zeros(2, 3)), (mg.zeros((2, 3)), torch.zeros((2, 3))), (mg.ones(4), torch.ones(4)),
        (mg.full((2, 2), 1.5), torch.full((2, 2), 1.5)), (mg.full((2,), 3), torch.full((2,), 3)),
        (mg.arange(5), torch.arange(5)), (mg.arange(1, 7, 2), torch.arange(1, 7, 2)),
        (mg.arange(0.0, 1.0, 0.25), torch.arange(0.0, 1.0, 0.25)), (mg.linspace(0, 1, 5), torch.linspace(0, 1, 5)),
        (mg.eye(3), torch.eye(3)), (mg.eye(2, 3), torch.eye(2, 3)),
        (mg.zeros(2, dtype=mg.int64), torch.zeros(2, dtype=torch.int64)),
        (mg.ones(2, dtype=mg.float64), torch.ones(2, dtype=torch.float64)),
        (mg.zeros_like(mg.ones(2, dtype=mg.int32)), torch.zeros_like(torch.ones(2, dtype=torch.int32))),
        (mg.ones_like(mg.zeros((2, 1))), torch.ones_like(torch.zeros((2, 1)))),
    ]
    for ours, theirs in pairs:
        assert ours.shape == tuple(theirs.shape) and str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_requires_grad_and_the_default_dtype():
    w = mg.randn(3, 2, requires_grad=True)
    assert w.requires_grad and w.is_leaf and w.dtype == mg.get_default_dtype() == np.float32
    mg.set_default_dtype(mg.float64)
    assert mg.zeros(1).dtype == mg.rand(1).dtype == mg.linspace(0, 1, 2).dtype == np.float64
    assert mg.arange(3).dtype == mg.randint(5, (2,)).dtype == np.int64
    with pytest.raises(TypeError, match="only floating tensors can require grad"):
        mg.arange(3, requires_grad=True)


def test_random_draws_are_seeded_by_manual_seed():
    def draws():
        mg.manual_seed(7)
        return [mg.randn(2, 3).data, mg.rand(4).data, mg.randint(0, 10, (5,)).data, mg.randn_like(mg.zeros(2)).data]
    first, second = draws(), draws()
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    values = mg.randint(3, 6, (1000,)).data
    assert values.min() >= 3 and values.max() <= 5
    assert mg.rand(1000).data.min() >= 0 and mg.rand(1000).data.max() < 1


def test_bad_arguments_name_the_function():
    with pytest.raises(TypeError, match="zeros: the size must be non-negative integers"):
        mg.zeros(2, -1)
    with pytest.raises(TypeError, match="randn: the size must be non-negative integers"):
        mg.randn(2.5)
    with pytest.raises(ValueError, match="arange: step must not be zero"):
        mg.arange(0, 5, 0)
    with pytest.raises(ValueError, match="randint: high must be above low"):
        mg.randint(5, 5, (2,))
    with pytest.raises(TypeError, match="randint: give the size"):
        mg.randint(5)
    with pytest.raises(TypeError, match="full: fill_value must be a number"):
        mg.full((2,), "x")
    with pytest.raises(TypeError, match="randn_like: int64 is not a floating dtype"):
        mg.randn_like(mg.arange(3))
    with pytest.raises(TypeError, match="zeros: dtype must be floating, integer or bool"):
        mg.zeros(2, dtype=np.complex128)


def test_dtype_names_are_torchs():
    assert (mg.float32, mg.float, mg.float64, mg.double, mg.half, mg.int64, mg.long, mg.int32, mg.int, mg.bool) == (
        np.float32, np.float32, np.float64, np.float64, np.float16, np.int64, np.int64, np.int32, np.int32, np.bool_)
    assert mg.tensor([1.0]).to(mg.double).dtype == np.float64
