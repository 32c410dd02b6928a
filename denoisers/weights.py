"""The shipped denoiser weights (``denoisers/weights/``), loaded from the package, no network.

Two families, each for sigma = 15, 25, 50 (0-255 scale):

* ``"firm"`` (``sigma<S>.pt``): firmly non-expansive (``a = 1/2``), the priors of PnP-FBS and
  PnP-ADMM (:mod:`denoisers.reconstruct`);
* ``"ridge"`` (``ridge_sigma<S>.pt``): convex-ridge denoisers, one gradient step on a learned
  convex potential, certified 0.99-averaged; the better denoiser applied once (BSD68, docs).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import lipapps
from lipapps import InputError

from denoisers.model import AveragedDenoiser

FAMILIES = ("firm", "ridge")
_PREFIX = {"firm": "sigma", "ridge": "ridge_sigma"}


def _weights_dir() -> Path:
    return Path(str(resources.files("denoisers") / "weights"))


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise InputError(f"unknown denoiser family {family!r}; choose one of {', '.join(FAMILIES)}")


def weights_name(sigma: int, family: str = "firm") -> str:
    """The file stem of the ``family`` weights for ``sigma``: ``sigma25``, ``ridge_sigma25``."""
    _check_family(family)
    return f"{_PREFIX[family]}{sigma}"


def available_sigmas(family: str = "firm") -> list[int]:
    """Noise levels (0-255 scale) with shipped weights of ``family``, ascending."""
    _check_family(family)
    folder = _weights_dir()
    if not folder.is_dir():
        return []
    levels = (p.stem.removeprefix(_PREFIX[family]) for p in folder.glob(f"{_PREFIX[family]}*.pt"))
    return sorted(int(level) for level in levels if level.isdigit())


def nearest_sigma(noise: float, family: str = "firm") -> int:
    """The shipped level of ``family`` closest to ``noise`` (a standard deviation on the ``[0, 1]`` scale)."""
    sigmas = available_sigmas(family)
    if not sigmas:
        raise InputError(f"no shipped {family} denoiser weights in {_weights_dir()}")
    return min(sigmas, key=lambda s: abs(s - 255.0 * noise))


def _shipped_path(sigma: int, family: str) -> Path:
    """The file of the shipped ``family`` weights for ``sigma``; :class:`InputError` when there is none."""
    path = _weights_dir() / f"{weights_name(sigma, family)}.pt"
    if not path.is_file():
        raise InputError(f"no shipped {family} denoiser for sigma {sigma}; available: {available_sigmas(family)}")
    return path


def weights_digest(sigma: int, family: str = "firm") -> str:
    """The first 12 hex digits of the SHA-256 of the shipped ``family`` weights for ``sigma``: which
    weights a result was made with (records name them, as the weights change between versions)."""
    path = _shipped_path(sigma, family)
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def load_denoiser(sigma: int, family: str = "firm") -> AveragedDenoiser:
    """The shipped ``family`` denoiser for ``sigma`` (0-255 scale), checked certified on load by :func:`lipapps.load`."""
    path = _shipped_path(sigma, family)
    model = lipapps.load(path)
    if not isinstance(model, AveragedDenoiser):
        raise InputError(f"{path} does not hold an AveragedDenoiser")
    return model
