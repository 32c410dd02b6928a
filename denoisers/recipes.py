"""The training recipes of the shipped denoisers, and the order of their stages.

The two shipped families (:data:`denoisers.weights.FAMILIES`) and the unshipped ``multiscale``
one, each with its recipe (:data:`RECIPES`): the level ``FROM_SCRATCH`` (sigma 25) is trained
from scratch (``multiscale``: from the ``ridge`` weights of the level, :func:`multiscale_from_ridge`), optionally followed by a warm restart
from its own weights (a second cosine schedule, Loshchilov & Hutter 2017) at ``lr /
RESTART_LR_DIVISOR``; the other levels are fine-tuned from the sigma-25 weights at ``lr /
FINETUNE_LR_DIVISOR``, which reaches a given validation PSNR in far fewer epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from denoisers.model import CONDITIONED_RIDGE, CONVEX_RIDGE, MULTISCALE_RIDGE, REFERENCE_SIGMA, AveragedDenoiser

FROM_SCRATCH = 25
FINETUNE_LR_DIVISOR = 4.0
RESTART_LR_DIVISOR = 3.0
#: The suffix of the first run of a restarted level: an intermediate, not shipped.
INTERMEDIATE = "_scratch"
#: Each family's training recipe (the defaults of ``experiments/train_denoisers.py``'s options of the same names).
RECIPES: dict[str, dict[str, Any]] = {
    "firm": {"activation": "relu", "epochs": 10, "restart_epochs": 12, "finetune_epochs": 6, "patches_per_image": 60, "batch_size": 32,
             "lr": 2e-3, "fresh_patches": False},
    "ridge": {"activation": "spline", "epochs": 50, "restart_epochs": 20, "finetune_epochs": 10, "patches_per_image": 32, "batch_size": 64,
              "lr": 3e-3, "fresh_patches": True},
    "multiscale": {"activation": "spline", "epochs": 16, "restart_epochs": 0, "finetune_epochs": 6, "patches_per_image": 32,
                   "batch_size": 64, "lr": 1e-3, "fresh_patches": True},
    "conditioned": {"activation": "spline", "epochs": 20, "restart_epochs": 0, "finetune_epochs": 0, "patches_per_image": 32,
                    "batch_size": 64, "lr": 1e-3, "fresh_patches": True},
}


@dataclass(frozen=True)
class Stage:
    """One training run: the level, its epochs, the weights it writes (``name``; ending in
    :data:`INTERMEDIATE` when not shipped), the weights it starts from (``init``: a stage's name, or
    ``None`` for scratch) and the divisor of the recipe's learning rate."""

    sigma: int
    epochs: int
    name: str
    init: str | None
    lr_divisor: float


def training_stages(
    sigmas: list[int], name: dict[int, str], epochs: int, restart_epochs: int, finetune_epochs: int, scratch_exists: bool,
    intermediate_done: bool = False,
) -> list[Stage]:
    """The stages that train ``sigmas`` in order (``name[sigma]``: the weights' stem).

    sigma ``FROM_SCRATCH``: from scratch for ``epochs`` (into ``<name>_scratch``, then a restart for
    ``restart_epochs`` into ``<name>``, when ``restart_epochs > 0``; the first run is left out when
    ``intermediate_done``: its weights, of those ``epochs``, exist); other levels: ``finetune_epochs``
    from the sigma-25 weights when those exist (``scratch_exists``) or are trained before, else from scratch.
    """
    stages = []
    have_25 = scratch_exists
    for sigma in sigmas:
        if sigma != FROM_SCRATCH:
            init = name[FROM_SCRATCH] if have_25 else None
            stages.append(Stage(sigma, finetune_epochs, name[sigma], init, FINETUNE_LR_DIVISOR if init else 1.0))
        elif restart_epochs:
            first = name[sigma] + INTERMEDIATE
            if not intermediate_done:
                stages.append(Stage(sigma, epochs, first, None, 1.0))
            stages.append(Stage(sigma, restart_epochs, name[sigma], first, RESTART_LR_DIVISOR))
            have_25 = True
        else:
            stages.append(Stage(sigma, epochs, name[sigma], None, 1.0))
            have_25 = True
    return stages


def multiscale_from_ridge(ridge: AveragedDenoiser, coarse_logit: float = -4.0) -> AveragedDenoiser:
    """A ``multiscale`` denoiser (:data:`denoisers.model.MULTISCALE_RIDGE`) that starts as ``ridge`` damped.

    ``ridge`` is a convex-ridge denoiser ``x - 2 a K^T s(K x + b)`` (:data:`CONVEX_RIDGE`, the
    ``ridge`` family). The new model's full-resolution branch takes ``K``, and its branch weights
    start at ``softmax(0, c, c)`` (``c = coarse_logit``): ``w_0 = (1 - WEIGHT_MARGIN)
    sqrt(softmax_0)`` on it, ``w_1 = w_2`` small on the coarse branches. With the bias ``w_0 b``
    and the spline's knot span scaled by ``w_0`` (``s_{w_0 r}(w_0 u) = w_0 s_r(u)`` for a spline of
    span ``r``), the full-resolution branch contributes exactly ``w_0^2`` times the ridge step
    ``K^T s(K x + b)``; the coarse branches (random filters, initial clip splines) contribute
    ``O(w_1^2)``. A spline's slopes in ``[0, 1]`` leave no room to undo the ``w_0^2`` factor, so the
    start is the ridge denoiser with its step shortened by ``w_0^2`` (``1 - 2 e^c`` to first order).
    """
    config = ridge.config()
    if config["dilations"] is not None or any(config[k] != v for k, v in CONVEX_RIDGE.items() if k != "averaging"):
        raise ValueError("multiscale_from_ridge needs a single-scale convex-ridge denoiser (CONVEX_RIDGE)")
    model = AveragedDenoiser(**{**MULTISCALE_RIDGE, "averaging": ridge.averaging}, sigma=ridge.sigma)
    source, block = ridge.network[1], model.network[1]
    with torch.no_grad():
        block.operator.scale_logits.copy_(torch.tensor([0.0] + [coarse_logit] * (block.operator.scales - 1)))
        w0 = float(block.operator.branch_weights()[0])
        block.operator.branches[0][0].parametrizations.weight.load_state_dict(source.parametrizations.weight.state_dict())
        block.biases[0].copy_(w0 * source.bias)
        block.activations[0].load_state_dict(source.activation.state_dict())
        block.activations[0].log_radius.add_(math.log(w0))
    return model


def conditioned_from_ridge(ridge: AveragedDenoiser) -> AveragedDenoiser:
    """A noise-conditioned denoiser (:data:`denoisers.model.CONDITIONED_RIDGE`) that starts as ``ridge`` scaled.

    ``ridge`` is a convex-ridge denoiser ``D(x) = (1 - a) x + a (x - 2 K^T s(K x + b))`` for the
    level ``sigma_0`` (:data:`CONVEX_RIDGE`). The new model takes ``K``, the spline's slopes and span
    ``r`` at ``t = 0`` and the shift ``b / r``, with ``log r(t) = log r + t + log(25 / sigma_0)``: at
    level ``sigma`` it is exactly ``D(m x) / m`` with ``m = sigma_0 / sigma`` (the span and the bias
    scale with ``1 / m``), the scaled denoiser that serves levels without their own weights
    (:class:`denoisers.pnp.ScaledDenoiser`). Training then reshapes the splines per level.
    """
    config = ridge.config()
    if config["dilations"] is not None or config["noise_conditioned"] or any(
            config[k] != v for k, v in CONVEX_RIDGE.items() if k != "averaging"):
        raise ValueError("conditioned_from_ridge needs a single-scale convex-ridge denoiser (CONVEX_RIDGE)")
    model = AveragedDenoiser(**{**CONDITIONED_RIDGE, "averaging": ridge.averaging}, sigma=ridge.sigma)
    source, block = ridge.network[1], model.network[1]
    spline, start = block.activation, source.activation
    with torch.no_grad():
        block.parametrizations.weight.load_state_dict(source.parametrizations.weight.state_dict())
        spline.slope_logits[0].copy_(start.slope_logits)
        spline.end_logits[0].copy_(start.end_logits)
        spline.log_radius[0].copy_(start.log_radius + math.log(REFERENCE_SIGMA / ridge.sigma))
        spline.log_radius[1].fill_(1.0)
        spline.shift[0].copy_(source.bias / start.log_radius.exp())
    return model
