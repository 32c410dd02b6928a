"""The five reconstruction problems: their forward models, simulated or given measurements.

``simulate`` degrades a ground-truth image (``y = A x + n``, ``n ~ N(0, noise^2)``, seeded);
``from_measurement`` wraps a given measurement with the operator its options describe. Defaults:
Gaussian blur 9x9 with std 1.6, half of the pixels observed, 2x block-average downsampling,
30 CT angles on ``[0, 180)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lipapps import InputError

from denoisers.operators import Blur, Downsampling, Identity, Inpainting, LinearOperator, gaussian_kernel
from denoisers.radon import ParallelBeamCT, field_of_view, uniform_angles

PROBLEMS = ("denoise", "deblur", "inpaint", "superres", "ct")
DEFAULT_NOISE = {"denoise": 25.0 / 255.0, "deblur": 0.01, "inpaint": 0.01, "superres": 0.01, "ct": 0.1}
DEFAULT_ANGLES = 30
DEFAULT_OBSERVED = 0.5


@dataclass
class Problem:
    """An inverse problem ``y = A x + n``: name, operator, measurement, noise level and (optional) truth."""

    name: str
    operator: LinearOperator
    y: torch.Tensor
    noise: float
    truth: torch.Tensor | None = None


def _check_name(name: str) -> None:
    if name not in PROBLEMS:
        raise InputError(f"unknown problem {name!r}; choose one of {', '.join(PROBLEMS)}")


def _check_noise(noise: float) -> float:
    if not np.isfinite(noise) or noise < 0:
        raise InputError(f"noise must be a non-negative standard deviation, got {noise}")
    return float(noise)


def ct_disc(image: torch.Tensor) -> torch.Tensor:
    """The centred square crop of ``image``, zero outside its inscribed disc (the CT field of view)."""
    h, w = image.shape
    n = min(h, w)
    square = image[(h - n) // 2 : (h - n) // 2 + n, (w - n) // 2 : (w - n) // 2 + n].clone()
    square[~field_of_view(n, square.device)] = 0
    return square


def _operator(
    name: str, image_shape: tuple[int, int], kernel: np.ndarray | None, mask: np.ndarray | None, angles: int | None, seed: int
) -> LinearOperator:
    if name == "denoise":
        return Identity(image_shape)
    if name == "deblur":
        return Blur(torch.from_numpy(kernel) if kernel is not None else gaussian_kernel(9, 1.6), image_shape)
    if name == "inpaint":
        if mask is None:
            return Inpainting.random(image_shape, DEFAULT_OBSERVED, seed=seed)
        if tuple(mask.shape) != tuple(image_shape):
            raise InputError(f"mask shape {mask.shape} does not match the image shape {tuple(image_shape)}")
        return Inpainting(torch.from_numpy(mask))
    if name == "superres":
        return Downsampling(image_shape, 2)
    return ParallelBeamCT(image_shape[0], uniform_angles(DEFAULT_ANGLES if angles is None else angles))


def _truth_for(name: str, image: torch.Tensor) -> torch.Tensor:
    if name == "superres":
        return image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]
    if name == "ct":
        return ct_disc(image)
    return image


def simulate(
    name: str,
    image: torch.Tensor,
    noise: float | None = None,
    seed: int = 0,
    kernel: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    angles: int | None = None,
) -> Problem:
    """Simulate ``y = A x + n`` from the ground truth ``image`` (cropped to even size for
    super-resolution, to the disc of its centred square for CT)."""
    _check_name(name)
    noise = _check_noise(DEFAULT_NOISE[name] if noise is None else noise)
    truth = _truth_for(name, image)
    if min(truth.shape) < 8:
        raise InputError(f"image of shape {tuple(image.shape)} is too small (need at least 8x8)")
    operator = _operator(name, tuple(truth.shape), kernel, mask, angles, seed)
    gen = torch.Generator().manual_seed(seed)
    y = operator.A(truth) + noise * torch.randn(operator.measurement_shape, generator=gen)
    return Problem(name, operator, y, noise, truth)


def simulate_ct_relative(image: torch.Tensor, angles: int, peak_fraction: float, seed: int = 0) -> Problem:
    """CT with noise relative to the data: ``y = A x + n``, ``n ~ N(0, s^2)`` with
    ``s = peak_fraction * max(A x)`` (e.g. 0.01: 1% of the noiseless sinogram's peak), seeded;
    ``x`` is the disc of the centred square of ``image``, as in :func:`simulate`."""
    if not np.isfinite(peak_fraction) or peak_fraction < 0:
        raise InputError(f"the noise fraction of the sinogram's peak must be non-negative, got {peak_fraction}")
    truth = _truth_for("ct", image)
    if min(truth.shape) < 8:
        raise InputError(f"image of shape {tuple(image.shape)} is too small (need at least 8x8)")
    operator = _operator("ct", tuple(truth.shape), None, None, angles, seed)
    clean = operator.A(truth)
    noise = peak_fraction * float(clean.max())
    gen = torch.Generator().manual_seed(seed)
    return Problem("ct", operator, clean + noise * torch.randn(operator.measurement_shape, generator=gen), noise, truth)


def from_measurement(
    name: str,
    y: np.ndarray,
    noise: float | None = None,
    kernel: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    angles: int | None = None,
    truth: torch.Tensor | None = None,
) -> Problem:
    """Wrap a given measurement ``y``; the image shape follows from ``y`` and the operator's options."""
    _check_name(name)
    if name == "denoise" and noise is None:
        raise InputError("denoising a given measurement needs its noise level: pass --noise")
    noise = _check_noise(DEFAULT_NOISE[name] if noise is None else noise)
    h, w = y.shape
    if name == "deblur" and kernel is None:
        raise InputError("deblurring a given measurement needs its blur kernel: pass --kernel k.npy")
    if name == "inpaint" and mask is None:
        raise InputError("inpainting a given measurement needs its mask: pass --mask m.npy")
    if name == "ct" and angles is not None and angles != h:
        raise InputError(f"the CT measurement has {h} rows (angles) but --angles is {angles}")
    image_shape = {"superres": (2 * h, 2 * w), "ct": (w, w)}.get(name, (h, w))
    operator = _operator(name, image_shape, kernel, mask, h if name == "ct" else angles, 0)
    if truth is not None and tuple(truth.shape) != tuple(image_shape):
        raise InputError(f"truth image shape {tuple(truth.shape)} does not match the reconstruction shape {image_shape}")
    return Problem(name, operator, torch.from_numpy(y.astype(np.float32)), noise, truth)
