"""Restricted unpickling: a pickle is code, so the releases' and labs' pickles are loaded with an unpickler that
builds only builtin containers and the classes a caller allows, and refuses anything else (one owner)."""

from __future__ import annotations

import pickle
from collections.abc import Collection
from typing import Any, BinaryIO

# numpy scalars and dtypes; what a pickle of plain values with numpy numbers needs.
NUMPY_SCALARS = frozenset(
    {
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }
)
# numpy arrays as well (and what their pickles reference), and nothing that can run code.
NUMPY_ARRAYS = NUMPY_SCALARS | {
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}


class _Restricted(pickle.Unpickler):
    def __init__(self, file: BinaryIO, allowed: Collection[tuple[str, str]], why: str):
        super().__init__(file)
        self._allowed, self._why = allowed, why

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._allowed:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}{self._why}")


def restricted_load(file: BinaryIO, allowed: Collection[tuple[str, str]], why: str = "") -> Any:
    """``pickle.load(file)`` building only ``allowed`` ``(module, name)`` globals; any other raises
    ``pickle.UnpicklingError("refusing to load MODULE.NAME" + why)``."""
    return _Restricted(file, allowed, why).load()
