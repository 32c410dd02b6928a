"""Cone functions ``min_q (|z - e_q| - w_q)``: 1-Lipschitz for any values, evaluated with certified
rounding, and the Kantorovich-Rubinstein lower bound they give.

For any centres ``e_q`` and values ``w_q``, ``phi(z) = min_q (|z - e_q| - w_q)`` and
``psi(z) = max_p (w_p - |z - c_p|)`` are 1-Lipschitz on ``R^d`` (minima / maxima of 1-Lipschitz
cones), so ``E_mu phi - E_nu phi <= W1(mu, nu)`` (Villani, "Optimal Transport", 2009, Remark 6.5).
Evaluating them at ``n`` points takes ``n x k`` distances, held ``CHUNK_ENTRIES`` at a time.

Floating point. Distances are computed from coordinate differences in float64 and rounded outward
by a relative ``2 (d + 3) 2^-53``, which covers their rounding error (Higham 2002, Sec. 3.1); the
cone function is then bounded below on ``x`` and above on ``y``. A guard
``2 (n + m + 8) 2^-53 (sum a|phi(x)| + sum b|phi(y)| + max|w|)`` for the additions and the two
weighted sums is subtracted, so the bound holds with no tolerance.
"""

from __future__ import annotations

import numpy as np
import torch

UNIT_ROUNDOFF = 2.0**-53
CHUNK_ENTRIES = 2**22
"""Point-to-centre distances held in memory at once (32 MB of float64)."""


def certified_distances(points: torch.Tensor, centers: torch.Tensor, outward: float) -> torch.Tensor:
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
        cones = certified_distances(p[start : start + chunk], c, sign * outward).sub_(w)
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
) -> tuple[float, np.ndarray]:
    """Certified ``E_mu phi - E_nu phi <= W1(mu, nu)``, and ``phi``'s lower bounds on ``x``, for the cone function ``phi`` of
    :func:`cone_values` (``sign = +1``: ``min_q |z - e_q| - w_q``; ``-1``: ``max_p w_p - |z - c_p|``).

    ``a``, ``b`` probability vectors. ``phi`` is bounded below on ``x`` and above on ``y``, and a
    rounding guard for the additions and sums is subtracted (module docstring): no tolerance.
    """
    phi_x = cone_values(x, centers, values, sign, -1.0, chunk_entries)
    phi_y = cone_values(y, centers, values, sign, +1.0, chunk_entries)
    magnitude = float(a @ np.abs(phi_x) + b @ np.abs(phi_y) + np.max(np.abs(values)))
    guard = 2.0 * (len(x) + len(y) + 8) * UNIT_ROUNDOFF * magnitude
    return float(a @ phi_x - b @ phi_y) - guard, phi_x
