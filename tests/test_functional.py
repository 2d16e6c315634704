"""Losses and softmax in mg.functional: values, gradients, torch parity and clear errors."""
import re

import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq import functional as F


def leaf(shape, seed=0, scale=1.0):
    return mg.tensor(np.random.default_rng(seed).standard_normal(shape) * scale, requires_grad=True,
                     dtype=np.float64)


def reference_cross_entropy(logits, targets, ignore_index=-100):
    shifted = logits - logits.max(1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    keep = targets != ignore_index
    return -logp[np.arange(len(targets))[keep], targets[keep]]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_value_and_gradient(reduction):
    logits, targets = leaf((5, 4)), np.array([0, 3, 1, 1, 2])
    per_row = reference_cross_entropy(logits.data, targets)
    expected = {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[reduction]
    np.testing.assert_allclose(F.cross_entropy(logits, targets, reduction=reduction).data, expected, rtol=1e-14)
    assert mg.gradcheck(lambda t: F.cross_entropy(t, targets, reduction=reduction), logits)


def test_cross_entropy_ignore_index_averages_over_the_rest():
    logits, targets = leaf((4, 3)), np.array([0, -100, 2, -100])
    loss = F.cross_entropy(logits, targets)
    np.testing.assert_allclose(loss.item(), reference_cross_entropy(logits.data, targets).mean(), rtol=1e-14)
    loss.backward()
    assert not logits.grad[[1, 3]].any()
    assert mg.gradcheck(lambda t: F.cross_entropy(t, targets), logits)


def test_cross_entropy_is_stable_for_huge_logits():
    logits = mg.tensor([[1000.0, -1000.0], [-1000.0, 1000.0]], requires_grad=True, dtype=np.float64)
    loss = F.cross_entropy(logits, [0, 0])
    assert loss.item() == pytest.approx(1000.0)
    loss.backward()
    assert np.isfinite(logits.grad).all()


def test_mse_and_bce_with_logits():
    x, y = leaf((3, 4)), np.random.default_rng(1).random((3, 4))
    np.testing.assert_allclose(F.mse_loss(x, y).item(), ((x.data - y) ** 2).mean(), rtol=1e-14)
    assert mg.gradcheck(lambda t: F.mse_loss(t, y, reduction="sum"), x)
    p = 1 / (1 + np.exp(-x.data))
    expected = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean()
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, y).item(), expected, rtol=1e-13)
    assert mg.gradcheck(lambda t: F.binary_cross_entropy_with_logits(t, y), x)


def test_bce_with_logits_is_stable_and_exact_at_zero():
    x = mg.tensor([-1000.0, 0.0, 1000.0], requires_grad=True, dtype=np.float64)
    loss = F.binary_cross_entropy_with_logits(x, np.array([1.0, 1.0, 0.0]), reduction="none")
    np.testing.assert_allclose(loss.data, [1000.0, np.log(2), 1000.0])
    loss.sum().backward()
    np.testing.assert_allclose(x.grad, [-1.0, -0.5, 1.0])  # sigmoid(x) - y


def test_losses_match_torch():
    torch = pytest.importorskip("torch")
    logits, targets = leaf((6, 5), 2, scale=3), np.array([4, 0, -100, 1, 1, 3])
    ours = F.cross_entropy(logits, targets)
    ours.backward()
    t = torch.tensor(logits.data, requires_grad=True)
    theirs = torch.nn.functional.cross_entropy(t, torch.tensor(targets))
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-14)
    np.testing.assert_allclose(logits.grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)
    x, y = leaf((4, 3), 3, scale=5), np.random.default_rng(4).random((4, 3))
    tx = torch.tensor(x.data)
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, y).item(),
                               torch.nn.functional.binary_cross_entropy_with_logits(tx, torch.tensor(y)).item(),
                               rtol=1e-13)
    np.testing.assert_allclose(F.mse_loss(x, y).item(), torch.nn.functional.mse_loss(tx, torch.tensor(y)).item(),
                               rtol=1e-14)


def test_softmax_functions_match_methods():
    x = leaf((2, 3))
    np.testing.assert_array_equal(F.softmax(x, 0).data, x.softmax(0).data)
    np.testing.assert_array_equal(F.log_softmax(x).data, x.log_softmax(-1).data)


def test_loss_errors():
    logits = leaf((3, 4))
    with pytest.raises(ValueError, match=re.escape("cross_entropy: logits must be (N, C), got shape (4,)")):
        F.cross_entropy(logits[0], [1])
    with pytest.raises(TypeError, match="targets must be integer class indices, got dtype float64"):
        F.cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=re.escape("targets of shape (2,) do not match logits of shape (3, 4)")):
        F.cross_entropy(logits, [0, 1])
    with pytest.raises(ValueError, match=re.escape("targets must lie in [0, 4), got values from 0 to 7")):
        F.cross_entropy(logits, [0, 7, 1])
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(logits, [0, 1, 2], reduction="avg")
    with pytest.raises(ValueError, match=re.escape("mse_loss: input shape (3, 4) and target shape (4,) differ")):
        F.mse_loss(logits, np.ones(4))
