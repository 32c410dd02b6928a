"""The double c-transform of a potential at the sample points, pruned by cells: linear in ``n``.

For ANY values ``h_j`` on the points ``y_j``, ``g(z) = min_j (h_j + |z - y_j|)`` is 1-Lipschitz on
``R^d`` (a minimum of 1-Lipschitz cones) and ``g(y_j) <= h_j``, so

    W1(mu, nu) >= E_mu g - E_nu g >= sum_i a_i LB_i - sum_j b_j h_j

for any lower bounds ``LB_i <= g(x_i)`` (Kantorovich-Rubinstein, Villani 2009, Remark 6.5). The
values ``h_j`` are the c-transform ``max_i (f_i - |x_i - y_j|)`` of given values ``f_i`` on the
``x_i``, taken over the points of candidate cells only (any values are valid; these make ``g`` the
cone envelope of :mod:`critics.envelope` when the candidates hold the maximiser). ``LB_i`` is the
exact minimum over the points of candidate cells of ``y`` and, for every other cell ``T_q`` (centre
``e_q``, radius ``R_q``), the bound ``min_{j in T_q} h_j + max(0, |c_p - e_q| - R_p - R_q)``, which
holds for every ``x_i`` of the cell ``S_p`` (centre ``c_p``, radius ``R_p``) by the triangle
inequality. Candidates of a cell: its ``neighbours`` nearest cells of the other side by centre and
the cells the centroid plan connects it to (an optimal plan moves mass along those).

Cost: per cell, one exact block of its points against its candidates' points, plus a ``k x l``
table of cell bounds; memory linear in ``n + m`` plus ``k x l``.

Floating point: distances in ``LB_i`` and the cell bounds are rounded down, radii up, by a relative
``2 (d + 3) 2^-53`` (see :mod:`critics.cones`); a guard for the additions and weighted sums is
subtracted. ``h`` needs no rounding care (it only has to be some value, and ``g(y_j) <= h_j`` is
exact).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import cKDTree

from critics.cones import UNIT_ROUNDOFF, certified_distances
from critics.quantize import Quantization


def _candidates(
    own: Quantization, other: Quantization, linked: list[np.ndarray], neighbours: int
) -> list[np.ndarray]:
    """Per cell of ``own``: its ``neighbours`` nearest cells of ``other`` and the ``linked`` ones."""
    count = min(neighbours, len(other.centers))
    nearest = cKDTree(other.centers).query(own.centers, k=count)[1].reshape(len(own.centers), count)
    return [np.union1d(nearest[p], linked[p]) for p in range(len(own.centers))]


def _radii(points: np.ndarray, quantization: Quantization) -> np.ndarray:
    """Largest distance of a cell's points to its centre, rounded up."""
    gaps = np.linalg.norm(points - quantization.centers[quantization.labels], axis=1)
    radii = np.zeros(len(quantization.centers))
    np.maximum.at(radii, quantization.labels, gaps)
    return radii * (1.0 + 2.0 * (points.shape[1] + 3) * UNIT_ROUNDOFF)


def local_envelope_lower_bound(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    qx: Quantization,
    qy: Quantization,
    plan: np.ndarray,
    f_x: np.ndarray,
    neighbours: int = 8,
) -> float:
    """Certified ``sum_i a_i LB_i - sum_j b_j h_j <= W1(mu, nu)`` (module docstring).

    ``qx``, ``qy`` quantise ``x`` and ``y``; ``plan`` (k x l) links cells (any non-negative
    matrix: only its support is used, to choose candidates); ``f_x`` any values on ``x`` (best: a
    1-Lipschitz potential's, e.g. :func:`critics.cones.cone_values`). ``a``, ``b`` probability
    vectors. Valid whatever the candidates; tight when they hold each point's c-transform maximiser
    and minimiser.
    """
    rows, cols = np.nonzero(plan > 0)
    members_x, members_y = qx.members(), qy.members()
    to_y = _candidates(qx, qy, [cols[rows == p] for p in range(len(qx.centers))], neighbours)
    to_x = _candidates(qy, qx, [rows[cols == q] for q in range(len(qy.centers))], neighbours)
    h = np.empty(len(y))
    for q, members in enumerate(members_y):
        pool = np.concatenate([members_x[p] for p in to_x[q]])
        distances = torch.cdist(torch.as_tensor(y[members]), torch.as_tensor(x[pool])).numpy()
        h[members] = np.max(f_x[pool][None, :] - distances, axis=1)
    lowest_h = np.full(len(qy.centers), np.inf)
    np.minimum.at(lowest_h, qy.labels, h)
    radius_x, radius_y = _radii(x, qx), _radii(y, qy)
    centres_y = torch.as_tensor(qy.centers)
    bound = np.empty(len(x))
    for p, members in enumerate(members_x):
        pool = np.concatenate([members_y[q] for q in to_y[p]])
        distances = certified_distances(torch.as_tensor(x[members]), torch.as_tensor(y[pool]), -1.0).numpy()
        exact = np.min(h[pool][None, :] + distances, axis=1)
        gap = certified_distances(torch.as_tensor(qx.centers[p : p + 1]), centres_y, -1.0).numpy()[0]
        far = lowest_h + np.maximum(gap - radius_x[p] - radius_y, 0.0)
        far[to_y[p]] = np.inf
        bound[members] = np.minimum(exact, far.min())
    scale = float(a @ np.abs(bound) + b @ np.abs(h) + np.max(np.abs(h)) + 2.0 * (radius_x.max() + radius_y.max()))
    guard = 2.0 * (len(x) + len(y) + 8) * UNIT_ROUNDOFF * scale
    return float(a @ bound - b @ h) - guard
