"""Loss modules against torch.nn's: constructor arguments, values, gradients, repr and errors."""
import numpy as np
import pytest

import micrograd_seq as mg

RNG = np.random.default_rng(0)
LOGITS = RNG.standard_normal((6, 4)) * 2
CLASSES = np.array([0, 3, -100, 1, 2, 3])
PROBS = RNG.random((6, 4))
WEIGHT = RNG.random(4) + 0.5

CONFIGS = [  # (module, kwargs, input, target); array kwargs become tensors on torch's side
    ("CrossEntropyLoss", {}, LOGITS, CLASSES),
    ("CrossEntropyLoss", {"weight": WEIGHT, "label_smoothing": 0.1}, LOGITS, CLASSES),
    ("CrossEntropyLoss", {"reduction": "sum", "ignore_index": 3}, LOGITS, np.abs(CLASSES) % 4),
    ("CrossEntropyLoss", {"reduction": "none"}, LOGITS, PROBS),
    ("NLLLoss", {}, LOGITS, CLASSES),
    ("NLLLoss", {"weight": WEIGHT, "reduction": "none"}, LOGITS, CLASSES),
    ("MSELoss", {}, LOGITS, PROBS),
    ("MSELoss", {"reduction": "sum"}, LOGITS, PROBS),
    ("MSELoss", {"reduction": "none"}, LOGITS, PROBS),
    ("CrossEntropyLoss", {"reduction": "none", "label_smoothing": 0.1}, LOGITS.reshape(3, 4, 2),
     CLASSES.reshape(3, 2)),
    ("NLLLoss", {"reduction": "none", "ignore_index": 3}, LOGITS.reshape(3, 4, 2), np.abs(CLASSES).reshape(3, 2) % 4),
    ("BCEWithLogitsLoss", {}, LOGITS, PROBS),
    ("BCEWithLogitsLoss", {"weight": WEIGHT, "pos_weight": WEIGHT[::-1].copy(), "reduction": "none"}, LOGITS, PROBS),
]


@pytest.mark.parametrize("name, kwargs, x, target", CONFIGS, ids=[f"{c[0]}-{sorted(c[1])}" for c in CONFIGS])
def test_loss_modules_match_torch(name, kwargs, x, target):
    torch = pytest.importorskip("torch")
    ours = getattr(mg.nn, name)(**kwargs)
    theirs = getattr(torch.nn, name)(**{k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                                        for k, v in kwargs.items()})
    assert repr(ours) == repr(theirs)
    xo, xt = mg.tensor(x, requires_grad=True, dtype=np.float64), torch.tensor(x, requires_grad=True)
    lo, lt = ours(xo, target), theirs(xt, torch.tensor(target))
    np.testing.assert_allclose(lo.data, lt.detach().numpy(), rtol=1e-12)
    lo.sum().backward()
    lt.sum().backward()
    np.testing.assert_allclose(xo.grad, xt.grad.numpy(), rtol=1e-11, atol=1e-15)


def test_loss_modules_hold_their_settings_and_have_no_parameters():
    loss = mg.nn.CrossEntropyLoss(ignore_index=0, reduction="sum", label_smoothing=0.2)
    assert (loss.ignore_index, loss.reduction, loss.label_smoothing, loss.weight) == (0, "sum", 0.2, None)
    assert list(loss.parameters()) == [] and loss.state_dict() == {}


def test_legacy_reduction_arguments_as_torch():
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning):
        theirs = torch.nn.MSELoss(size_average=False)
    with pytest.warns(UserWarning, match="MSELoss: size_average and reduce are deprecated, use reduction='sum'"):
        ours = mg.nn.MSELoss(size_average=False)
    assert ours.reduction == theirs.reduction == "sum"
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert mg.nn.NLLLoss(reduce=False).reduction == "none"


def test_errors_name_the_module():
    for name in ("CrossEntropyLoss", "NLLLoss", "MSELoss", "BCEWithLogitsLoss"):
        with pytest.raises(ValueError, match=f"{name}: reduction must be one of .* got 'average'"):
            getattr(mg.nn, name)(reduction="average")
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must be in \\[0, 1\\], got 2.0"):
        mg.nn.CrossEntropyLoss(label_smoothing=2.0)(mg.tensor(LOGITS), CLASSES)
    with pytest.raises(ValueError, match="nll_loss: target must lie in \\[0, 4\\)"):
        mg.nn.NLLLoss()(mg.tensor(LOGITS), CLASSES + 10)
