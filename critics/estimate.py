"""``estimate_w1``: a certified bracket on the Wasserstein-1 distance between two sample sets.

Kantorovich-Rubinstein duality (Villani 2009, Remark 6.5): for empirical measures ``mu``, ``nu``

    W1(mu, nu) = sup over 1-Lipschitz f of  E_mu f - E_nu f  = min over couplings G of <G, |x - y|>.

Any certified 1-Lipschitz critic gives a lower bound; any coupling gives an upper bound. The
critic is a ``lipapps`` network trained on mini-batches (memory linear in ``n + m``); the upper
bound solves exact OT only on matched blocks (:mod:`critics.coupling`) and, in low dimension or
up to 10^4 points a side, on a coupling glued along the optimal plan between quantised measures (:mod:`critics.gluing`),
whose cone potentials and pruned c-transforms give further lower bounds. Each side is the best
of its certified candidates. Nothing ``n x m`` is held in memory (the full c-transform and
``exact`` run in chunks or only when asked for), so 10^6 points per side fit.
"""

from __future__ import annotations

import dataclasses
import math
import time
from fractions import Fraction

import numpy as np
import torch

import lipapps
from lipapps.rounding import down, sum_error, sum_up
from critics.coupling import block_coupling_cost
from critics.critic import ValidationStopping, W1Critic, certified_values, kantorovich_loss, pooled_training_set, standardisation
from critics.defaults import VALIDATION_FRACTION, BoundPlan, choose_bounds, choose_training, heldout_counts, validation_counts
from critics.envelope import cone_envelope
from critics.exact import EXACT_MAX_PAIRS, exact_w1, wants_exact
from critics.gluing import glued_bracket
from critics.result import W1Estimate
from critics.samples import as_samples, as_weights, check_pair

Z95 = 1.959963984540054
"""The 97.5% quantile of the standard normal: a two-sided 95% interval is ``mean +- Z95 * se``."""


def _split(n: int, n_test: int, n_valid: int, gen: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random disjoint (train, validation, test) index sets of ``n`` points, of sizes
    ``n - n_valid - n_test``, ``n_valid`` and ``n_test``."""
    order = gen.permutation(n)
    return order[n_test + n_valid :], order[n_test : n_test + n_valid], order[:n_test]


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
    validation_fraction: float = VALIDATION_FRACTION,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    width: int = 64,
    depth: int | None = None,
    radial: bool | None = None,
    block_size: int | None = None,
    max_pairs: int = EXACT_MAX_PAIRS,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
) -> W1Estimate:
    """Certified bracket ``lower <= W1(mu, nu) <= upper`` between two weighted sample sets.

    1. Each set is split at random into training points, ``validation_fraction`` validation
       points and ``heldout_fraction`` held-out points. A :class:`~critics.critic.W1Critic` ``f``
       is trained (Adam, mini-batches) to maximise ``E_mu f - E_nu f`` on the training points,
       until the objective on the validation points stops improving
       (:class:`~critics.critic.ValidationStopping`; the best evaluated critic is kept). Where the
       plan names several depths (``plan.depths``), a critic of each is trained. Among them and,
       where there is a radial term, their network alone, radial term alone and radial term about
       the data's centre (:meth:`~critics.critic.W1Critic.single_terms`), the one with the best
       validation objective of ``f / L`` is kept (first on ties). Its value on the held-out
       points, which no choice (nor the critic's standardisation) has seen, is ``heldout`` (an
       unbiased estimate of ``E_P f - E_Q f <= W1(P, Q)`` for the populations), with a normal 95%
       interval.
    2. Divided by its certificate ``L = lipapps.certify(f)``, ``f / L`` is 1-Lipschitz, so
       ``E_mu f/L - E_nu f/L`` on all samples is a lower bound (Kantorovich-Rubinstein).
    3. ``refine`` ("auto": when ``n * m <= max_pairs``) replaces ``f/L`` by its double c-transform
       on the samples (:mod:`critics.envelope`, in chunks): still 1-Lipschitz, never a worse
       bound. Its value is ``critic_lower``, realised by the returned ``critic``.
    4. ``coupling_upper``: the cost of the coupling that solves exact OT on blocks matched by
       quantiles (:func:`~critics.coupling.block_coupling_cost`): ``x`` ordered by the critic,
       ``y`` by the critic's value at the point the refinement sends it to (else by its own).
    5. In low dimension, and in any dimension up to 10^4 points a side
       (:func:`critics.defaults.choose_bounds`), the glued bracket
       (:func:`critics.gluing.glued_bracket`) adds an upper bound (a glued coupling, refined by
       rounds of block re-solves) and lower bounds (cone potentials of the quantised problem and
       pruned double c-transforms, of them and of the critic's values). ``lower`` is the best certified lower bound, ``upper`` the
       cheapest coupling.
    6. ``exact`` ("auto": when ``n * m <= max_pairs``): ``ot.emd2`` with Euclidean cost.

    ``x`` (n, d) and ``y`` (m, d): numpy arrays or tensors; ``weights_*`` non-negative (uniform
    by default). ``batch_size``, ``depth``, ``lr``, ``epochs`` and ``radial`` (the critic's radial
    term) not given take the defaults of
    :func:`critics.defaults.choose_training` (the chosen ones are the result's ``plan``).
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
    plan = choose_training(n, m, dim, heldout_fraction=heldout_fraction, validation_fraction=validation_fraction,
                           epochs=epochs, batch_size=batch_size, lr=lr, depth=depth, radial=radial)
    bounds = choose_bounds(n, m, dim, refine=run_refine)
    gen = np.random.default_rng(seed)
    held_x, held_y = heldout_counts(n, m, heldout_fraction)
    valid_x, valid_y = validation_counts(n, m, heldout_fraction, validation_fraction)
    train_x, val_x, test_x = _split(n, held_x, valid_x, gen)
    train_y, val_y, test_y = _split(m, held_y, valid_y, gen)
    fitted_x, fitted_y = np.concatenate([train_x, val_x]), np.concatenate([train_y, val_y])
    center, scale = standardisation(np.concatenate([x[fitted_x], y[fitted_y]]))  # the held-out points stay unseen
    z, mass = pooled_training_set(x[train_x], y[train_y], a[train_x], b[train_y])
    trained = []
    for candidate in plan.depths:
        torch.manual_seed(seed)
        critic = W1Critic(dim, width=width, depth=candidate, center=center, scale=scale, radial=plan.radial).to(device)
        stopping = None
        if plan.patience:
            stopping = ValidationStopping(x[val_x], y[val_y], a[val_x], b[val_y], plan.check_every, plan.patience,
                                          plan.check_from, device)
        history = lipapps.train(
            critic, kantorovich_loss, (z, mass), epochs=plan.epochs, batch_size=plan.batch_size,
            lr=plan.lr, seed=seed, progress=progress, callback=stopping,
        ).history
        if stopping is not None:
            stopping.restore(critic)
            trained += [(_certified_objective(stopping, f), candidate, f, history) for f in (critic, *critic.single_terms())]
        else:
            trained.append((0.0, candidate, critic, history))
    _, kept_depth, critic, history = max(trained, key=lambda entry: entry[0])
    plan = dataclasses.replace(plan, depth=kept_depth)
    heldout = heldout_ci95 = None
    if held_x:
        heldout, heldout_ci95 = _heldout_estimate(critic, x[test_x], y[test_y], a[test_x], b[test_y], device)
    bracket = _bracket(critic, x, y, a, b, bounds, block_size, seed, device)
    return W1Estimate(
        **bracket, exact=exact_w1(x, y, a, b) if run_exact else None, heldout=heldout, heldout_ci95=heldout_ci95,
        network=critic, history=history, n_x=n, n_y=m, dim=dim, seconds=time.perf_counter() - start, plan=plan,
        bounds=bounds,
    )


def _certified_objective(stopping: ValidationStopping, critic: W1Critic) -> float:
    """The validation objective of ``f / L`` (``L`` the critic's certificate): what its bound would be there."""
    return stopping.objective(critic) / lipapps.certify(critic).upper_bound


def _round_down(value: float, magnitude: float, terms: int) -> float:
    """``value`` (a float64 sum of ``terms`` products whose absolute values sum to ``magnitude``)
    lowered by the bound :func:`lipapps.rounding.sum_error` on its rounding error."""
    return down(float(Fraction(value) - Fraction(sum_error(terms, magnitude))))


def _round_up(cost: float, terms: int) -> float:
    """A coupling's float64 cost (non-negative terms: plan entries times distances of ``d``
    coordinates, summed over at most ``terms`` entries per row and column) raised by its rounding
    bound :func:`lipapps.rounding.sum_error`."""
    return sum_up(cost, sum_error(terms, cost))


def _bracket(
    critic: torch.nn.Module, x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, bounds: BoundPlan,
    block_size: int | None, seed: int, device: str | torch.device,
) -> dict:
    """Steps 2-5 of :func:`estimate_w1`: the certificate, the lower bounds, the final critic, the upper bounds."""
    (f_x, f_y), certificate = certified_values(critic, [x, y], device)
    network_lower = float(a @ f_x - b @ f_y)
    final_critic: torch.nn.Module = critic
    score_y = f_y
    if bounds.refine:
        final_critic, f_x, f_y, target = cone_envelope(x, y, f_x)
        score_y = f_x[target]
    critic_lower = _round_down(float(a @ f_x - b @ f_y), float(a @ np.abs(f_x) + b @ np.abs(f_y)), len(x) + len(y) + x.shape[1])
    coupling_upper = _round_up(block_coupling_cost(x, y, a, b, f_x, score_y, block_size), len(x) + len(y) + x.shape[1])
    glued = None
    lower, upper = critic_lower, coupling_upper
    if bounds.cells:
        glued = glued_bracket(x, y, a, b, bounds.cells, seed=seed, envelope=bounds.envelope, potentials_x=[f_x],
                              passes=bounds.passes, tolerance=bounds.tolerance)
        lower, upper = max(lower, glued.lower), min(upper, glued.upper)
    return {
        "lower": lower, "upper": upper, "critic": final_critic, "critic_lower": critic_lower,
        "coupling_upper": coupling_upper, "glued": glued, "network_lower": network_lower, "certificate": certificate,
    }


def _heldout_estimate(
    critic: torch.nn.Module, x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, device: str | torch.device
) -> tuple[float, tuple[float, float]]:
    """``E_a f/L - E_b f/L`` on held-out points and its normal 95% interval (``a``, ``b`` renormalised)."""
    (f_x, f_y), _ = certified_values(critic, [x, y], device)
    mean_x, var_x = _weighted_mean_and_var(f_x, a)
    mean_y, var_y = _weighted_mean_and_var(f_y, b)
    heldout = mean_x - mean_y
    half = Z95 * math.sqrt(var_x + var_y)
    return heldout, (heldout - half, heldout + half)
