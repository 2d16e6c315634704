"""Losses and softmax in mg.functional: values, gradients, torch parity and clear errors."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

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
    with pytest.raises(ValueError, match=re.escape("cross_entropy: input must have a class dimension")):
        F.cross_entropy(logits[0, 0], 1)
    with pytest.raises(ValueError, match=re.escape("class-probability target of shape (3,) does not match input "
                                                   "of shape (3, 4)")):
        F.cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="target must hold integer class indices"):
        F.nll_loss(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=re.escape("target of shape (2,) does not match input of batch shape (3,)")):
        F.cross_entropy(logits, [0, 1])
    with pytest.raises(ValueError, match=re.escape("target must lie in [0, 4) (or equal ignore_index=-100), got "
                                                   "values from 0 to 7")):
        F.cross_entropy(logits, [0, 7, 1])
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(logits, [0, 1, 2], reduction="avg")
    with pytest.raises(ValueError, match=re.escape("mse_loss: input shape (3, 4) and target shape (4,) differ")):
        F.mse_loss(logits, np.ones(4))


# ---- torch parity: nll_loss and cross_entropy over shapes, weights, ignore_index, smoothing ----------

CASES = [  # (input shape, class-index target shape)
    ((5, 4), (5,)), ((4,), ()), ((3, 4, 2), (3, 2)), ((2, 3, 2, 2), (2, 2, 2)), ((0, 3), (0,))]


def class_targets(shape, classes, seed, ignore=True):
    t = np.random.default_rng(seed).integers(0, classes, size=shape)
    if ignore and t.size > 2:
        t.reshape(-1)[1] = -100
    return t


def run_both(fn_name, x, target, **kwargs):
    """Our loss and torch's on the same float64 input: (our value, our grad, torch value, torch grad)."""
    torch = pytest.importorskip("torch")
    ours_x = mg.tensor(x, requires_grad=True, dtype=np.float64)
    theirs_x = torch.tensor(x, requires_grad=True)
    ours = getattr(F, fn_name)(ours_x, target, **kwargs)
    their_kwargs = {k: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kwargs.items()}
    theirs = getattr(torch.nn.functional, fn_name)(theirs_x, torch.tensor(target), **their_kwargs)
    ours.sum().backward()
    theirs.sum().backward()
    return ours, ours_x.grad, theirs, theirs_x.grad


def assert_same(ours, our_grad, theirs, their_grad):
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-15)
    expected = np.zeros_like(ours.data) if their_grad is None else their_grad.numpy()
    if our_grad is not None or their_grad is not None:
        np.testing.assert_allclose(our_grad, expected, rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("fn_name", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("shapes", CASES, ids=[str(c[0]) for c in CASES])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
def test_class_index_losses_match_torch(fn_name, shapes, reduction, weighted):
    x_shape, t_shape = shapes
    classes = x_shape[0] if len(x_shape) == 1 else x_shape[1]
    x = np.random.default_rng(1).standard_normal(x_shape) * 2
    target = class_targets(t_shape, classes, 2)
    kwargs = {"reduction": reduction}
    if weighted:
        kwargs["weight"] = np.random.default_rng(3).random(classes) + 0.5
    assert_same(*run_both(fn_name, x, target, **kwargs))


@pytest.mark.parametrize("smoothing", [0.1, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
def test_label_smoothing_matches_torch(smoothing, reduction, weighted):
    x = np.random.default_rng(4).standard_normal((6, 5, 2))
    target = class_targets((6, 2), 5, 5)
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}
    if weighted:
        kwargs["weight"] = np.random.default_rng(6).random(5) + 0.5
    assert_same(*run_both("cross_entropy", x, target, **kwargs))


@pytest.mark.parametrize("x_shape", [(4, 3), (3,), (2, 3, 4)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_probability_targets_match_torch(x_shape, reduction):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(x_shape)
    probs = rng.random(x_shape)
    probs /= probs.sum(axis=0 if len(x_shape) == 1 else 1, keepdims=True)
    weight = rng.random(x_shape[0] if len(x_shape) == 1 else x_shape[1]) + 0.5
    for kwargs in ({}, {"label_smoothing": 0.2}, {"weight": weight}):
        assert_same(*run_both("cross_entropy", x, probs, reduction=reduction, **kwargs))


def test_every_target_ignored_gives_nan_and_zero_gradients_as_torch():
    x = np.random.default_rng(8).standard_normal((3, 4))
    for fn_name in ("nll_loss", "cross_entropy"):
        ours, grad, theirs, their_grad = run_both(fn_name, x, np.full(3, -100))
        assert np.isnan(ours.item()) and np.isnan(theirs.item())
        np.testing.assert_array_equal(grad, their_grad.numpy())


def test_ignore_index_is_any_integer():
    x = np.random.default_rng(9).standard_normal((4, 3))
    assert_same(*run_both("nll_loss", x, np.array([0, 3, 2, 3]), ignore_index=3))


def test_legacy_size_average_and_reduce_map_to_reduction_with_a_warning():
    x, t = leaf((4, 3)), [0, 1, 2, 1]
    for legacy, reduction in (({"reduce": False}, "none"), ({"size_average": False}, "sum"),
                              ({"size_average": True, "reduce": True}, "mean")):
        with pytest.warns(UserWarning, match=f"use reduction='{reduction}'"):
            legacy_loss = F.cross_entropy(x, t, **legacy)
        np.testing.assert_array_equal(legacy_loss.data, F.cross_entropy(x, t, reduction=reduction).data)


def test_weighted_mse_and_bce_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    x, y, w = rng.standard_normal((4, 3)) * 3, rng.random((4, 3)), rng.random((4, 3))
    pos = rng.random(3) + 0.5
    for reduction in ("mean", "sum", "none"):
        ours = F.mse_loss(mg.tensor(x, dtype=np.float64), y, reduction=reduction, weight=w)
        theirs = torch.nn.functional.mse_loss(torch.tensor(x), torch.tensor(y), reduction=reduction,
                                              weight=torch.tensor(w))
        np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-13)
        for kwargs in ({"weight": w}, {"pos_weight": pos}, {"weight": w[0], "pos_weight": pos}):
            xt = mg.tensor(x, requires_grad=True, dtype=np.float64)
            tt = torch.tensor(x, requires_grad=True)
            ours = F.binary_cross_entropy_with_logits(xt, y, reduction=reduction, **kwargs)
            theirs = torch.nn.functional.binary_cross_entropy_with_logits(
                tt, torch.tensor(y), reduction=reduction, **{k: torch.tensor(v) for k, v in kwargs.items()})
            ours.sum().backward()
            theirs.sum().backward()
            np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-12)
            np.testing.assert_allclose(xt.grad, tt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fn_name, shape, target, kwargs, error", [
    ("nll_loss", (3, 4), [0, 5, 1], {}, ValueError),                  # target out of range
    ("nll_loss", (3, 4), [0, 1], {}, ValueError),                     # batch sizes differ
    ("nll_loss", (3, 4), [0.0, 1.0, 2.0], {}, TypeError),             # float class indices
    ("nll_loss", (), 0, {}, ValueError),                              # no class dimension
    ("cross_entropy", (3, 4), [0, 1, 2], {"label_smoothing": 1.5}, ValueError),
    ("cross_entropy", (3, 4), [0, 1, 2], {"reduction": "avg"}, ValueError),
    ("cross_entropy", (3, 4), [0, 1, 2], {"weight": np.ones(3)}, ValueError),
    ("binary_cross_entropy_with_logits", (3, 4), np.ones(4), {}, ValueError),
])
def test_loss_errors_are_torchs_refusals(fn_name, shape, target, kwargs, error):
    """Each bad call is refused by torch too; ours raises a typed error that names the function."""
    torch = pytest.importorskip("torch")
    x = np.ones(shape)
    their_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    with pytest.raises((ValueError, TypeError, RuntimeError, IndexError)):  # torch's types vary
        getattr(torch.nn.functional, fn_name)(torch.tensor(x), torch.tensor(target), **their_kwargs)
    with pytest.raises(error, match=fn_name):
        getattr(F, fn_name)(mg.tensor(x, dtype=np.float64), target, **kwargs)


@pytest.mark.parametrize("fn, target", [(F.cross_entropy, [0, 1]), (F.nll_loss, [0, 1]),
                                        (F.mse_loss, np.zeros((2, 3))),
                                        (F.binary_cross_entropy_with_logits, np.zeros((2, 3)))])
def test_losses_refuse_numpy_input_with_a_type_error(fn, target):
    with pytest.raises(TypeError, match=rf"{fn.__name__}: input must be a Tensor, got ndarray"):
        fn(np.zeros((2, 3)), target)


# ---- embedding ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("padding_idx", [None, 2, -3])
@pytest.mark.parametrize("idx_shape", [(), (4,), (2, 3)])
def test_embedding_matches_torch(padding_idx, idx_shape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    table, idx = rng.standard_normal((5, 3)), rng.integers(0, 5, size=idx_shape)
    idx.reshape(-1)[:1] = 2  # the padding row appears
    w_ours, w_theirs = mg.tensor(table, requires_grad=True, dtype=np.float64), torch.tensor(table, requires_grad=True)
    ours = F.embedding(mg.tensor(idx), w_ours, padding_idx=padding_idx)
    theirs = torch.nn.functional.embedding(torch.from_numpy(idx), w_theirs, padding_idx=padding_idx)
    assert_same(ours, None, theirs, None)
    upstream = rng.standard_normal(ours.shape)
    (ours * upstream).sum().backward()
    (theirs * torch.from_numpy(upstream)).sum().backward()
    np.testing.assert_allclose(w_ours.grad, w_theirs.grad.numpy(), rtol=1e-13)
    if padding_idx is not None:
        assert (w_ours.grad[2] == 0).all()


def test_embedding_forward_mode_treats_the_padding_row_as_a_constant():
    """jvp agrees with backward (the padding row contributes nothing); torch's forward mode differs."""
    idx, table = np.array([0, 2, 1]), leaf((3, 2))

    def lookup(w):
        return F.embedding(idx, w, padding_idx=2)
    _, tangent = mg.func.jvp(lookup, (table,), (np.ones((3, 2)),))
    np.testing.assert_array_equal(tangent.data, [[1, 1], [0, 0], [1, 1]])
    np.testing.assert_array_equal(mg.func.jacfwd(lookup)(table).data, mg.func.jacrev(lookup)(table).data)


def test_embedding_errors():
    with pytest.raises(ValueError, match=re.escape("embedding: padding_idx must lie in [-3, 3) (within "
                                                   "num_embeddings), got 3")):
        F.embedding([0], leaf((3, 2)), padding_idx=3)
    with pytest.raises(ValueError, match=re.escape("embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                                                   "got shape (3,)")):
        F.embedding([0], leaf((3,)))
    with pytest.raises(TypeError, match=r"embedding: weight must be a Tensor, got ndarray"):
        F.embedding([0], np.zeros((3, 2)))
    with pytest.raises(ValueError, match=re.escape("embedding: indices must lie in [0, 3), got values from 0 to 3")):
        F.embedding([0, 3], leaf((3, 2)))
    with pytest.raises(TypeError, match="embedding: indices must be integers, got dtype float64"):
        F.embedding([0.0], leaf((3, 2)))


# ---- every loss and reduction against torch, over random shapes -------------------------------------

CLASS_LOSSES = ("nll_loss", "cross_entropy")


@st.composite
def loss_cases(draw):
    """A loss, its float64 input, target and keyword arguments: class losses over (C,) and (N, C, d1, ...)
    with weights, ignore_index, label smoothing and class-probability targets; elementwise losses over any
    shape (empty ones included) with their weights."""
    fn_name = draw(st.sampled_from(CLASS_LOSSES + ("mse_loss", "binary_cross_entropy_with_logits")))
    kwargs = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if fn_name in CLASS_LOSSES:
        classes = draw(st.integers(1, 4))
        if draw(st.booleans()):
            shape, batch = (classes,), ()
        else:
            batch = (draw(st.integers(0, 3)),) + draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3))
            shape = batch[:1] + (classes,) + batch[1:]
        if draw(st.booleans()):
            kwargs["weight"] = rng.random(classes) + 0.5
        if fn_name == "cross_entropy" and draw(st.booleans()):
            kwargs["label_smoothing"] = draw(st.sampled_from([0.1, 1.0]))
        if fn_name == "cross_entropy" and draw(st.booleans()):
            target = rng.random(shape)
            target /= target.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
        else:
            kwargs["ignore_index"] = ignore = draw(st.sampled_from([-100, 0, classes - 1]))
            target = rng.integers(0, classes, size=batch)
            target[rng.random(batch) < 0.3] = ignore
    else:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
        target = rng.random(shape)
        if draw(st.booleans()):
            kwargs["weight"] = np.asarray(rng.random(shape if fn_name == "mse_loss" else _tail(draw, shape)) + 0.5)
        if fn_name != "mse_loss" and draw(st.booleans()):
            kwargs["pos_weight"] = np.asarray(rng.random(shape[-1:]) + 0.5)
    return fn_name, np.asarray(rng.standard_normal(shape) * 2), np.asarray(target), kwargs


def _tail(draw, shape):
    """A shape that broadcasts to ``shape``: trailing dimensions, some set to 1."""
    tail = shape[len(shape) - draw(st.integers(0, len(shape))):]
    return tuple(1 if draw(st.booleans()) else n for n in tail)


@settings(max_examples=300, deadline=None)
@given(loss_cases())
def test_losses_match_torch_for_every_reduction(case):
    """Values (reduction="none" in torch's shape, zeros where a target is ignored) and gradients, float64."""
    fn_name, x, target, kwargs = case
    with np.errstate(divide="ignore", invalid="ignore"):  # a weighted mean over nothing is 0/0 = nan, as torch's
        ours, our_grad, theirs, their_grad = run_both(fn_name, x, target, **kwargs)
    assert_same(ours, our_grad, theirs, their_grad)
    if kwargs["reduction"] == "none" and "ignore_index" in kwargs:
        assert not ours.data[target == kwargs["ignore_index"]].any()



def test_reduction_none_lets_a_user_mask_by_hand():
    """Per-position losses of (N, C, T) logits, masked and averaged by hand, equal ignore_index's."""
    target = np.random.default_rng(13).integers(0, 3, size=(4, 5))
    mask = np.arange(5) < np.array([5, 2, 3, 1])[:, None]  # each sequence's length
    by_hand, ignored = leaf((4, 3, 5), 12), leaf((4, 3, 5), 12)
    per_step = F.cross_entropy(by_hand, target, reduction="none")
    assert per_step.shape == (4, 5)
    masked = (per_step * mask).sum() / mask.sum()
    masked.backward()
    reference = F.cross_entropy(ignored, np.where(mask, target, -100))
    reference.backward()
    np.testing.assert_allclose(masked.item(), reference.item(), rtol=1e-14)
    np.testing.assert_allclose(by_hand.grad, ignored.grad, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("fn, target", [(F.cross_entropy, [0, 1]), (F.nll_loss, [0, 1]),
                                        (F.mse_loss, np.zeros((2, 3))),
                                        (F.binary_cross_entropy_with_logits, np.zeros((2, 3)))])
@pytest.mark.parametrize("reduction", ["average", "None", None])
def test_every_loss_refuses_an_unknown_reduction_naming_it(fn, target, reduction):
    with pytest.raises(ValueError, match=rf"{fn.__name__}: reduction must be one of \('mean', 'sum', 'none'\), "
                                         rf"got {re.escape(repr(reduction))}"):
        fn(leaf((2, 3)), target, reduction=reduction)
