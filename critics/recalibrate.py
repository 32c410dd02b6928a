"""Recalibrating a critic along its own values: the best 1-Lipschitz ``h`` with ``h o f``.

A trained critic ``f`` (1-Lipschitz after dividing by its certificate) can have the right level
sets and the wrong profile across them: on a pair whose radial CDFs cross (a heavy-tailed law
against a Gaussian), ``f`` may learn ``|x|`` where the optimal potential is a non-monotone
function of ``|x|``. For any 1-Lipschitz ``h: R -> R``, ``h o f`` is 1-Lipschitz, and the best
``h`` for the laws of ``f(X)`` and ``f(Y)`` is their one-dimensional Kantorovich potential:
``h' = sign(F_Y - F_X)`` with ``F`` the CDFs of the values, so that
``E h(f(X)) - E h(f(Y)) = int |F_X - F_Y| = W1(f#mu, f#nu) >= E f(X) - E f(Y)``
(integration by parts; Villani 2009, Remark 2.19). It is fitted on one split (validation) and
evaluated on another (held-out), so the held-out mean difference stays an unbiased estimate of
``int h o f d(mu - nu) <= W1(mu, nu)``: the choice of ``h`` has not seen the held-out points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Profile:
    """A piecewise-linear 1-Lipschitz ``h`` (slopes in ``{-1, 0, 1}``), constant outside its knots."""

    knots: np.ndarray
    values: np.ndarray

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return np.interp(t, self.knots, self.values)


def fit_profile(values_x: np.ndarray, values_y: np.ndarray, weights_x: np.ndarray | None = None,
                weights_y: np.ndarray | None = None) -> Profile:
    """The one-dimensional Kantorovich potential between the (weighted) values ``f(x_i)`` and ``f(y_j)``.

    On each interval between consecutive distinct values the empirical CDFs ``F_X, F_Y`` are
    constant, and ``h`` has slope ``sign(F_Y - F_X)`` there; ``E_x h - E_y h`` on these points is
    then their exact one-dimensional W1, the largest any 1-Lipschitz ``h`` reaches.
    """
    values_x, values_y = np.asarray(values_x, dtype=np.float64), np.asarray(values_y, dtype=np.float64)
    a = np.full(len(values_x), 1.0 / len(values_x)) if weights_x is None else np.asarray(weights_x) / np.sum(weights_x)
    b = np.full(len(values_y), 1.0 / len(values_y)) if weights_y is None else np.asarray(weights_y) / np.sum(weights_y)
    points = np.concatenate([values_x, values_y])
    signed = np.concatenate([a, -b])
    order = np.argsort(points, kind="stable")
    knots, starts = np.unique(points[order], return_index=True)
    difference = np.add.reduceat(signed[order], starts).cumsum()  # F_X - F_Y right after each knot
    slopes = -np.sign(difference[:-1])
    values = np.concatenate([[0.0], np.cumsum(slopes * np.diff(knots))])
    return Profile(knots, values)
