"""``mg.f(t, ...)`` is ``t.f(...)``: torch's function spellings of the tensor methods (issue 13)."""
import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq import functions


@pytest.mark.parametrize("name", functions.__all__)
def test_each_function_is_its_method(name):
    x = mg.tensor(np.random.default_rng(0).uniform(0.5, 2.0, (2, 3)), dtype=np.float64, requires_grad=True)
    args = {"clamp": (0.7, 1.5), "narrow": (1, 0, 2), "split": (1,), "masked_fill": (np.eye(2, 3, dtype=bool), 0.0),
            "permute": (1, 0), "transpose": (1, 0), "unsqueeze": (0,), "reshape": (3, 2), "matmul": (np.ones((3, 2)),),
            "cat": None}.get(name, ())
    if args is None:  # cat takes a list, as torch.cat
        assert mg.cat([x, x], dim=1).shape == (2, 6)
        return
    method = "__matmul__" if name == "matmul" else name
    got, want = getattr(mg, name)(x, *args), getattr(x, method)(*args)
    for g, w in zip(*(r if isinstance(r, (list, tuple)) else [r] for r in (got, want)), strict=True):
        assert isinstance(g, (mg.Tensor, int))
        np.testing.assert_array_equal(np.asarray(g.data if isinstance(g, mg.Tensor) else g),
                                      np.asarray(w.data if isinstance(w, mg.Tensor) else w))


def test_functions_take_numbers_and_arrays_as_constants():
    assert mg.tanh(0.5).item() == pytest.approx(np.tanh(0.5))
    assert mg.sum(np.ones((2, 2)), dim=0).tolist() == [2.0, 2.0]
    values, indices = mg.max(mg.tensor([[1.0, 4.0], [3.0, 2.0]]), 1)
    assert values.tolist() == [4.0, 3.0] and indices.tolist() == [1, 0]
