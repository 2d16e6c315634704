"""Linear, Embedding and Dropout: torch parity, torch's initialisation, dropout semantics, errors."""
import math

import numpy as np
import pytest

import micrograd_seq as mg


@pytest.mark.parametrize("shape", [(4,), (5, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(f64, shape, bias):
    torch = pytest.importorskip("torch")
    ours = mg.nn.Linear(4, 3, bias=bias)
    theirs = torch.nn.Linear(4, 3, bias=bias).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    w = rng.standard_normal(shape[:-1] + (3,))
    x_ours, x_theirs = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y_ours, y_theirs = ours(x_ours), theirs(x_theirs)
    (y_ours * w).sum().backward()
    (y_theirs * torch.from_numpy(w)).sum().backward()
    np.testing.assert_allclose(y_ours.data, y_theirs.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x_ours.grad, x_theirs.grad.numpy(), rtol=1e-12)
    for name, p in theirs.named_parameters():
        np.testing.assert_allclose(dict(ours.named_parameters())[name].grad, p.grad.numpy(), rtol=1e-12)


def test_linear_takes_numpy_input_in_its_own_dtype(f64):
    linear = mg.nn.Linear(2, 1)
    y = linear(np.ones((3, 2), dtype=np.float32))
    assert y.dtype == np.float64 and y.shape == (3, 1)


def test_linear_initialises_like_torch():
    """Weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)) (torch's kaiming_uniform_ with a=sqrt(5))."""
    mg.manual_seed(0)
    linear = mg.nn.Linear(64, 48)
    bound = 1 / math.sqrt(64)
    for values in (linear.weight.data.ravel(), linear.bias.data):
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.9 * bound
    assert abs(linear.weight.data.std() / (bound / math.sqrt(3)) - 1) < 0.05
    assert linear.weight.shape == (48, 64) and linear.bias.shape == (48,)
    assert linear.weight.dtype == np.float32


def test_embedding_initialises_standard_normal():
    mg.manual_seed(0)
    table = mg.nn.Embedding(200, 50).weight.data
    assert table.shape == (200, 50) and table.dtype == np.float32
    assert abs(table.mean()) < 0.03 and abs(table.std() - 1) < 0.03
    assert np.abs(table).max() > 3  # a normal, not a bounded uniform


def test_embedding_matches_torch_with_repeated_indices(f64):
    torch = pytest.importorskip("torch")
    ours = mg.nn.Embedding(6, 3)
    theirs = torch.nn.Embedding(6, 3).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    idx = np.array([[0, 2, 2], [5, 0, 2]])
    w = np.random.default_rng(1).standard_normal((2, 3, 3))
    y_ours, y_theirs = ours(idx), theirs(torch.from_numpy(idx))
    (y_ours * w).sum().backward()
    (y_theirs * torch.from_numpy(w)).sum().backward()
    np.testing.assert_array_equal(y_ours.data, y_theirs.detach().numpy())
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-13)
    assert (ours.weight.grad[[1, 3, 4]] == 0).all()


def test_embedding_accepts_integer_tensors_and_lists():
    emb = mg.nn.Embedding(4, 2)
    np.testing.assert_array_equal(emb(mg.tensor(np.array([3, 1]))).data, emb([3, 1]).data)
    np.testing.assert_array_equal(emb([3, 1]).data, emb.weight.data[[3, 1]])


def test_embedding_errors():
    emb = mg.nn.Embedding(4, 2)
    with pytest.raises(TypeError, match=r"Embedding: indices must be integers, got dtype float64"):
        emb(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match=r"indices must be integers, got dtype bool"):
        emb([True, False])
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\), got values from -1 to 2"):
        emb([2, -1])
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\), got values from 0 to 4"):
        emb([[0, 4]])
    with pytest.raises(ValueError, match=r"Embedding: embedding_dim must be a positive integer, got 0"):
        mg.nn.Embedding(4, 0)


@pytest.mark.parametrize("padding_idx", [0, 4, -1, -6])
def test_embedding_padding_idx_matches_torch(f64, padding_idx):
    """The padding row starts at zeros, is read as it is, and gets exactly zero gradient, as torch's."""
    torch = pytest.importorskip("torch")
    ours = mg.nn.Embedding(6, 3, padding_idx=padding_idx)
    theirs = torch.nn.Embedding(6, 3, padding_idx=padding_idx).double()
    assert repr(ours) == repr(theirs) and ours.padding_idx == theirs.padding_idx
    row = padding_idx % 6
    assert not ours.weight.data[row].any() and not theirs.weight.detach().numpy()[row].any()
    ours.weight.data[row] = [1.0, -2.0, 3.0]  # a user may set it; the lookup reads it all the same
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    idx = np.array([[row, 2, row], [5, 0, row], [1, 1, 3]])
    w = np.random.default_rng(1).standard_normal((3, 3, 3))
    y_ours, y_theirs = ours(idx), theirs(torch.from_numpy(idx))
    (y_ours * w).sum().backward()
    (y_theirs * torch.from_numpy(w)).sum().backward()
    np.testing.assert_array_equal(y_ours.data, y_theirs.detach().numpy())
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-13)
    assert (ours.weight.grad[row] == 0).all()


def test_embedding_padding_row_gets_zero_gradient_even_from_nan():
    emb = mg.nn.Embedding(4, 2, padding_idx=1)
    emb([[1, 2], [0, 1]]).backward(np.array([[[np.nan, np.inf], [1.0, 2.0]], [[3.0, 4.0], [np.inf, np.nan]]]))
    np.testing.assert_array_equal(emb.weight.grad, [[3, 4], [0, 0], [1, 2], [0, 0]])


def test_embedding_padding_row_is_the_only_change_to_initialisation():
    mg.manual_seed(3)
    plain = mg.nn.Embedding(5, 4).weight.data
    mg.manual_seed(3)
    padded = mg.nn.Embedding(5, 4, padding_idx=-2).weight.data
    np.testing.assert_array_equal(padded[[0, 1, 2, 4]], plain[[0, 1, 2, 4]])
    assert (padded[3] == 0).all()


def test_embedding_padding_row_stays_zero_under_an_optimizer():
    emb = mg.nn.Embedding(4, 2, padding_idx=0)
    opt = mg.optim.Adam(emb.parameters(), lr=0.1, weight_decay=0.1)
    for _ in range(3):
        opt.zero_grad()
        y = emb([[0, 1, 0, 3]])
        (y * y).sum().backward()
        opt.step()
    assert (emb.weight.data[0] == 0).all() and emb.weight.data[1:].any()


@pytest.mark.parametrize("padding_idx, error, message", [
    (6, ValueError, r"Embedding: padding_idx must lie in \[-6, 6\) \(within num_embeddings\), got 6"),
    (-7, ValueError, r"padding_idx must lie in \[-6, 6\)"),
    (1.0, TypeError, r"Embedding: padding_idx must be an integer, got float 1.0"),
    (True, TypeError, r"padding_idx must be an integer, got bool True"),
])
def test_embedding_padding_idx_errors(padding_idx, error, message):
    """Out of range: torch asserts (AssertionError); ours is a ValueError naming the argument."""
    torch = pytest.importorskip("torch")
    if error is ValueError:
        with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
            torch.nn.Embedding(6, 3, padding_idx=padding_idx)
    with pytest.raises(error, match=message):
        mg.nn.Embedding(6, 3, padding_idx=padding_idx)


def test_linear_errors():
    linear = mg.nn.Linear(3, 2)
    with pytest.raises(ValueError, match=r"Linear: expected input with 3 features in its last dimension, "
                                         r"got shape \(5, 4\)"):
        linear(np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        linear(mg.tensor(1.0))
    with pytest.raises(ValueError, match=r"Linear: in_features must be a positive integer, got 3.0"):
        mg.nn.Linear(3.0, 2)
    with pytest.raises(ValueError, match=r"Linear: out_features must be a positive integer, got True"):
        mg.nn.Linear(3, True)


def test_dropout_zeroes_about_p_and_scales_the_rest_in_training(f64):
    mg.manual_seed(0)
    drop = mg.nn.Dropout(0.3)
    x = mg.tensor(np.full((200, 100), 2.0), requires_grad=True)
    y = drop(x)
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.data[kept], 2.0 / 0.7, rtol=1e-15)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, kept / 0.7)  # the same mask in backward


def test_dropout_is_the_identity_in_eval_and_with_p_zero():
    x = mg.tensor(np.arange(6.0).reshape(2, 3))
    assert mg.nn.Dropout(0.5).eval()(x) is x
    assert mg.nn.Dropout(0.0)(x) is x
    assert (mg.nn.Dropout(1.0)(x).data == 0).all()


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", None, True])
def test_dropout_rejects_a_bad_probability(p):
    with pytest.raises(ValueError, match=r"Dropout: dropout probability must be a number in \[0, 1\], got "):
        mg.nn.Dropout(p)
