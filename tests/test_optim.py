"""SGD, Adam and AdamW against torch.optim: 20 training steps of an LSTM + Linear, parameter groups, closures,
state dicts in torch's layout, all-or-nothing steps, and errors that name the argument."""
from types import SimpleNamespace

import numpy as np
import pytest

import micrograd_seq as mg

STEPS, SEQ, BATCH, FEATURES, HIDDEN, CLASSES = 20, 6, 4, 3, 5, 4

CONFIGS = [
    ("SGD", {"lr": 0.1}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.9}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, None),
    ("SGD", {"lr": 0.1, "weight_decay": 0.05}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.8, "weight_decay": 0.05, "nesterov": True}, None),
    ("Adam", {"lr": 0.02}, None),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1}, None),
    ("AdamW", {"lr": 0.02}, None),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.3}, None),
    ("Adam", {"lr": 0.02, "amsgrad": True, "weight_decay": 0.1}, None),
    ("Adam", {"lr": 0.02, "weight_decay": 0.1, "decoupled_weight_decay": True}, None),
    ("AdamW", {"lr": 0.02, "amsgrad": True}, None),
    ("SGD", {"lr": 0.1, "momentum": 0.9, "maximize": True}, None),
    ("Adam", {"lr": 0.02, "maximize": True}, None),
    ("SGD", {"lr": 0.5, "momentum": 0.9}, (0.5, 2.0)),  # clip_grad_norm_(params, 0.5) every step
    ("Adam", {"lr": 0.02}, (0.1, 1.0)),
    ("AdamW", {"lr": 0.02, "weight_decay": 0.1}, (0.05, float("inf"))),
]


@pytest.fixture(autouse=True, scope="module")
def _torch_on_one_thread():
    """torch's thread pool on tiny tensors, on a busy machine, makes optimizer steps seconds slow."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def libraries():
    torch = pytest.importorskip("torch")
    ours = SimpleNamespace(nn=mg.nn, optim=mg.optim, cross_entropy=mg.functional.cross_entropy,
                           clip=mg.nn.utils.clip_grad_norm_, array=np.asarray, float64=lambda m: m,
                           numpy=lambda p: np.array(p.data))
    theirs = SimpleNamespace(nn=torch.nn, optim=torch.optim, cross_entropy=torch.nn.functional.cross_entropy,
                             clip=torch.nn.utils.clip_grad_norm_, array=torch.from_numpy,
                             float64=lambda m: m.double(), numpy=lambda p: p.detach().numpy().copy())
    return ours, theirs


def problem():
    """Inputs, class targets and an LSTM + Linear's initial weights (as {"lstm.name": array, "head.name": ...})."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SEQ, BATCH, FEATURES))
    targets = rng.integers(0, CLASSES, size=SEQ * BATCH)
    lstm, head = mg.nn.LSTM(FEATURES, HIDDEN), mg.nn.Linear(HIDDEN, CLASSES)
    weights = {f"lstm.{k}": v for k, v in lstm.state_dict().items()}
    weights.update({f"head.{k}": v for k, v in head.state_dict().items()})
    return weights, x, targets


def train(lib, weights: dict, optimizer: str, kwargs: dict, clip, x, targets):
    """STEPS steps of ``optimizer`` on cross-entropy; the losses and the final parameters."""
    lstm, head = lib.float64(lib.nn.LSTM(FEATURES, HIDDEN)), lib.float64(lib.nn.Linear(HIDDEN, CLASSES))
    for prefix, module in (("lstm.", lstm), ("head.", head)):
        module.load_state_dict({k[len(prefix):]: lib.array(v) for k, v in weights.items() if k.startswith(prefix)})
    params = list(lstm.parameters()) + list(head.parameters())
    opt = getattr(lib.optim, optimizer)(params, **kwargs)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        output, _ = lstm(lib.array(x))
        loss = lib.cross_entropy(head(output).reshape(-1, CLASSES), lib.array(targets))
        loss.backward()
        if clip is not None:
            lib.clip(params, *clip)
        opt.step()
        losses.append(loss.item())
    final = {f"lstm.{n}": lib.numpy(p) for n, p in lstm.named_parameters()}
    final.update({f"head.{n}": lib.numpy(p) for n, p in head.named_parameters()})
    return losses, final


@pytest.mark.parametrize("optimizer, kwargs, clip", CONFIGS,
                         ids=[f"{o}-{k}" + (f"-clip{c}" if c else "") for o, k, c in CONFIGS])
def test_training_matches_torch_step_for_step(f64, optimizer, kwargs, clip):
    ours, theirs = libraries()
    weights, x, targets = problem()
    our_losses, our_params = train(ours, weights, optimizer, kwargs, clip, x, targets)
    torch_losses, torch_params = train(theirs, weights, optimizer, kwargs, clip, x, targets)
    np.testing.assert_allclose(our_losses, torch_losses, rtol=1e-8)
    assert (our_losses[-1] > our_losses[0]) if kwargs.get("maximize") else (our_losses[-1] < our_losses[0])
    assert list(our_params) == list(torch_params)
    for name, value in our_params.items():
        assert not np.array_equal(value, weights[name]), name
        np.testing.assert_allclose(value, torch_params[name], rtol=1e-8, atol=1e-12, err_msg=name)


def test_zero_grad_and_parameters_without_a_gradient():
    a, b = mg.nn.Parameter(np.ones(2)), mg.nn.Parameter(np.ones(2))
    opt = mg.optim.Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert (a.data < 1).all() and (b.data == 1).all()  # b had no gradient: untouched, as in torch
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_optimizers_take_any_iterable_of_parameters():
    model = mg.nn.Linear(2, 2)
    opt = mg.optim.SGD((p for _, p in model.named_parameters()), lr=0.1)
    assert opt.param_groups[0]["params"] == list(model.parameters())
    assert mg.optim.SGD(model.parameters()).param_groups[0]["lr"] == 1e-3  # torch's default


OPTIMIZERS = [mg.optim.SGD, mg.optim.Adam, mg.optim.AdamW]


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_parameter_list_errors(cls):
    name = cls.__name__
    p = mg.nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match=rf"{name}: got an empty parameter list"):
        cls([], lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: params must be an iterable of tensors .* got a single tensor"):
        cls(p, lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: params must be an ordered collection"):
        cls({p}, lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: params must be an iterable .* got int"):
        cls(3, lr=0.1)
    with pytest.raises(ValueError, match=rf"{name}: parameter 0 is not a leaf tensor \(it was computed by 'mul'\)"):
        cls([p * 2], lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: parameter 0 is not a tensor \(got ndarray\)"):
        cls([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match=rf"{name}: parameter 0 has dtype int64"):
        cls([mg.tensor(np.ones(2, dtype=np.int64))], lr=0.1)
    with pytest.raises(ValueError, match=r"a parameter appears more than once"):
        cls([p, p], lr=0.1)
    with pytest.raises(ValueError, match=rf"{name}: lr must be >= 0, got -0.1"):
        cls([p], lr=-0.1)


def test_hyper_parameter_errors():
    p = [mg.nn.Parameter(np.ones(2))]
    with pytest.raises(ValueError, match=r"SGD: Nesterov momentum needs momentum > 0 and dampening = 0"):
        mg.optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"Nesterov momentum needs"):
        mg.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"SGD: momentum must be >= 0, got -0.9"):
        mg.optim.SGD(p, lr=0.1, momentum=-0.9)
    with pytest.raises(ValueError, match=r"SGD: weight_decay must be >= 0, got -1"):
        mg.optim.SGD(p, lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match=r"Adam: betas\[1\] must be in \[0, 1\), got 1.0"):
        mg.optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"AdamW: eps must be >= 0, got -1e-08"):
        mg.optim.AdamW(p, eps=-1e-8)
    with pytest.raises(ValueError, match=r"AdamW: weight_decay must be >= 0, got -0.01"):
        mg.optim.AdamW(p, weight_decay=-0.01)


# ---- issue 10, section 7: argument errors name the function and the argument ---------------------------

@pytest.mark.parametrize("cls, kwargs, error, message", [
    (mg.optim.SGD, {"lr": "0.1"}, TypeError, "SGD: lr must be a real number, got str '0.1'"),
    (mg.optim.SGD, {"lr": None}, TypeError, "SGD: lr must be a real number, got NoneType None"),
    (mg.optim.SGD, {"lr": float("nan")}, ValueError, "SGD: lr must be >= 0, got nan"),
    (mg.optim.SGD, {"momentum": "0.9"}, TypeError, "SGD: momentum must be a real number"),
    (mg.optim.SGD, {"dampening": [0.1]}, TypeError, "SGD: dampening must be a real number"),
    (mg.optim.SGD, {"nesterov": "yes"}, TypeError, "SGD: nesterov must be True or False"),
    (mg.optim.Adam, {"lr": "1e-3"}, TypeError, "Adam: lr must be a real number, got str '1e-3'"),
    (mg.optim.Adam, {"betas": 0.9}, TypeError, "Adam: betas must be a pair of numbers \\(beta1, beta2\\), got float"),
    (mg.optim.Adam, {"betas": (0.9,)}, TypeError, "Adam: betas must be a pair of numbers"),
    (mg.optim.Adam, {"betas": ("0.9", 0.99)}, TypeError, "Adam: betas\\[0\\] must be a real number"),
    (mg.optim.Adam, {"eps": "tiny"}, TypeError, "Adam: eps must be a real number"),
    (mg.optim.Adam, {"amsgrad": 1}, TypeError, "Adam: amsgrad must be True or False"),
    (mg.optim.AdamW, {"weight_decay": "0.01"}, TypeError, "AdamW: weight_decay must be a real number"),
])
def test_argument_errors_name_the_function_and_the_argument(cls, kwargs, error, message):
    with pytest.raises(error, match=message):
        cls([mg.nn.Parameter(np.ones(2))], **kwargs)


def test_a_bad_option_set_on_a_group_is_caught_at_the_next_step():
    p = mg.nn.Parameter(np.ones(2))
    opt = mg.optim.Adam([p], lr=0.1)
    (p * p).sum().backward()
    opt.param_groups[0]["lr"] = "0.01"
    with pytest.raises(TypeError, match=r"Adam.step \(parameter group 0\): lr must be a real number"):
        opt.step()
    assert (p.data == 1).all() and opt.state == {}


# ---- issue 10, section 6: requires_grad=False parameters are accepted and skipped ----------------------

@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_parameters_that_do_not_require_grad_are_accepted_and_skipped(cls):
    frozen, trained = mg.tensor(np.ones(2)), mg.nn.Parameter(np.ones(2))
    opt = cls([frozen, trained], lr=0.1)
    (frozen * trained).sum().backward()
    opt.step()
    assert (frozen.data == 1).all() and (trained.data != 1).all()
    assert frozen not in opt.state and trained in opt.state or cls is mg.optim.SGD


# ---- closures ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer, kwargs", [("SGD", {"lr": 0.1, "momentum": 0.5}), ("Adam", {"lr": 0.1}),
                                               ("AdamW", {"lr": 0.1})])
def test_step_with_a_closure_returns_its_loss_and_matches_torch(f64, optimizer, kwargs):
    torch = pytest.importorskip("torch")
    start = np.random.default_rng(0).standard_normal(3)
    results = []
    for lib, wrap in ((mg, lambda a: mg.tensor(a, requires_grad=True)),
                      (torch, lambda a: torch.tensor(a, requires_grad=True))):
        w = wrap(start.copy())
        opt = getattr(lib.optim, optimizer)([w], **kwargs)

        def closure(w=w, opt=opt):
            opt.zero_grad()
            loss = ((w - 1.0) ** 2).sum()
            loss.backward()
            return loss
        losses = [opt.step(closure).item() for _ in range(5)]
        results.append((losses, np.array(w.detach().numpy() if lib is torch else w.data)))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-14)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-14)


def test_a_closure_runs_with_gradients_enabled_and_a_failing_one_changes_nothing():
    p = mg.nn.Parameter(np.ones(2))
    opt = mg.optim.SGD([p], lr=0.1)

    def closure():
        loss = (p * 3).sum()
        loss.backward()
        return loss
    with mg.no_grad():
        opt.step(closure)
    np.testing.assert_allclose(p.data, [0.7, 0.7])

    def failing():
        raise RuntimeError("data loader broke")
    with pytest.raises(RuntimeError, match="data loader broke"):
        opt.step(failing)
    np.testing.assert_allclose(p.data, [0.7, 0.7])


# ---- parameter groups -----------------------------------------------------------------------------------

def two_group_models(lib, weights):
    lstm, head = lib.float64(lib.nn.LSTM(FEATURES, HIDDEN)), lib.float64(lib.nn.Linear(HIDDEN, CLASSES))
    for prefix, module in (("lstm.", lstm), ("head.", head)):
        module.load_state_dict({k[len(prefix):]: lib.array(v) for k, v in weights.items() if k.startswith(prefix)})
    return lstm, head


def run_groups(lib, weights, optimizer, groups, added, x, targets, steps=8):
    """Train with two parameter groups; ``added`` joins as a third group (the head's bias) after 3 steps."""
    lstm, head = two_group_models(lib, weights)
    first = [{"params": lstm.parameters(), **groups[0]}, {"params": [head.weight], **groups[1]}]
    opt = getattr(lib.optim, optimizer)(first, lr=0.05)
    losses = []
    for step in range(steps):
        if step == 3:
            opt.add_param_group({"params": [head.bias], **added})
        opt.zero_grad()
        output, _ = lstm(lib.array(x))
        loss = lib.cross_entropy(head(output).reshape(-1, CLASSES), lib.array(targets))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    groups = [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]
    return losses, [lib.numpy(p) for p in [*lstm.parameters(), *head.parameters()]], groups, opt


GROUP_CONFIGS = [
    ("SGD", [{"momentum": 0.9}, {"lr": 0.2, "weight_decay": 0.01}], {"lr": 0.3, "nesterov": True, "momentum": 0.5}),
    ("Adam", [{"betas": (0.8, 0.9)}, {"lr": 0.01, "amsgrad": True}], {"weight_decay": 0.1}),
    ("AdamW", [{}, {"weight_decay": 0.5}], {"lr": 0.002}),
]


@pytest.mark.parametrize("optimizer, groups, added", GROUP_CONFIGS, ids=[c[0] for c in GROUP_CONFIGS])
def test_parameter_groups_and_add_param_group_match_torch(f64, optimizer, groups, added):
    ours, theirs = libraries()
    weights, x, targets = problem()
    our_losses, our_params, our_groups, _ = run_groups(ours, weights, optimizer, groups, added, x, targets)
    torch_losses, torch_params, torch_groups, _ = run_groups(theirs, weights, optimizer, groups, added, x, targets)
    np.testing.assert_allclose(our_losses, torch_losses, rtol=1e-10)
    for a, b in zip(our_params, torch_params, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    for ours_group, torch_group in zip(our_groups, torch_groups, strict=True):
        assert {k: v for k, v in torch_group.items() if k in ours_group} == ours_group


def test_parameter_group_errors():
    a, b = mg.nn.Parameter(np.ones(2)), mg.nn.Parameter(np.ones(2))
    opt = mg.optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="SGD.add_param_group: some parameters appear in more than one"):
        opt.add_param_group({"params": [a, b]})
    with pytest.raises(KeyError, match="SGD.add_param_group: a parameter group needs a 'params' entry"):
        opt.add_param_group({"lr": 0.1})
    with pytest.raises(TypeError, match="SGD.add_param_group: a parameter group must be a dict"):
        opt.add_param_group([b])
    with pytest.raises(TypeError, match="SGD.add_param_group: lr must be a real number"):
        opt.add_param_group({"params": [b], "lr": "fast"})
    with pytest.raises(ValueError, match="SGD.add_param_group: differentiable=True"):
        opt.add_param_group({"params": [b], "differentiable": True})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": b, "lr": 0.5, "note": "head"})  # a single tensor; extra keys are kept
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["note"] == "head"
    assert opt.param_groups[1]["momentum"] == 0.0


def test_named_parameters_record_their_names_as_torch():
    torch = pytest.importorskip("torch")
    ours = mg.optim.SGD(mg.nn.Linear(2, 2).named_parameters(), lr=0.1).state_dict()
    theirs = torch.optim.SGD(torch.nn.Linear(2, 2).named_parameters(), lr=0.1).state_dict()
    assert ours["param_groups"][0]["param_names"] == theirs["param_groups"][0]["param_names"] == ["weight", "bias"]
    with pytest.raises(ValueError, match="SGD: give all parameters with names"):
        mg.optim.SGD([("w", mg.nn.Parameter(np.ones(1))), mg.nn.Parameter(np.ones(1))])


def test_zero_grad_can_keep_zero_arrays():
    p = mg.nn.Parameter(np.ones(2))
    opt = mg.optim.SGD([p], lr=0.1)
    (p * 2).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and (p.grad == 0).all()
    opt.zero_grad()
    assert p.grad is None


def test_repr_lists_each_groups_options_as_torch():
    opt = mg.optim.SGD([{"params": [mg.nn.Parameter(np.ones(1))]},
                        {"params": [mg.nn.Parameter(np.ones(1))], "lr": 0.5}], lr=0.1, momentum=0.9)
    assert repr(opt) == ("SGD (\nParameter Group 0\n    dampening: 0.0\n    lr: 0.1\n    maximize: False\n"
                         "    momentum: 0.9\n    nesterov: False\n    weight_decay: 0.0\n\nParameter Group 1\n"
                         "    dampening: 0.0\n    lr: 0.5\n    maximize: False\n    momentum: 0.9\n"
                         "    nesterov: False\n    weight_decay: 0.0\n)")


# ---- state_dict in torch's layout ---------------------------------------------------------------------------

def to_torch(value):
    """Our state_dict values as torch's: arrays become tensors, recursively."""
    torch = pytest.importorskip("torch")
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, dict):
        return {k: to_torch(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_torch(v) for v in value]
    return value


STATE_CONFIGS = [("SGD", [{"momentum": 0.9}, {"lr": 0.2}], {"momentum": 0.5}),
                 ("Adam", [{}, {"lr": 0.01, "amsgrad": True}], {"weight_decay": 0.1}),
                 ("AdamW", [{"amsgrad": True}, {}], {})]


@pytest.mark.parametrize("optimizer, groups, added", STATE_CONFIGS, ids=[c[0] for c in STATE_CONFIGS])
def test_state_dict_has_torchs_layout_and_moves_both_ways(f64, optimizer, groups, added):
    ours, theirs = libraries()
    weights, x, targets = problem()
    _, _, _, our_opt = run_groups(ours, weights, optimizer, groups, added, x, targets, steps=5)
    _, _, _, torch_opt = run_groups(theirs, weights, optimizer, groups, added, x, targets, steps=5)
    our_state, torch_state = our_opt.state_dict(), torch_opt.state_dict()
    assert list(our_state) == ["state", "param_groups"]
    assert list(our_state["state"]) == list(torch_state["state"])
    for index, values in torch_state["state"].items():
        assert list(our_state["state"][index]) == list(values)
        for key, value in values.items():
            np.testing.assert_allclose(our_state["state"][index][key], value.numpy(), rtol=1e-9, atol=1e-12)
    for ours_group, torch_group in zip(our_state["param_groups"], torch_state["param_groups"], strict=True):
        assert ours_group["params"] == torch_group["params"]
        assert {k: v for k, v in torch_group.items() if k in ours_group} == ours_group

    # torch -> ours and ours -> torch: a fresh optimizer on each side continues as the other would
    _, _, _, fresh_ours = run_groups(ours, weights, optimizer, groups, added, x, targets, steps=4)
    _, _, _, fresh_torch = run_groups(theirs, weights, optimizer, groups, added, x, targets, steps=4)
    fresh_ours.load_state_dict(torch_state)
    fresh_torch.load_state_dict(to_torch(our_state))
    for a, b in ((fresh_ours.state_dict(), our_state), (fresh_torch.state_dict(), torch_state)):
        for index, values in b["state"].items():
            for key, value in values.items():
                np.testing.assert_allclose(np.asarray(a["state"][index][key]), np.asarray(value), rtol=1e-9)
    assert fresh_ours.param_groups[2]["lr"] == torch_opt.param_groups[2]["lr"]


def test_state_dict_holds_copies_and_load_takes_copies():
    p = mg.nn.Parameter(np.ones(2))
    opt = mg.optim.SGD([p], lr=0.1, momentum=0.9)
    (p * 2).sum().backward()
    opt.step()
    state = opt.state_dict()
    state["state"][0]["momentum_buffer"][:] = 7
    state["param_groups"][0]["lr"] = 9.0
    assert (opt.state[p]["momentum_buffer"] == 2).all() and opt.param_groups[0]["lr"] == 0.1
    opt.load_state_dict(state)
    state["state"][0]["momentum_buffer"][:] = 8
    assert (opt.state[p]["momentum_buffer"] == 7).all() and opt.param_groups[0]["lr"] == 9.0


def test_load_state_dict_errors_change_nothing():
    a, b = mg.nn.Parameter(np.ones(2)), mg.nn.Parameter(np.ones(3))
    opt = mg.optim.Adam([a, b], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.step()
    good = opt.state_dict()
    before = opt.state_dict()

    def broken(**changes):
        state = opt.state_dict()
        for path, value in changes.items():
            target = state
            *keys, last = path.split("/")
            for key in keys:
                target = target[int(key) if key.isdigit() else key]
            target[int(last) if last.isdigit() else last] = value
        return state
    cases = [
        ([], TypeError, "Adam.load_state_dict: expected a dict"),
        ({"state": {}}, KeyError, "has no 'param_groups' entry"),
        ({"state": {}, "param_groups": []}, ValueError,
         "the state dict has 0 parameter group\\(s\\), this optimizer has 1"),
        (broken(**{"param_groups/0/params": [0]}), ValueError, "parameter group 0 has 1 parameters in the state dict"),
        (broken(**{"param_groups/0/lr": "0.1"}), TypeError, "Adam.load_state_dict \\(parameter group 0\\): lr must be"),
        (broken(**{"state/1/exp_avg": np.zeros(2)}), ValueError,
         "the state 'exp_avg' of parameter 1 has shape \\(2,\\)"),
        (broken(**{"state/1/step": "three"}), TypeError, "the state 'step' of parameter 1 must be a real number"),
        (broken(**{"state/7": {}}), KeyError, "state for parameter 7, which none of its parameter groups lists"),
        (broken(**{"state/0/exp_avg": np.array(["a", "b"])}), TypeError, "holds dtype <U1, not numbers"),
    ]
    for state, error, message in cases:
        with pytest.raises(error, match=message):
            opt.load_state_dict(state)
        after = opt.state_dict()
        assert after["param_groups"] == before["param_groups"]
        for index, values in before["state"].items():
            for key, value in values.items():
                np.testing.assert_array_equal(after["state"][index][key], value)
    opt.load_state_dict(good)


# ---- issue 10, section 6: a step is all or nothing ------------------------------------------------------------

def trained_pair(cls, **kwargs):
    a, b = mg.nn.Parameter(np.ones((2, 2))), mg.nn.Parameter(np.ones(3))
    opt = cls([a, b], lr=0.1, **kwargs)
    for _ in range(2):
        opt.zero_grad()
        ((a * a).sum() + (b * 3).sum()).backward()
        opt.step()
    opt.zero_grad()
    ((a * a).sum() + (b * 3).sum()).backward()
    return a, b, opt


def snapshot(opt, params):
    return [p.data.copy() for p in params], opt.state_dict()


def assert_unchanged(opt, params, saved):
    data, state = saved
    for p, d in zip(params, data, strict=True):
        np.testing.assert_array_equal(p.data, d)
    now = opt.state_dict()
    assert now["param_groups"] == state["param_groups"] and list(now["state"]) == list(state["state"])
    for index, values in state["state"].items():
        for key, value in values.items():
            np.testing.assert_array_equal(now["state"][index][key], value)


@pytest.mark.parametrize("cls, kwargs", [(mg.optim.SGD, {"momentum": 0.9}), (mg.optim.Adam, {}),
                                         (mg.optim.AdamW, {"amsgrad": True})])
def test_a_read_only_parameter_fails_the_step_before_anything_changes(cls, kwargs):
    a, b, opt = trained_pair(cls, **kwargs)
    saved = snapshot(opt, [a, b])
    b.data.flags.writeable = False  # the second parameter: the first would be updated first
    with pytest.raises(ValueError, match=rf"{cls.__name__}.step: parameter 1 holds a read-only array"):
        opt.step()
    assert_unchanged(opt, [a, b], saved)
    b.data.flags.writeable = True
    opt.step()
    assert not np.array_equal(a.data, saved[0][0]) and not np.array_equal(b.data, saved[0][1])


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_a_gradient_or_state_that_does_not_fit_fails_the_step_before_anything_changes(cls):
    a, b, opt = trained_pair(cls, **({"momentum": 0.9} if cls is mg.optim.SGD else {}))
    saved = snapshot(opt, [a, b])
    b.data = np.ones(4)  # the parameter changed shape: its gradient and state no longer fit
    with pytest.raises(ValueError, match=rf"{cls.__name__}.step: the gradient of parameter 1 has shape \(3,\), "
                                         r"the parameter has shape \(4,\)"):
        opt.step()
    b.data = saved[0][1].copy()
    assert_unchanged(opt, [a, b], saved)
    b.node.grad = np.ones(3, dtype=np.int64)  # an integer gradient, set behind the setter's back
    with pytest.raises(TypeError, match="the gradient of parameter 1 has dtype int64"):
        opt.step()
    assert_unchanged(opt, [a, b], saved)
    b.grad = np.ones(3)
    key = next(iter(opt.state[b]))
    if key != "step":
        opt.state[b][key] = np.zeros(5)
        with pytest.raises(ValueError, match=rf"the state '{key}' of parameter 1 has shape \(5,\)"):
            opt.step()


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_a_nan_gradient_under_detect_anomaly_fails_the_step_before_anything_changes(cls):
    a, b, opt = trained_pair(cls)
    b.grad = np.array([1.0, np.nan, 1.0])
    saved = snapshot(opt, [a, b])
    with mg.detect_anomaly(), pytest.raises(RuntimeError, match=rf"{cls.__name__}.step: the gradient of "
                                                                 r"parameter 1 holds NaN or inf"):
        opt.step()
    assert_unchanged(opt, [a, b], saved)
    opt.step()  # outside detect_anomaly a NaN gradient steps as in torch: the parameter becomes NaN
    assert np.isnan(b.data).any() and np.isfinite(a.data).all()


@pytest.mark.filterwarnings("ignore:invalid value encountered")
def test_a_nan_gradient_steps_as_torch_does():
    torch = pytest.importorskip("torch")
    for name in ("SGD", "Adam"):
        ours, theirs = mg.nn.Parameter(np.ones(3), dtype=np.float64), torch.ones(3, dtype=torch.float64,
                                                                                 requires_grad=True)
        ours.grad, theirs.grad = np.array([1.0, np.nan, np.inf]), torch.tensor([1.0, np.nan, np.inf],
                                                                                dtype=torch.float64)
        getattr(mg.optim, name)([ours], lr=0.1).step()
        getattr(torch.optim, name)([theirs], lr=0.1).step()
        np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
