"""The shipped denoiser weights (``denoisers/weights/``), loaded from the package, no network.

Two families with a file per level, sigma = 15, 25, 50 (0-255 scale), and one with a file for every level:

* ``"firm"`` (``sigma<S>.pt``): firmly non-expansive (``a = 1/2``), the priors of PnP-FBS and
  PnP-ADMM (:mod:`denoisers.reconstruct`);
* ``"ridge"`` (``ridge_sigma<S>.pt``): convex-ridge denoisers, one gradient step on a learned
  convex potential, certified 0.99-averaged; the better denoiser applied once (BSD68, docs);
* ``"conditioned"`` (``conditioned_ridge.pt``): one noise-conditioned convex-ridge denoiser for
  every level of :data:`denoisers.model.CONDITIONED_RANGE`, certified 0.99-averaged at all of them.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import lipapps
from lipapps import InputError

from denoisers.model import CONDITIONED_RANGE, AveragedDenoiser

FAMILIES = ("firm", "ridge", "conditioned")
#: The family whose one file serves every level (:meth:`denoisers.model.AveragedDenoiser.at_level`).
CONDITIONED = "conditioned"
_PREFIX = {"firm": "sigma", "ridge": "ridge_sigma"}
_CONDITIONED_STEM = "conditioned_ridge"


def _weights_dir() -> Path:
    return Path(str(resources.files("denoisers") / "weights"))


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise InputError(f"unknown denoiser family {family!r}; choose one of {', '.join(FAMILIES)}")


def weights_name(sigma: int, family: str = "firm") -> str:
    """The file stem of the ``family`` weights for ``sigma``: ``sigma25``, ``ridge_sigma25``; the
    ``conditioned`` family has one file for every level, ``conditioned_ridge``."""
    _check_family(family)
    return _CONDITIONED_STEM if family == CONDITIONED else f"{_PREFIX[family]}{sigma}"


def available_sigmas(family: str = "firm") -> list[int]:
    """Noise levels (0-255 scale) with a shipped file of ``family``, ascending (the ``conditioned``
    family has none per level: :class:`InputError`; it serves every level of its range)."""
    _check_family(family)
    if family == CONDITIONED:
        low, high = CONDITIONED_RANGE
        raise InputError(f"the conditioned denoiser has one file for every level from {low:g} to {high:g}, not one per level")
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
    if family == CONDITIONED and not path.is_file():
        raise InputError(f"no shipped conditioned denoiser: {path} is missing")
    if not path.is_file():
        raise InputError(f"no shipped {family} denoiser for sigma {sigma}; available: {available_sigmas(family)}")
    return path


def weights_digest(sigma: int, family: str = "firm") -> str:
    """The first 12 hex digits of the SHA-256 of the shipped ``family`` weights for ``sigma``: which
    weights a result was made with (records name them, as the weights change between versions)."""
    return file_digest(_shipped_path(sigma, family))


def file_digest(path: Path) -> str:
    """The first 12 hex digits of the SHA-256 of the file ``path``: which weights a record was made with."""
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def read_denoiser(path: Path, conditioned: bool) -> AveragedDenoiser:
    """The denoiser in ``path``, certified on load by :func:`lipapps.load`, noise-conditioned or not as
    asked; :class:`InputError` for anything else."""
    model = lipapps.load(path)
    if not isinstance(model, AveragedDenoiser) or model.noise_conditioned != conditioned:
        raise InputError(f"{path} does not hold {'a noise-conditioned' if conditioned else 'an'} AveragedDenoiser")
    return model


def load_denoiser(sigma: float, family: str = "firm") -> AveragedDenoiser:
    """The shipped ``family`` denoiser for ``sigma`` (0-255 scale), checked certified on load by :func:`lipapps.load`;
    the ``conditioned`` one runs at ``sigma``, any level of :data:`denoisers.model.CONDITIONED_RANGE`."""
    if family != CONDITIONED:
        return read_denoiser(_shipped_path(sigma, family), conditioned=False)
    if not CONDITIONED_RANGE[0] <= sigma <= CONDITIONED_RANGE[1]:
        raise InputError(f"the conditioned denoiser serves sigma {CONDITIONED_RANGE[0]:g} to {CONDITIONED_RANGE[1]:g}, got {sigma:g}")
    return load_conditioned_denoiser().at_level(sigma)


def load_conditioned_denoiser() -> AveragedDenoiser:
    """The shipped noise-conditioned denoiser (every level of :data:`denoisers.model.CONDITIONED_RANGE`;
    ``model(x, sigma)``, or :meth:`~denoisers.model.AveragedDenoiser.at_level`), certified on load."""
    return read_denoiser(_shipped_path(0, CONDITIONED), conditioned=True)
