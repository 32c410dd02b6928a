"""A certified non-local filter: a symmetric, doubly stochastic patch-similarity matrix, squared.

From a *guide* image ``g`` (a pilot estimate, held fixed), pixels ``i`` and ``j = i + d`` with
``|d|_inf <= radius`` get the similarity

    K_ij = exp(-||P_i g - P_j g||^2 / h^2),    K_ii = 1,

``P_i g`` the ``patch x patch`` window at ``i`` (mean square over the window). ``K`` is symmetric
with positive entries; symmetric Sinkhorn scaling (Knight 2008: ``d <- sqrt(d / K d)``) gives
``W = diag(d) K diag(d)``, nearly doubly stochastic, the symmetrised non-local means of Milanfar
(2013), Sreehari et al. (2016) and Chan (2019). The filter applied is ``F = W^2``.

The certificate (exact, for the stored float32 weights): ``W`` is symmetric with non-negative
entries, so ``||W||_2 <= max_i sum_j W_ij`` (the spectral norm of a symmetric matrix is at most
its infinity norm). The row sums are computed in float64, where each float32 product is exact,
and raised by the summation error bound (:func:`lipapps.rounding.sum_error`); the stored weights
are scaled until that bound is ``<= 1`` (Sinkhorn gets close to 1; the scaling removes the
rest). Then ``W`` has eigenvalues in ``[-1, 1]`` and ``F = W^2`` eigenvalues in ``[0, 1]``: for a
symmetric ``F`` with spectrum in ``[0, 1]``, ``||F x||^2 <= <F x, x>``, so ``F`` is firmly
non-expansive, i.e. ``1/2``-averaged (``F = 1/2 I + 1/2 (2F - I)`` with ``||2F - I|| <= 1``).
Squaring is what makes the spectrum non-negative: a windowed Gaussian kernel need not be positive
semidefinite, so ``W`` alone is only non-expansive.

The guarantee holds for the filter as a fixed linear map of its input. How the guide was made
(from the same noisy data, as in BM3D's second stage) is outside it: a filter built from ``y``
and applied to ``y`` is certified for that ``y``'s filter, not as a map of ``y``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from lipapps import InputError
from lipapps.rounding import sum_error, sum_up

from denoisers.pnp import Denoiser, denoiser_averagedness

Region = tuple[slice, slice]


def half_offsets(radius: int) -> list[tuple[int, int]]:
    """The offsets ``d`` with ``|d|_inf <= radius`` of one half-plane (``d > 0`` lexicographically):
    each unordered pixel pair of the window appears once."""
    return [(dy, dx) for dy in range(0, radius + 1) for dx in range(-radius, radius + 1) if (dy, dx) > (0, 0)]


def _regions(height: int, width: int, dy: int, dx: int) -> tuple[Region, Region]:
    """The pixels ``i`` whose partner ``i + d`` lies in the image, and those partners."""
    rows = (slice(0, height - dy), slice(dy, height))
    cols = (slice(max(0, -dx), width - max(0, dx)), slice(max(0, dx), width + min(0, dx)))
    return (rows[0], cols[0]), (rows[1], cols[1])


class NonLocalFilter:
    """``F = W^2``, ``W`` the scaled symmetric Sinkhorn-balanced patch-similarity matrix of ``guide``
    (module docstring): a fixed linear map, firmly non-expansive, certified on images of the guide's shape.

    ``guide``: ``(N, 1, H, W)`` (or ``(1, H, W)`` / ``(H, W)``), one filter per image of the batch.
    ``bandwidth``: ``h`` on the [0, 1] intensity scale; ``radius``: the search window half-side;
    ``patch``: the odd side of the compared windows; ``sinkhorn_steps``: balancing iterations.
    """

    def __init__(self, guide: torch.Tensor, bandwidth: float, radius: int = 7, patch: int = 3,
                 sinkhorn_steps: int = 15) -> None:
        if not bandwidth > 0:
            raise InputError(f"the non-local filter's bandwidth must be positive, got {bandwidth}")
        if radius < 1 or patch < 1 or patch % 2 == 0:
            raise InputError(f"the non-local filter needs radius >= 1 and an odd patch >= 1, got {radius}, {patch}")
        if sinkhorn_steps < 0:
            raise InputError(f"sinkhorn_steps must be >= 0, got {sinkhorn_steps}")
        g = guide.detach().to(torch.float32)
        self.shape = tuple(guide.shape)
        g = g.reshape(-1, 1, *g.shape[-2:])
        self.regions = [_regions(g.shape[-2], g.shape[-1], dy, dx) for dy, dx in half_offsets(radius)]
        self.diagonal = torch.ones_like(g)
        self.weights = [self._similarity(g, a, b, bandwidth, patch) for a, b in self.regions]
        self._balance(sinkhorn_steps)
        self.scale_bound = self._certify()

    @staticmethod
    def _similarity(g: torch.Tensor, a: Region, b: Region, bandwidth: float, patch: int) -> torch.Tensor:
        square = (g[..., a[0], a[1]] - g[..., b[0], b[1]]) ** 2
        if patch > 1:
            square = F.avg_pool2d(square, patch, stride=1, padding=patch // 2, count_include_pad=False)
        return torch.exp(-square / bandwidth**2)

    def _apply_w(self, x: torch.Tensor) -> torch.Tensor:
        """``W x`` for ``x`` shaped like the guide batch ``(N, 1, H, W)``."""
        out = self.diagonal * x
        for w, (a, b) in zip(self.weights, self.regions):
            out[..., a[0], a[1]] += w * x[..., b[0], b[1]]
            out[..., b[0], b[1]] += w * x[..., a[0], a[1]]
        return out

    def _balance(self, steps: int) -> None:
        """Symmetric Sinkhorn: ``d <- sqrt(d / K d)``, then ``W = diag(d) K diag(d)`` stored in place."""
        d = torch.ones_like(self.diagonal)
        for _ in range(steps):
            d = torch.sqrt(d / self._apply_w(d))
        self.diagonal = self.diagonal * d * d
        self.weights = [w * d[..., a[0], a[1]] * d[..., b[0], b[1]] for w, (a, b) in zip(self.weights, self.regions)]

    def _row_sum_bound(self) -> float:
        """A float64 upper bound on the largest row sum of the stored ``W`` (module docstring)."""
        sums = self.diagonal.double().clone()
        for w, (a, b) in zip(self.weights, self.regions):
            sums[..., a[0], a[1]] += w.double()
            sums[..., b[0], b[1]] += w.double()
        largest = float(sums.max())
        return sum_up(largest, sum_error(2 * len(self.weights) + 1, largest))

    def _certify(self) -> float:
        """Scale the stored weights until the row-sum bound is ``<= 1``; return that bound."""
        bound = self._row_sum_bound()
        while bound > 1.0:
            factor = (1.0 / bound) * (1.0 - 2.0**-20)
            self.diagonal = self.diagonal * factor
            self.weights = [w * factor for w in self.weights]
            bound = self._row_sum_bound()
        return bound

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape) != self.shape:
            raise InputError(f"the non-local filter was built for images of shape {self.shape}, got {tuple(x.shape)}")
        z = x.to(torch.float32).reshape(self.diagonal.shape)
        return self._apply_w(self._apply_w(z)).reshape(x.shape).to(x.dtype)

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        """``1/2`` (firmly non-expansive) on images of the guide's shape, else ``None``."""
        if input_shape is not None and tuple(input_shape) != self.shape:
            return None
        return 0.5 if self.scale_bound <= 1.0 else None


class FixedFilter(Protocol):
    """A fixed linear filter built from a guide, with its certificate: :class:`NonLocalFilter`,
    :class:`denoisers.collaborative_filter.CollaborativeWiener`."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None: ...


class NonLocalBlend:
    """``D_F(x) = w F(x) + (1 - w) D(x)``: a fixed filter ``F`` (:class:`FixedFilter`) blended with a denoiser ``D``.

    ``F`` is ``f``-averaged (``1/2`` for both filters here) and ``D`` ``a``-averaged, so
    ``D_F = (1 - b) I + b N`` with
    ``b = w f + (1 - w) a`` and ``N = (w f N_F + (1 - w) a N_D) / b`` non-expansive: ``D_F`` is
    ``b``-averaged (firmly non-expansive when ``f, a <= 1/2``), certified where both parts are.
    """

    def __init__(self, filter_: FixedFilter, denoiser: Denoiser, weight: float) -> None:
        if not 0.0 <= weight <= 1.0:
            raise InputError(f"the non-local filter's weight must lie in [0, 1], got {weight}")
        self.filter, self.denoiser, self.weight = filter_, denoiser, weight

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * self.filter(x) + (1.0 - self.weight) * self.denoiser(x)

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        """``w / 2 + (1 - w) a`` when the filter is certified on ``input_shape`` and ``D`` is ``a``-averaged."""
        a = denoiser_averagedness(self.denoiser, input_shape)
        f = self.filter.certified_averagedness(input_shape)
        return None if a is None or f is None else self.weight * f + (1.0 - self.weight) * a


@dataclass(frozen=True)
class NonLocalSettings:
    """A non-local stage: blend weight ``w``, bandwidth factor ``c`` (``h = c sqrt(sigma / 25)`` on the
    [0, 1] scale for a prior of effective level ``sigma``, 0-255: a guide's error grows more slowly
    than the noise it came from), search radius, patch side and Sinkhorn steps."""

    weight: float = 0.7
    bandwidth_factor: float = 0.04
    radius: int = 7
    patch: int = 3
    sinkhorn_steps: int = 15

    def bandwidth(self, sigma: float) -> float:
        """``h`` for a prior of effective level ``sigma`` (0-255 scale)."""
        return self.bandwidth_factor * math.sqrt(sigma / 25.0)

    def blend(self, guide: torch.Tensor, denoiser: Denoiser, sigma: float) -> NonLocalBlend:
        """``D_F`` with ``F`` built from ``guide`` for a prior of effective level ``sigma``."""
        filter_ = NonLocalFilter(guide, self.bandwidth(sigma), self.radius, self.patch, self.sinkhorn_steps)
        return NonLocalBlend(filter_, denoiser, self.weight)

    def describe(self) -> str:
        """The stage in words, for reports."""
        return f"non-local filter (weight {self.weight:g}, bandwidth factor {self.bandwidth_factor:g})"
