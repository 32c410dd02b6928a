"""A certified upper bound on W1: the cost of a feasible coupling built from matched blocks.

Any coupling ``G`` of two empirical measures ``mu = sum a_i delta_{x_i}`` and
``nu = sum b_j delta_{y_j}`` has cost ``sum_ij G_ij |x_i - y_j| >= W1(mu, nu)``, because W1 is the
minimum over all couplings (Villani, "Optimal Transport", 2009, Def. 6.1). We build one from a
score per point (the trained critic's value, or any projection):

1. Sort each set by its score and lay its mass out on ``[0, 1]`` in that order, point ``i``
   covering ``[A_{i-1}, A_i)`` with ``A_i = a_1 + ... + a_i`` (the quantile layout).
2. Cut ``[0, 1]`` into ``K`` intervals ``I_k``. The part of each point's mass lying in ``I_k``
   forms two sub-measures ``mu_k``, ``nu_k`` of the same total ``|I_k|``, with
   ``sum_k mu_k = mu`` and ``sum_k nu_k = nu``.
3. Solve each block exactly (``ot.emd``): the sum of the block couplings has marginals ``mu`` and
   ``nu``, so its cost ``sum_k |I_k| W1(mu_k / |I_k|, nu_k / |I_k|)`` is an upper bound.

Memory and time are those of ``K`` problems of at most ``block_size + 1`` points a side, never
an ``n x m`` matrix. With one block the bound is the exact W1. The bound is tight when the
scores order both sets the way an optimal plan pairs them, e.g. by level sets of a near-optimal
Kantorovich potential (an optimal plan moves mass only along rays where the potential drops at
unit rate). Floating-point rounding (relative 1e-12) is the only slack in the guarantee.

The same argument improves any coupling ``G`` block by block (:func:`resolve_blocks`): split its
support into blocks ``G = sum_k G_k``; each ``G_k`` couples its own marginals ``(mu_k, nu_k)``, with
``sum_k mu_k = mu`` and ``sum_k nu_k = nu``, so replacing every ``G_k`` by an optimal coupling of
``(mu_k, nu_k)`` gives a coupling of ``mu`` and ``nu`` again, of cost at most that of ``G`` (``G_k``
is one candidate of block ``k``'s problem). Rounds over different block partitions
(:func:`refine_coupling`) are domain decomposition for optimal transport (Benamou 1994; Bonafini
and Schmitzer 2021).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from critics.exact import euclidean_costs, optimal_coupling
from critics.quantize import quantize


def _block_masses(cumulative: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in sorted order) and masses of the points whose quantile cells meet ``[lo, hi)``."""
    first = max(int(np.searchsorted(cumulative, lo, side="right")) - 1, 0)
    last = min(int(np.searchsorted(cumulative, hi, side="left")), len(cumulative) - 1)
    starts = cumulative[first:last]
    ends = cumulative[first + 1 : last + 1]
    masses = np.minimum(ends, hi) - np.maximum(starts, lo)
    positions = np.arange(first, last)
    keep = masses > 0
    return positions[keep], masses[keep]


def default_block_size(n: int, m: int) -> int:
    """Block size used when none is given: 1000 points up to 100k samples a side, else 256.

    Exact OT on a block of ``B`` points costs about ``B^2.5``; with ``max(n, m) / B`` blocks this
    keeps the bound to seconds at 10^5 points and about a minute at 10^6 (one CPU core).
    """
    return 1000 if max(n, m) <= 100_000 else 256


def block_coupling_cost(
    x: np.ndarray,
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    score_x: np.ndarray,
    score_y: np.ndarray,
    block_size: int | None = None,
) -> float:
    """Cost of the matched-block coupling of ``(x, a)`` and ``(y, b)`` ordered by the scores.

    ``a`` and ``b`` are probability vectors, ``score_x`` / ``score_y`` one real number per point
    (ties keep the input order). The result is an upper bound on the exact W1 (see the module
    docstring for the construction and the proof).
    """
    block_size = default_block_size(len(x), len(y)) if block_size is None else block_size
    if block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    order_x = np.argsort(score_x, kind="stable")
    order_y = np.argsort(score_y, kind="stable")
    cum_x = np.concatenate([[0.0], np.cumsum(a[order_x])])
    cum_y = np.concatenate([[0.0], np.cumsum(b[order_y])])
    cum_x /= cum_x[-1]
    cum_y /= cum_y[-1]
    blocks = max(1, math.ceil(max(len(x), len(y)) / block_size))
    edges = np.linspace(0.0, 1.0, blocks + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        pos_x, mass_x = _block_masses(cum_x, lo, hi)
        pos_y, mass_y = _block_masses(cum_y, lo, hi)
        xs, ys = x[order_x[pos_x]], y[order_y[pos_y]]
        costs = euclidean_costs(xs, ys)
        plan = optimal_coupling(mass_x, mass_y, costs)
        total += (hi - lo) * float(np.sum(plan * costs))
    return float(total)


@dataclass(frozen=True)
class SparseCoupling:
    """A coupling stored by its support: mass ``masses[k]`` moves from ``x[rows[k]]`` to
    ``y[cols[k]]``. Memory is linear in the support (at most ``n + m - 1`` entries per exact block)."""

    rows: np.ndarray
    cols: np.ndarray
    masses: np.ndarray

    def cost(self, x: np.ndarray, y: np.ndarray) -> float:
        """``sum_k masses_k |x_{rows_k} - y_{cols_k}|`` in float64 (non-negative terms)."""
        return float(self.masses @ np.linalg.norm(x[self.rows] - y[self.cols], axis=1))


def resolve_blocks(x: np.ndarray, y: np.ndarray, coupling: SparseCoupling, labels: np.ndarray) -> SparseCoupling:
    """Re-solve ``coupling`` block by block: the entries with one ``labels`` value form a block,
    whose two marginals are coupled exactly (``ot.emd``) in place of the block's entries.

    The marginals of the whole coupling are unchanged (each block keeps its own, up to float64
    rounding) and the cost never rises (the old block is a candidate of the block's problem):
    any partition of the support is valid (module docstring).
    """
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(int(labels.max()) + 2))
    parts = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        block = order[lo:hi]
        sources, row = np.unique(coupling.rows[block], return_inverse=True)
        targets, col = np.unique(coupling.cols[block], return_inverse=True)
        if len(sources) < 2 or len(targets) < 2:
            parts.append((coupling.rows[block], coupling.cols[block], coupling.masses[block]))
            continue
        mass_x = np.bincount(row, weights=coupling.masses[block])
        plan = optimal_coupling(mass_x, np.bincount(col, weights=coupling.masses[block]), euclidean_costs(x[sources], y[targets]))
        r, c = np.nonzero(plan)
        parts.append((sources[r], targets[c], plan[r, c] * mass_x.sum()))
    return SparseCoupling(*(np.concatenate(column) for column in zip(*parts)))


def refine_coupling(
    x: np.ndarray,
    y: np.ndarray,
    coupling: SparseCoupling,
    passes: int,
    block_points: int,
    seed: int = 0,
    done: Callable[[SparseCoupling], bool] | None = None,
) -> tuple[SparseCoupling, int]:
    """Up to ``passes`` rounds of :func:`resolve_blocks` (domain decomposition, Benamou 1994;
    Bonafini and Schmitzer 2021): the support is grouped by k-means cells of about ``block_points``
    entries, in turn by the source point, by the target point and by the midpoint of each move, so
    that mass crosses the borders of one round's blocks in the next. Each round keeps the marginals
    and never raises the cost. ``done`` (optional) is asked before each round and ends the rounds
    when it returns true; the rounds run are the same as without it up to there. Returns the
    coupling and the number of rounds run.
    """
    for round_ in range(passes):
        if done is not None and done(coupling):
            return coupling, round_
        where = (x[coupling.rows], y[coupling.cols], (x[coupling.rows] + y[coupling.cols]) / 2)[round_ % 3]
        cells = max(1, round(max(len(x), len(y)) / block_points))
        labels = quantize(where, coupling.masses, cells, seed=seed + round_).labels
        coupling = resolve_blocks(x, y, coupling, labels)
    return coupling, passes
