"""Uncertified critics to compare ours with: WGAN-GP and spectral-norm/GroupSort networks.

- WGAN-GP (Gulrajani et al. 2017): an unconstrained ReLU MLP (or, on images, the strided
  convolutional critic of :func:`dcgan_critic`), penalised by
  ``E (|grad f(u)| - 1)^2`` at random points between the two sets (:func:`gradient_penalty`).
  Nothing bounds its Lipschitz constant, so its gap is an estimate, not a bound.
- Spectral-norm/GroupSort (Anil et al. 2019): linear layers divided by a power-iteration estimate
  of their spectral norm, with GroupSort2 activations. deel-torchlip's own network
  (``SpectralLinear`` + ``GroupSort2``, ``NegKRLoss``) when the optional ``bench`` extra installed
  it, else a re-implementation with ``torch.nn.utils.parametrizations.spectral_norm``. The power
  iteration under-estimates the norm until it converges, so this constant is not certified either.

:func:`train_baseline` trains any of them on two sample sets the way the W1 benchmark does.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch
from torch import nn

from critics.critic import kantorovich_gap
from lipapps.layers import GroupSort2

try:  # the optional ``bench`` extra
    from deel import torchlip
except ImportError:
    torchlip = None

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
"""A loss to minimise over the critic, from the critic and the two batches ``(x, y)``."""

#: The spectral-norm critics by the name a result records, with the name a table shows.
LIPSCHITZ_BASELINES = {"deel_torchlip": "deel-torchlip", "groupsort_reimplementation": "GroupSort + torch spectral_norm"}


def gp_critic(d: int, width: int = 256, hidden_layers: int = 4) -> nn.Sequential:
    """WGAN-GP critic: an unconstrained MLP, ``hidden_layers`` ReLU layers of ``width``, one output."""
    layers: list[nn.Module] = []
    for i in range(hidden_layers):
        layers += [nn.Linear(d if i == 0 else width, width), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(width, 1))


def dcgan_critic(image_shape: tuple[int, int, int] = (1, 28, 28), width: int = 32) -> nn.Sequential:
    """WGAN-GP's convolutional critic for flattened images (DCGAN-like, Radford et al. 2016): two
    ``4 x 4`` stride-2 convolutions to ``width`` then ``2 width`` maps (LeakyReLU 0.2, no
    normalisation, as WGAN-GP asks), a linear readout. Unconstrained; the side must be divisible by 4."""
    c, h, w = image_shape
    if h % 4 or w % 4:
        raise ValueError(f"the image height and width must be divisible by 4, got {h} x {w}")
    return nn.Sequential(
        nn.Unflatten(1, tuple(image_shape)),
        nn.Conv2d(c, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * width * (h // 4) * (w // 4), 1),
    )


def gradient_penalty(
    critic: nn.Module, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """WGAN-GP's ``E (|grad f(u)| - 1)^2`` at ``u = t x + (1 - t) y``, ``t ~ U[0, 1]`` per pair.

    ``x`` and ``y`` pair row by row (same length); ``t`` is drawn from ``generator`` (torch's
    global generator when ``None``; a CPU generator, then moved to the batches' device).
    """
    t = torch.rand(x.shape[0], 1, generator=generator).to(x.device)
    u = (t * x + (1 - t) * y).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(u).sum(), u, create_graph=True)
    return ((grad.norm(dim=1) - 1) ** 2).mean()


def groupsort_critic(d: int) -> nn.Sequential:
    """Re-implementation of the deel-torchlip recipe (4 x 256 spectral-normalised linear layers
    with GroupSort2), without deel's Bjorck orthonormalisation step."""
    sn = nn.utils.parametrizations.spectral_norm
    layers: list[nn.Module] = []
    for i in range(4):
        layers += [sn(nn.Linear(d if i == 0 else 256, 256)), GroupSort2()]
    return nn.Sequential(*layers, sn(nn.Linear(256, 1)))


def deel_critic(d: int) -> nn.Module:
    """deel-torchlip's critic: 4 x 256 ``SpectralLinear`` (orthogonal init; torch's power-iteration
    spectral norm then Bjorck orthonormalisation at every training forward) with ``GroupSort2``,
    and a 1-output ``SpectralLinear``. Needs the ``bench`` extra."""
    layers: list[nn.Module] = []
    for i in range(4):
        layers += [torchlip.SpectralLinear(d if i == 0 else 256, 256), torchlip.GroupSort2()]
    return torchlip.Sequential(*layers, torchlip.SpectralLinear(256, 1))


def negative_gap(critic: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``E_y f - E_x f`` (:func:`~critics.critic.kantorovich_gap` of ``y`` over ``x``): a critic's loss."""
    return kantorovich_gap(critic, y, x)


def deel_negative_gap(critic: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The same loss through deel-torchlip's ``NegKRLoss``: one batch, ``x`` labelled 1."""
    target = torch.cat([torch.ones(len(x), 1), torch.zeros(len(y), 1)])
    return torchlip.NegKRLoss()(critic(torch.cat([x, y])), target)


def lipschitz_baseline(d: int) -> tuple[str, nn.Module, Objective]:
    """The spectral-norm/GroupSort critic for dimension ``d``, its name (a key of
    :data:`LIPSCHITZ_BASELINES`) and its loss: deel-torchlip's when it imports, else the
    re-implementation's."""
    if torchlip is None:
        return "groupsort_reimplementation", groupsort_critic(d), negative_gap
    return "deel_torchlip", deel_critic(d), deel_negative_gap


def train_baseline(
    critic: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    gp_weight: float = 0.0,
    steps: int = 1000,
    objective: Objective = negative_gap,
) -> tuple[float, float]:
    """Full-batch Adam (lr 1e-3, ``torch.manual_seed(0)``) on ``objective`` plus ``gp_weight``
    times :func:`gradient_penalty` on the first ``min(n, m)`` pairs; returns
    ``(mean f(x) - mean f(y), seconds)`` on all samples, ``f`` in eval mode (not a bound)."""
    torch.manual_seed(0)
    tx, ty = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    start = time.perf_counter()
    for _ in range(steps):
        loss = objective(critic, tx, ty)
        if gp_weight > 0:
            m = min(len(tx), len(ty))
            loss = loss + gp_weight * gradient_penalty(critic, tx[:m], ty[:m])
        opt.zero_grad()
        loss.backward()
        opt.step()
    critic.eval()
    with torch.no_grad():
        value = float(kantorovich_gap(critic, tx, ty))
    return value, time.perf_counter() - start
