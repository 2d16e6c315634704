"""mg.nn.init against torch.nn.init: the same bounds, standard deviations, gains and errors.

The two libraries draw from different generators, so the exactness tests feed both the same
underlying uniform and normal draws (our generator and torch's ``uniform_`` / ``normal_`` replaced
by ones that scale fixed arrays), then require equal results: that pins every bound and gain.
"""
import math

import numpy as np
import pytest

import micrograd_seq as mg
from micrograd_seq.nn import Parameter
from micrograd_seq.nn import init as mg_init

DRAWS = np.random.default_rng(0)
UNIFORM = DRAWS.random(1000)
NORMAL = DRAWS.standard_normal(1000)


class FixedDraws:
    """A stand-in for numpy's Generator whose draws are the fixed arrays above, scaled as numpy scales them."""

    def uniform(self, low, high, size):
        return low + (high - low) * UNIFORM[:math.prod(size)].reshape(size)

    def normal(self, loc, scale, size):
        return loc + scale * NORMAL[:math.prod(size)].reshape(size)


@pytest.fixture
def same_draws(monkeypatch):
    """Both libraries draw the fixed arrays: ours through the generator, torch's through uniform_/normal_."""
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(mg_init, "_default_generator", FixedDraws)

    def uniform_(self, a=0.0, b=1.0, generator=None):
        with torch.no_grad():
            return self.copy_(torch.from_numpy(FixedDraws().uniform(a, b, tuple(self.shape))))

    def normal_(self, mean=0.0, std=1.0, generator=None):
        with torch.no_grad():
            return self.copy_(torch.from_numpy(FixedDraws().normal(mean, std, tuple(self.shape))))
    monkeypatch.setattr(torch.Tensor, "uniform_", uniform_)
    monkeypatch.setattr(torch.Tensor, "normal_", normal_)
    return torch


CALLS = [  # (function, shape, keyword arguments)
    ("uniform_", (4, 3), {"a": -0.3, "b": 0.7}),
    ("normal_", (4, 3), {"mean": 1.0, "std": 0.2}),
    ("constant_", (2, 3), {"val": 0.25}),
    ("ones_", (3,), {}),
    ("zeros_", (3, 2), {}),
    ("eye_", (3, 5), {}),
    ("eye_", (4, 2), {}),
    ("xavier_uniform_", (6, 4), {}),
    ("xavier_uniform_", (6, 4, 3), {"gain": 5 / 3}),
    ("xavier_normal_", (5, 7), {"gain": 2.0}),
    ("kaiming_uniform_", (8, 3), {}),
    ("kaiming_uniform_", (8, 3), {"a": math.sqrt(5)}),  # torch.nn.Linear's own initialisation
    ("kaiming_uniform_", (8, 3, 2), {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", (8, 3), {"nonlinearity": "tanh"}),
    ("kaiming_normal_", (3, 8), {"a": 0.2, "mode": "fan_out"}),
    ("orthogonal_", (6, 6), {}),
    ("orthogonal_", (8, 3), {"gain": 2.0}),
    ("orthogonal_", (3, 8), {}),
    ("orthogonal_", (4, 3, 2), {"gain": 0.5}),
]


@pytest.mark.parametrize("name, shape, kwargs", CALLS, ids=[f"{n}{s}{k or ''}" for n, s, k in CALLS])
def test_every_initialiser_matches_torch_given_the_same_draws(same_draws, name, shape, kwargs):
    torch = same_draws
    ours = Parameter(np.full(shape, 9.0), dtype=np.float64)
    theirs = torch.full(shape, 9.0, dtype=torch.float64, requires_grad=True)
    assert getattr(mg_init, name)(ours, **kwargs) is ours
    getattr(torch.nn.init, name)(theirs, **kwargs)
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-14, atol=1e-15)
    assert ours.requires_grad and ours.grad is None


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
    ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", 3), ("relu", 0.5)])
def test_calculate_gain_matches_torch(nonlinearity, param):
    torch = pytest.importorskip("torch")
    assert mg_init.calculate_gain(nonlinearity, param) == torch.nn.init.calculate_gain(nonlinearity, param)


def test_seeded_by_manual_seed_and_a_generator_argument():
    def draw():
        w = Parameter(np.zeros((16, 8)))
        mg_init.xavier_uniform_(w)
        return w.data.copy()
    mg.manual_seed(3)
    first = draw()
    mg.manual_seed(3)
    np.testing.assert_array_equal(draw(), first)
    assert not np.array_equal(draw(), first)
    a, b = Parameter(np.zeros(50)), Parameter(np.zeros(50))
    mg_init.normal_(a, generator=np.random.default_rng(1))
    mg_init.normal_(b, generator=np.random.default_rng(1))
    np.testing.assert_array_equal(a.data, b.data)


def test_real_draws_keep_dtype_and_bounds():
    w = Parameter(np.zeros((200, 50)))  # float32
    mg_init.xavier_uniform_(w, gain=2.0)
    bound = 2.0 * math.sqrt(6 / 250)
    assert w.dtype == np.float32 and np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.9 * bound
    mg_init.kaiming_uniform_(w, nonlinearity="relu")
    assert np.abs(w.data).max() <= math.sqrt(6 / 50)
    mg_init.normal_(w, std=0.5)
    assert abs(w.data.std() - 0.5) < 0.02


@pytest.mark.parametrize("shape, gain", [((32, 32), 1.0), ((64, 16), 1.5), ((16, 64), 1.0), ((12, 4, 3), 1.0)])
def test_orthogonal_rows_or_columns_are_orthonormal_times_the_gain(f64, shape, gain):
    w = Parameter(np.zeros(shape))
    mg_init.orthogonal_(w, gain=gain)
    q = w.data.reshape(shape[0], -1)
    gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(len(gram)), atol=1e-12)


def test_zero_element_tensors_are_left_alone_as_torch():
    torch = pytest.importorskip("torch")
    w = Parameter(np.zeros((0, 3)))
    with pytest.warns(UserWarning, match="zero-element"):
        torch.nn.init.kaiming_uniform_(torch.zeros(0, 3))
    with pytest.warns(UserWarning, match="kaiming_uniform_: initializing a zero-element tensor is a no-op"):
        assert mg_init.kaiming_uniform_(w) is w
    assert mg_init.orthogonal_(w) is w


@pytest.mark.parametrize("name, shape, kwargs, error", [
    ("xavier_uniform_", (3,), {}, ValueError),
    ("kaiming_uniform_", (3,), {}, ValueError),
    ("kaiming_uniform_", (3, 2), {"mode": "fan_avg"}, ValueError),
    ("kaiming_normal_", (3, 2), {"nonlinearity": "swish"}, ValueError),
    ("calculate_gain", None, {"nonlinearity": "leaky_relu", "param": "steep"}, ValueError),
    ("orthogonal_", (3,), {}, ValueError),
    ("eye_", (2, 2, 2), {}, ValueError),
    ("uniform_", (2,), {"a": 1.0, "b": 0.0}, ValueError),
    ("normal_", (2,), {"std": -1.0}, ValueError),
])
def test_errors_are_torchs_refusals(name, shape, kwargs, error):
    torch = pytest.importorskip("torch")
    their_args = () if shape is None else (torch.zeros(shape),)
    our_args = () if shape is None else (Parameter(np.zeros(shape)),)
    with pytest.raises((ValueError, RuntimeError)):
        getattr(torch.nn.init, name)(*their_args, **kwargs)
    with pytest.raises(error, match=name):
        getattr(mg_init, name)(*our_args, **kwargs)


def test_argument_errors_name_the_function_and_argument():
    w = Parameter(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="xavier_uniform_: gain must be a real number, got str '2'"):
        mg_init.xavier_uniform_(w, gain="2")
    with pytest.raises(TypeError, match="constant_: val must be a real number"):
        mg_init.constant_(w, None)
    with pytest.raises(TypeError, match="orthogonal_: expected a tensor .* got ndarray"):
        mg_init.orthogonal_(np.zeros((3, 3)))
    with pytest.raises(TypeError, match="normal_: generator must be a numpy Generator"):
        mg_init.normal_(w, generator=0)
    with pytest.raises(TypeError, match="zeros_: expected a floating tensor, got dtype int64"):
        mg_init.zeros_(mg.tensor(np.zeros(2, dtype=np.int64)))


def test_a_read_only_tensor_is_refused_and_left_unchanged():
    w = Parameter(np.ones((2, 2)))
    w.data.flags.writeable = False
    with pytest.raises(ValueError, match="uniform_: the tensor holds a read-only array"):
        mg_init.uniform_(w)
    assert (w.data == 1).all()
