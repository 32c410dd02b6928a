"""Training the prox denoiser through its solver: unrolled accelerated gradient descent, any sigma in a range.

Each epoch draws, from its seed alone (:func:`lipapps.training.epoch_seed`), fresh random patches of the
training images (:func:`denoisers.training.random_patches`), one noise level per patch, uniform in
``[sigma_min, sigma_max]`` (0-255 scale), and the Gaussian noise itself; the number of unrolled
iterations grows linearly over the epochs from ``steps[0]`` to ``steps[1]`` (CRR-NN trains its prox
this way, Goujon et al. 2023). So a run resumed from its checkpoint sees the same data as an
uninterrupted one. The loss is the per-patch mean squared error of
:meth:`denoisers.prox.ProxDenoiser.unrolled` against the clean patch; :func:`lipapps.train` keeps
``||K|| <= 1`` after every optimiser step and writes atomic, resumable checkpoints. After each epoch
the validation PSNR of the converged prox (:meth:`~denoisers.prox.ProxDenoiser.solve`) on fixed
noisy central crops of the validation images is recorded at each of ``validation_sigmas``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

import lipapps
from lipapps import InputError
from lipapps.training import epoch_seed

from denoisers.images import read_image
from denoisers.metrics import psnr_per_image
from denoisers.prox import ProxDenoiser
from denoisers.training import centre_crops, image_files, random_patches, split_files


@dataclass
class ProxTraining:
    """What :func:`train_prox_denoiser` returns: the model and the per-epoch history."""

    model: ProxDenoiser
    history: list[dict[str, Any]] = field(default_factory=list)


def unroll_steps(epoch: int, epochs: int, steps: tuple[int, int]) -> int:
    """The unrolled iterations of epoch ``epoch`` (from 0): linear from ``steps[0]`` to ``steps[1]``, rounded."""
    if epochs <= 1:
        return steps[1]
    return round(steps[0] + (steps[1] - steps[0]) * epoch / (epochs - 1))


def unrolled_loss(model: nn.Module, clean: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Per-patch MSE of ``model.unrolled(clean + sigma / 255 * noise, sigma, steps)`` against ``clean``."""
    noisy = clean + (sigma / 255.0).view(-1, 1, 1, 1) * noise
    out = model.unrolled(noisy, sigma, int(steps[0]))
    return ((out - clean) ** 2).flatten(1).mean(dim=1)


def train_prox_denoiser(
    data: str | os.PathLike,
    model: ProxDenoiser,
    *,
    epochs: int = 10,
    steps: tuple[int, int] = (5, 20),
    sigma_range: tuple[float, float] = (5.0, 50.0),
    patch_size: int = 40,
    patches_per_image: int = 8,
    batch_size: int = 16,
    lr: float = 1e-3,
    activation_lr_factor: float = 10.0,
    validation_fraction: float = 0.1,
    validation_images: int = 4,
    validation_crop: int = 64,
    validation_sigmas: tuple[float, ...] = (15.0, 25.0, 50.0),
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> ProxTraining:
    """Train ``model`` in place through ``steps`` unrolled iterations on the images of ``data`` (module docstring).

    The split into training and validation images is :func:`denoisers.training.split_files` with
    ``seed`` (the split of :func:`denoisers.training.train_denoiser`). ``checkpoint`` / ``resume``
    and ``activation_lr_factor`` are those of :func:`lipapps.train`.
    """
    low, high = sigma_range
    if not 0 < low <= high:
        raise InputError(f"the sigma range must satisfy 0 < low <= high, got {sigma_range}")
    if not 1 <= steps[0] <= steps[1]:
        raise InputError(f"the unrolled steps must satisfy 1 <= first <= last, got {steps}")
    train_files, val_files = split_files(image_files(data), validation_fraction, seed)
    images = [read_image(p) for p in train_files]
    val_clean = centre_crops([read_image(p) for p in val_files[:validation_images]], validation_crop)
    val_noise = torch.randn(val_clean.shape, generator=torch.Generator().manual_seed(seed + 1))

    def draw(epoch: int) -> tuple[torch.Tensor, ...]:
        clean = random_patches(images, patch_size, patches_per_image, epoch_seed(seed, epoch))
        gen = torch.Generator().manual_seed(epoch_seed(seed, epoch) + 1)
        sigma = low + (high - low) * torch.rand(len(clean), generator=gen)
        noise = torch.randn(clean.shape, generator=gen)
        return clean, sigma, noise, torch.full((len(clean),), unroll_steps(epoch, epochs, steps))

    def validate(epoch: int, net: nn.Module) -> dict[str, Any]:
        out = {}
        for sigma in validation_sigmas:
            solution = net.solve(val_clean + sigma / 255.0 * val_noise, sigma)
            out[f"validation_psnr_sigma{sigma:g}"] = float(psnr_per_image(solution.x, val_clean).mean())
        out["unrolled_steps"] = unroll_steps(epoch - 1, epochs, steps)
        return out

    result = lipapps.train(model, unrolled_loss, draw, epochs=epochs, batch_size=batch_size, lr=lr,
                           activation_lr_factor=activation_lr_factor, seed=seed, checkpoint=checkpoint, resume=resume,
                           progress=progress, callback=validate)
    model.eval()
    return ProxTraining(model=model, history=result.history)
