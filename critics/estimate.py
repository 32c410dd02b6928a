"""``estimate_w1``: a certified bracket on the Wasserstein-1 distance between two sample sets.

Kantorovich-Rubinstein duality (Villani 2009, Remark 6.5): for empirical measures ``mu``, ``nu``

    W1(mu, nu) = sup over 1-Lipschitz f of  E_mu f - E_nu f  = min over couplings G of <G, |x - y|>.

Any certified 1-Lipschitz critic gives a lower bound; any coupling gives an upper bound. The
critic is a ``lipapps`` network trained on mini-batches (memory linear in ``n + m``); the upper
bound solves exact OT only on matched blocks (:mod:`critics.coupling`). Nothing ``n x m`` is
built unless asked for (``exact``, ``refine``), so 10^6 points per side fit in memory.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

import lipapps
from critics.coupling import block_coupling_cost
from critics.critic import W1Critic, certified_values, kantorovich_loss, pooled_training_set, standardisation
from critics.envelope import cone_envelope
from critics.exact import EXACT_MAX_PAIRS, exact_w1, wants_exact
from critics.result import W1Estimate
from critics.samples import as_samples, as_weights, check_pair
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

Z95 = 1.959963984540054
"""The 97.5% quantile of the standard normal: a two-sided 95% interval is ``mean +- Z95 * se``."""


def _split(n: int, fraction: float, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, test) index sets with ``round(fraction * n)`` test points, both non-empty."""
    order = gen.permutation(n)
    n_test = min(max(1, round(fraction * n)), n - 1)
    return order[n_test:], order[:n_test]


def _weighted_mean_and_var(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Mean of ``sum w_i v_i`` (``w`` normalised) and the variance of that weighted mean."""
    w = weights / weights.sum()
    mean = float(np.sum(w * values))
    spread = float(np.sum(w * (values - mean) ** 2))
    return mean, spread * float(np.sum(w**2)) * len(w) / max(len(w) - 1, 1)


def estimate_w1(
    x: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    *,
    weights_x: np.ndarray | torch.Tensor | None = None,
    weights_y: np.ndarray | torch.Tensor | None = None,
    exact: str = "auto",
    refine: str = "auto",
    heldout_fraction: float = 0.2,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    width: int = 64,
    depth: int | None = None,
    block_size: int | None = None,
    max_pairs: int = EXACT_MAX_PAIRS,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> W1Estimate:
    """Certified bracket ``lower <= W1(mu, nu) <= upper`` between two weighted sample sets.

    1. A :class:`~critics.critic.W1Critic` ``f`` is trained (Adam, mini-batches) to maximise
       ``E_mu f - E_nu f`` on a random ``1 - heldout_fraction`` of each set; its value on the
       rest is ``heldout`` (an unbiased estimate of ``E_P f - E_Q f <= W1(P, Q)`` for the
       populations), with a normal 95% interval.
    2. Divided by its certificate ``L = lipapps.certify(f)``, ``f / L`` is 1-Lipschitz, so
       ``lower = E_mu f/L - E_nu f/L`` on all samples is a lower bound (Kantorovich-Rubinstein).
    3. ``refine`` ("auto": when ``n * m <= max_pairs``) replaces ``f/L`` by its double c-transform
       on the samples (:mod:`critics.envelope`): still 1-Lipschitz, never a worse bound.
    4. ``upper``: the cost of the coupling that solves exact OT on blocks matched by quantiles
       (:func:`~critics.coupling.block_coupling_cost`), a feasible coupling: ``x`` ordered by the
       critic, ``y`` by the critic's value at the point the refinement sends it to (else by the
       critic's own value).
    5. ``exact`` ("auto": when ``n * m <= max_pairs``): ``ot.emd2`` with Euclidean cost.

    ``x`` (n, d) and ``y`` (m, d): numpy arrays or tensors; ``weights_*`` non-negative (uniform
    by default). ``batch_size`` defaults to the whole training set up to :data:`FULL_BATCH`
    points, else :data:`MINI_BATCH`; ``depth``, ``lr`` and ``epochs`` (enough epochs for the
    step count) to :data:`SMALL_PROBLEM` when that is one full batch in dimension at most
    :data:`LOW_DIMENSION`, else :data:`LARGE_PROBLEM`, except that a critic deeper than that
    default gets ``lr`` :data:`DEEP_CRITIC_LR` (a deeper critic wants a smaller step).
    Bad input raises :class:`lipapps.InputError` naming it.
    """
    start = time.perf_counter()
    x = as_samples(x, "x")
    y = as_samples(y, "y")
    check_pair(x, y)
    a = as_weights(weights_x, len(x), "weights_x")
    b = as_weights(weights_y, len(y), "weights_y")
    n, m, dim = len(x), len(y), x.shape[1]
    run_exact = wants_exact(exact, n, m, max_pairs)
    run_refine = wants_exact(refine, n, m, max_pairs)
    if not 0.0 <= heldout_fraction < 1.0:
        raise InputError(f"heldout_fraction must lie in [0, 1), got {heldout_fraction}")
    if epochs is not None and epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    if (batch_size is not None and batch_size < 1) or (lr is not None and lr <= 0) or (depth is not None and depth < 1):
        raise InputError(f"batch_size, lr and depth must be positive, got {batch_size}, {lr} and {depth}")
    torch.manual_seed(seed)
    gen = np.random.default_rng(seed)
    split = heldout_fraction > 0 and n >= 2 and m >= 2
    if split:
        train_x, test_x = _split(n, heldout_fraction, gen)
        train_y, test_y = _split(m, heldout_fraction, gen)
    else:
        train_x, train_y = np.arange(n), np.arange(m)
    pooled = len(train_x) + len(train_y)
    if batch_size is None:
        batch_size = pooled if pooled <= FULL_BATCH else MINI_BATCH
    small = batch_size >= pooled and dim <= LOW_DIMENSION
    default_depth, default_lr, steps = SMALL_PROBLEM if small else LARGE_PROBLEM
    depth = default_depth if depth is None else depth
    if lr is None:
        lr = DEEP_CRITIC_LR if depth > default_depth else default_lr
    if epochs is None:
        epochs = max(1, math.ceil(steps / math.ceil(pooled / min(batch_size, pooled))))
    center, scale = standardisation(np.concatenate([x, y]))
    critic = W1Critic(dim, width=width, depth=depth, center=center, scale=scale).to(device)
    z, mass = pooled_training_set(x[train_x], y[train_y], a[train_x], b[train_y])
    history = lipapps.train(
        critic, kantorovich_loss, (z, mass), epochs=epochs, batch_size=min(batch_size, len(z)),
        lr=lr, seed=seed, progress=progress,
    ).history
    heldout = heldout_ci95 = None
    if split:
        (f_tx, f_ty), _ = certified_values(critic, [x[test_x], y[test_y]], device)
        mean_x, var_x = _weighted_mean_and_var(f_tx, a[test_x])
        mean_y, var_y = _weighted_mean_and_var(f_ty, b[test_y])
        heldout = mean_x - mean_y
        half = Z95 * math.sqrt(var_x + var_y)
        heldout_ci95 = (heldout - half, heldout + half)
    (f_x, f_y), certificate = certified_values(critic, [x, y], device)
    network_lower = float(a @ f_x - b @ f_y)
    final_critic: torch.nn.Module = critic
    score_y = f_y
    if run_refine:
        final_critic, f_x, f_y, target = cone_envelope(x, y, f_x)
        score_y = f_x[target]
    lower = float(a @ f_x - b @ f_y)
    upper = block_coupling_cost(x, y, a, b, f_x, score_y, block_size)
    exact_value = exact_w1(x, y, a, b) if run_exact else None
    return W1Estimate(
        lower=lower, upper=upper, exact=exact_value, heldout=heldout, heldout_ci95=heldout_ci95,
        critic=final_critic, network=critic, network_lower=network_lower, certificate=certificate,
        history=history, n_x=n, n_y=m, dim=dim, seconds=time.perf_counter() - start,
    )
