"""Tightening a certified critic on the samples by the c-transform (the "cone envelope").

For a 1-Lipschitz ``f`` and the cost ``|x - y|``, the c-transform
``h(y) = max_i f(x_i) - |x_i - y|`` is 1-Lipschitz (a maximum of 1-Lipschitz cones), equals
``f`` on every ``x_i`` and is ``<= f`` everywhere; the transform back,
``g(z) = min_j h(y_j) + |z - y_j|``, is 1-Lipschitz, equals ``h`` on every ``y_j`` and is
``>= h`` everywhere. Hence ``g(x_i) >= f(x_i)`` and ``g(y_j) <= f(y_j)``: the Kantorovich-
Rubinstein objective ``E_mu g - E_nu g`` is at least that of ``f``, and ``g`` is still a valid
1-Lipschitz critic on all of ``R^d`` (Villani, "Optimal Transport", 2009, Def. 5.2 and Prop. 5.8;
Mallasto et al., "(q, p)-Wasserstein GANs", 2019, use the same transform for WGAN critics).
A second round changes nothing for the distance cost (``h`` is already ``c``-concave), so one
round is all there is to gain. Cost: ``n * m`` distances, computed in chunks.
"""

from __future__ import annotations

import numpy as np
import torch

from lipapps import LipschitzModule

from critics.exact import euclidean_costs

CHUNK_ENTRIES = 2**24
"""Distances held in memory at once (128 MB of float64)."""


def _transform(values: np.ndarray, anchors: np.ndarray, points: np.ndarray, sign: float) -> tuple[np.ndarray, np.ndarray]:
    """``sign = -1``: ``max_i v_i - |a_i - p|``; ``sign = +1``: ``min_i v_i + |a_i - p|`` per point,
    with the index ``i`` attaining it."""
    chunk = max(1, CHUNK_ENTRIES // len(anchors))
    out = np.empty(len(points))
    arg = np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), chunk):
        cones = values[:, None] + sign * euclidean_costs(anchors, points[start : start + chunk])
        best = cones.argmin(axis=0) if sign > 0 else cones.argmax(axis=0)
        arg[start : start + chunk] = best
        out[start : start + chunk] = cones[best, np.arange(cones.shape[1])]
    return out, arg


class ConeEnvelope(LipschitzModule):
    """``g(z) = min_j v_j + |z - y_j|_2``: 1-Lipschitz on ``R^d`` as a minimum of 1-Lipschitz cones."""

    def __init__(self, anchors: np.ndarray, values: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("anchors", torch.as_tensor(anchors, dtype=torch.float64))
        self.register_buffer("values", torch.as_tensor(values, dtype=torch.float64))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Critic values, shape ``(batch, 1)`` (computed in float64, returned in ``z``'s dtype)."""
        costs = torch.cdist(z.to(torch.float64), self.anchors)
        return (self.values[None, :] + costs).min(dim=1, keepdim=True).values.to(z.dtype)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """Exactly 1 (a minimum of functions ``z -> v + |z - y|``, each 1-Lipschitz)."""
        return 1.0


def cone_envelope(
    x: np.ndarray, y: np.ndarray, f_x: np.ndarray
) -> tuple[ConeEnvelope, np.ndarray, np.ndarray, np.ndarray]:
    """The double c-transform ``g`` of a 1-Lipschitz critic known by its values ``f_x`` on ``x``.

    Returns ``g``, its values on ``x`` (``>= f_x``) and on ``y`` (``<= f`` on ``y``), and for each
    ``y_j`` the index ``i`` of the ``x_i`` attaining ``h(y_j) = max_i f(x_i) - |x_i - y_j|``: where
    the critic says ``y_j``'s mass goes (an optimal plan only moves mass along such pairs, by
    complementary slackness). The guarantee needs ``f`` 1-Lipschitz (e.g. a certified critic
    divided by its certificate).
    """
    h_y, target = _transform(f_x, x, y, sign=-1.0)
    g_x, _ = _transform(h_y, y, x, sign=+1.0)
    return ConeEnvelope(y, h_y), g_x, h_y, target
