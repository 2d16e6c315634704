"""Saving and loading state dicts as .npz files, safely.

``save`` checks every key and value before it writes a byte, writes a temporary file beside
the target and renames it over the target, so a save that fails midway leaves the previous
file as it was. ``load`` reads the archive itself: only ``.npy`` members holding numeric
arrays, with well-formed headers, stored or deflated, within a size limit checked before
anything is allocated. It never unpickles (so it cannot run code) and never returns bytes.
"""
from __future__ import annotations

import ast
import contextlib
import os
import tempfile
import zipfile
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

from .tensor import to_numpy

__all__ = ["load", "save"]

DEFAULT_MAX_BYTES = 4 << 30  # 4 GiB of array data per file, unless ``max_bytes`` says otherwise
_NUMERIC = "biuf"


def save(state_dict: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write {name: array} to ``path`` as an uncompressed .npz (numeric arrays only), atomically."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"save: expected a mapping of names to arrays, got {type(state_dict).__name__}")
    arrays = {_member_name(name): _numeric_array(name, value) for name, value in state_dict.items()}
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: the folder {folder!r} does not exist")
    descriptor, temporary = tempfile.mkstemp(prefix=".mg-save-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(descriptor, "wb") as file:
            # The .npz layout written by hand (as np.savez does), so any key works, even "file",
            # and the path is used as given (np.savez appends ".npz" behind the user's back).
            with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED) as archive:
                for member, array in arrays.items():
                    with archive.open(member, "w", force_zip64=True) as out:
                        np.lib.format.write_array(out, array, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _member_name(name: Any) -> str:
    """The zip member for key ``name``, refusing keys that would not come back as they went in."""
    if not isinstance(name, str):
        raise TypeError(f"save: keys must be strings, got {name!r}")
    if "\x00" in name:
        raise ValueError(f"save: the key {name!r} holds a NUL character, which a zip member name cannot")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"save: the key {name!r} cannot be encoded as UTF-8 for the archive") from None
    return f"{name}.npy"


def _numeric_array(name: str, value: Any) -> np.ndarray:
    array = to_numpy(value)
    if array.dtype.kind not in _NUMERIC:
        raise TypeError(f"save: {name!r} holds dtype {array.dtype}; only numeric arrays are saved")
    return array


def load(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> dict[str, np.ndarray]:
    """Read a file written by ``save`` (or ``np.savez``): {name: numeric array}.

    Anything else is a ValueError: another format (a ``torch.save`` file says how to convert
    it), members that are not ``.npy``, object arrays (which need pickle), malformed headers,
    unknown compression, encryption, or arrays declaring more than ``max_bytes`` in total.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        raise TypeError(f"load: max_bytes must be a non-negative integer, got {max_bytes!r}")
    shown = repr(os.fspath(path))
    with open(path, "rb") as file:
        start = file.read(4)
        if start not in (b"PK\x03\x04", b"PK\x05\x06"):  # what every zip (so every .npz) starts with
            raise ValueError(f"load: {shown} is not an .npz file (the format mg.save writes)"
                             + (_TORCH_HINT if start[:1] == b"\x80" else ""))
        file.seek(0)
        try:
            with zipfile.ZipFile(file) as archive:
                return _read_archive(archive, shown, max_bytes)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as err:
            raise ValueError(f"load: {shown} is not a readable .npz file: {err}") from None


_TORCH_HINT = ("; it looks like a torch.save file: load it with torch.load, then save "
               "{k: v.numpy() for k, v in state.items()} with mg.save")


def _read_archive(archive: zipfile.ZipFile, shown: str, max_bytes: int) -> dict[str, np.ndarray]:
    members = archive.infolist()
    names = [m.filename for m in members]
    if any(n.endswith("data.pkl") for n in names):
        raise ValueError(f"load: {shown} is not an .npz file{_TORCH_HINT}")
    if len(set(names)) != len(names):
        raise ValueError(f"load: {shown} names a member twice")
    total = 0
    plans = []
    for member in members:
        if not member.filename.endswith(".npy"):
            raise ValueError(f"load: {shown} holds {member.filename!r}, which is not a .npy array")
        if member.flag_bits & 0x1:
            raise ValueError(f"load: {shown}: the member {member.filename!r} is encrypted")
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ValueError(f"load: {shown}: the member {member.filename!r} uses an unsupported compression "
                             f"(method {member.compress_type})")
        with archive.open(member) as stream:
            shape, fortran, dtype, header_bytes = _read_header(stream, member.filename, shown)
        nbytes = dtype.itemsize * _count(shape)
        total += nbytes
        if total > max_bytes:
            raise ValueError(f"load: {shown} declares more than max_bytes={max_bytes} bytes of arrays; pass a "
                             "larger max_bytes if you trust the file")
        if header_bytes + nbytes != member.file_size:
            raise ValueError(f"load: {shown}: the member {member.filename!r} declares {nbytes} bytes of data but "
                             f"holds {member.file_size - header_bytes}")
        plans.append((member, shape, fortran, dtype, header_bytes))
    return {member.filename[:-4]: _read_data(archive, member, shape, fortran, dtype, header_bytes, shown)
            for member, shape, fortran, dtype, header_bytes in plans}


def _count(shape: tuple[int, ...]) -> int:
    count = 1
    for n in shape:
        count *= n
    return count


def _read_header(stream: IO[bytes], member: str, shown: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """The shape, order and dtype a .npy header declares, checked strictly (no pickle, numeric only)."""
    def bad(why: str) -> ValueError:
        return ValueError(f"load: {shown}: the member {member!r} has a malformed .npy header ({why})")

    magic = stream.read(8)
    if len(magic) != 8 or magic[:6] != b"\x93NUMPY":
        raise bad("no .npy magic")
    major = magic[6]
    size_bytes = {1: 2, 2: 4, 3: 4}.get(major)
    if size_bytes is None:
        raise bad(f"unknown version {major}.{magic[7]}")
    length = int.from_bytes(stream.read(size_bytes), "little")
    if length > 1 << 20:
        raise bad(f"a {length}-byte header")
    raw = stream.read(length)
    if len(raw) != length:
        raise bad("truncated")
    try:
        header = ast.literal_eval(raw.decode("latin1" if major < 3 else "utf-8"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        raise bad("not a Python literal") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise bad("keys must be descr, fortran_order and shape")
    shape, fortran, descr = header["shape"], header["fortran_order"], header["descr"]
    if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
        raise bad(f"shape {shape!r}")
    if not isinstance(fortran, bool):
        raise bad(f"fortran_order {fortran!r}")
    try:
        dtype = np.lib.format.descr_to_dtype(descr)
    except (TypeError, ValueError):
        raise bad(f"dtype {descr!r}") from None
    if dtype.hasobject:
        raise ValueError(f"load: {shown}: the member {member!r} holds object arrays, which only pickle can read; "
                         "refusing to unpickle (it can run arbitrary code)")
    if dtype.kind not in _NUMERIC or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"load: {shown}: the member {member!r} holds dtype {dtype}; only numeric arrays are "
                         "loaded")
    return shape, fortran, dtype, 8 + size_bytes + length


def _read_data(archive: zipfile.ZipFile, member: zipfile.ZipInfo, shape: tuple[int, ...], fortran: bool,
               dtype: np.dtype, header_bytes: int, shown: str) -> np.ndarray:
    array = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    with archive.open(member) as stream:
        stream.read(header_bytes)
        flat = array.reshape(-1, order="A")  # a view in memory order, so reading fills ``array``
        buffer = memoryview(flat).cast("B") if array.size else memoryview(b"")  # type: ignore[arg-type]
        filled = 0
        while filled < len(buffer):
            got = stream.readinto(buffer[filled:])  # type: ignore[attr-defined]
            if not got:
                raise ValueError(f"load: {shown}: the member {member.filename!r} ends early")
            filled += got
    return array
