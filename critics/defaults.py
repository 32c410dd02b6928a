"""How :func:`critics.estimate_w1` trains its critic and which bounds it computes when the caller
does not say: pure functions of the problem size, tested without training.

Each set is split three ways: held-out points (:func:`heldout_counts`, for the estimate of the
population W1 and its interval), validation points (:func:`validation_counts`, for early
stopping only) and training points. The settings depend on the pooled training size and the
dimension only (measurements below, CPU, 1 thread, refined lower bound against ``ot.emd2``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from critics.gluing import DEFAULT_CELLS
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
#: The deep critic, above LOW_DIMENSION for mini-batch problems of at most DEEP_MAX_POINTS pooled
#: training points (:func:`deep_problem`): the population W1 of radial differences (scaled
#: pairs) needs depth, and more of it as the dimension grows. Measured (scaled pairs, P and 1.5 P,
#: CPU, held-out estimate against the known W1): n = 10^5, lr 0.01, d = 16: depth 12 (3000
#: steps) -1.15%, depth 24 (about 5200 steps) -0.72%, depth 36 no better than 24 at 3000 steps; d = 64:
#: depth 12 -1.27%, depth 24 -0.62%, depth 32 (about 7900 steps) -0.55%, depth 48 no better;
#: d = 12, n = 2 x 10^4: depth 12 (3000 steps, still improving) -3.35%; d = 16, n = 2 x 10^4:
#: depth 24, 3000 steps (still improving) -2.03%. Hence depth DEEP_BASE_DEPTH + DEEP_DEPTH_PER_OCTAVE
#: per doubling of the dimension (24 in d = 9-16, 32 in d = 33-64) and DEEP_STEPS_PER_LAYER target
#: steps per layer, which early stopping cuts short. Width stays 64: width 128 was no better (d = 64,
#: depth 24, lr 0.03: -1.41% against -1.31%, 2.7x the time). Beyond DEEP_MAX_POINTS (10^6 a side) the
#: steps of a deep critic would not fit minutes, and LARGE_PROBLEM is kept.
DEEP_BASE_DEPTH = 8
DEEP_DEPTH_PER_OCTAVE = 4
DEEP_STEPS_PER_LAYER = 250
DEEP_MAX_POINTS = 400_000
#: The default ``lr`` of a critic deeper than its problem's default depth. Measured on the scaled
#: pairs (P and 1.5 P, n = 10^5, CPU), held-out error against the known W1 with lr 0.03 / 0.01:
#: depth 12 (38 epochs) d = 16 -1.2 / -1.15%, d = 64 -2.0 / -1.27%; depth 24 (76 epochs) d = 16
#: -0.82 / -0.72%, d = 64 -1.31 / -0.62%.
DEEP_CRITIC_LR = 0.01
LOW_DIMENSION = 3
#: Above LOW_DIMENSION the critic has the radial term of ``W1Critic(radial=True)``. Measured (CPU,
#: n = 2 x 10^4, seed 0, held-out estimate against the known W1, without / with it): scale-d12
#: -2.98% / -2.45%, scale-d16 -1.90% / -1.27% (both intervals covering), spheres-d16 (a held-out
#: family) -5.13% / +0.13% (the interval now covers); student-vs-gaussian-d10 -8.65% / -8.65% (the
#: trained mix leaves the radial term at weight 1e-6: no change where it does not help). (Those runs
#: had a trained map inside the norm, ``||P u + c||``, since dropped: see W1Critic.) Up to
#: RADIAL_MAX_DIMENSION: that is where it was measured; image pairs (d = 784) were tuned without it.
RADIAL_MAX_DIMENSION = 256
SHALLOW_DEPTH = 0
"""Depth of the second critic that :func:`choose_training` adds above :data:`LOW_DIMENSION`
when there are validation points and the depth is not given: no blocks, so its network is an
affine map ``<a, u> + b`` (``|a| <= 1``: the potential of a translated pair), mixed with the
radial term. Both critics train; the one with the better validation objective is kept, so the
held-out points stay free of the choice. Measured (translate-d64, n = 2 x 10^4, seed 0, CPU): the
depth-32 critic fits its training sample (whole-sample bound 1.049 above the population W1 = 1)
and its held-out estimate is -9.92%; the affine one -0.39% (interval covering) in 28 CPU s. On
scale-d12 and scale-d64 (seed 0) the two gave the same held-out value: both use the radial term."""

#: Default batches: the whole training set when it has at most FULL_BATCH points (exact
#: gradients, the most accurate on small problems), else mini-batches of MINI_BATCH. Measured
#: (CPU, 1 thread, 8-Gaussian ring vs N(0, 0.25 I)): at n = 2000 a side full batches gave
#: -0.14% (25 Gaussians: -0.35%) against -0.21% (-0.53%) with 2048; at n = 10^4 a side batches of
#: 2048 gave -0.58% in 22.7 s against -0.71% in 35.9 s with 4096 (ot.emd2: 32.1 s).
FULL_BATCH = 4096
MINI_BATCH = 2048

VALIDATION_FRACTION = 0.1
"""Share of each set kept for early stopping (apart from the held-out share)."""
CHECK_STEPS = 50
"""Optimiser steps between two evaluations of the validation objective (at least one epoch)."""
PATIENCE_STEPS = 500
"""Training stops when the validation objective has not improved for this many steps; the
critic of the best evaluation is kept."""
WARMUP_SHARE = 0.5
"""Share of the target steps trained before the first validation evaluation. Without it, on small
sets (300 points a side, 30 validation points) the noise of the validation objective picked a
critic of the first 50 steps (held-out -0.066 against a population W1 of 0.077)."""

GLUING_MAX_DIMENSION = 3
"""The glued bracket (:mod:`critics.gluing`) runs at every size up to this dimension. Measured:
disc vs square n = 10^4, 2000 cells, bracket 0.73%; 3-D Gaussian vs cube n = 2500, 2.48%; d = 16
translate n = 10^4 with 2000 cells: lower 0.838, upper 3.23 (useless, quantisation error grows
like n^(-1/d))."""
EXACT_GLUING_POINTS = 10_000
"""Up to this many points a side the glued bracket takes one cell per point, in any dimension: it
is then exact OT between the samples, certified (above :data:`GLUING_MAX_DIMENSION` it does not
run beyond this size). Fewer cells fell short: measured (CPU, 1 thread, seed 0, against
``ot.emd2``) at n = 10^4 with :data:`FINE_CELLS` cells (two points each) and :data:`REFINE_PASSES`
rounds, lower / upper: translate-d16 -1.75 / +2.31% in 56 CPU s, anisotropic-d16 -0.36 / +0.61%,
mixtures-d10 -5.75 / +1.51%, scale-d12 -4.43 / +1.57%, heavy-tails-d10 -4.00 / +0.99%
(quantisation error falls like ``n^(-1/d)``), shapes-d3 -0.78 / +0.01%; one cell per point:
mixtures-d10 and scale-d16 exact, 161 / 191 CPU s with the envelope (``emd2`` 61 / 58 s), 71 s
without it, which adds nothing to an exact bound and is left out there. The critic's block
coupling alone gave an upper bound about twice the exact value (``scale-d12``, n = 2 x 10^4:
+95%)."""
FINE_CELLS = 5000
"""Cells per side of the glued bracket in d <= :data:`GLUING_MAX_DIMENSION` from
:data:`EXACT_GLUING_POINTS` up to :data:`FINE_MAX_POINTS` points a side. Measured (disc vs
square, seed 0, CPU seconds of the glued bracket alone): n = 2500, 834 / 2000 / 2500 cells:
lower -0.72 / -0.12 / -0.00%, upper +0.15 / +0.03 / -0.00%, 0.9 / 2.4 / 2.9 s; n = 10^4, 2000 /
4000 / 6000 cells: lower -0.54 / -0.20 / -0.09%, upper +0.09 / +0.04 / +0.02%, 4 / 11 / 20 s."""
FINE_MAX_POINTS = 20_000
"""Above this many points a side the glued bracket takes :data:`critics.gluing.DEFAULT_CELLS`
cells: at 10^5 a side (disc vs square) 2000 cells gave a 0.96% bracket in 72 CPU seconds for the
whole estimate."""
REFINE_PASSES = 3
"""Rounds of block re-solves (:func:`critics.coupling.refine_coupling`) that lower the glued
coupling's cost wherever the cells are fewer than the points. Measured (shapes-d3, 10^5 a side,
2000 cells, CPU, 1 thread): blocks of 1000 points lowered the glued 0.24702 to 0.24475 / 0.24420 /
0.24398 in 15-18 CPU s a round; blocks of 400 to 0.24513 / 0.24448 / 0.24419 (six rounds: 0.24392).
The pruned double c-transforms (the envelope) now run in 3-D as in 2-D: their cell bounds follow
the direction between the cells (:mod:`critics.local_envelope`), 16 CPU s each at that size."""
REFINE_TOLERANCE = 1e-3
"""The rounds stop once the glued bracket ``(upper - lower) / lower`` is at most this: below it
they buy nothing a user reads. Measured (translate-d2, 10^5 a side, CPU, 1 thread): bracket
0.0036% before the rounds, which took 92 of the estimate's 206 CPU s (cProfile: 3798 small
``ot.emd`` calls); a pair above it runs every round, as before."""


@dataclass(frozen=True)
class TrainingPlan:
    """The critic's architecture depth and its Adam schedule for one estimation.

    ``train_points``: pooled training points (both sets, after the held-out and validation
    splits); ``batch_size``: at most ``train_points`` (a full batch when equal); ``epochs`` passes
    over them at most. With ``validation_points > 0`` the validation objective is evaluated every
    ``check_every`` epochs from epoch ``check_from`` on, and training stops after ``patience`` evaluations without improvement,
    keeping the best evaluated critic; ``patience == 0``: no early stopping. ``radial``: the critic
    has the radial term of :class:`critics.critic.W1Critic`. ``depths``: the depths of the critics
    trained, of which the one with the best validation objective is kept; after training,
    ``depth`` is the kept one's.
    """

    depth: int
    lr: float
    epochs: int
    batch_size: int
    train_points: int
    validation_points: int = 0
    check_every: int = 1
    check_from: int = 1
    patience: int = 0
    radial: bool = False
    depths: tuple[int, ...] = ()


def deep_problem(dim: int) -> tuple[int, float, int]:
    """``(depth, lr, target steps)`` of the deep critic in dimension ``dim``: depth
    ``DEEP_BASE_DEPTH + DEEP_DEPTH_PER_OCTAVE * ceil(log2(dim))``, lr :data:`DEEP_CRITIC_LR`,
    ``DEEP_STEPS_PER_LAYER`` steps per layer (see the measurements above)."""
    depth = DEEP_BASE_DEPTH + DEEP_DEPTH_PER_OCTAVE * math.ceil(math.log2(dim))
    return depth, DEEP_CRITIC_LR, DEEP_STEPS_PER_LAYER * depth


def heldout_count(n: int, fraction: float) -> int:
    """Points of a set of ``n >= 2`` held out: ``round(fraction * n)``, kept in ``[1, n - 1]``."""
    return min(max(1, round(fraction * n)), n - 1)


def heldout_counts(n: int, m: int, fraction: float) -> tuple[int, int]:
    """Points held out of each set; ``(0, 0)`` (no split) when ``fraction == 0`` or a set has one point."""
    if not (fraction > 0 and n >= 2 and m >= 2):
        return 0, 0
    return heldout_count(n, fraction), heldout_count(m, fraction)


def validation_counts(n: int, m: int, heldout_fraction: float, fraction: float = VALIDATION_FRACTION) -> tuple[int, int]:
    """Points of each set kept for validation, ``round(fraction * n)`` at least one, out of those
    left after the held-out split and leaving one to train on; ``(0, 0)`` when ``fraction == 0``
    or a set has fewer than three points left."""
    held_x, held_y = heldout_counts(n, m, heldout_fraction)
    left_x, left_y = n - held_x, m - held_y
    if not (fraction > 0 and left_x >= 3 and left_y >= 3):
        return 0, 0
    return min(max(1, round(fraction * n)), left_x - 1), min(max(1, round(fraction * m)), left_y - 1)


def choose_training(
    n: int,
    m: int,
    dim: int,
    *,
    heldout_fraction: float = 0.2,
    validation_fraction: float = VALIDATION_FRACTION,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    depth: int | None = None,
    radial: bool | None = None,
) -> TrainingPlan:
    """The training settings of ``estimate_w1`` for ``n`` and ``m`` points in dimension ``dim``.

    Given values are kept; the others default as follows, with ``N`` the pooled training points:
    ``batch_size`` is ``N`` up to :data:`FULL_BATCH`, else :data:`MINI_BATCH`; ``depth``, ``lr``
    and the target steps come from :data:`SMALL_PROBLEM` when that is one full batch and
    ``dim <= LOW_DIMENSION``, from :func:`deep_problem` above ``LOW_DIMENSION`` with mini-batches
    and at most :data:`DEEP_MAX_POINTS`, else from :data:`LARGE_PROBLEM`, except that a critic
    deeper than that default gets ``lr`` :data:`DEEP_CRITIC_LR`; ``epochs`` is the fewest (at
    least one) reaching the target steps. Early stopping (with validation points): an evaluation
    every :data:`CHECK_STEPS` steps after :data:`WARMUP_SHARE` of the target steps, patience
    :data:`PATIENCE_STEPS` steps. ``radial`` (the critic's radial term): above
    :data:`LOW_DIMENSION` and up to :data:`RADIAL_MAX_DIMENSION`. ``depths``: ``(depth,)``, and
    :data:`SHALLOW_DEPTH` after it above :data:`LOW_DIMENSION` when ``depth`` is not given and
    there are validation points to choose by. Raises
    :class:`InputError` for a ``heldout_fraction`` outside ``[0, 1)``, a ``validation_fraction``
    outside ``[0, 1 - heldout_fraction)`` or a non-positive ``epochs``, ``batch_size``, ``lr`` or
    ``depth``.
    """
    if not 0.0 <= heldout_fraction < 1.0:
        raise InputError(f"heldout_fraction must lie in [0, 1), got {heldout_fraction}")
    if not 0.0 <= validation_fraction < 1.0 - heldout_fraction:
        raise InputError(f"validation_fraction must lie in [0, 1 - heldout_fraction), got {validation_fraction}")
    if epochs is not None and epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    if (batch_size is not None and batch_size < 1) or (lr is not None and lr <= 0) or (depth is not None and depth < 1):
        raise InputError(f"batch_size, lr and depth must be positive, got {batch_size}, {lr} and {depth}")
    held_x, held_y = heldout_counts(n, m, heldout_fraction)
    valid_x, valid_y = validation_counts(n, m, heldout_fraction, validation_fraction)
    pooled = n - held_x - valid_x + m - held_y - valid_y
    if batch_size is None:
        batch_size = pooled if pooled <= FULL_BATCH else MINI_BATCH
    if batch_size >= pooled:
        default_depth, default_lr, steps = SMALL_PROBLEM if dim <= LOW_DIMENSION else LARGE_PROBLEM
    elif dim > LOW_DIMENSION and pooled <= DEEP_MAX_POINTS:
        default_depth, default_lr, steps = deep_problem(dim)
    else:
        default_depth, default_lr, steps = LARGE_PROBLEM
    depths = (default_depth, SHALLOW_DEPTH) if depth is None and dim > LOW_DIMENSION and valid_x else ()
    depth = default_depth if depth is None else depth
    if lr is None:
        lr = DEEP_CRITIC_LR if depth > default_depth else default_lr
    batch = min(batch_size, pooled)
    batches = math.ceil(pooled / batch)
    if epochs is None:
        epochs = max(1, math.ceil(steps / batches))
    check_every = math.ceil(CHECK_STEPS / batches)
    check_from = max(1, math.ceil(WARMUP_SHARE * steps / batches))
    patience = math.ceil(PATIENCE_STEPS / (check_every * batches)) if valid_x else 0
    return TrainingPlan(depth=depth, lr=lr, epochs=epochs, batch_size=batch, train_points=pooled,
                        validation_points=valid_x + valid_y, check_every=check_every, check_from=check_from,
                        patience=patience,
                        radial=LOW_DIMENSION < dim <= RADIAL_MAX_DIMENSION if radial is None else radial,
                        depths=depths or (depth,))


@dataclass(frozen=True)
class BoundPlan:
    """Which bounds :func:`critics.estimate_w1` computes besides the critic's and the block coupling's.

    ``cells``: cells per side of the glued bracket (:func:`critics.gluing.glued_bracket`), ``0``
    for none; ``envelope``: whether its pruned double c-transforms run (of the centroid cone
    potential and of the critic); ``passes``: rounds of block re-solves of its coupling;
    ``tolerance``: the relative bracket width at which the rounds stop early; ``refine``: whether
    the full double c-transform of the critic (``n x m`` distances, in chunks) runs.
    """

    cells: int
    envelope: bool
    refine: bool
    passes: int = 0
    tolerance: float = 0.0


def choose_bounds(n: int, m: int, dim: int, *, refine: bool) -> BoundPlan:
    """The bounds of ``estimate_w1`` for ``n`` and ``m`` points in dimension ``dim``.

    Gluing with one cell per point up to :data:`EXACT_GLUING_POINTS` points a side (exact OT),
    beyond that only up to :data:`GLUING_MAX_DIMENSION`, with :data:`FINE_CELLS` cells up to
    :data:`FINE_MAX_POINTS` points a side, else ``DEFAULT_CELLS``. Where the cells are fewer than
    the points, the envelope and up to :data:`REFINE_PASSES` rounds of block re-solves, stopped
    at :data:`REFINE_TOLERANCE`; ``refine`` as the caller decided.
    """
    size = max(n, m)
    if size <= EXACT_GLUING_POINTS:
        cells = size
    elif dim <= GLUING_MAX_DIMENSION:
        cells = FINE_CELLS if size <= FINE_MAX_POINTS else DEFAULT_CELLS
    else:
        cells = 0
    coarse = 0 < cells < size
    passes = REFINE_PASSES if coarse else 0
    return BoundPlan(cells=cells, envelope=coarse, refine=refine, passes=passes,
                     tolerance=REFINE_TOLERANCE if passes else 0.0)
