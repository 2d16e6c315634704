"""Module, Parameter, Sequential: registration, names, modes, repr, state_dict and load_state_dict."""
import subprocess
import sys

import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq.nn import Module, Parameter


class Net(Module):
    """An LSTM with a read-out head, a plain tensor (not a parameter) and a scale parameter."""

    def __init__(self):
        super().__init__()
        self.scale = Parameter(np.ones(2))
        self.lstm = mg.nn.LSTM(3, 4)
        self.not_a_parameter = mg.tensor(np.zeros(2), requires_grad=True)
        self.head = mg.nn.Sequential(mg.nn.Linear(4, 2), mg.nn.Dropout(0.5))

    def forward(self, x):
        output, _ = self.lstm(x)
        return self.head(output) * self.scale


NET_NAMES = ["scale", "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0",
             "head.0.weight", "head.0.bias"]


def test_attribute_assignment_registers_parameters_and_modules_in_definition_order():
    net = Net()
    assert [name for name, _ in net.named_parameters()] == NET_NAMES
    assert list(net.parameters()) == [p for _, p in net.named_parameters()]
    assert [name for name, _ in net.named_parameters(prefix="net")] == [f"net.{n}" for n in NET_NAMES]
    assert [name for name, _ in net.named_modules()] == ["", "lstm", "head", "head.0", "head.1"]
    assert net.children() == [net.lstm, net.head]


def test_parameters_know_their_dotted_name():
    net = Net()
    assert [p.name for p in net.parameters()] == NET_NAMES
    assert net.lstm.weight_hh_l0.name == "lstm.weight_hh_l0"
    net.lstm.extra = Parameter(np.zeros(1))  # added to a sub-module later: still the full path
    assert net.lstm.extra.name == "lstm.extra"
    assert mg.nn.Linear(2, 3).weight.name == "weight"


def test_reassigning_or_deleting_an_attribute_updates_the_registry():
    net = Net()
    net.scale = mg.tensor(np.ones(2))  # now a plain tensor: no longer trained
    net.head = mg.nn.Linear(4, 2)
    del net.lstm
    assert [name for name, _ in net.named_parameters()] == ["head.weight", "head.bias"]
    linear = mg.nn.Linear(2, 2)
    linear.bias = None
    assert [name for name, _ in linear.named_parameters()] == ["weight"]


def test_a_shared_parameter_is_listed_once():
    net = mg.nn.Sequential(mg.nn.Linear(2, 2), mg.nn.Linear(2, 2))
    net[1].weight = net[0].weight
    assert [name for name, _ in net.named_parameters()] == ["0.weight", "0.bias", "1.bias"]


def test_zero_grad_forgets_every_gradient():
    net = Net()
    net(np.ones((2, 1, 3))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_train_and_eval_reach_every_sub_module_and_switch_dropout():
    net = Net()
    assert net.training and net.head[1].training
    assert net.eval() is net
    assert not any(m.training for _, m in net.named_modules())
    x = np.ones((3, 2, 3))
    np.testing.assert_array_equal(net(x).data, net(x).data)  # eval: deterministic
    net.train()
    assert all(m.training for _, m in net.named_modules())
    assert (net(np.ones((30, 5, 3))).data == 0).any()  # training: dropout zeroes some outputs


def test_call_runs_forward_and_a_module_without_forward_says_so():
    net = Net()
    x = mg.tensor(np.ones((2, 1, 3)))
    np.testing.assert_array_equal(net.eval()(x).data, net.forward(x).data)

    class Empty(Module):
        pass
    with pytest.raises(NotImplementedError, match="Empty must define forward"):
        Empty()(x)


def test_forgetting_super_init_is_a_clear_error():
    class Broken(Module):
        def __init__(self):
            self.weight = Parameter(np.zeros(2))
    with pytest.raises(RuntimeError, match=r"Broken: call super\(\).__init__\(\) before assigning attributes"):
        Broken()


def test_sequential_applies_its_modules_in_order():
    seq = mg.nn.Sequential(mg.nn.Linear(3, 4), mg.nn.Linear(4, 2))
    x = mg.tensor(np.ones((5, 3)))
    np.testing.assert_array_equal(seq(x).data, seq[1](seq[0](x)).data)
    assert len(seq) == 2 and list(seq) == [seq[0], seq[1]] and seq[-1] is seq[1]
    with pytest.raises(TypeError, match="Sequential: item 1 is a function, not a Module"):
        mg.nn.Sequential(mg.nn.Linear(3, 4), lambda x: x)


def test_repr_is_torchs():
    torch = pytest.importorskip("torch")

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
            self.head = torch.nn.Sequential(torch.nn.Linear(8, 2), torch.nn.Linear(2, 2, bias=False))

    class OurNet(Module):
        def __init__(self):
            super().__init__()
            self.lstm = mg.nn.LSTM(3, 4, num_layers=2, batch_first=True, bidirectional=True)
            self.head = mg.nn.Sequential(mg.nn.Linear(8, 2), mg.nn.Linear(2, 2, bias=False))

    assert repr(OurNet()).replace("OurNet", "Net") == repr(TorchNet()).replace("TorchNet", "Net")
    pairs = [("Linear", (3, 4), {}), ("Embedding", (10, 3), {}), ("LSTM", (3, 4), {}),
             ("GRU", (3, 4), {"bias": False, "dropout": 0.5, "num_layers": 3}),
             ("RNN", (3, 4), {"nonlinearity": "relu"}), ("RNNCell", (3, 4), {"nonlinearity": "relu"}),
             ("LSTMCell", (3, 4), {"bias": False}), ("GRUCell", (3, 4), {})]
    for name, args, kwargs in pairs:
        assert repr(getattr(mg.nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))
    # torch's Dropout also shows inplace=False, an option we do not have.
    assert repr(mg.nn.Dropout(0.2)) == "Dropout(p=0.2)"


def test_module_repr_puts_extra_settings_before_children():
    class Scaled(Module):
        def __init__(self):
            super().__init__()
            self.inner = mg.nn.Linear(1, 1)

        def extra_repr(self):
            return "factor=2"
    assert repr(Scaled()) == "Scaled(\n  factor=2\n  (inner): Linear(in_features=1, out_features=1, bias=True)\n)"


def test_state_dict_holds_copies():
    net = Net()
    state = net.state_dict()
    assert list(state) == NET_NAMES
    state["scale"][:] = 5.0
    assert (net.scale.data == 1.0).all()
    net.scale.data[:] = 3.0
    assert (state["scale"] == 5.0).all()


def test_load_state_dict_round_trip_copies_values_in():
    source, target = Net(), Net()
    state = source.state_dict()
    result = target.load_state_dict(state)
    assert result == ([], []) and result.missing_keys == [] and result.unexpected_keys == []
    for name, p in target.named_parameters():
        np.testing.assert_array_equal(p.data, state[name])
    state["scale"][:] = 9.0  # the model holds copies, not the caller's arrays
    assert not (target.scale.data == 9.0).any()
    x = np.ones((2, 1, 3))
    np.testing.assert_array_equal(source.eval()(x).data, target.eval()(x).data)


def test_load_state_dict_accepts_lists_and_our_tensors():
    linear = mg.nn.Linear(2, 1)
    linear.load_state_dict({"weight": [[1.0, 2.0]], "bias": mg.tensor([3.0])})
    assert linear.weight.data.tolist() == [[1.0, 2.0]] and linear.bias.data.tolist() == [3.0]


def _snapshot(module):
    return {name: p.data.copy() for name, p in module.named_parameters()}


def _assert_unchanged(module, before):
    for name, p in module.named_parameters():
        np.testing.assert_array_equal(p.data, before[name], err_msg=name)


def test_load_state_dict_errors_name_the_key_and_change_nothing():
    net = Net()
    before = _snapshot(net)
    good = {name: np.zeros_like(v) for name, v in before.items()}
    missing = {k: v for k, v in good.items() if k != "lstm.bias_hh_l0"}
    with pytest.raises(KeyError, match=r"missing key\(s\) \['lstm.bias_hh_l0'\]"):
        net.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"unexpected key\(s\) \['lstm.weight_ih_l1'\]"):
        net.load_state_dict({**good, "lstm.weight_ih_l1": np.zeros((16, 4))})
    bad_shape = {**good, "head.0.bias": np.zeros(3)}  # the last key is the bad one
    with pytest.raises(ValueError, match=r"size mismatch for 'head.0.bias': the checkpoint has shape \(3,\), "
                                         r"the model has shape \(2,\)"):
        net.load_state_dict(bad_shape)
    with pytest.raises(TypeError, match=r"'scale' holds dtype <U1, not numbers"):
        net.load_state_dict({**good, "scale": np.array(["a", "b"])})
    with pytest.raises(TypeError, match=r"expected a mapping of names to arrays, got list"):
        net.load_state_dict(list(good.items()))
    _assert_unchanged(net, before)


def test_load_state_dict_not_strict_reports_and_loads_the_rest():
    net = Net()
    before = _snapshot(net)
    partial = {"scale": np.full(2, 7.0), "head.0.bias": np.full(2, 8.0), "other.weight": np.zeros(1)}
    result = net.load_state_dict(partial, strict=False)
    assert result.missing_keys == [n for n in NET_NAMES if n not in partial]
    assert result.unexpected_keys == ["other.weight"]
    assert (net.scale.data == 7.0).all() and (net.head[0].bias.data == 8.0).all()
    np.testing.assert_array_equal(net.lstm.weight_ih_l0.data, before["lstm.weight_ih_l0"])
    with pytest.raises(ValueError, match="size mismatch for 'scale'"):  # shapes are still checked
        net.load_state_dict({"scale": np.zeros(5)}, strict=False)


def test_torch_state_dicts_load_both_ways(f64):
    torch = pytest.importorskip("torch")
    ours = mg.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    theirs = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    ours.load_state_dict(theirs.state_dict())  # torch tensors (requires_grad) in, by duck typing
    for name, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name], value.numpy())
    fresh = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True).double()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in mg.nn.LSTM(
        3, 4, num_layers=2, bidirectional=True).state_dict().items()})
    ours.load_state_dict(fresh.state_dict())
    torch.testing.assert_close(fresh.state_dict(), {k: torch.from_numpy(v) for k, v in ours.state_dict().items()},
                               rtol=0, atol=0)
    linear, torch_linear = mg.nn.Linear(3, 2), torch.nn.Linear(3, 2)  # float32 torch into float64 ours
    linear.load_state_dict(torch_linear.state_dict())
    assert linear.weight.dtype == np.float64
    np.testing.assert_array_equal(linear.weight.data, torch_linear.weight.detach().numpy())


def test_the_library_never_imports_torch():
    code = ("import sys, numpy as np, micrograd_seq as mg\n"
            "m = mg.nn.LSTM(2, 3); m.load_state_dict(m.state_dict()); m(np.ones((2, 1, 2)))\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
