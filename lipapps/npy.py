"""Reading ``.npy`` files given on the command line: arrays only, with one clear error otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lipapps.errors import InputError

#: The first bytes of every ``.npy`` file (NumPy's format specification).
NPY_MAGIC = b"\x93NUMPY"


def load_npy(path: str | os.PathLike, what: str = "array") -> np.ndarray:
    """The array stored in the ``.npy`` file ``path`` (never a pickle); ``what`` names it in errors.

    Raises :class:`FileNotFoundError` for a missing file and :class:`InputError` for a file that
    is not in the ``.npy`` format (a text file, say), holds pickled objects, or is cut short.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    with open(path, "rb") as handle:
        if handle.read(len(NPY_MAGIC)) != NPY_MAGIC:
            raise InputError(f"cannot read {what} {path}: not a .npy file (no NumPy header); save arrays with numpy.save")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as exc:
        reason = "it holds Python objects (pickled data)" if "pickle" in str(exc) else str(exc)
        raise InputError(f"cannot read {what} {path} as a .npy array: {reason}") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"cannot read {what} {path} as a .npy array ({type(exc).__name__}: corrupt or cut short)") from None
