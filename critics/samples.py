"""Sample sets for the W1 tools: read them from files, check them, normalise their weights.

A sample set is an array of shape ``(n, d)`` with ``n >= 1`` finite rows; an empirical measure is
such a set with non-negative weights summing to one (uniform when none are given). Every check
raises :class:`lipapps.errors.InputError` naming the set and the problem, so the CLI can print one
line and exit with code 2.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from lipapps.errors import InputError
from lipapps.npy import load_npy

SAMPLE_SUFFIXES = (".npy", ".npz", ".csv", ".pt")


def _read_npz(path: Path) -> np.ndarray:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if len(names) != 1:
            raise InputError(
                f"{path}: an .npz file of samples must hold exactly one array, found {len(names)}"
                + (f" ({', '.join(names)})" if names else "")
            )
        return archive[names[0]]


def _read_pt(path: Path) -> np.ndarray:
    try:
        value = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for foreign or corrupt files
        raise InputError(f"{path}: cannot read as a torch tensor file ({err.__class__.__name__})") from err
    if not isinstance(value, torch.Tensor):
        raise InputError(f"{path}: a .pt file of samples must hold one tensor, found {type(value).__name__}")
    return value.detach().cpu().numpy()


def _read_csv(path: Path) -> np.ndarray:
    text = path.read_text()
    rows = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not rows:
        return np.empty((0, 0))
    try:
        return np.loadtxt(rows, delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError:
        try:  # one header line of column names
            return np.loadtxt(rows[1:], delimiter=",", ndmin=2, dtype=np.float64)
        except ValueError as err:
            raise InputError(f"{path}: not a CSV table of numbers ({err})") from err


def load_samples(path: str | os.PathLike) -> np.ndarray:
    """Read a sample set of shape ``(n, d)`` from a ``.npy``, ``.npz``, ``.csv`` or ``.pt`` file.

    ``.npz`` and ``.pt`` files must hold a single array (tensors are loaded with
    ``weights_only=True``, never unrestricted pickle); a CSV file holds one sample per line,
    comma-separated, with an optional header line and ``#`` comments. A 1-D array is read as
    ``n`` samples in dimension 1. Raises ``FileNotFoundError`` for a missing file and
    :class:`InputError` for an unknown suffix, an unreadable file or a set that fails
    :func:`as_samples`.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sample file not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in SAMPLE_SUFFIXES:
        raise InputError(f"{path}: unknown sample file type {suffix!r}; use one of {', '.join(SAMPLE_SUFFIXES)}")
    try:
        if suffix == ".npy":
            values = load_npy(path, "samples")
        elif suffix == ".npz":
            values = _read_npz(path)
        elif suffix == ".pt":
            values = _read_pt(path)
        else:
            values = _read_csv(path)
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read samples ({err.__class__.__name__}: {err})") from err
    return as_samples(values, name=str(path))


def as_samples(values: np.ndarray | torch.Tensor, name: str = "samples") -> np.ndarray:
    """Check one sample set and return it as a float64 array of shape ``(n, d)``.

    Accepts numpy arrays and torch tensors of real numbers; a 1-D array is ``n`` points in
    dimension 1. Raises :class:`InputError` for a wrong number of dimensions, a non-numeric type,
    an empty set, or NaN/inf values (naming the first bad row).
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"{name}: samples must be real numbers, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise InputError(f"{name}: samples must be real numbers, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise InputError(f"{name}: samples must have shape (n, d), got shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"{name}: empty sample set (shape {array.shape})")
    array = array.astype(np.float64, copy=False)
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise InputError(f"{name}: NaN or infinite value in row {row} ({int((~finite).sum())} bad rows)")
    return array


def as_weights(weights: np.ndarray | torch.Tensor | None, n: int, name: str = "weights") -> np.ndarray:
    """Probability weights for ``n`` samples: uniform when ``None``, else checked and normalised.

    Weights must be a 1-D array of ``n`` finite, non-negative numbers with a positive sum; the
    result (float64) sums to one.
    """
    if weights is None:
        return np.full(n, 1.0 / n)
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().cpu().numpy()
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise InputError(f"{name}: expected shape ({n},) to match the samples, got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise InputError(f"{name}: weights must be finite and non-negative")
    total = w.sum()
    if total <= 0:
        raise InputError(f"{name}: weights must have a positive sum")
    return w / total


def check_pair(x: np.ndarray, y: np.ndarray, names: tuple[str, str] = ("x", "y")) -> None:
    """Raise :class:`InputError` unless two checked sample sets live in the same dimension."""
    if x.shape[1] != y.shape[1]:
        raise InputError(
            f"{names[0]} and {names[1]} have different dimensions: {x.shape[1]} and {y.shape[1]}"
        )
