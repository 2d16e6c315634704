"""Learning-rate schedulers against torch.optim.lr_scheduler: the same learning rate at every step,
state dicts, and errors that name the argument."""
import math

import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq.optim import lr_scheduler

EPOCHS = 40


def optimizers(lib, group_lrs=(0.1, 0.03)):
    """An SGD optimizer with two parameter groups of different learning rates, from ``lib``."""
    if lib is mg:
        params = [mg.nn.Parameter(np.ones(2)), mg.nn.Parameter(np.ones(3))]
    else:
        params = [lib.ones(2, requires_grad=True), lib.ones(3, requires_grad=True)]
    return lib.optim.SGD([{"params": [params[0]], "lr": group_lrs[0]}, {"params": [params[1]], "lr": group_lrs[1]}],
                         lr=group_lrs[0], momentum=0.9)


def half(epoch):
    return 0.5 ** (epoch // 7)


class Warmup:
    """A callable object: LambdaLR saves its attributes in state_dict."""

    def __init__(self, steps):
        self.steps = steps

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.steps)


SCHEDULES = [
    ("StepLR", {"step_size": 5}),
    ("StepLR", {"step_size": 3, "gamma": 0.7}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("CosineAnnealingLR", {"T_max": 10}),
    ("CosineAnnealingLR", {"T_max": 7, "eta_min": 0.001}),
    ("LambdaLR", {"lr_lambda": half}),
    ("LambdaLR", {"lr_lambda": [half, Warmup(5)]}),
]


def run(lib, name, kwargs, epochs=EPOCHS, manual=None):
    """The learning rates of both groups after construction and after every step."""
    opt = optimizers(lib)
    scheduler = getattr(lib.optim.lr_scheduler, name)(opt, **kwargs)
    rates = [scheduler.get_last_lr()]
    for epoch in range(epochs):
        opt.step()
        if epoch == manual:  # a learning rate set by hand: the recursive forms carry on from it
            opt.param_groups[0]["lr"] = 0.05
        scheduler.step()
        rates.append(scheduler.get_last_lr())
        assert rates[-1] == [g["lr"] for g in opt.param_groups]
    return rates, scheduler


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=[f"{n}-{sorted(k)}" for n, k in SCHEDULES])
@pytest.mark.parametrize("manual", [None, 12], ids=["", "lr-set-by-hand"])
def test_learning_rate_equals_torchs_at_every_step(name, kwargs, manual):
    torch = pytest.importorskip("torch")
    ours, _ = run(mg, name, kwargs, manual=manual)
    theirs, _ = run(torch, name, kwargs, manual=manual)
    assert ours == theirs  # exactly: the same recursive formulas, in the same order


@pytest.mark.parametrize("kwargs", [{}, {"mode": "max", "factor": 0.5, "patience": 2}, {"threshold_mode": "abs",
                                    "threshold": 0.05, "cooldown": 3, "patience": 1, "min_lr": [0.01, 0.02]},
                                    {"patience": 0, "min_lr": 0.004, "eps": 1e-3}])
def test_reduce_lr_on_plateau_equals_torchs_at_every_step(kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    metrics = np.concatenate([np.linspace(1.0, 0.5, 10), 0.5 + 0.02 * rng.standard_normal(40)])
    results = []
    for lib in (mg, torch):
        opt = optimizers(lib)
        scheduler = lib.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
        rates = []
        for m in metrics:
            opt.step()
            scheduler.step(m if lib is mg else torch.tensor(m))
            rates.append(scheduler.get_last_lr())
        results.append((rates, scheduler.num_bad_epochs, scheduler.best, scheduler.cooldown_counter))
    assert results[0][0] == results[1][0]
    assert results[0][1:] == results[1][1:]
    assert results[0][0][-1] != results[0][0][0]  # it did reduce


@pytest.mark.parametrize("name, kwargs", SCHEDULES[:5] + [("LambdaLR", {"lr_lambda": [half, Warmup(5)]})],
                         ids=lambda v: v if isinstance(v, str) else None)
def test_state_dict_resumes_the_schedule_and_loads_torchs(name, kwargs):
    torch = pytest.importorskip("torch")
    reference, _ = run(mg, name, kwargs, epochs=20)
    _, ours = run(mg, name, kwargs, epochs=8)
    _, theirs = run(torch, name, kwargs, epochs=8)
    for state in (ours.state_dict(), theirs.state_dict()):
        opt = optimizers(mg)
        fresh = getattr(lr_scheduler, name)(opt, **kwargs)
        fresh.load_state_dict(state)
        for group, lr in zip(opt.param_groups, state["_last_lr"], strict=True):
            group["lr"] = lr
        rates = []
        for _ in range(12):
            opt.step()
            fresh.step()
            rates.append(fresh.get_last_lr())
        assert rates == reference[9:]
    assert set(ours.state_dict()) <= set(theirs.state_dict()) | {"lr_lambdas"}


def test_lambda_lr_saves_callable_objects_but_not_functions():
    opt = optimizers(mg)
    scheduler = lr_scheduler.LambdaLR(opt, [half, Warmup(5)])
    assert scheduler.state_dict()["lr_lambdas"] == [None, {"steps": 5}]
    other = lr_scheduler.LambdaLR(optimizers(mg), [half, Warmup(9)])
    other.load_state_dict(scheduler.state_dict())
    assert other.lr_lambdas[1].steps == 5


def test_resuming_at_a_later_epoch_as_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(KeyError, match="StepLR: param_groups\\[0\\] has no 'initial_lr'"):
        lr_scheduler.StepLR(optimizers(mg), 3, last_epoch=4)
    results = []
    for lib in (mg, torch):
        opt = optimizers(lib)
        lib.optim.lr_scheduler.StepLR(opt, 3)  # records each group's initial_lr
        resumed = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, last_epoch=4)
        rates = [resumed.get_last_lr()]
        for _ in range(8):
            opt.step()
            resumed.step()
            rates.append(resumed.get_last_lr())
        results.append(rates)
    assert results[0] == results[1]
    # from the current rate, as torch: (1 + cos(6 pi / 10)) / (1 + cos(5 pi / 10)) * 0.1
    assert results[0][1][0] == pytest.approx(0.1 * (1 + math.cos(math.pi * 6 / 10)), rel=1e-15)


@pytest.mark.parametrize("make, error, message", [
    (lambda o: lr_scheduler.StepLR(o, "5"), TypeError, "StepLR: step_size must be an integer, got str '5'"),
    (lambda o: lr_scheduler.StepLR(o, 0), ValueError, "StepLR: step_size must be an integer >= 1, got 0"),
    (lambda o: lr_scheduler.StepLR(o, 5, gamma="0.1"), TypeError, "StepLR: gamma must be a real number"),
    (lambda o: lr_scheduler.ExponentialLR(o, None), TypeError, "ExponentialLR: gamma must be a real number"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, 10.5), TypeError, "CosineAnnealingLR: T_max must be an integer"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, 10, eta_min="0"), TypeError, "CosineAnnealingLR: eta_min must be"),
    (lambda o: lr_scheduler.LambdaLR(o, 0.5), TypeError, "LambdaLR: lr_lambda must be a function of the epoch"),
    (lambda o: lr_scheduler.LambdaLR(o, [half]), ValueError, "LambdaLR: expected 2 lr_lambdas"),
    (lambda o: lr_scheduler.LambdaLR(o, lambda e: "fast"), TypeError, "LambdaLR: lr_lambda\\(0\\) must be a real"),
    (lambda o: lr_scheduler.StepLR([1, 2], 5), TypeError, "StepLR: optimizer must be an mg.optim optimizer"),
    (lambda o: lr_scheduler.StepLR(o, 5, last_epoch="0"), TypeError, "StepLR: last_epoch must be an integer"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, "ReduceLROnPlateau: factor must be in"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), ValueError, "ReduceLROnPlateau: mode must be 'min'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold_mode must be 'rel'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=1.5), TypeError, "ReduceLROnPlateau: patience must be"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lr values"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o).step("low"), TypeError,
     "ReduceLROnPlateau.step: metrics must be a number"),
])
def test_argument_errors_name_the_scheduler_and_the_argument(make, error, message):
    opt = optimizers(mg)
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(error, match=message):
        make(opt)
    if "LambdaLR: lr_lambda(" not in message:
        assert [{k: v for k, v in g.items() if k != "initial_lr"} for g in opt.param_groups] == \
            [{k: v for k, v in g.items() if k != "initial_lr"} for g in before]


def test_a_group_added_after_the_scheduler_is_a_clear_error():
    opt = optimizers(mg)
    scheduler = lr_scheduler.LambdaLR(opt, half)
    opt.add_param_group({"params": [mg.nn.Parameter(np.ones(1))]})
    with pytest.raises(ValueError, match="LambdaLR.step: the optimizer now has 3 parameter group"):
        scheduler.step()
