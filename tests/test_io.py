"""mg.save / mg.load: .npz round trips that never unpickle."""
import numpy as np
import pytest

import micrograd_seq as mg

UNPICKLED = []


def spring(message):
    UNPICKLED.append(message)


class Trap:
    """Unpickling this runs code (calls ``spring``): exactly what load must never do."""

    def __reduce__(self):
        return (spring, ("unpickled!",))


def test_state_dict_round_trip_restores_the_model(tmp_path, f64):
    model = mg.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    path = tmp_path / "model.npz"
    mg.save(model.state_dict(), path)
    loaded = mg.load(path)
    assert list(loaded) == list(model.state_dict())
    for name, value in model.state_dict().items():
        assert loaded[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded[name], value)
    fresh = mg.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    fresh.load_state_dict(loaded)
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    np.testing.assert_array_equal(fresh(x)[0].data, model(x)[0].data)


def test_any_numeric_dtype_and_any_key_survive(tmp_path):
    state = {"file": np.arange(3), "allow_pickle": np.float32([1.5]), "a.b/c": np.array([[True, False]]),
             "scalar": np.float64(2.0), "tensor": mg.tensor([1.0, 2.0])}
    path = tmp_path / "weights.bin"  # the path is used as given: no ".npz" appended
    mg.save(state, path)
    assert path.exists() and not (tmp_path / "weights.bin.npz").exists()
    loaded = mg.load(str(path))
    assert list(loaded) == list(state)
    for name, value in state.items():
        expected = np.asarray(value.data if isinstance(value, mg.Tensor) else value)
        assert loaded[name].dtype == expected.dtype
        np.testing.assert_array_equal(loaded[name], expected)


def test_load_refuses_object_arrays_without_unpickling(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, weight=np.ones(2), payload=np.array([Trap()], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"holds object arrays, which only pickle can read; refusing to unpickle"):
        mg.load(path)
    assert UNPICKLED == []
    with np.load(path, allow_pickle=True) as archive:  # the trap is real: numpy with pickle runs it
        archive["payload"]
    assert UNPICKLED == ["unpickled!"]


def test_load_refuses_files_that_are_not_npz(tmp_path):
    npy, text = tmp_path / "one.npy", tmp_path / "notes.txt"
    np.save(npy, np.zeros(3))
    text.write_text("hello")
    for path in (npy, text):
        with pytest.raises(ValueError, match=r"is not an .npz file \(the format mg.save writes\)"):
            mg.load(path)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 and then nothing")
    with pytest.raises(ValueError, match=r"'.*broken.npz' is not a readable .npz file"):
        mg.load(broken)
    with pytest.raises(FileNotFoundError):
        mg.load(tmp_path / "missing.npz")


def test_save_errors(tmp_path):
    path = tmp_path / "x.npz"
    with pytest.raises(TypeError, match=r"save: expected a mapping of names to arrays, got list"):
        mg.save([np.ones(2)], path)
    with pytest.raises(TypeError, match=r"save: keys must be strings, got 3"):
        mg.save({3: np.ones(2)}, path)
    with pytest.raises(TypeError, match=r"save: 'names' holds dtype <U1; only numeric arrays are saved"):
        mg.save({"names": np.array(["a", "b"])}, path)
    with pytest.raises(TypeError, match=r"save: 'objects' holds dtype object"):
        mg.save({"objects": np.array([None, 1], dtype=object)}, path)
    assert not path.exists()
