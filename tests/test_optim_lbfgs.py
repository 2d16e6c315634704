"""LBFGS against torch.optim.LBFGS: equal iterates over 5 steps of a small LSTM regression in float64,
with and without the strong-Wolfe line search; its state dict; all-or-nothing steps; errors.

The steps run up to 10 iterations each. L-BFGS on a non-convex problem magnifies rounding: with 20
iterations a step, torch disagrees with itself by up to 1e-5 after 5 steps when the start moves by one
part in 1e15, so no two implementations can agree to 1e-8 there. With 10, torch's own sensitivity stays
near 1e-12, and ours agrees with it to that (measured: 3e-12 at worst).
"""
import numpy as np
import pytest

import micrograd_seq as mg

T, B, H = 16, 4, 5


def sine_problem():
    """Noisy sine waves to predict one step ahead, and an LSTM + Linear's initial weights."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, 3, T + 1)
    phases = rng.uniform(0, 2 * np.pi, (1, B, 1))
    wave = np.sin(2 * t[:, None, None] + phases) + 0.1 * rng.standard_normal((T + 1, B, 1))
    mg.manual_seed(0)
    lstm, head = mg.nn.LSTM(1, H), mg.nn.Linear(H, 1)
    weights = {**{f"lstm.{k}": v for k, v in lstm.state_dict().items()},
               **{f"head.{k}": v for k, v in head.state_dict().items()}}
    return wave[:-1], wave[1:], weights


def run(lib, weights, x, y, steps=5, state=None, **kwargs):
    """``steps`` LBFGS steps on the regression, starting from the optimizer ``state`` when given: the losses
    each step returns, the iterates after each (flat), the optimizer, and the final weights by name."""
    lstm, head = lib.nn.LSTM(1, H), lib.nn.Linear(H, 1)
    if lib is mg:
        to = np.asarray
    else:
        import torch
        lstm, head, to = lstm.double(), head.double(), torch.from_numpy
    for prefix, module in (("lstm.", lstm), ("head.", head)):
        module.load_state_dict({k[len(prefix):]: to(v.copy()) for k, v in weights.items() if k.startswith(prefix)})
    params = [*lstm.parameters(), *head.parameters()]
    opt = lib.optim.LBFGS(params, **kwargs)
    if state is not None:
        opt.load_state_dict(state)
    xs, ys = to(x.copy()), to(y.copy())

    def closure():
        opt.zero_grad()
        output, _ = lstm(xs)
        loss = ((head(output) - ys) ** 2).mean()
        loss.backward()
        return loss

    def numpy(p):
        return np.array(p.data if lib is mg else p.detach().numpy())
    losses, iterates = [], []
    for _ in range(steps):
        losses.append(opt.step(closure).item())
        iterates.append(np.concatenate([numpy(p).ravel() for p in params]))
    final = {f"{prefix}{name}": numpy(p) for prefix, module in (("lstm.", lstm), ("head.", head))
             for name, p in module.named_parameters()}
    return losses, iterates, opt, final


@pytest.mark.parametrize("kwargs", [{"max_iter": 10}, {"max_iter": 10, "line_search_fn": "strong_wolfe"},
                                    {"lr": 0.5, "max_iter": 8, "history_size": 3},
                                    {"line_search_fn": "strong_wolfe", "max_iter": 7, "history_size": 4},
                                    {"max_iter": 6, "max_eval": 4, "tolerance_change": 1e-5}],
                         ids=["plain", "strong_wolfe", "short-history", "wolfe-short", "eval-limited"])
def test_iterates_equal_torchs_over_five_steps(f64, kwargs):
    torch = pytest.importorskip("torch")
    x, y, weights = sine_problem()
    our_losses, ours, our_opt, _ = run(mg, weights, x, y, **kwargs)
    torch_losses, theirs, torch_opt, _ = run(torch, weights, x, y, **kwargs)
    np.testing.assert_allclose(our_losses, torch_losses, rtol=1e-8, atol=1e-12)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8, err_msg=f"step {step}")
    assert our_losses[-1] < our_losses[0] / 2  # it optimised
    ours_state = our_opt.state_dict()["state"][0]
    torch_state = torch_opt.state_dict()["state"][0]
    assert set(ours_state) == set(torch_state)
    assert ours_state["func_evals"] == torch_state["func_evals"] and ours_state["n_iter"] == torch_state["n_iter"]
    assert len(ours_state["old_dirs"]) == len(torch_state["old_dirs"])


def test_state_dict_moves_between_torch_and_here(f64):
    """Two steps on one side, the weights and the optimizer's state dict moved to a fresh optimizer on the
    other side, three more steps there: the iterates are still those of five steps in torch."""
    torch = pytest.importorskip("torch")
    x, y, weights = sine_problem()
    kwargs = {"line_search_fn": "strong_wolfe", "max_iter": 10, "history_size": 5}
    _, reference, _, _ = run(torch, weights, x, y, steps=5, **kwargs)
    _, _, torch_opt, torch_weights = run(torch, weights, x, y, steps=2, **kwargs)
    _, resumed_here, opt, _ = run(mg, torch_weights, x, y, steps=3, state=torch_opt.state_dict(), **kwargs)
    for a, b in zip(resumed_here, reference[2:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8)
    _, _, our_opt, our_weights = run(mg, weights, x, y, steps=2, **kwargs)
    state = our_opt.state_dict()
    state["state"] = {i: {k: [torch.from_numpy(a) for a in v] if isinstance(v, list) and v and
                          isinstance(v[0], np.ndarray) else torch.from_numpy(v) if isinstance(v, np.ndarray) else v
                          for k, v in values.items()} for i, values in state["state"].items()}
    _, resumed_there, _, _ = run(torch, our_weights, x, y, steps=3, state=state, **kwargs)
    for a, b in zip(resumed_there, reference[2:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8)


def test_a_failing_closure_leaves_parameters_and_state_as_they_were(f64):
    x, y, weights = sine_problem()
    _, iterates, opt, _ = run(mg, weights, x, y, steps=1, line_search_fn="strong_wolfe")
    params = opt.param_groups[0]["params"]
    before = opt.state_dict()
    calls = []

    def closure():
        calls.append(1)
        if len(calls) == 4:  # inside the line search, with the parameters moved
            raise RuntimeError("out of memory")
        opt.zero_grad()
        loss = sum((p * p).sum() for p in params)
        loss.backward()
        return loss
    with pytest.raises(RuntimeError, match="out of memory"):
        opt.step(closure)
    np.testing.assert_array_equal(np.concatenate([p.data.ravel() for p in params]), iterates[-1])
    after = opt.state_dict()["state"][0]
    for key, value in before["state"][0].items():
        if isinstance(value, list):
            assert len(after[key]) == len(value)
        elif value is not None:
            np.testing.assert_array_equal(after[key], value)


def test_read_only_parameter_fails_before_anything_changes():
    p, q = mg.nn.Parameter(np.ones(2)), mg.nn.Parameter(np.ones(3))
    opt = mg.optim.LBFGS([p, q])
    q.data.flags.writeable = False

    def closure():
        opt.zero_grad()
        loss = (p * p).sum() + (q * q).sum()
        loss.backward()
        return loss
    with pytest.raises(ValueError, match="LBFGS.step: parameter 1 holds a read-only array"):
        opt.step(closure)
    assert (p.data == 1).all() and opt.state[p] == {}


def test_errors_name_the_argument():
    p = [mg.nn.Parameter(np.ones(2))]
    with pytest.raises(ValueError, match="LBFGS: line_search_fn must be None or 'strong_wolfe', got 'armijo'"):
        mg.optim.LBFGS(p, line_search_fn="armijo")
    with pytest.raises(TypeError, match="LBFGS: max_iter must be an integer, got float 20.0"):
        mg.optim.LBFGS(p, max_iter=20.0)
    with pytest.raises(TypeError, match="LBFGS: lr must be a real number, got str '1'"):
        mg.optim.LBFGS(p, lr="1")
    with pytest.raises(ValueError, match="LBFGS: history_size must be an integer >= 1, got 0"):
        mg.optim.LBFGS(p, history_size=0)
    with pytest.raises(ValueError, match="LBFGS: per-parameter options"):
        mg.optim.LBFGS([{"params": p}, {"params": [mg.nn.Parameter(np.ones(1))]}])
    opt = mg.optim.LBFGS(p)
    with pytest.raises(ValueError, match="LBFGS.add_param_group: L-BFGS supports one parameter group only"):
        opt.add_param_group({"params": [mg.nn.Parameter(np.ones(1))]})
    with pytest.raises(TypeError, match="LBFGS.step: L-BFGS needs a closure"):
        opt.step()
    assert opt.param_groups[0]["max_eval"] == 25  # torch's default: max_iter * 5 // 4


def test_a_converged_start_returns_at_once():
    p = mg.nn.Parameter(np.zeros(2))
    opt = mg.optim.LBFGS([p])

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    assert opt.step(closure).item() == 0 and opt.state[p]["func_evals"] == 1 and (p.data == 0).all()
