"""Training the averaged denoiser on patches of natural grayscale images with Gaussian noise.

The images of a folder are split (seeded) into training and validation images; training
patches are random crops with random flips and rotations by 90 degrees, drawn once, or drawn
afresh for every epoch (``fresh_patches``, seeded by the epoch, so resuming sees the same
crops); fresh noise
``N(0, (sigma / 255)^2)`` is drawn for every batch. The loss is the per-patch mean squared error
of ``D(x + noise)`` against ``x``. Training runs through :func:`lipapps.train` (Adam, cosine
schedule, constraint kept after every step, atomic resumable checkpoints, DDP under torchrun);
after each epoch the validation PSNR on fixed noisy crops is recorded.

A noise-conditioned model (``AveragedDenoiser(noise_conditioned=True)``) trains over a range of
levels instead (``sigma_range``): each patch draws its level uniformly from the range and the
denoiser is told it; the loss divides each patch's MSE by ``(sigma / 25)^p``, ``p`` =
:data:`LEVEL_EXPONENT`, about how the MSE of these denoisers grows with the level, so that every
level weighs about alike in dB (a change of PSNR is a relative change of MSE), and validation reports the PSNR at :data:`VALIDATION_LEVELS` within
the range (their mean is the run's validation PSNR).
"""

from __future__ import annotations

import copy
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

import lipapps
from lipapps import InputError
from lipapps.training import epoch_seed

from denoisers.images import centre_crop, read_image
from denoisers.model import REFERENCE_SIGMA, AveragedDenoiser
from denoisers.metrics import psnr_per_image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
#: The levels a noise-conditioned run validates at (those inside its range, and the range's ends).
VALIDATION_LEVELS = (5.0, 15.0, 25.0, 50.0)
#: ``p`` in the MSE's growth ``sigma^p`` with the level: the shipped sigma-25 convex-ridge denoiser
#: scaled to each level lost 12.3 dB from sigma 5 to 50 on the validation crops (36.55 to 24.25),
#: ``p = 1.23``.
LEVEL_EXPONENT = 1.25


@dataclass
class DenoiserTraining:
    """What :func:`train_denoiser` returns: the model, per-epoch history and the final validation PSNR."""

    model: AveragedDenoiser
    history: list[dict[str, Any]] = field(default_factory=list)
    validation_psnr: float = math.nan
    seconds: float = 0.0


def image_files(folder: str | os.PathLike) -> list[Path]:
    """The image files of ``folder``, sorted; :class:`lipapps.InputError` when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"image folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def split_files(files: list[Path], validation_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """A seeded split into training and validation files (at least one of each)."""
    if len(files) < 2:
        raise InputError(f"need at least 2 images to split into training and validation, got {len(files)}")
    order = torch.randperm(len(files), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = min(max(1, round(validation_fraction * len(files))), len(files) - 1)
    return [files[i] for i in order[n_val:]], [files[i] for i in order[:n_val]]


def random_patches(images: list[torch.Tensor], patch_size: int, per_image: int, seed: int) -> torch.Tensor:
    """``per_image`` random ``patch_size`` crops of each image, randomly flipped/rotated: ``(N, 1, p, p)``."""
    gen = torch.Generator().manual_seed(seed)
    patches = []
    for image in images:
        h, w = image.shape
        if h < patch_size or w < patch_size:
            raise InputError(f"an image of shape {(h, w)} is smaller than the patch size {patch_size}")
        for _ in range(per_image):
            i = int(torch.randint(0, h - patch_size + 1, (1,), generator=gen))
            j = int(torch.randint(0, w - patch_size + 1, (1,), generator=gen))
            patch = image[i : i + patch_size, j : j + patch_size]
            patch = torch.rot90(patch, int(torch.randint(0, 4, (1,), generator=gen)))
            if torch.rand((), generator=gen) < 0.5:
                patch = patch.flip(-1)
            patches.append(patch)
    return torch.stack(patches)[:, None].contiguous()


def centre_crops(images: list[torch.Tensor], size: int) -> torch.Tensor:
    """The central ``size x size`` crop of each image: ``(N, 1, size, size)``."""
    crops = [centre_crop(image, size) for image in images]
    if len({c.shape for c in crops}) != 1:
        raise InputError(f"validation images must all be at least {size}x{size}")
    return torch.stack(crops)[:, None]


def noise_loss(sigma: float):
    """Per-patch MSE of ``D(x + n)`` against ``x`` with ``n ~ N(0, (sigma/255)^2)``, fresh for every call."""
    std = sigma / 255.0

    def loss(model: nn.Module, clean: torch.Tensor) -> torch.Tensor:
        noisy = clean + std * torch.randn_like(clean)
        return ((model(noisy) - clean) ** 2).flatten(1).mean(dim=1)

    return loss


def conditioned_noise_loss(low: float, high: float):
    """Per-patch MSE of ``D(x + n, sigma)`` against ``x`` over ``(sigma / 25)^p`` (:data:`LEVEL_EXPONENT`), with ``sigma ~ U[low, high]``
    per patch (0-255 scale) and ``n ~ N(0, (sigma/255)^2)``, fresh for every call: for a noise-conditioned model."""

    def loss(model: nn.Module, clean: torch.Tensor) -> torch.Tensor:
        sigma = low + (high - low) * torch.rand(clean.shape[0], device=clean.device, dtype=clean.dtype)
        noisy = clean + (sigma / 255.0).view(-1, *(1,) * (clean.dim() - 1)) * torch.randn_like(clean)
        return ((model(noisy, sigma) - clean) ** 2).flatten(1).mean(dim=1) * (REFERENCE_SIGMA / sigma) ** LEVEL_EXPONENT

    return loss


def validation_levels(low: float, high: float) -> list[float]:
    """The levels a run over ``[low, high]`` validates at: :data:`VALIDATION_LEVELS` inside, and both ends."""
    return sorted({low, high, *(level for level in VALIDATION_LEVELS if low <= level <= high)})


def batch_psnr(model: nn.Module, clean: torch.Tensor, noisy: torch.Tensor, batch_size: int = 16, sigma: float | None = None) -> float:
    """Mean PSNR (dB, peak 1) of ``model(noisy)`` against ``clean`` over the images of the batch
    (``model(noisy, sigma)`` when ``sigma`` is given: a noise-conditioned model).

    The images go to the model's device chunk by chunk; the PSNRs come back to the CPU.
    """
    device = next(model.parameters()).device
    values = []
    with torch.no_grad():
        for start in range(0, len(clean), batch_size):
            chunk = noisy[start : start + batch_size].to(device)
            out = model(chunk) if sigma is None else model(chunk, sigma)
            values.append(psnr_per_image(out, clean[start : start + batch_size].to(device)).cpu())
    return float(torch.cat(values).mean())


def validation_files(folder: str | os.PathLike, count: int | None = None, offset: int = 0) -> list[Path]:
    """``count`` (all: ``None``) validation images of ``folder`` from the ``offset``-th, in the split
    :func:`train_denoiser` makes by default (fraction 0.1, seed 0): images no shipped model was
    trained on, for tuning (a later ``offset`` holds out images the tuning did not see)."""
    _, validation = split_files(image_files(folder), 0.1, seed=0)
    return validation[offset:] if count is None else validation[offset:offset + count]


def train_denoiser(
    data: str | os.PathLike,
    sigma: float,
    *,
    model: AveragedDenoiser | None = None,
    sigma_range: tuple[float, float] | None = None,
    epochs: int = 10,
    patch_size: int = 40,
    patches_per_image: int = 32,
    batch_size: int = 32,
    lr: float = 2e-3,
    activation_lr_factor: float = 1.0,
    fresh_patches: bool = False,
    validation_fraction: float = 0.1,
    validation_crop: int = 96,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    device: str | torch.device | None = None,
) -> DenoiserTraining:
    """Train ``model`` (default: a new :class:`AveragedDenoiser` for ``sigma``) on the images in ``data``.

    ``sigma`` is the noise standard deviation on the 0-255 scale. ``checkpoint``/``resume``
    are those of :func:`lipapps.train`, and so is ``activation_lr_factor`` (the learning rate
    of spline activations over ``lr``). ``fresh_patches`` draws ``patches_per_image`` new crops
    of every image each epoch instead of reusing the first epoch's. ``device`` (e.g. ``"cuda"``) moves the model there
    first; the patches stay on the CPU and travel one batch at a time. The model stays
    certified after every step. ``sigma_range = (low, high)`` trains a noise-conditioned ``model``
    over those levels (:func:`conditioned_noise_loss`); ``sigma`` is then the level saved with it.
    """
    if not sigma > 0:
        raise InputError(f"sigma must be positive (0-255 scale), got {sigma}")
    if sigma_range is not None:
        if model is None or not model.noise_conditioned:
            raise InputError("a range of noise levels needs a noise-conditioned model")
        if not 0 < sigma_range[0] < sigma_range[1]:
            raise InputError(f"the noise range must be two increasing positive levels, got {sigma_range}")
    if not activation_lr_factor > 0:
        raise InputError(f"the activation learning-rate factor must be positive, got {activation_lr_factor}")
    train_files, val_files = split_files(image_files(data), validation_fraction, seed)
    train_images = [read_image(p) for p in train_files]
    val_clean = centre_crops([read_image(p) for p in val_files], validation_crop)
    noise = torch.randn(val_clean.shape, generator=torch.Generator().manual_seed(seed + 1))
    val_noisy = val_clean + (sigma / 255.0) * noise
    levels = [] if sigma_range is None else validation_levels(*sigma_range)
    if fresh_patches:

        def patches(epoch: int) -> tuple[torch.Tensor]:
            return (random_patches(train_images, patch_size, patches_per_image, epoch_seed(seed, epoch)),)

    else:
        patches = (random_patches(train_images, patch_size, patches_per_image, seed),)
    model = AveragedDenoiser(sigma=sigma) if model is None else model
    if device is not None:
        model.to(device)
    torch.manual_seed(seed)

    def validation_psnr(net: nn.Module) -> dict[str, Any]:
        if sigma_range is None:
            return {"validation_psnr": batch_psnr(net, val_clean, val_noisy)}
        per_level = {f"{level:g}": batch_psnr(net, val_clean, val_clean + (level / 255.0) * noise, sigma=level) for level in levels}
        return {"validation_psnr": sum(per_level.values()) / len(per_level), "validation_psnr_per_level": per_level}

    result = lipapps.train(
        model,
        noise_loss(sigma) if sigma_range is None else conditioned_noise_loss(*sigma_range),
        patches,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        activation_lr_factor=activation_lr_factor,
        seed=seed,
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        callback=lambda epoch, net: validation_psnr(net),
    )
    model.eval()
    seconds = sum(h.get("seconds", 0.0) for h in result.history)
    return DenoiserTraining(
        model=model,
        history=result.history,
        validation_psnr=validation_psnr(model)["validation_psnr"],
        seconds=seconds,
    )


def seconds_per_step(model: nn.Module, sigma: float, patch_size: int, batch_size: int, device: torch.device, steps: int = 10) -> float:
    """Wall time of one Adam step of :func:`noise_loss` training on a throwaway copy of ``model``
    (its constraint included), on random batches of the training shape (the time does not depend
    on the pixels): the mean of ``steps`` steps after as many warm-up steps."""
    trial = copy.deepcopy(model).to(device)
    optimizer = torch.optim.Adam(trial.parameters(), lr=1e-4)
    loss = noise_loss(sigma)
    gen = torch.Generator().manual_seed(0)
    for step in range(2 * steps):
        if step == steps:
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
        batch = torch.rand(batch_size, 1, patch_size, patch_size, generator=gen).to(device)
        optimizer.zero_grad(set_to_none=True)
        loss(trial, batch).mean().backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / steps


def epochs_for_budget(seconds: float, step_seconds: float, steps_per_epoch: int) -> int:
    """The whole epochs of ``steps_per_epoch`` steps of ``step_seconds`` that fit in ``seconds`` (at least 1)."""
    return max(1, int(seconds / (step_seconds * steps_per_epoch)))
