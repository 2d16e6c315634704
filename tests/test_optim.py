"""SGD, Adam and AdamW: 20 training steps of an LSTM + Linear equal torch.optim's, and errors."""
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
    rng = np.random.default_rng(0)
    x = rng.standard_normal((SEQ, BATCH, FEATURES))
    targets = rng.integers(0, CLASSES, size=SEQ * BATCH)
    lstm, head = mg.nn.LSTM(FEATURES, HIDDEN), mg.nn.Linear(HIDDEN, CLASSES)
    weights = {f"lstm.{k}": v for k, v in lstm.state_dict().items()}
    weights.update({f"head.{k}": v for k, v in head.state_dict().items()})

    our_losses, our_params = train(ours, weights, optimizer, kwargs, clip, x, targets)
    torch_losses, torch_params = train(theirs, weights, optimizer, kwargs, clip, x, targets)
    np.testing.assert_allclose(our_losses, torch_losses, rtol=1e-8)
    assert our_losses[-1] < our_losses[0]  # it trained
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
    assert opt.params == model.parameters()


@pytest.mark.parametrize("cls", [mg.optim.SGD, mg.optim.Adam, mg.optim.AdamW])
def test_parameter_list_errors(cls):
    p = mg.nn.Parameter(np.ones(2))
    with pytest.raises(ValueError, match=rf"{cls.__name__}: got an empty parameter list"):
        cls([], lr=0.1)
    expected = rf"{cls.__name__}: params must be an iterable of tensors .* got a single tensor"
    with pytest.raises(TypeError, match=expected):
        cls(p, lr=0.1)
    with pytest.raises(TypeError, match=r"parameter 1 is not a leaf tensor that requires grad"):
        cls([p, mg.tensor(np.ones(2))], lr=0.1)
    with pytest.raises(TypeError, match=r"parameter 0 is not a leaf tensor that requires grad"):
        cls([p * 2], lr=0.1)
    with pytest.raises(TypeError, match=r"parameter 0 is not a leaf tensor that requires grad"):
        cls([np.ones(2)], lr=0.1)
    with pytest.raises(ValueError, match=r"a parameter appears more than once"):
        cls([p, p], lr=0.1)
    with pytest.raises(ValueError, match=rf"{cls.__name__}: invalid learning rate -0.1"):
        cls([p], lr=-0.1)


def test_hyper_parameter_errors():
    p = [mg.nn.Parameter(np.ones(2))]
    with pytest.raises(ValueError, match=r"SGD: Nesterov momentum needs momentum > 0 and dampening = 0"):
        mg.optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"Nesterov momentum needs"):
        mg.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"SGD: invalid momentum -0.9"):
        mg.optim.SGD(p, lr=0.1, momentum=-0.9)
    with pytest.raises(ValueError, match=r"SGD: invalid weight_decay -1"):
        mg.optim.SGD(p, lr=0.1, weight_decay=-1)
    with pytest.raises(ValueError, match=r"Adam: betas must be two numbers in \[0, 1\), got \(0.9, 1.0\)"):
        mg.optim.Adam(p, betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"AdamW: invalid eps -1e-08"):
        mg.optim.AdamW(p, eps=-1e-8)
    with pytest.raises(ValueError, match=r"AdamW: invalid weight_decay -0.01"):
        mg.optim.AdamW(p, weight_decay=-0.01)
