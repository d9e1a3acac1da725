"""Loading untrusted pickles and .npz files without running their code.

``pickle.load`` calls whatever a file names; :func:`load_pickle` allows only plain containers
(dict, list, tuple, str, numbers: they need no lookup) and the numpy / scipy.sparse array types,
and refuses anything else with :class:`UnsafePickleError` naming it. :func:`load_npz` reads every
plain array of an .npz without pickle and the object arrays through the same restricted
unpickler. Used for SMPL / SMPL-X model files (``models.body.smpl_body``) and the Human3.6M
``cameras.pkl`` (``models.evaluate.realsets``).
"""
from __future__ import annotations

import _compat_pickle
import codecs
import copyreg
import pickle
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """The file names a global that is not an array type; nothing of it was run."""


def _allowed() -> dict[tuple[str, str], Any]:
    import scipy.sparse

    multiarray = np.core.multiarray
    found = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.numeric", "_frombuffer"): np.core.numeric._frombuffer,
        ("numpy._core.numeric", "_frombuffer"): np.core.numeric._frombuffer,
        ("copyreg", "_reconstructor"): copyreg._reconstructor,  # Python 2 pickles of new-style objects
        ("builtins", "object"): object,  # the base class that _reconstructor names
        ("_codecs", "encode"): codecs.encode,  # bytes in protocol 2 pickles
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        found[(module, "_reconstruct")] = multiarray._reconstruct
        found[(module, "scalar")] = multiarray.scalar
    for kind in ("csc", "csr", "coo"):
        cls = getattr(scipy.sparse, f"{kind}_matrix")
        for module in (f"scipy.sparse.{kind}", f"scipy.sparse._{kind}", "scipy.sparse"):
            found[(module, f"{kind}_matrix")] = cls
    return found


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` knows only numpy/scipy array types (see module doc)."""

    _globals: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if RestrictedUnpickler._globals is None:
            RestrictedUnpickler._globals = _allowed()
        if (module, name) in _compat_pickle.NAME_MAPPING:  # Python 2 names, as pickle's own find_class maps them
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        else:
            module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        try:
            return RestrictedUnpickler._globals[(module, name)]
        except KeyError:
            raise UnsafePickleError(f"it refers to {module}.{name}, which is not a numpy or scipy array type "
                                    "(refused without running it)") from None


def load_pickle(file: str | Path | BinaryIO) -> Any:
    """Unpickle ``file`` (a path or binary file) allowing only array types; Python 2 pickles too."""
    if isinstance(file, (str, Path)):
        with open(file, "rb") as f:
            return load_pickle(f)
    return RestrictedUnpickler(file, encoding="latin1").load()


def _object_array(member: BinaryIO) -> np.ndarray:
    """An object-dtype .npy read through the restricted unpickler (numpy pickles the array whole)."""
    version = np.lib.format.read_magic(member)
    read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    read_header(member)
    array = RestrictedUnpickler(member, encoding="latin1").load()
    if not isinstance(array, np.ndarray):
        raise UnsafePickleError(f"an object array holds a {type(array).__name__}, not an array")
    return array


def load_npz(path: str | Path) -> dict[str, np.ndarray]:
    """Every array of an .npz (or a single .npy under its stem): plain arrays without pickle,
    object arrays through :class:`RestrictedUnpickler`."""
    path = Path(path)
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            try:
                return {path.stem: np.load(f, allow_pickle=False)}
            except ValueError:
                f.seek(0)
                return {path.stem: _object_array(f)}
    out = {}
    with np.load(path, allow_pickle=False) as data, zipfile.ZipFile(path) as archive:
        for key in data.files:
            try:
                out[key] = data[key]
            except ValueError:  # an object array: numpy would unpickle it
                with archive.open(f"{key}.npy") as member:
                    out[key] = _object_array(member)
    return out
