"""Quantising a weighted sample set into cells: weighted k-means, cells described by their means.

A quantisation of ``mu = sum_i a_i delta_{x_i}`` is a partition of the points into ``k`` cells
``S_p`` with masses ``A_p = sum_{i in S_p} a_i`` and centres ``c_p = sum_{i in S_p} a_i x_i / A_p``
(the cell's mass-weighted mean). Nothing a certificate proves depends on how good the cells are:
any partition gives a valid gluing bound (:mod:`critics.gluing`). Cell means matter for
tightness: for any ``f`` differentiable on the cell, ``sum_{i in S_p} a_i (f(x_i) - f(c_p))`` has
no first-order term, so quantisation errors cancel to first order.

The cells come from Lloyd's algorithm (Lloyd 1982) fitted on a subsample drawn with probability
``a_i`` (at most ``FIT_POINTS_PER_CELL * k`` points), then every point is assigned to its nearest
fitted centre (a k-d tree on the centres, memory linear in ``n + k``) and the centres are
recomputed as the cell means in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

FIT_POINTS_PER_CELL = 32
"""Lloyd iterations run on at most this many subsampled points per cell."""


@dataclass(frozen=True)
class Quantization:
    """A partition of ``n`` weighted points into ``k`` non-empty cells.

    ``labels[i]`` is the cell of point ``i``; ``masses[p]`` the total weight of cell ``p``;
    ``centers[p]`` its mass-weighted mean (the plain mean where the cell has no mass).
    """

    centers: np.ndarray
    labels: np.ndarray
    masses: np.ndarray

    def members(self) -> list[np.ndarray]:
        """Indices of the points of each cell, in increasing order, one array per cell."""
        order = np.argsort(self.labels, kind="stable")
        bounds = np.searchsorted(self.labels[order], np.arange(len(self.centers) + 1))
        return [order[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])]


def nearest_center(points: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Index of the nearest centre (Euclidean) of each point, by a k-d tree on the centres.

    Ties (to rounding) may go either way; no certificate relies on nearness.
    """
    return cKDTree(centers).query(points, workers=-1)[1].astype(np.int64)


def cell_means(points: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> Quantization:
    """The quantisation of ``(points, weights)`` by the partition ``labels``, empty cells dropped.

    Labels are renumbered ``0 .. k - 1`` in increasing order of the given labels.
    """
    used, labels = np.unique(labels, return_inverse=True)
    k = len(used)
    masses = np.bincount(labels, weights=weights, minlength=k)
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    centers = np.empty((k, points.shape[1]))
    massless = masses <= 0
    for axis in range(points.shape[1]):
        weighted = np.bincount(labels, weights=weights * points[:, axis], minlength=k)
        plain = np.bincount(labels, weights=points[:, axis], minlength=k)
        centers[:, axis] = np.where(massless, plain / counts, weighted / np.where(massless, 1.0, masses))
    return Quantization(centers=centers, labels=labels, masses=masses)


def quantize(
    points: np.ndarray,
    weights: np.ndarray,
    cells: int,
    *,
    iterations: int = 10,
    seed: int = 0,
) -> Quantization:
    """Weighted k-means cells of ``(points, weights)``: at most ``cells`` non-empty cells.

    Lloyd's algorithm runs ``iterations`` times on a subsample of at most
    ``FIT_POINTS_PER_CELL * cells`` points drawn with probability ``weights`` (all points, weighted,
    when there are fewer), from ``cells`` distinct starting points; then every point goes to its
    nearest centre and each cell is described by :func:`cell_means`. ``weights`` are
    non-negative with a positive sum. Deterministic for a given ``seed``.
    """
    if cells < 1:
        raise ValueError(f"cells must be positive, got {cells}")
    n = len(points)
    gen = np.random.default_rng(seed)
    fit_size = FIT_POINTS_PER_CELL * cells
    if n <= fit_size:
        sample, sample_weights = points, weights
    else:
        sample = points[gen.choice(n, size=fit_size, p=weights / weights.sum())]
        sample_weights = np.ones(fit_size)
    start = gen.choice(len(sample), size=min(cells, len(sample)), replace=False)
    centers = sample[start]
    for _ in range(iterations):
        fitted = cell_means(sample, sample_weights, nearest_center(sample, centers))
        centers = fitted.centers
    return cell_means(points, weights, nearest_center(points, centers))
