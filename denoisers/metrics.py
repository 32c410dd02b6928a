"""Image quality on the ``[0, 1]`` intensity scale: PSNR and SSIM of a clipped estimate."""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import structural_similarity


def _numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    array = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return array.astype(np.float64).squeeze()


def psnr(estimate: torch.Tensor | np.ndarray, truth: torch.Tensor | np.ndarray) -> float:
    """``10 log10(1 / MSE)`` in dB, with the estimate clipped to ``[0, 1]``."""
    mse = float(np.mean((np.clip(_numpy(estimate), 0.0, 1.0) - _numpy(truth)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def psnr_per_image(estimate: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """:func:`psnr` of each image of a batch ``(B, ...)``, in the tensors' dtype and on their device
    (for validation during training); the mean squared error is floored at ``1e-12`` (120 dB)."""
    mse = ((estimate.clamp(0, 1) - truth) ** 2).flatten(1).mean(dim=1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-12))


def ssim(estimate: torch.Tensor | np.ndarray, truth: torch.Tensor | np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004; scikit-image) with data range 1, estimate clipped to ``[0, 1]``."""
    return float(structural_similarity(np.clip(_numpy(estimate), 0.0, 1.0), _numpy(truth), data_range=1.0))
