"""LayerNorm from primitives equals torch.nn.LayerNorm: outputs, gradients, parameters, repr, errors."""
import numpy as np
import pytest

import micrograd_seq as mg

torch = pytest.importorskip("torch")

CASES = [  # (normalized_shape, input shape, options)
    (4, (3, 4), {}),
    (4, (2, 5, 4), {}),
    ((3, 4), (2, 3, 4), {}),
    (6, (6,), {}),
    (4, (3, 4), {"elementwise_affine": False}),
    (4, (3, 4), {"bias": False}),
    (5, (2, 5), {"eps": 1e-3}),
]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 2e-5)], ids=["float64", "float32"])
@pytest.mark.parametrize("normalized_shape, shape, options", CASES, ids=str)
def test_matches_torch(normalized_shape, shape, options, dtype, rtol):
    mg.set_default_dtype(dtype)
    ours = mg.nn.LayerNorm(normalized_shape, **options)
    theirs = torch.nn.LayerNorm(normalized_shape, **options, dtype=torch.float64 if dtype == np.float64 else None)
    rng = np.random.default_rng(0)
    with torch.no_grad():  # trained-looking weights, not the ones and zeros they start at
        for p in theirs.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(dtype)))
    ours.load_state_dict(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    x = (3 * rng.standard_normal(shape) + 1).astype(dtype)
    readout = rng.standard_normal(shape).astype(dtype)
    x_ours, x_theirs = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    (y_ours * readout).sum().backward()
    (y_theirs * torch.from_numpy(readout)).sum().backward()
    assert y_ours.dtype == dtype
    np.testing.assert_allclose(y_ours.data, y_theirs.detach().numpy(), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(x_ours.grad, x_theirs.grad.numpy(), rtol=rtol, atol=10 * rtol)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(getattr(ours, name).grad, p.grad.numpy(), rtol=rtol, atol=10 * rtol, err_msg=name)


def test_starts_as_torch_does_and_prints_the_same():
    for args, options in [((4,), {}), (((2, 3),), {"eps": 1e-3}), ((4,), {"elementwise_affine": False}),
                          ((4,), {"bias": False}), ((4,), {"elementwise_affine": False, "bias": False})]:
        ours, theirs = mg.nn.LayerNorm(*args, **options), torch.nn.LayerNorm(*args, **options)
        assert repr(ours) == repr(theirs)
        assert {n: p.data.tolist() for n, p in ours.named_parameters()} == \
               {n: p.tolist() for n, p in theirs.named_parameters()}


def test_gradcheck(f64):
    ln = mg.nn.LayerNorm((2, 3))
    rng = np.random.default_rng(1)
    ln.weight.data[...], ln.bias.data[...] = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    x = mg.tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)
    assert mg.gradcheck(lambda x, *params: ln(x), x, *ln.parameters())


@pytest.mark.parametrize("make, call, message", [
    (lambda: mg.nn.LayerNorm(4), np.zeros((2, 3)),
     r"LayerNorm: expected input whose last dimensions are \(4,\), got shape \(2, 3\)"),
    (lambda: mg.nn.LayerNorm((2, 4)), np.zeros(4), r"last dimensions are \(2, 4\), got shape \(4,\)"),
    (lambda: mg.nn.LayerNorm(0), None, "every size in normalized_shape must be a positive integer, got 0"),
    (lambda: mg.nn.LayerNorm(()), None, r"normalized_shape must name at least one dimension"),
    (lambda: mg.nn.LayerNorm(4, eps=0.0), None, "eps must be positive, got 0.0"),
])
def test_errors_name_the_shapes(make, call, message):
    with pytest.raises(ValueError, match=message):
        make()(call)
