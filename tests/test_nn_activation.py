"""Activation modules against torch.nn's: values, gradients, repr, and Softmax's dim rules."""
import numpy as np
import pytest

import micrograd_seq as mg

X = np.random.default_rng(0).standard_normal((3, 4, 5)) * 3

CONFIGS = [("Tanh", {}), ("ReLU", {}), ("ReLU", {"inplace": True}), ("Sigmoid", {}), ("Softmax", {"dim": 1}),
           ("Softmax", {"dim": -1}), ("LogSoftmax", {"dim": 0}), ("LogSoftmax", {"dim": 2})]


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=[f"{n}-{k}" for n, k in CONFIGS])
def test_activation_modules_match_torch(name, kwargs):
    torch = pytest.importorskip("torch")
    ours, theirs = getattr(mg.nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(ours) == repr(theirs)
    xo, xt = mg.tensor(X, requires_grad=True, dtype=np.float64), torch.tensor(X, requires_grad=True)
    yo = ours(xo)
    yt = theirs(xt * 1.0)  # inplace=True would overwrite a leaf in torch
    np.testing.assert_allclose(yo.data, yt.detach().numpy(), rtol=1e-13, atol=1e-15)
    weights = np.random.default_rng(1).standard_normal(X.shape)
    (yo * weights).sum().backward()
    (yt * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert (xo.data == X).all()  # the input is never overwritten


@pytest.mark.parametrize("shape", [(5,), (2, 5), (2, 3, 5), (2, 3, 4, 5)])
def test_softmax_without_dim_picks_torchs_legacy_dimension_with_a_warning(shape):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal(shape)
    for name in ("Softmax", "LogSoftmax"):
        with pytest.warns(UserWarning, match="implicit dimension choice"):
            ours = getattr(mg.nn, name)()(mg.tensor(x, dtype=np.float64))
        with pytest.warns(UserWarning):
            theirs = getattr(torch.nn, name)()(torch.tensor(x))
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-13)


def test_a_model_from_activation_modules_trains():
    mg.manual_seed(0)
    model = mg.nn.Sequential(mg.nn.Linear(2, 8), mg.nn.Tanh(), mg.nn.Linear(8, 2), mg.nn.LogSoftmax(dim=1))
    x = np.random.default_rng(3).standard_normal((32, 2))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)
    opt = mg.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = mg.nn.NLLLoss()
    first = loss_fn(model(x), y).item()
    for _ in range(100):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < first / 3


def test_errors():
    with pytest.raises(TypeError, match="Softmax: dim must be an int or None, got str"):
        mg.nn.Softmax("1")
    with pytest.raises(TypeError, match="tanh: input must be a Tensor, got list"):
        mg.nn.Tanh()([1.0, 2.0])
