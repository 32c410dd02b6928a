"""A W1 bracket from quantised measures: a glued coupling above, a cone potential below.

Let ``mu = sum_i a_i delta_{x_i}`` and ``nu = sum_j b_j delta_{y_j}`` (probability vectors),
quantised into cells ``S_p`` of ``x`` (masses ``A_p``, means ``c_p``) and ``T_q`` of ``y``
(``B_q``, ``e_q``) by :mod:`critics.quantize`, and let ``G`` be an optimal plan between the
centroid measures ``sum_p A_p delta_{c_p}`` and ``sum_q B_q delta_{e_q}`` with dual potentials
``u_p + v_q <= |c_p - e_q|`` (a network-simplex basis: at most ``k + l - 1`` edges).

Upper bound (a glued coupling). Each cell ``S_p`` splits its points' mass among its edges
``(p, q)``, ``G_pq > 0``: the split is an optimal plan between the cell's points and the edges'
targets ``e_q`` with masses ``G_pq``, so points leave towards the cells they are nearest to. This
gives sub-measures ``mu_pq`` of mass ``G_pq`` with ``sum_q mu_pq = mu|S_p``; ``nu_pq`` likewise
(points of ``T_q`` towards ``c_p``). On each edge an exact plan couples ``mu_pq`` and ``nu_pq``;
the sum over edges has marginals ``sum_pq mu_pq = mu`` and ``sum_pq nu_pq = nu``, so it is a
coupling and its cost ``sum_pq G_pq W1(mu_pq / G_pq, nu_pq / G_pq) >= W1(mu, nu)`` (Villani,
"Optimal Transport", 2009, Def. 6.1). It is never above the gluing bound
``E_mu|x - q(x)| + W1(q#mu, r#nu) + E_nu|y - r(y)|`` (each edge's problem is bounded by the
coupling through the two centroids). Cost: ``k + l`` splits and ``k + l - 1`` edge problems of a
few cells' points each; memory linear in ``n + m``.

Lower bound (a cone potential). For any values ``w_q`` the function
``phi(z) = min_q (|z - e_q| - w_q)`` is 1-Lipschitz on ``R^d`` (a minimum of 1-Lipschitz cones), so
``E_mu phi - E_nu phi <= W1(mu, nu)`` (Kantorovich-Rubinstein, Villani 2009, Remark 6.5). With
``w = v`` (the centroid dual) it is the c-transform of the quantised problem's potential: on the
centroids it attains ``W1(q#mu, r#nu)``, and because ``c_p``, ``e_q`` are cell means the
quantisation error cancels to first order wherever ``phi`` is smooth. The max-form
``psi(z) = max_p (u_p - |z - c_p|)`` is equally valid; the better of the two is returned.
Every point is evaluated against all ``k`` cones (``n x k`` distances, in chunks).

Floating point. Distances in the lower bound are computed from coordinate differences in float64
and rounded outward by a relative ``2 (d + 3) 2^-53``, which covers their rounding error (Higham
2002, Sec. 3.1); ``phi`` is then bounded below on ``x`` and above on ``y``. A guard
``2 (n + m + 8) 2^-53 (sum a|phi(x)| + sum b|phi(y)| + max|w|)`` for the additions and the two
weighted sums is subtracted, so ``lower`` is a bound with no tolerance. The upper bound is the cost
of a coupling whose marginals hold to float64 rounding (relative 1e-12), as in
:mod:`critics.coupling`; an edge whose mass is at that level (1e-19 seen) may find one side's split
empty and is left out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import ot
import torch

from critics.exact import euclidean_costs, optimal_coupling
from critics.quantize import Quantization, quantize

UNIT_ROUNDOFF = 2.0**-53
CHUNK_ENTRIES = 2**22
"""Point-to-centre distances held in memory at once (32 MB of float64)."""
DEFAULT_CELLS = 2000
"""Cells per side when none is given: a centroid problem ``ot.emd`` solves in about a second."""


@dataclass(frozen=True)
class CentroidTransport:
    """An optimal plan ``plan`` (k x l) between two quantisations' centroid measures and a
    dual pair ``u``, ``v`` with ``u_p + v_q <= |c_p - e_q|`` (equality on the plan's support)."""

    plan: np.ndarray
    u: np.ndarray
    v: np.ndarray
    cost: float


@dataclass(frozen=True)
class GluedBracket:
    """``lower <= W1(mu, nu) <= upper`` (see the module docstring for both proofs).

    ``centroid_cost`` is ``W1(q#mu, r#nu)``; ``cells_x``, ``cells_y`` the number of cells;
    ``edges`` the number of edges of the centroid plan; ``seconds`` the wall time.
    """

    lower: float
    upper: float
    centroid_cost: float
    cells_x: int
    cells_y: int
    edges: int
    seconds: float


def centroid_transport(qx: Quantization, qy: Quantization) -> CentroidTransport:
    """Exact OT (``ot.emd``, Euclidean cost) between the centroid measures of two quantisations.

    Raises ``RuntimeError`` if the network simplex stops before the optimum.
    """
    costs = euclidean_costs(qx.centers, qy.centers)
    a = qx.masses / qx.masses.sum()
    b = qy.masses / qy.masses.sum()
    iterations = max(10**7, 100 * (len(a) + len(b)) ** 2)
    plan, log = ot.emd(a, b, costs, numItermax=iterations, log=True)
    if log.get("result_code", 1) != 1:
        raise RuntimeError(f"ot.emd did not reach the optimum: {log.get('warning')}")
    return CentroidTransport(plan=plan, u=log["u"], v=log["v"], cost=float(np.sum(plan * costs)))


def _split(points: np.ndarray, weights: np.ndarray, targets: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Fractional split ``(len(points), len(targets))`` of ``weights`` into parts of total ``shares``,
    by an optimal plan to the targets (rows sum to ``weights``, columns to ``shares``)."""
    if len(targets) == 1:
        return weights[:, None].copy()
    return optimal_coupling(weights, shares, euclidean_costs(points, targets)) * weights.sum()


def _edge_parts(
    points: np.ndarray,
    weights: np.ndarray,
    quantization: Quantization,
    cell_of_edge: np.ndarray,
    target_of_edge: np.ndarray,
    edge_mass: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each edge, the (indices, masses) of its sub-measure on this side: each cell's mass
    split among its edges by :func:`_split` towards the edges' targets."""
    parts: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0, dtype=np.int64), np.empty(0))] * len(edge_mass)
    order = np.argsort(cell_of_edge, kind="stable")
    bounds = np.searchsorted(cell_of_edge[order], np.arange(len(quantization.masses) + 1))
    for cell, members in enumerate(quantization.members()):
        edges = order[bounds[cell] : bounds[cell + 1]]
        if len(edges) == 0:
            continue
        split = _split(points[members], weights[members], target_of_edge[edges], edge_mass[edges])
        for column, edge in enumerate(edges):
            keep = split[:, column] > 0
            parts[edge] = (members[keep], split[keep, column])
    return parts


def glued_coupling_cost(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    qx: Quantization,
    qy: Quantization,
    plan: np.ndarray,
) -> float:
    """Cost of the glued coupling of ``(x, a)`` and ``(y, b)`` along the centroid ``plan``.

    ``qx``, ``qy`` quantise ``x`` and ``y`` (any partition is valid); ``plan`` is any coupling of
    their normalised cell masses (``k x l``). The result is an upper bound on ``W1(mu, nu)`` (see
    the module docstring).
    """
    rows, cols = np.nonzero(plan > 0)
    edge_mass = plan[rows, cols]
    parts_x = _edge_parts(x, a, qx, rows, qy.centers[cols], edge_mass)
    parts_y = _edge_parts(y, b, qy, cols, qx.centers[rows], edge_mass)
    total = 0.0
    for edge, mass in enumerate(edge_mass):
        ix, wx = parts_x[edge]
        iy, wy = parts_y[edge]
        if len(ix) == 0 or len(iy) == 0:  # an edge of rounding-level mass (1e-19 seen) the split left empty
            continue
        costs = euclidean_costs(x[ix], y[iy])
        total += mass * float(np.sum(optimal_coupling(wx, wy, costs) * costs))
    return float(total)


def _certified_distances(points: torch.Tensor, centers: torch.Tensor, outward: float) -> torch.Tensor:
    """Euclidean distances ``(len(points), len(centers))`` rounded down (``outward = -1``) or up
    (``+1``) so that the true distance lies on the stated side (see the module docstring).

    Computed from the differences, ``sqrt(sum_k (p_k - c_k)^2)``: rounding is relative, at most
    ``(d + 3) 2^-53`` to first order (Higham 2002, Sec. 3.1), so a relative widening by
    ``2 (d + 3) 2^-53`` covers it and a zero distance stays zero.
    """
    distances = torch.cdist(points, centers, compute_mode="donot_use_mm_for_euclid_dist")
    return distances.mul_(1.0 + outward * 2.0 * (points.shape[1] + 3) * UNIT_ROUNDOFF)


def cone_values(
    points: np.ndarray,
    centers: np.ndarray,
    values: np.ndarray,
    sign: float,
    outward: float,
    chunk_entries: int = CHUNK_ENTRIES,
) -> np.ndarray:
    """``min_q (|z - e_q| - w_q)`` (``sign = +1``) or ``max_p (w_p - |z - c_p|)`` (``sign = -1``)
    at every point ``z``, bounded below (``outward = -1``) or above (``+1``) against rounding.

    Both are 1-Lipschitz functions of ``z`` for any ``values``. ``chunk_entries`` distances are
    held at once: memory linear in ``len(points)``.
    """
    c = torch.as_tensor(centers, dtype=torch.float64)
    w = torch.as_tensor(values, dtype=torch.float64)[None, :]
    p = torch.as_tensor(points, dtype=torch.float64)
    chunk = max(1, chunk_entries // len(c))
    out = np.empty(len(p))
    for start in range(0, len(p), chunk):
        cones = _certified_distances(p[start : start + chunk], c, sign * outward).sub_(w)
        out[start : start + chunk] = sign * cones.amin(dim=1).numpy()
    return out


def cone_lower_bound(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    centers: np.ndarray,
    values: np.ndarray,
    sign: float,
    chunk_entries: int = CHUNK_ENTRIES,
) -> float:
    """Certified ``E_mu phi - E_nu phi <= W1(mu, nu)`` for the cone function ``phi`` of
    :func:`cone_values` (``sign = +1``: ``min_q |z - e_q| - w_q``; ``-1``: ``max_p w_p - |z - c_p|``).

    ``a``, ``b`` probability vectors. ``phi`` is bounded below on ``x`` and above on ``y``, and a
    rounding guard for the additions and sums is subtracted (module docstring): no tolerance.
    """
    phi_x = cone_values(x, centers, values, sign, -1.0, chunk_entries)
    phi_y = cone_values(y, centers, values, sign, +1.0, chunk_entries)
    magnitude = float(a @ np.abs(phi_x) + b @ np.abs(phi_y) + np.max(np.abs(values)))
    guard = 2.0 * (len(x) + len(y) + 8) * UNIT_ROUNDOFF * magnitude
    return float(a @ phi_x - b @ phi_y) - guard


def glued_bracket(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    cells: int = DEFAULT_CELLS,
    *,
    seed: int = 0,
    chunk_entries: int = CHUNK_ENTRIES,
) -> GluedBracket:
    """Certified ``lower <= W1(mu, nu) <= upper`` from ``cells``-cell k-means quantisations.

    ``x`` (n, d), ``y`` (m, d) float64 arrays; ``a``, ``b`` probability vectors. ``upper`` is
    :func:`glued_coupling_cost` along the optimal centroid plan; ``lower`` the better of the two
    cone potentials built from the centroid duals (:func:`cone_lower_bound`). Time: k-means and
    ``(n + m) x cells`` distances for the lower bound, a ``cells x cells`` ``ot.emd`` and about
    ``4 cells`` small exact problems for the upper; memory linear in ``n + m`` (plus
    ``cells^2`` for the centroid problem).
    """
    start = time.perf_counter()
    qx = quantize(x, a, cells, seed=seed)
    qy = quantize(y, b, cells, seed=seed + 1)
    transport = centroid_transport(qx, qy)
    upper = glued_coupling_cost(x, y, a, b, qx, qy, transport.plan)
    lower = max(
        cone_lower_bound(x, y, a, b, qy.centers, transport.v, +1.0, chunk_entries),
        cone_lower_bound(x, y, a, b, qx.centers, transport.u, -1.0, chunk_entries),
    )
    return GluedBracket(
        lower=lower,
        upper=upper,
        centroid_cost=transport.cost,
        cells_x=len(qx.masses),
        cells_y=len(qy.masses),
        edges=int(np.count_nonzero(transport.plan > 0)),
        seconds=time.perf_counter() - start,
    )
