"""The double c-transform of a potential at the sample points, pruned by cells: memory linear in n.

For ANY values ``h_j`` on the points ``y_j``, ``g(z) = min_j (h_j + |z - y_j|)`` is 1-Lipschitz on
``R^d`` (a minimum of 1-Lipschitz cones) and ``g(y_j) <= h_j``, so

    W1(mu, nu) >= E_mu g - E_nu g >= sum_i a_i LB_i - sum_j b_j h_j

for any lower bounds ``LB_i <= g(x_i)`` (Kantorovich-Rubinstein, Villani 2009, Remark 6.5). With
``h_j = max_i (f_i - |x_i - y_j|)``, the c-transform of given values ``f_i`` on the ``x_i``, ``g``
is the cone envelope of :mod:`critics.envelope` (``g(x_i) >= f_i``): never worse than ``f``.

Both transforms are minima ``min_j (w_j + |z - p_j|)`` over all ``n`` (or ``m``) points, computed by
:func:`pruned_cone_minimum` without the ``n x m`` table: for a cell ``S`` of query points (centre
``c``, radius ``R``) and a cell ``T`` of anchors (centre ``e``, radius ``R'``), the triangle inequality
gives ``w_j + |z - p_j| >= min_T w + max(0, |c - e| - R - R')`` for every ``z`` in ``S`` and ``j`` in
``T``. A sharper bound follows the direction between the cells: for the unit vector ``u`` from ``e``
to ``c``, ``|z - p_j| >= u . (z - p_j) = u . (c - e) + u . (z - c) - u . (p_j - e)`` (Cauchy-Schwarz),
so ``w_j + |z - p_j| >= |c - e| - R + min_{j in T} (w_j - u . (p_j - e))``. For a near-optimal
potential ``w`` falls at unit rate along the transport rays, so on the cells along the ray from ``z``
the last term barely varies and the bound loses only ``R`` where the first loses ``R + 2 R'``:
in 3-D, where the first prunes little (10^5 points a side, 2000 cells: minutes), the larger of
the two prunes to seconds. A cell pair is evaluated exactly when its bound is below the largest minimum found over the
few cells of lowest bound (branch and bound); every other pair contributes its bound, so the result
is a lower bound whatever the pruning does, and the exact minimum when the pruned cells cannot
attain it.

Floating point: distances are rounded down and radii up by a relative ``2 (d + 3) 2^-53`` (see
:mod:`critics.cones`); a guard for the additions and weighted sums is subtracted. In the
directional bound ``u`` is divided by its norm raised by a relative ``4 (d + 3) 2^-53`` (so
``|u| <= 1`` and Cauchy-Schwarz holds for the computed vector), and each bound is lowered by
``16 (d + 3) 2^-53`` times the largest ``|w| + |c - e| + R + R'``, above the rounding of its two dot
products of ``d`` terms and three additions (Higham 2002, Sec. 3.1). The values
``h`` need no care: any values are valid and ``g(y_j) <= h_j`` is exact.
"""

from __future__ import annotations

import numpy as np
import torch

from critics.cones import UNIT_ROUNDOFF, certified_distances
from critics.quantize import Quantization

TABLE_ENTRIES = 2**21
"""Cell-pair bounds held at once (query cells times anchor cells; four arrays of this many floats),
and a quarter of the entries of the two ``(query cells, anchor cells, dimension)`` arrays of the
directional bounds, so that memory stays bounded in every dimension."""


def _radii(points: np.ndarray, quantization: Quantization) -> np.ndarray:
    """Largest distance of a cell's points to its centre, rounded up."""
    gaps = np.linalg.norm(points - quantization.centers[quantization.labels], axis=1)
    radii = np.zeros(len(quantization.centers))
    np.maximum.at(radii, quantization.labels, gaps)
    return radii * (1.0 + 2.0 * (points.shape[1] + 3) * UNIT_ROUNDOFF)


def _directional_bounds(
    values: np.ndarray,
    anchors: np.ndarray,
    anchor_cells: Quantization,
    members_a: list[np.ndarray],
    centres_p: np.ndarray,
    radius_p: np.ndarray,
    radius_a: np.ndarray,
) -> np.ndarray:
    """``(query cells, anchor cells)`` lower bounds ``|c - e| - R_S + min_{j in T} (w_j - u . (p_j - e))``
    on ``w_j + |z - p_j|`` over ``z`` in ``S`` and ``j`` in ``T``, ``u`` the unit vector from ``e`` to
    ``c`` (module docstring), lowered by a rounding guard; ``-inf`` where ``c = e``."""
    dim = anchors.shape[1]
    offsets = centres_p[:, None, :] - anchor_cells.centers[None, :, :]
    gaps = np.sqrt(np.sum(offsets**2, axis=2))
    shrink = 1.0 + 4.0 * (dim + 3) * UNIT_ROUNDOFF
    with np.errstate(invalid="ignore", divide="ignore"):
        units = offsets / (gaps * shrink)[:, :, None]
    out = np.full(gaps.shape, -np.inf)
    for q, members in enumerate(members_a):
        spread = anchors[members] - anchor_cells.centers[q]
        lowest = np.min(values[members][None, :] - units[:, q, :] @ spread.T, axis=1)
        out[:, q] = np.sum(units[:, q, :] * offsets[:, q, :], axis=1) - radius_p + lowest
    scale = float(np.max(np.abs(values))) + float(gaps.max()) + float(radius_p.max()) + float(radius_a.max())
    out -= 16.0 * (dim + 3) * UNIT_ROUNDOFF * scale
    out[gaps == 0.0] = -np.inf
    return out


def pruned_cone_minimum(
    values: np.ndarray,
    anchors: np.ndarray,
    anchor_cells: Quantization,
    points: np.ndarray,
    point_cells: Quantization,
    seeds: int = 4,
) -> np.ndarray:
    """Lower bounds ``LB_i <= min_j (values_j + |points_i - anchors_j|)``, exact up to rounding
    where pruning holds (module docstring); ``anchor_cells`` / ``point_cells`` partition the two
    sets. Each query cell is first evaluated on its ``seeds`` anchor cells of lowest bound.
    """
    lowest = np.full(len(anchor_cells.centers), np.inf)
    np.minimum.at(lowest, anchor_cells.labels, values)
    radius_a, radius_p = _radii(anchors, anchor_cells), _radii(points, point_cells)
    members_a = anchor_cells.members()
    centres_a = torch.as_tensor(anchor_cells.centers)
    centres_p = torch.as_tensor(point_cells.centers)

    def exact(members: np.ndarray, cells: np.ndarray) -> np.ndarray:
        pool = np.concatenate([members_a[q] for q in cells])
        distances = certified_distances(torch.as_tensor(points[members]), torch.as_tensor(anchors[pool]), -1.0)
        return np.min(values[pool][None, :] + distances.numpy(), axis=1)

    out = np.empty(len(points))
    rows = max(1, min(TABLE_ENTRIES // len(centres_a), 4 * TABLE_ENTRIES // (len(centres_a) * points.shape[1])))
    for p, members in enumerate(point_cells.members()):
        if p % rows == 0:
            block = slice(p, p + rows)
            directional = _directional_bounds(values, anchors, anchor_cells, members_a, point_cells.centers[block],
                                              radius_p[block], radius_a)
        gap = certified_distances(centres_p[p : p + 1], centres_a, -1.0).numpy()[0]
        bound = np.maximum(lowest + np.maximum(gap - radius_p[p] - radius_a, 0.0), directional[p % rows])
        first = np.argsort(bound, kind="stable")[:seeds]
        chosen = np.union1d(first, np.nonzero(bound < exact(members, first).max())[0])
        bound[chosen] = np.inf
        out[members] = np.minimum(exact(members, chosen), bound.min())
    return out


def local_envelope_lower_bound(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    qx: Quantization,
    qy: Quantization,
    f_x: np.ndarray,
) -> float:
    """Certified ``sum_i a_i LB_i - sum_j b_j h_j <= W1(mu, nu)`` for the double c-transform of the
    values ``f_x`` (module docstring).

    ``qx``, ``qy`` partition ``x`` and ``y`` (any cells are valid; small ones prune well);
    ``f_x`` any values on ``x`` (best: a near-optimal 1-Lipschitz potential's, e.g.
    :func:`critics.cones.cone_values`). ``a``, ``b`` probability vectors.
    """
    h = -pruned_cone_minimum(-f_x, x, qx, y, qy)
    bound = pruned_cone_minimum(h, y, qy, x, qx)
    radius = float(_radii(x, qx).max() + _radii(y, qy).max())
    scale = float(a @ np.abs(bound) + b @ np.abs(h) + 2.0 * np.max(np.abs(h)) + 2.0 * radius)
    guard = 2.0 * (len(x) + len(y) + 8) * UNIT_ROUNDOFF * scale
    return float(a @ bound - b @ h) - guard
