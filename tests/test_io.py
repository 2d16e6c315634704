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


# ---- no data loss, no surprises (issue 10, section 5) -----------------------------------------

def test_keys_that_cannot_round_trip_are_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "x.npz"
    mg.save({"kept": np.ones(2)}, path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"save: the key 'layer\\x00a' holds a NUL character"):
        mg.save({"layer\x00a": np.ones(1), "layer\x00b": np.zeros(1)}, path)
    with pytest.raises(ValueError, match="cannot be encoded as UTF-8"):
        mg.save({"ok": np.ones(1), "bad\udc80": np.ones(1)}, path)
    assert path.read_bytes() == before
    odd = {"": np.ones(1), "a/b": np.ones(2), "x.npy": np.ones(3), "ünï": np.ones(4)}
    mg.save(odd, path)
    assert {k: v.shape for k, v in mg.load(path).items()} == {k: v.shape for k, v in odd.items()}


def test_a_save_that_fails_midway_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    mg.save({"w": np.arange(3.0)}, path)
    before = path.read_bytes()
    real = np.lib.format.write_array
    calls = []

    def fails_on_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(*args, **kwargs)
    monkeypatch.setattr(np.lib.format, "write_array", fails_on_the_second)
    with pytest.raises(OSError, match="disk full"):
        mg.save({"a": np.ones(1000), "b": np.ones(1000)}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary file left behind
    monkeypatch.undo()
    np.testing.assert_array_equal(mg.load(path)["w"], np.arange(3.0))


def test_a_saved_file_gets_ordinary_permissions(tmp_path):
    import os
    path = tmp_path / "m.npz"
    mg.save({"w": np.ones(1)}, path)
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def _zip(path, members, compression=None):
    import zipfile
    with zipfile.ZipFile(path, "w", compression or zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def _npy(array):
    import io
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array)
    return buffer.getvalue()


def test_a_torch_save_file_is_refused_with_how_to_convert_it(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(2)}, path)
    with pytest.raises(ValueError, match=r"torch.save file: load it with torch.load, then save \{k: v.numpy\(\)"):
        mg.load(path)
    legacy = tmp_path / "legacy.pt"
    torch.save({"weight": torch.ones(2)}, legacy, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="torch.save file"):
        mg.load(legacy)


def test_members_that_are_not_numeric_npy_arrays_are_refused_never_returned_as_bytes(tmp_path):
    path = tmp_path / "x.npz"
    _zip(path, {"w.npy": _npy(np.ones(2)), "notes.txt": b"hello"})
    with pytest.raises(ValueError, match=r"holds 'notes.txt', which is not a .npy array"):
        mg.load(path)
    for header, why in [(b"\x93NUMPY\x01\x00\x10\x00{'descr': 1 +}   \n", "not a Python literal"),
                        (b"\x93NUMPY\x01\x00\x10\x00{'descr':'<f8'}  \n", "keys must be"),
                        (b"\x93NUMPY\x09\x00\x10\x00{}              \n", "unknown version"),
                        (b"garbage!", "no .npy magic"),
                        (_npy(np.ones(2))[:-16].replace(b"(2,)", b"(-2,)"), "shape"),
                        (_npy(np.ones(2)).replace(b"<f8", b"|V8"), "only numeric arrays"),
                        (_npy(np.array(["a"])), "only numeric arrays")]:
        _zip(path, {"w.npy": header})
        with pytest.raises(ValueError, match=why):
            mg.load(path)


def test_unknown_compression_and_encryption_are_refused(tmp_path):
    import zipfile
    path = tmp_path / "x.npz"
    _zip(path, {"w.npy": _npy(np.ones(2))}, zipfile.ZIP_BZIP2)
    with pytest.raises(ValueError, match=r"uses an unsupported compression \(method 12\)"):
        mg.load(path)
    _zip(path, {"w.npy": _npy(np.ones(2))})
    data = bytearray(path.read_bytes())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local and central headers
        at = data.find(signature)
        data[at + flag_offset] |= 0x1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="is encrypted"):
        mg.load(path)
    np.savez_compressed(tmp_path / "deflated.npz", w=np.arange(4.0))  # deflate is np.savez_compressed's
    np.testing.assert_array_equal(mg.load(tmp_path / "deflated.npz")["w"], np.arange(4.0))


def test_a_header_declaring_more_than_max_bytes_is_refused_before_allocating(tmp_path):
    import tracemalloc
    path = tmp_path / "huge.npz"
    huge = _npy(np.zeros(1)).replace(b"(1,)", b"(100000000000,)")  # 745 GiB of float64 declared
    _zip(path, {"w.npy": huge})
    tracemalloc.start()
    with pytest.raises(ValueError, match=r"declares more than max_bytes=4294967296 bytes"):
        mg.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 10 << 20
    zeros = tmp_path / "zeros.npz"  # 40 MB of zeros deflate to a small file: within a limit, it loads
    np.savez_compressed(zeros, w=np.zeros(5_000_000))
    assert zeros.stat().st_size < 100_000
    assert mg.load(zeros)["w"].shape == (5_000_000,)
    with pytest.raises(ValueError, match="max_bytes=1000000"):
        mg.load(zeros, max_bytes=1_000_000)
    with pytest.raises(TypeError, match="max_bytes must be a non-negative integer"):
        mg.load(zeros, max_bytes="1GB")


def test_a_header_that_lies_about_the_data_size_is_refused(tmp_path):
    path = tmp_path / "short.npz"
    _zip(path, {"w.npy": _npy(np.ones(10))[:-8]})
    with pytest.raises(ValueError, match=r"declares 80 bytes of data but holds 72"):
        mg.load(path)
