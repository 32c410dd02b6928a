"""The training recipes of the shipped denoisers, and the order of their stages.

The shipped families (:data:`denoisers.weights.FAMILIES`) and the unshipped ``multiscale``
one, each with its recipe (:data:`RECIPES`). ``conditioned`` is one model for every level, started from
the ``ridge`` models of all levels (:func:`conditioned_from_ridges`); in the others the level ``FROM_SCRATCH`` (sigma 25) is trained
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

from denoisers.model import CONDITION_DEGREE, CONDITIONED_RIDGE, CONVEX_RIDGE, MULTISCALE_RIDGE, REFERENCE_SIGMA, AveragedDenoiser

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
    "conditioned": {"activation": "spline", "epochs": 12, "restart_epochs": 0, "finetune_epochs": 0, "patches_per_image": 32,
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


def conditioned_from_ridges(ridges: list[AveragedDenoiser], sharpness: float = 20.0) -> AveragedDenoiser:
    """A noise-conditioned denoiser (:data:`denoisers.model.CONDITIONED_RIDGE`, one filter bank per
    model) that starts as each convex-ridge denoiser of ``ridges`` at its level, interpolated between.

    Each ``ridge`` is ``D_j(x) = (1 - a) x + a (x - 2 K_j^T s_j(K_j x + b_j))`` for the level
    ``sigma_j``, ``t_j = log(sigma_j / 25)`` (:data:`CONVEX_RIDGE`, at most ``CONDITION_DEGREE + 1`` of
    them, distinct levels). Bank ``j`` takes ``K_j``, with mixture weights the softmax of
    ``-sharpness (t - t_j)^2`` (at ``t_j`` nearly all on ``K_j``: ``e^{-20 0.26}`` = 0.5% on the
    neighbour of sigma 15 and 25). The spline's slopes, shift ``b_j / r_j`` and ``log r_j - t_j`` are
    interpolated by the polynomial of degree ``len(ridges) - 1`` through the levels, and ``t`` is
    added to the log span: so at each ``t_j`` the splines are ``D_j``'s, and one model (one bank, a
    constant fit) is exactly ``D_1(m x) / m`` at every level, ``m = sigma_1 / sigma``: the scaled
    denoiser that serves levels without their own weights (:class:`denoisers.pnp.ScaledDenoiser`).
    """
    levels = [ridge.sigma for ridge in ridges]
    if not ridges or len(ridges) > CONDITION_DEGREE + 1 or len(set(levels)) != len(levels):
        raise ValueError(f"conditioned_from_ridges takes 1 to {CONDITION_DEGREE + 1} denoisers of distinct levels, got levels {levels}")
    for ridge in ridges:
        config = ridge.config()
        if config["dilations"] is not None or config["noise_conditioned"] or any(
                config[k] != v for k, v in CONVEX_RIDGE.items() if k != "averaging"):
            raise ValueError("conditioned_from_ridges needs single-scale convex-ridge denoisers (CONVEX_RIDGE)")
    if len({ridge.averaging for ridge in ridges}) != 1:
        raise ValueError("conditioned_from_ridges needs denoisers of one averaging")
    model = AveragedDenoiser(**{**CONDITIONED_RIDGE, "averaging": ridges[0].averaging, "filter_banks": len(ridges)})
    block, spline = model.network[1], model.network[1].activation
    t = torch.tensor([math.log(level / REFERENCE_SIGMA) for level in levels], dtype=torch.float64)
    powers = t[:, None] ** torch.arange(len(ridges), dtype=torch.float64)  # interpolation through the levels

    def fit(values: list[torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack([v.detach().to(torch.float64) for v in values]).reshape(len(values), -1)
        return torch.linalg.solve(powers, stacked).reshape(len(values), *values[0].shape).to(torch.float32)

    sources = [ridge.network[1] for ridge in ridges]
    with torch.no_grad():
        for name, source in zip(block.weight_names, sources):
            getattr(block.parametrizations, name).load_state_dict(source.parametrizations.weight.state_dict())
        n = len(ridges)
        spline.slope_logits[:n].copy_(fit([s.activation.slope_logits for s in sources]))
        spline.end_logits[:n].copy_(fit([s.activation.end_logits for s in sources]))
        spline.log_radius[:n].copy_(fit([s.activation.log_radius - tj for s, tj in zip(sources, t.tolist())]))
        spline.log_radius[1].add_(1.0)
        spline.shift[:n].copy_(fit([s.bias / s.activation.log_radius.exp() for s in sources]))
        if n > 1:
            block.mixture_logits.copy_(torch.stack([-sharpness * t**2, 2 * sharpness * t, torch.full_like(t, -sharpness)], dim=1))
    return model
