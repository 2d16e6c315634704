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
    assert list(net.children()) == [net.lstm, net.head]


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
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in net.parameters())
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


# ---- traversal as torch's: iterators, modules, children, apply ---------------------------------

class TiedLM(Module):
    """Embedding and decoder share one weight; one Linear is used twice (shared module)."""

    def __init__(self):
        super().__init__()
        self.encoder = mg.nn.Embedding(5, 4)
        self.rnn = mg.nn.LSTM(4, 4)
        self.decoder = mg.nn.Linear(4, 5)
        self.decoder.weight = self.encoder.weight
        self.proj = mg.nn.Linear(4, 4)
        self.stack = mg.nn.Sequential(self.proj, mg.nn.Tanh(), self.proj)


def torch_tied_lm():
    torch = pytest.importorskip("torch")

    class TorchTiedLM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Embedding(5, 4)
            self.rnn = torch.nn.LSTM(4, 4)
            self.decoder = torch.nn.Linear(4, 5)
            self.decoder.weight = self.encoder.weight
            self.proj = torch.nn.Linear(4, 4)
            self.stack = torch.nn.Sequential(self.proj, torch.nn.Tanh(), self.proj)
    return TorchTiedLM().double()


def test_parameters_and_named_parameters_are_iterators():
    net = Net()
    params = net.parameters()
    assert iter(params) is params and next(params) is net.scale
    named = net.named_parameters()
    assert iter(named) is named and next(named) == ("scale", net.scale)
    assert list(net.parameters(recurse=False)) == [net.scale]


def test_traversal_matches_torch_names_and_order():
    ours, theirs = TiedLM(), torch_tied_lm()
    for method, kwargs in [("named_parameters", {}), ("named_parameters", {"remove_duplicate": False}),
                           ("named_parameters", {"recurse": False}), ("named_parameters", {"prefix": "m"}),
                           ("named_modules", {}), ("named_modules", {"remove_duplicate": False}),
                           ("named_modules", {"prefix": "m"}), ("named_children", {})]:
        assert [n for n, _ in getattr(ours, method)(**kwargs)] == [n for n, _ in getattr(theirs, method)(**kwargs)], \
            (method, kwargs)
    assert [type(m).__name__ for m in ours.modules()][1:] == [type(m).__name__ for m in theirs.modules()][1:]
    assert [type(m).__name__ for m in ours.children()] == [type(m).__name__ for m in theirs.children()]
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_apply_visits_children_first_then_self_as_torch():
    ours, theirs = TiedLM(), torch_tied_lm()
    our_order, their_order = [], []
    assert ours.apply(lambda m: our_order.append(type(m).__name__)) is ours
    theirs.apply(lambda m: their_order.append(type(m).__name__.replace("TorchTiedLM", "TiedLM")))
    assert our_order == their_order


def test_apply_initialises_every_linear():
    net = mg.nn.Sequential(mg.nn.Linear(3, 3), mg.nn.Tanh(), mg.nn.Linear(3, 2))

    def init(m):
        if isinstance(m, mg.nn.Linear):
            mg.nn.init.zeros_(m.bias)
    net.apply(init)
    assert all((m.bias.data == 0).all() for m in net if isinstance(m, mg.nn.Linear))


def test_requires_grad_freezes_and_unfreezes():
    net = Net()
    assert net.lstm.requires_grad_(False) is net.lstm
    assert not any(p.requires_grad for p in net.lstm.parameters()) and net.scale.requires_grad
    net(np.ones((2, 1, 3))).sum().backward()
    assert all(p.grad is None for p in net.lstm.parameters()) and net.scale.grad is not None
    net.requires_grad_()
    assert all(p.requires_grad for p in net.parameters())
    with pytest.raises(TypeError, match="requires_grad_: requires_grad must be a bool"):
        net.requires_grad_("yes")


def test_train_mode_must_be_a_bool():
    with pytest.raises(ValueError, match="train: mode must be a bool"):
        Net().train("eval")


# ---- dtype conversion in place -------------------------------------------------------------------

def test_double_float_and_to_convert_in_place_and_return_the_module():
    net = Net()
    params = list(net.parameters())
    net(np.ones((2, 1, 3))).sum().backward()
    assert net.double() is net
    assert list(net.parameters()) == params  # the same Parameter objects, as torch's .double()
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in params)
    assert net.float() is net and all(p.dtype == np.float32 for p in params)
    assert net.to(np.float64) is net and all(p.dtype == np.float64 for p in params)
    net.to(mg.tensor(np.zeros(1), dtype=np.float32))
    assert all(p.dtype == np.float32 for p in params)
    net.to("cpu", dtype=np.float64)
    assert all(p.dtype == np.float64 for p in params)
    assert net.to("cpu") is net and all(p.dtype == np.float64 for p in params)


def test_a_converted_model_trains_in_its_new_dtype():
    """The leaves' graph nodes follow the conversion: an Embedding's gathered gradient is float64 too."""
    embed, head = mg.nn.Embedding(6, 3), mg.nn.Linear(3, 2)
    opt = mg.optim.SGD([*embed.parameters(), *head.parameters()], lr=0.1)
    embed(np.array([1, 2, 1])).sum().backward()  # a graph node made while float32
    embed.double()
    head.double()
    opt.zero_grad()
    head(embed(np.array([0, 1, 1, 5]))).sum().backward()
    assert embed.weight.grad.dtype == np.float64 and head.weight.grad.dtype == np.float64
    opt.step()
    assert embed.weight.dtype == np.float64


def test_to_errors():
    net = mg.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="to: this library runs on the CPU only, got device 'cuda'"):
        net.to("cuda")
    with pytest.raises(TypeError, match="to: modules hold floating parameters, so the dtype must be floating, "
                                        "got int64"):
        net.to(np.int64)
    with pytest.raises(TypeError, match="to: 'fast' is not a numpy dtype"):
        net.to(dtype="fast")
    with pytest.raises(TypeError, match="to: expected to"):
        net.to(np.float64, copy=True)


# ---- tied weights in state_dict -------------------------------------------------------------------

def test_state_dict_lists_every_name_of_a_tied_weight_as_torch():
    ours = TiedLM()
    state = ours.state_dict()
    assert "encoder.weight" in state and "decoder.weight" in state
    np.testing.assert_array_equal(state["encoder.weight"], state["decoder.weight"])
    assert state["encoder.weight"] is not state["decoder.weight"]
    assert [n for n, _ in ours.named_parameters()].count("decoder.weight") == 0  # listed once for optimizers


def test_a_torch_state_dict_of_a_tied_model_loads(f64):
    ours, theirs = TiedLM(), torch_tied_lm()
    result = ours.load_state_dict(theirs.state_dict())
    assert result == ([], [])
    for name, value in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name], value.numpy(), err_msg=name)
    assert ours.decoder.weight is ours.encoder.weight
    partial = {k: v for k, v in theirs.state_dict().items() if k != "decoder.weight"}
    assert ours.load_state_dict(partial, strict=False).missing_keys == ["decoder.weight"]  # as torch reports


def test_tied_names_with_different_values_are_refused():
    ours = TiedLM()
    before = _snapshot(ours)
    state = ours.state_dict()
    state["decoder.weight"] = state["decoder.weight"] + 1
    with pytest.raises(ValueError, match="'encoder.weight' and 'decoder.weight' are one \\(tied\\) parameter"):
        ours.load_state_dict(state)
    _assert_unchanged(ours, before)


# ---- all or nothing ---------------------------------------------------------------------------------

def test_load_state_dict_with_a_read_only_parameter_changes_nothing():
    """A failure during the copy (here: the last parameter's array is read-only) changes nothing."""
    net = Net()
    before = _snapshot(net)
    net.head[0].bias.data.flags.writeable = False
    with pytest.raises(ValueError, match="load_state_dict: 'head.0.bias' holds a read-only array"):
        net.load_state_dict({name: np.zeros_like(v) for name, v in before.items()})
    _assert_unchanged(net, before)


def test_load_state_dict_refuses_values_that_are_not_arrays():
    net = mg.nn.Linear(2, 2)
    with pytest.raises(TypeError, match="load_state_dict: 'bias' is not an array"):
        net.load_state_dict({"weight": np.zeros((2, 2)), "bias": [[1.0], [1.0, 2.0]]})


def test_get_submodule_follows_the_dotted_path_as_torch():
    model = mg.nn.Sequential(mg.nn.Linear(2, 3), mg.nn.Sequential(mg.nn.Tanh(), mg.nn.Linear(3, 1)))
    assert model.get_submodule("") is model
    assert model.get_submodule("1.1") is model[1][1]
    with pytest.raises(AttributeError, match="Sequential has no attribute `2`"):
        model.get_submodule("1.2")
    with pytest.raises(TypeError, match="get_submodule: target must be a dotted name"):
        model.get_submodule(1)
