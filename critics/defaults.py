"""How :func:`critics.estimate_w1` trains its critic when the caller does not say: a pure function
of the problem size, tested without training.

The critic trains on the points left after the held-out split (:func:`heldout_counts`); the
settings depend on that pooled training size and the dimension only (measurements below, CPU,
1 thread, refined lower bound against ``ot.emd2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lipapps.errors import InputError

TARGET_STEPS = 1000
"""Optimiser steps aimed at when ``epochs`` is not given (at least one epoch)."""

#: Defaults (depth, lr, optimiser steps) for small problems, whose training set fits in one
#: full batch, and for the rest. Small problems afford a deeper critic, a smaller step and
#: twice the steps; measured (CPU, 1 thread, n = 2000 a side, refined lower bound against
#: ot.emd2): 25 Gaussians vs N(0, I) -0.27 / -0.32 / -0.24% on seeds 0 / 1 / 2 in 72-82 s
#: against -0.35 / -0.66 / -0.52% in 21-26 s with (4, 0.03, 1000); the 8-Gaussian ring -0.10 /
#: -0.09% against -0.14%. Only in low dimension (up to LOW_DIMENSION), where the sample distance
#: is the one users read: in d = 16 (translate pair, n = 2000) the deeper critic overfits the
#: training split and the held-out estimate of the population W1 = 1 fell from 0.915 to 0.817.
#: Above one batch each step costs more and (4, 0.03, 1000) keeps 10^6 points to minutes.
SMALL_PROBLEM = (8, 0.01, 2 * TARGET_STEPS)
LARGE_PROBLEM = (4, 0.03, TARGET_STEPS)
#: The default ``lr`` of a critic deeper than its problem's default depth. Measured on the scaled
#: pairs (P and 1.5 P, n = 10^5, CPU), held-out error against the known W1 with lr 0.03 / 0.01:
#: depth 12 (38 epochs) d = 16 -1.2 / -1.15%, d = 64 -2.0 / -1.27%; depth 24 (76 epochs) d = 16
#: -0.82 / -0.72%, d = 64 -1.31 / -0.62%.
DEEP_CRITIC_LR = 0.01
LOW_DIMENSION = 3

#: Default batches: the whole training set when it has at most FULL_BATCH points (exact
#: gradients, the most accurate on small problems), else mini-batches of MINI_BATCH. Measured
#: (CPU, 1 thread, 8-Gaussian ring vs N(0, 0.25 I)): at n = 2000 a side full batches gave
#: -0.14% (25 Gaussians: -0.35%) against -0.21% (-0.53%) with 2048; at n = 10^4 a side batches of
#: 2048 gave -0.58% in 22.7 s against -0.71% in 35.9 s with 4096 (ot.emd2: 32.1 s).
FULL_BATCH = 4096
MINI_BATCH = 2048


@dataclass(frozen=True)
class TrainingPlan:
    """The critic's architecture depth and its Adam schedule for one estimation.

    ``train_points``: pooled training points (both sets, after the held-out split);
    ``batch_size``: at most ``train_points`` (a full batch when equal); ``epochs`` passes over them.
    """

    depth: int
    lr: float
    epochs: int
    batch_size: int
    train_points: int


def heldout_count(n: int, fraction: float) -> int:
    """Points of a set of ``n >= 2`` held out: ``round(fraction * n)``, kept in ``[1, n - 1]``."""
    return min(max(1, round(fraction * n)), n - 1)


def heldout_counts(n: int, m: int, fraction: float) -> tuple[int, int]:
    """Points held out of each set; ``(0, 0)`` (no split) when ``fraction == 0`` or a set has one point."""
    if not (fraction > 0 and n >= 2 and m >= 2):
        return 0, 0
    return heldout_count(n, fraction), heldout_count(m, fraction)


def choose_training(
    n: int,
    m: int,
    dim: int,
    *,
    heldout_fraction: float = 0.2,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    depth: int | None = None,
) -> TrainingPlan:
    """The training settings of ``estimate_w1`` for ``n`` and ``m`` points in dimension ``dim``.

    Given values are kept; the others default as follows, with ``N`` the pooled training points:
    ``batch_size`` is ``N`` up to :data:`FULL_BATCH`, else :data:`MINI_BATCH`; ``depth``, ``lr``
    and the target steps come from :data:`SMALL_PROBLEM` when that is one full batch and
    ``dim <= LOW_DIMENSION``, else from :data:`LARGE_PROBLEM`, except that a critic deeper than
    that default gets ``lr`` :data:`DEEP_CRITIC_LR`; ``epochs`` is the fewest (at least one)
    reaching the target steps. Raises :class:`InputError` for a ``heldout_fraction`` outside
    ``[0, 1)`` or a non-positive ``epochs``, ``batch_size``, ``lr`` or ``depth``.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise InputError(f"heldout_fraction must lie in [0, 1), got {heldout_fraction}")
    if epochs is not None and epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    if (batch_size is not None and batch_size < 1) or (lr is not None and lr <= 0) or (depth is not None and depth < 1):
        raise InputError(f"batch_size, lr and depth must be positive, got {batch_size}, {lr} and {depth}")
    held_x, held_y = heldout_counts(n, m, heldout_fraction)
    pooled = n - held_x + m - held_y
    if batch_size is None:
        batch_size = pooled if pooled <= FULL_BATCH else MINI_BATCH
    small = batch_size >= pooled and dim <= LOW_DIMENSION
    default_depth, default_lr, steps = SMALL_PROBLEM if small else LARGE_PROBLEM
    depth = default_depth if depth is None else depth
    if lr is None:
        lr = DEEP_CRITIC_LR if depth > default_depth else default_lr
    batch = min(batch_size, pooled)
    if epochs is None:
        epochs = max(1, math.ceil(steps / math.ceil(pooled / batch)))
    return TrainingPlan(depth=depth, lr=lr, epochs=epochs, batch_size=batch, train_points=pooled)
