"""backward() semantics: accumulation, retained grads, graph release, no_grad, anomaly, gradcheck."""
import gc
import re
import weakref

import numpy as np
import pytest

import micrograd_seq as mg


def w(values, **kw):
    return mg.tensor(values, requires_grad=True, dtype=np.float64, **kw)


def test_scalar_backward_seeds_one_and_accumulates_across_calls():
    x = w([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2, 4, 6])
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [5, 7, 9])


def test_non_scalar_backward_needs_grad():
    x = w([1.0, 2.0])
    y = x * 2
    expected = "grad can be implicit only for a scalar output; this one has shape (2,)"
    with pytest.raises(RuntimeError, match=re.escape(expected)):
        y.backward()
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [2, 20])


def test_backward_grad_shape_is_checked():
    x = w([1.0, 2.0])
    with pytest.raises(ValueError, match=re.escape("grad has shape (3,) but the output has shape (2,)")):
        (x * 2).backward(np.ones(3))


def test_backward_on_tensor_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.tensor([1.0]).sum().backward()


def test_same_tensor_used_twice_and_shared_subgraphs():
    x = w([3.0])
    y = x * x + x  # dy/dx = 2x + 1
    (y + y).sum().backward()
    np.testing.assert_array_equal(x.grad, [14.0])


def test_only_leaves_keep_grad_unless_retained():
    x = w([1.0, 2.0])
    h = x.tanh()
    k = x.exp()
    k.retain_grad()
    (h * k).sum().backward()
    assert h.grad is None
    np.testing.assert_allclose(k.grad, np.tanh(x.data))
    with pytest.raises(RuntimeError, match="retain_grad: this tensor does not require grad"):
        mg.tensor([1.0]).retain_grad()


def test_retain_all_grads_keeps_every_grad_and_the_graph():
    x = w([0.5, -1.0])
    h = x.tanh()
    loss = (h * h).sum()
    loss.backward(retain_all_grads=True)
    np.testing.assert_allclose(h.grad, 2 * h.data)
    np.testing.assert_allclose(loss.grad, 1.0)
    loss.backward()  # the graph was kept, so a second pass works and accumulates
    np.testing.assert_allclose(x.grad, 2 * (2 * h.data * (1 - h.data ** 2)))


def test_second_backward_through_a_released_graph_is_an_error():
    x = w([1.0])
    loss = (x.tanh() * 2).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="already been released.*retain_graph=True"):
        loss.backward()


def test_retain_graph_allows_a_second_backward():
    x = w([1.0])
    loss = (x.tanh() * 2).sum()
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * first)


def test_backward_releases_saved_arrays_so_kept_losses_do_not_keep_graphs():
    x = w(np.ones(1000))
    big = x.exp()  # exp saves its output array for the backward
    saved = weakref.ref(big._data)  # the array itself (.data hands out a read-only view while pending)
    loss = big.sum()
    del big
    assert saved() is not None  # held by the graph through exp's backward
    loss.backward()
    gc.collect()
    assert saved() is None  # the loss survives, its graph does not
    assert loss.item() == pytest.approx(1000 * np.e)


def test_graphs_are_freed_by_reference_counting_alone():
    gc.disable()
    try:
        x = w(np.ones(100))
        h = (x * 2).tanh()  # tanh's backward keeps h's array
        saved = weakref.ref(h._data)
        y = h.sum()
        del h
        assert saved() is not None
        del y  # no backward ran: dropping the output must free the graph without the cyclic GC
        assert saved() is None
    finally:
        gc.enable()


def test_leaf_grads_are_independent_writable_arrays():
    a, b = w([1.0, 2.0]), w([3.0, 4.0])
    (a + b).sum().backward()  # add hands the same gradient array to both parents
    assert a.grad is not b.grad
    a.grad *= 10
    np.testing.assert_array_equal(b.grad, [1, 1])


def test_no_grad_context_and_decorator():
    x = w([1.0])
    with mg.no_grad():
        y = x * 2
    assert not y.requires_grad

    @mg.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad
    assert (x * 2).requires_grad
    with mg.no_grad(), mg.enable_grad():
        assert (x * 2).requires_grad


def test_requires_grad_propagates():
    a, c = w([1.0]), mg.tensor([2.0])
    assert (a * c).requires_grad and not (c * c).requires_grad
    assert (a * c).grad_fn == "mul"


def test_detect_anomaly_names_the_op_in_forward():
    x = w([-1.0, 1.0])
    expected = "detect_anomaly: 'log' produced nan in its forward in scope t=3"
    with mg.detect_anomaly(), np.errstate(invalid="ignore"), mg.name_scope("t=3"), \
            pytest.raises(RuntimeError, match=expected):
        x.log()


def test_detect_anomaly_names_the_op_in_backward():
    x = w([0.0])
    with mg.detect_anomaly(), np.errstate(divide="ignore", invalid="ignore"):
        y = (x ** 0.5).sum()  # finite forward, infinite derivative at 0
        with pytest.raises(RuntimeError, match="detect_anomaly: the backward of 'pow' produced inf"):
            y.backward()
    (x * 2).sum().backward()  # a failed backward leaves the engine usable
    np.testing.assert_array_equal(x.grad, [2.0])


def test_name_scopes_nest_and_reach_the_nodes():
    x = w([1.0])
    with mg.name_scope("layer 0"):
        with mg.name_scope("t=2"):
            y = x.tanh()
        z = y * 2
    assert y.node.scope == ("layer 0", "t=2") and z.node.scope == ("layer 0",)
    with pytest.raises(ValueError, match="name_scope: the name must be"):
        mg.name_scope("a/b")


def test_gradcheck_passes_and_fails_with_a_clear_message():
    x = w(np.random.default_rng(0).standard_normal((2, 3)), name="x")
    assert mg.gradcheck(lambda t: (t * t).tanh(), x)

    def wrong(t):  # the forward is t**2, but the recorded backward is the one of t*3
        from micrograd_seq.tensor import record
        return record("square", t.data ** 2, (t,), lambda g, need: (g * 3,))
    with pytest.raises(mg.GradcheckError, match=r"input 0 \(shape \(2, 3\), 'x'\) at index .*analytic .* vs numeric"):
        mg.gradcheck(wrong, x)


def test_gradcheck_needs_float64():
    x = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="gradcheck: input 0 has dtype float32; gradcheck needs float64"):
        mg.gradcheck(lambda t: t * 2, x)
    with pytest.raises(ValueError, match="no input requires grad"):
        mg.gradcheck(lambda t: t * 2, mg.tensor([1.0], dtype=np.float64))


def test_setting_grad_checks_shape():
    x = w([1.0, 2.0])
    x.grad = np.zeros(2)
    with pytest.raises(ValueError, match=re.escape("grad: shape (3,) does not match the tensor's shape (2,)")):
        x.grad = np.zeros(3)


def test_gradcheck_takes_nested_outputs_like_an_lstms():
    mg.set_default_dtype(np.float64)
    lstm = mg.nn.LSTM(2, 3)
    assert mg.gradcheck(lambda x: lstm(x), w(np.random.default_rng(0).standard_normal((4, 1, 2))))
    with pytest.raises(TypeError, match="gradcheck: fn must return a Tensor or a \\(nested\\) tuple of them, got str"):
        mg.gradcheck(lambda x: "no", w([1.0]))


# ---- autograd.grad: gradients without touching .grad --------------------------------------

def test_grad_returns_gradients_and_touches_no_grad_attribute():
    torch = pytest.importorskip("torch")
    x, y = w([0.5, -1.0, 2.0]), w([1.5, 0.25, -0.5])
    x.grad = np.full(3, 7.0)
    h = (x * y).tanh()
    h.retain_grad()
    loss = (h * h).sum() + (x * 3).sum()
    gx, gh = mg.autograd.grad(loss, [x, h], retain_graph=True)
    assert np.array_equal(x.grad, np.full(3, 7.0)) and y.grad is None and h.grad is None
    tx, ty = (torch.tensor(v.data, requires_grad=True) for v in (x, y))
    th = (tx * ty).tanh()
    want_x, want_h, want_y = torch.autograd.grad((th * th).sum() + (tx * 3).sum(), [tx, th, ty])
    np.testing.assert_allclose(gx, want_x.numpy(), rtol=1e-15)
    np.testing.assert_allclose(gh, want_h.numpy(), rtol=1e-15)
    (gy,) = mg.autograd.grad(loss, y)  # the graph was retained; this call releases it
    np.testing.assert_allclose(gy, want_y.numpy(), rtol=1e-15)
    with pytest.raises(RuntimeError, match="already been released"):
        mg.autograd.grad(loss, y)


def test_grad_with_several_outputs_grad_outputs_and_unused_inputs():
    x, unused = w([1.0, 2.0]), w([3.0])
    a, b = x * 2, (x * x).sum()
    ga, = mg.autograd.grad([a, b], [x], grad_outputs=[np.array([1.0, 10.0]), None])
    np.testing.assert_array_equal(ga, [2 + 2, 20 + 4])
    with pytest.raises(RuntimeError, match=r"grad: input 1 was not used to compute the outputs .*allow_unused=True"):
        mg.autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = mg.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None and np.array_equal(gx, [2, 2])
    with pytest.raises(RuntimeError, match="grad_outputs can be implicit only for scalar outputs"):
        mg.autograd.grad(x * 2, x)
    with pytest.raises(RuntimeError, match="input 0 does not require grad"):
        mg.autograd.grad((x * 2).sum(), mg.tensor([1.0]))
    with pytest.raises(TypeError, match="inputs must be a Tensor"):
        mg.autograd.grad((x * 2).sum(), [np.ones(2)])


def test_gradcheck_leaves_inputs_and_every_grad_as_it_found_them():
    layer = mg.nn.Linear(2, 2).double()
    x = w([[0.3, -0.2]])
    x.grad = np.array([[5.0, 6.0]])
    before = x.data.copy()
    array = x._data
    assert mg.gradcheck(lambda t: layer(t).tanh(), x)
    assert x._data is array and np.array_equal(x.data, before)
    np.testing.assert_array_equal(x.grad, [[5.0, 6.0]])
    assert layer.weight.grad is None  # parameters inside fn are untouched too

    calls = []

    def fails_on_the_third_call(t):
        calls.append(1)
        if len(calls) == 3:
            raise ArithmeticError("boom")
        return t * 2
    with pytest.raises(ArithmeticError, match="boom"):
        mg.gradcheck(fails_on_the_third_call, x)
    assert x._data is array and np.array_equal(x.data, before)
    np.testing.assert_array_equal(x.grad, [[5.0, 6.0]])


# ---- autograd state is per thread ------------------------------------------------------------

def _train(steps, evaluate_beside):
    """Train a small RNN with Adam; optionally an evaluation thread runs the same model under no_grad."""
    import sys
    import threading
    mg.manual_seed(0)
    rnn, head = mg.nn.RNN(3, 5).double(), mg.nn.Linear(5, 2).double()
    opt = mg.optim.Adam([*rnn.parameters(), *head.parameters()], lr=1e-2)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((steps, 4, 2, 3)), rng.integers(0, 2, (steps, 2))
    stop, failures = threading.Event(), []

    def evaluate():
        probe = rng.standard_normal((4, 2, 3))
        while not stop.is_set():
            try:
                with mg.no_grad(), mg.name_scope("eval"):
                    out = head(rnn(probe)[1][0])
                assert not out.requires_grad
            except BaseException as err:
                failures.append(err)
                return
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # hand the GIL over as often as possible
    thread = threading.Thread(target=evaluate) if evaluate_beside else None
    try:
        if thread:
            thread.start()
        for k in range(steps):
            loss = mg.functional.cross_entropy(head(rnn(xs[k])[1][0]), ys[k])
            assert loss.requires_grad and loss.node.scope == ()
            opt.zero_grad()
            loss.backward()
            assert all(p.grad is not None for p in rnn.parameters())
            opt.step()
    finally:
        stop.set()
        if thread:
            thread.join()
        sys.setswitchinterval(switch)
    assert not failures, failures
    return [p.data.copy() for p in [*rnn.parameters(), *head.parameters()]]


def test_training_beside_a_no_grad_evaluation_thread_is_undisturbed():
    alone = _train(2000, evaluate_beside=False)
    beside = _train(2000, evaluate_beside=True)
    for a, b in zip(alone, beside, strict=True):
        np.testing.assert_array_equal(a, b)


def test_switches_set_in_one_thread_do_not_reach_another():
    import threading
    seen = {}
    entered, release = threading.Event(), threading.Event()

    def other():
        with mg.no_grad(), mg.detect_anomaly(), mg.keep_values(), mg.name_scope("theirs"):
            entered.set()
            release.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    entered.wait(5)
    x = w([-1.0])
    with np.errstate(invalid="ignore"):
        y = x.log()  # nan, but anomaly detection is the other thread's
    seen["grad"], seen["scope"], seen["kept"] = y.requires_grad, y.node.scope, y.node.data
    release.set()
    thread.join()
    assert seen == {"grad": True, "scope": (), "kept": None}


def test_the_collector_pause_is_counted_across_threads():
    import threading

    from micrograd_seq.graph import collector_paused
    assert gc.isenabled()
    inside, release = threading.Event(), threading.Event()

    def hold():
        with collector_paused():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=hold)
    thread.start()
    inside.wait(5)
    with collector_paused():
        assert not gc.isenabled()
    assert not gc.isenabled(), "the other thread's pause is still on"
    release.set()
    thread.join()
    assert gc.isenabled()
