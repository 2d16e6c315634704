"""Saving and loading state dicts as .npz files; loading never unpickles (it cannot run code)."""
from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from .tensor import to_numpy

__all__ = ["save", "load"]


def save(state_dict: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write {name: array} to ``path`` as an uncompressed .npz (numeric arrays only)."""
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"save: expected a mapping of names to arrays, got {type(state_dict).__name__}")
    arrays = {}
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"save: keys must be strings, got {name!r}")
        array = to_numpy(value)
        if array.dtype.kind not in "biuf":
            raise TypeError(f"save: {name!r} holds dtype {array.dtype}; only numeric arrays are saved")
        arrays[name] = array
    # The .npz layout written by hand (as np.savez does), so any key works, even "file", and the
    # path is used as given (np.savez appends ".npz" behind the user's back).
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a file written by ``save``; object arrays (which would need pickle) are refused."""
    shown = repr(os.fspath(path))
    with open(path, "rb") as f:
        if f.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):  # what every zip (so every .npz) starts with
            raise ValueError(f"load: {shown} is not an .npz file (the format mg.save writes)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except ValueError as err:
        if "pickle" in str(err):
            raise ValueError(f"load: {shown} holds object arrays, which only pickle can read; "
                             "refusing to unpickle (it can run arbitrary code)") from None
        raise ValueError(f"load: {shown} is not a readable .npz file: {err}") from None
    except zipfile.BadZipFile as err:
        raise ValueError(f"load: {shown} is not a readable .npz file: {err}") from None
