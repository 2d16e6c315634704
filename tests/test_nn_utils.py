"""clip_grad_norm_ and clip_grad_value_ against torch.nn.utils."""
import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq.nn import Parameter
from micrograd_seq.nn.utils import clip_grad_norm_, clip_grad_value_

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def twin_grads(scale: float, seed: int = 0):
    """Our parameters and torch's with the same random gradients (one of ours has none)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for shape in SHAPES:
        data, grad = rng.standard_normal(shape), scale * rng.standard_normal(shape)
        p, t = Parameter(data, dtype=np.float64), torch.tensor(data, requires_grad=True)
        p.grad, t.grad = grad, torch.tensor(grad)
        ours.append(p)
        theirs.append(t)
    ours.append(Parameter(np.ones(2), dtype=np.float64))  # no gradient: skipped, as in torch
    theirs.append(torch.ones(2, dtype=torch.float64, requires_grad=True))
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
@pytest.mark.parametrize("scale", [0.01, 10.0], ids=["below-max", "above-max"])
def test_clip_grad_norm_matches_torch(norm_type, scale):
    torch = pytest.importorskip("torch")
    ours, theirs = twin_grads(scale)
    total = clip_grad_norm_(ours, max_norm=1.5, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm=1.5, norm_type=norm_type)
    assert isinstance(total, float)
    np.testing.assert_allclose(total, expected.item(), rtol=1e-13)
    for p, t in zip(ours, theirs, strict=True):
        if t.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-13)
    clipped = [p.grad for p in ours if p.grad is not None]
    if scale > 1:  # the joint norm is now max_norm (up to torch's 1e-6 in the denominator)
        joint = (np.abs(np.concatenate([g.ravel() for g in clipped])) ** norm_type).sum() ** (1 / norm_type) \
            if norm_type != float("inf") else max(np.abs(g).max() for g in clipped)
        assert 1.5 - 1e-5 < joint <= 1.5


def test_clip_grad_norm_takes_one_tensor_and_an_empty_list():
    p = Parameter(np.ones(4), dtype=np.float64)
    p.grad = np.full(4, 3.0)
    assert clip_grad_norm_(p, 1.0) == 6.0
    np.testing.assert_allclose(p.grad, np.full(4, 3.0 / (6.0 + 1e-6)), rtol=1e-15)
    assert clip_grad_norm_([], 1.0) == 0.0


@pytest.mark.parametrize("clip", [0.5, 3.0])
def test_clip_grad_value_matches_torch(clip):
    torch = pytest.importorskip("torch")
    ours, theirs = twin_grads(2.0, seed=1)
    clip_grad_value_(ours, clip)
    torch.nn.utils.clip_grad_value_(theirs, clip)
    for p, t in zip(ours[:-1], theirs[:-1], strict=True):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())
    assert ours[-1].grad is None


def test_clipping_a_model_after_backward_keeps_dtype():
    lstm = mg.nn.LSTM(2, 3)
    lstm(np.ones((4, 1, 2)))[0].sum().backward()
    clip_grad_norm_(lstm.parameters(), 1e-3)
    clip_grad_value_(lstm.parameters(), 1e-4)
    assert all(p.grad.dtype == np.float32 and np.abs(p.grad).max() <= 1e-4 for p in lstm.parameters())


def test_errors():
    p = Parameter(np.ones(2))
    p.grad = np.ones(2)
    with pytest.raises(ValueError, match=r"clip_grad_norm_: norm_type must be > 0, got 0"):
        clip_grad_norm_([p], 1.0, norm_type=0)
    with pytest.raises(ValueError, match=r"clip_grad_norm_: max_norm must be >= 0, got -1"):
        clip_grad_norm_([p], -1)
    with pytest.raises(ValueError, match=r"clip_grad_value_: clip_value must be >= 0, got -0.5"):
        clip_grad_value_([p], -0.5)
    with pytest.raises(TypeError, match=r"clip_grad_norm_: item 1 is not a tensor \(got ndarray\)"):
        clip_grad_norm_([p, np.ones(2)], 1.0)


# ---- issue 10: NaN gradients as torch, error_if_nonfinite, and argument errors that name the argument -------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_a_non_finite_gradient_returns_and_scales_as_torch(bad, norm_type):
    torch = pytest.importorskip("torch")
    ours, theirs = twin_grads(1.0)
    ours[1].grad[0] = bad
    with torch.no_grad():
        theirs[1].grad[0] = bad
    total = clip_grad_norm_(ours, 1.0, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type=norm_type).item()
    np.testing.assert_array_equal(total, expected)  # nan or inf, as torch
    for p, t in zip(ours[:-1], theirs[:-1], strict=True):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())  # NaN everywhere, or 0 where finite


def test_error_if_nonfinite_raises_and_leaves_the_gradients():
    torch = pytest.importorskip("torch")
    ours, theirs = twin_grads(1.0)
    ours[0].grad[0, 0] = np.nan
    with torch.no_grad():
        theirs[0].grad[0, 0] = np.nan
    before = [p.grad.copy() for p in ours[:-1]]
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError, match="clip_grad_norm_: the total norm of order 2.0 of the gradients is nan"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    for p, g in zip(ours[:-1], before, strict=True):
        np.testing.assert_array_equal(p.grad, g)
    ours[0].grad[0, 0] = 1.0
    assert np.isfinite(clip_grad_norm_(ours, 1.0, error_if_nonfinite=True, foreach=True))


@pytest.mark.parametrize("call, error, message", [
    (lambda p: clip_grad_norm_(p, "1.0"), TypeError, "clip_grad_norm_: max_norm must be a real number, got str '1.0'"),
    (lambda p: clip_grad_norm_(p, None), TypeError, "clip_grad_norm_: max_norm must be a real number"),
    (lambda p: clip_grad_norm_(p, float("nan")), ValueError, "clip_grad_norm_: max_norm must be >= 0, got nan"),
    (lambda p: clip_grad_norm_(p, 1.0, norm_type="2"), TypeError, "clip_grad_norm_: norm_type must be a real number"),
    (lambda p: clip_grad_norm_(p, 1.0, error_if_nonfinite="yes"), TypeError,
     "clip_grad_norm_: error_if_nonfinite must be True or False"),
    (lambda p: clip_grad_norm_(1.0, 1.0), TypeError, "clip_grad_norm_: parameters must be a tensor or an iterable"),
    (lambda p: clip_grad_value_(p, "0.5"), TypeError, "clip_grad_value_: clip_value must be a real number"),
])
def test_argument_errors_name_the_function_and_the_argument(call, error, message):
    p = Parameter(np.ones(2))
    p.grad = np.full(2, 5.0)
    with pytest.raises(error, match=message):
        call([p])
    assert (p.grad == 5.0).all()
