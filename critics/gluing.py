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
(points of ``T_q`` towards ``c_p``). Coupling each ``mu_pq`` to ``nu_pq`` exactly, edge by edge,
gives a coupling of ``mu`` and ``nu`` (marginals ``sum_pq mu_pq = mu``, ``sum_pq nu_pq = nu``).
Better, keep only one side's split: for each cell ``S_p`` an exact plan between all of ``mu|S_p``
and ``sum_q nu_pq`` (equal masses ``A_p``); summed over ``p`` the marginals are again ``mu`` and
``nu``, and the edge-by-edge plan is one candidate of each cell's problem, so this costs no more.
The same holds for groups of cells (``group``): any partition of one side works. The same with
the sides swapped gives a second coupling; the cheaper cost is returned, an upper
bound on ``W1(mu, nu)`` (Villani, "Optimal Transport", 2009, Def. 6.1). It is never above the
gluing bound ``E_mu|x - q(x)| + W1(q#mu, r#nu) + E_nu|y - r(y)|`` (each edge's problem is bounded
by the coupling through the two centroids). Cost: ``k + l`` splits and ``k + l`` cell problems of
a few cells' points each; memory linear in ``n + m``.

Refinement (``passes``). The glued coupling is kept by its support (:class:`~critics.coupling.SparseCoupling`)
and lowered by rounds of :func:`~critics.coupling.refine_coupling`: the support is split into
blocks (k-means cells of the moves' sources, targets or midpoints, in turn), and each block's
two marginals are coupled exactly in place of the block. The marginals stay those of ``mu`` and
``nu`` and the cost never rises (the old block is feasible for the block's problem), so every
round's cost is again an upper bound; the rounds let mass cross the borders of the cells and
groups that the gluing fixed (domain decomposition, Benamou 1994; Bonafini and Schmitzer 2021).

Lower bound (a cone potential). For any values ``w_q`` the function
``phi(z) = min_q (|z - e_q| - w_q)`` is 1-Lipschitz on ``R^d`` (a minimum of 1-Lipschitz cones), so
``E_mu phi - E_nu phi <= W1(mu, nu)`` (Kantorovich-Rubinstein, Villani 2009, Remark 6.5). With
``w = v`` (the centroid dual) it is the c-transform of the quantised problem's potential: on the
centroids it attains ``W1(q#mu, r#nu)``, and because ``c_p``, ``e_q`` are cell means the
quantisation error cancels to first order wherever ``phi`` is smooth. The max-form
``psi(z) = max_p (u_p - |z - c_p|)`` is equally valid; the better of the two is returned.
Every point is evaluated against all ``k`` cones (``n x k`` distances, in chunks).

Refinement (``envelope=True``). The better cone potential's values on ``x`` are then put through
the double c-transform at the sample points, pruned by cells (:mod:`critics.local_envelope`); the
larger of the two lower bounds is returned.

Floating point. The lower bounds round every distance outward and subtract a guard for the sums
(:mod:`critics.cones`, :mod:`critics.local_envelope`): no tolerance. The upper bound is the cost
of a coupling whose marginals hold to float64 rounding (relative 1e-12), as in
:mod:`critics.coupling`; an edge whose mass is at that level (1e-19 seen) may find one side's split
empty and is left out.
"""

from __future__ import annotations

import time
from fractions import Fraction
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from critics.cones import CHUNK_ENTRIES, cone_lower_bound
from critics.coupling import SparseCoupling, refine_coupling
from critics.exact import euclidean_costs, optimal_coupling, optimal_coupling_with_duals
from critics.local_envelope import local_envelope_lower_bound
from lipapps.rounding import round_up, sqrt_up, sum_error, sum_up
from critics.quantize import Quantization, cell_means, quantize

DEFAULT_CELLS = 2000
"""Cells per side when none is given: a centroid problem ``ot.emd`` solves in about a second."""
GROUP_POINTS = 400
"""Points per exact problem of the upper bound that :func:`glued_bracket` aims at. Measured
(disc vs square, n = 10^4 a side, 2000 cells, exact 0.123580): groups of 1 / 4 / 16 / 64 cells
gave 0.124430 / 0.124144 / 0.123933 / 0.123785 in 0.6 / 0.5 / 0.7 / 1.6 s."""
BLOCK_POINTS = 1000
"""Points a side per block of the refinement rounds (:func:`critics.coupling.refine_coupling`)."""


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
    ``edges`` the number of edges of the centroid plan; ``glued_upper`` the glued coupling's cost
    before ``passes`` rounds of :func:`~critics.coupling.refine_coupling` lowered it to ``upper``
    (the rounds run, fewer than asked when the bracket reached its tolerance first);
    ``seconds`` the wall time.
    """

    lower: float
    upper: float
    centroid_cost: float
    cells_x: int
    cells_y: int
    edges: int
    seconds: float
    glued_upper: float
    passes: int


def _cost_up(coupling: SparseCoupling, x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """An upper bound on ``W1(a, b)`` from a coupling whose marginals match ``(a, b)`` only up to
    the rounding of the solvers that built it: its float64 cost, raised by the bound
    :func:`lipapps.rounding.sum_error` on the rounding of its sum of products (each distance adds
    a relative ``(d + 3) 2^-53``), plus ``D (||r - a||_1 + ||c - b||_1)`` for its marginals
    ``(r, c)`` and a bound ``D`` on every distance between the points. The repair behind that
    term: scale down the rows and columns that carry too much mass (the cost does not rise), then
    couple what is missing on each side independently (at most ``D`` a unit of mass, and the
    missing mass is at most the two defects; ``docs/math.md``, W1 brackets)."""
    cost = coupling.cost(x, y)
    rows = np.bincount(coupling.rows, weights=coupling.masses, minlength=len(x))
    cols = np.bincount(coupling.cols, weights=coupling.masses, minlength=len(y))
    defect = float(np.abs(rows - a).sum() + np.abs(cols - b).sum())
    defect = sum_up(defect, sum_error(len(coupling.masses) + len(x) + len(y), 2.0 + defect))
    both = np.concatenate([x, y])
    diameter = sqrt_up(sum((Fraction(float(hi)) - Fraction(float(lo))) ** 2  # exact: the bounding box's diagonal
                           for hi, lo in zip(both.max(axis=0), both.min(axis=0))))
    return sum_up(cost, sum_error(len(coupling.masses) + x.shape[1] + 3, cost), round_up(Fraction(diameter) * Fraction(defect)))


def centroid_transport(qx: Quantization, qy: Quantization) -> CentroidTransport:
    """Exact OT (``ot.emd``, Euclidean cost) between the centroid measures of two quantisations.

    Raises ``RuntimeError`` if the network simplex stops before the optimum.
    """
    costs = euclidean_costs(qx.centers, qy.centers)
    plan, u, v = optimal_coupling_with_duals(qx.masses, qy.masses, costs)
    return CentroidTransport(plan=plan, u=u, v=v, cost=float(np.sum(plan * costs)))


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


def _cellwise_plan(
    points: np.ndarray,
    weights: np.ndarray,
    quantization: Quantization,
    cell_of_edge: np.ndarray,
    others: np.ndarray,
    other_parts: list[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The coupling that solves, for each cell, exact OT between the cell's points and the other
    side's sub-measures on the cell's edges (module docstring), as (this side's indices, the
    other side's indices, masses)."""
    order = np.argsort(cell_of_edge, kind="stable")
    bounds = np.searchsorted(cell_of_edge[order], np.arange(len(quantization.masses) + 1))
    parts = []
    for cell, members in enumerate(quantization.members()):
        edges = order[bounds[cell] : bounds[cell + 1]]
        if len(edges) == 0:
            continue
        pool = np.concatenate([other_parts[edge][0] for edge in edges])
        shares = np.concatenate([other_parts[edge][1] for edge in edges])
        plan = optimal_coupling(weights[members], shares, euclidean_costs(points[members], others[pool]))
        r, c = np.nonzero(plan)
        parts.append((members[r], pool[c], plan[r, c] * weights[members].sum()))
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0)
    return tuple(np.concatenate(column) for column in zip(*parts))


def glued_coupling(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    qx: Quantization,
    qy: Quantization,
    plan: np.ndarray,
    group: int = 1,
) -> SparseCoupling:
    """The glued coupling of ``(x, a)`` and ``(y, b)`` along the centroid ``plan`` (the cheaper of
    the two sides' constructions, module docstring).

    ``qx``, ``qy`` quantise ``x`` and ``y`` (any partition is valid); ``plan`` is any coupling of
    their normalised cell masses (``k x l``). With ``group > 1`` the exact problems are solved on
    groups of about ``group`` neighbouring cells of ``x`` (k-means of the centres), and on groups
    of ``y``'s cells holding as many points, instead of single cells: any partition into groups is
    valid, and larger groups move less mass across group borders. (Groups are sized in points, not
    cells, because a side with few distinct points has few, crowded cells: 25 atoms against 2000
    cells of ``x`` would otherwise make one group of all of ``y`` and an ``m x n`` problem.) Its
    cost is an upper bound on ``W1(mu, nu)`` (see the module docstring).
    """
    rows, cols = np.nonzero(plan > 0)
    edge_mass = plan[rows, cols]
    parts_x = _edge_parts(x, a, qx, rows, qy.centers[cols], edge_mass)
    parts_y = _edge_parts(y, b, qy, cols, qx.centers[rows], edge_mass)
    cells_x, cells_y, edges_x, edges_y = qx, qy, rows, cols
    if group > 1:
        group_y = max(1, round(group * len(x) * len(qy.masses) / (len(qx.masses) * len(y))))
        gx = quantize(qx.centers, qx.masses, -(-len(qx.masses) // group)).labels
        gy = quantize(qy.centers, qy.masses, -(-len(qy.masses) // group_y), seed=1).labels
        cells_x, cells_y = cell_means(x, a, gx[qx.labels]), cell_means(y, b, gy[qy.labels])
        edges_x, edges_y = gx[rows], gy[cols]
    from_x = _cellwise_plan(x, a, cells_x, edges_x, y, parts_y)
    from_y = _cellwise_plan(y, b, cells_y, edges_y, x, parts_x)
    candidates = (SparseCoupling(*from_x), SparseCoupling(from_y[1], from_y[0], from_y[2]))
    return min(candidates, key=lambda coupling: coupling.cost(x, y))


def glued_bracket(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    cells: int = DEFAULT_CELLS,
    *,
    seed: int = 0,
    group_points: int = GROUP_POINTS,
    envelope: bool = True,
    potentials_x: Sequence[np.ndarray] = (),
    passes: int = 0,
    tolerance: float = 0.0,
    block_points: int = BLOCK_POINTS,
    chunk_entries: int = CHUNK_ENTRIES,
) -> GluedBracket:
    """Certified ``lower <= W1(mu, nu) <= upper`` from ``cells``-cell k-means quantisations.

    ``x`` (n, d), ``y`` (m, d) float64 arrays; ``a``, ``b`` probability vectors. ``upper`` is
    the cost of :func:`glued_coupling` along the optimal centroid plan (rounded up), on groups of cells holding about
    ``group_points`` points; ``lower`` the better of the two
    cone potentials built from the centroid duals (:func:`~critics.cones.cone_lower_bound`) and
    of that potential's pruned double c-transform
    (:func:`~critics.local_envelope.local_envelope_lower_bound`), and of the transforms of any
    ``potentials_x`` (values on ``x`` of any function, e.g. a trained critic's: the transform is
    1-Lipschitz whatever the values, so every candidate is a certified bound). With ``passes``
    the glued coupling is refined by up to that many rounds of blocks of about ``block_points``
    points (module docstring), computed after the lower bound and stopped before a round once
    ``upper - lower <= tolerance * lower``; ``glued_upper`` is its cost before. Time: k-means,
    ``(n + m) x cells`` distances and, with ``envelope``, two pruned transforms per potential for the lower bound
    (measured, 1 CPU thread, 10^5 points a side, 2000 cells: about 16 CPU s per potential in 3-D),
    a ``cells x cells`` ``ot.emd`` and about ``4 cells`` small exact problems for the upper, and
    ``max(n, m) / block_points`` exact problems a round (15-18 CPU s in 3-D at that size); memory
    linear in ``n + m`` (plus ``cells^2`` for the centroid problem and the cell bounds).
    """
    start = time.perf_counter()
    qx = quantize(x, a, cells, seed=seed)
    qy = quantize(y, b, cells, seed=seed + 1)
    transport = centroid_transport(qx, qy)
    group = max(1, round(group_points * len(qx.masses) / max(len(x), len(y))))
    coupling = glued_coupling(x, y, a, b, qx, qy, transport.plan, group)
    glued_upper = upper = _cost_up(coupling, x, y, a, b)
    cone_lower, phi_x = max(
        cone_lower_bound(x, y, a, b, qy.centers, transport.v, +1.0, chunk_entries),
        cone_lower_bound(x, y, a, b, qx.centers, transport.u, -1.0, chunk_entries),
        key=lambda bound_and_values: bound_and_values[0],
    )
    lower = cone_lower
    if envelope:
        lower = max(lower, *(local_envelope_lower_bound(x, y, a, b, qx, qy, f) for f in (phi_x, *potentials_x)))
    if passes:

        def tight(candidate: SparseCoupling) -> bool:
            return _cost_up(candidate, x, y, a, b) - lower <= tolerance * lower

        refined, passes = refine_coupling(x, y, coupling, passes, block_points, seed=seed + 2, done=tight)
        upper = min(upper, _cost_up(refined, x, y, a, b))
    return GluedBracket(
        lower=lower,
        upper=upper,
        centroid_cost=transport.cost,
        cells_x=len(qx.masses),
        cells_y=len(qy.masses),
        edges=int(np.count_nonzero(transport.plan > 0)),
        seconds=time.perf_counter() - start,
        glued_upper=glued_upper,
        passes=passes,
    )
