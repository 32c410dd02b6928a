"""A certified collaborative Wiener filter: BM3D's second stage as a symmetric map with spectrum in [0, 1].

BM3D (Dabov et al. 2007) stacks similar patches into groups, shrinks the group's 3D transform
coefficients with an empirical Wiener filter taken from a pilot estimate, and averages the patches
back. Its aggregation (each pixel divided by how often it was covered) is not symmetric, so it has
no non-expansiveness certificate. Here the groups *partition* the patches instead, which makes
the same idea an exactly bounded linear map.

From a *guide* ``g`` (a pilot estimate, held fixed): the image is embedded by zeros in a torus of
``H' x W'`` pixels (``P``, ``P^T P = I``), every torus position ``q`` gives the circular
``p x p`` patch ``U_q``, so ``U^T U = p^2 I`` exactly (each pixel lies in ``p^2`` patches). The
positions of each ``region x region`` cell are split, recursively in halves along the principal
axis of the guide's patches (so similar patches go together), into groups of ``k``: a partition,
``sum_j E_j^T E_j = I`` for the group selections ``E_j``. A group's coefficients are
``T G = T_k G K^T``: the orthonormal Haar transform ``T_k`` along the group and the 2D DCT
``K = D x D`` on each patch; the Wiener gains ``S_j = c^2 / (c^2 + sigma^2)`` (``c`` the guide's coefficients) lie in
``[0, s]``. With ``R`` partitions (the cells shifted),

    C x = P^T (1 / (R p^2)) sum_r U^T (sum_j E_j^T T^T S_j T E_j) U P x.

Each ``T^T S_j T`` is symmetric with ``0 <= T^T S_j T <= s ||T||^2 I``; ``s`` is chosen with
``s ||T_k||^2 ||K||^2 <= 1`` for the *stored* float32 matrices (their norms bounded from their
Gram matrices with every rounding error added, :func:`squared_norm_bound`), so ``0 <= sum_j E_j^T T^T S_j T E_j <= I``,
``0 <= U^T (...) U <= p^2 I``, and ``C`` is symmetric with eigenvalues in ``[0, 1]``:
``||C x||^2 <= <C x, x>``, i.e. firmly non-expansive (``1/2``-averaged), with no tolerance, for
any guide and any partition. What the partition costs against BM3D: each patch belongs to one
group per partition, not to every group it matches.

As for :mod:`denoisers.nonlocal_filter`, the guarantee is for the filter as a fixed linear map;
how the guide was made is outside it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from fractions import Fraction

import torch
import torch.nn.functional as F

from lipapps import InputError
from lipapps.rounding import down, sum_error, sum_up

from denoisers.nonlocal_filter import NonLocalBlend
from denoisers.pnp import Denoiser


def dct_matrix(n: int) -> torch.Tensor:
    """The orthonormal DCT-II matrix of size ``n`` (float32; rows are the cosine atoms)."""
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None]
    m = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    m[0] /= math.sqrt(2.0)
    return m.float()


def patch_transform(p: int) -> torch.Tensor:
    """The 2D DCT on ``p x p`` patches (row-major) as a ``p^2 x p^2`` float32 matrix, ``D x D``
    (the stored entries are the rounded products; :func:`squared_norm_bound` bounds its norm)."""
    return torch.kron(dct_matrix(p).double(), dct_matrix(p).double()).float()


def haar_matrix(n: int) -> torch.Tensor:
    """The orthonormal Haar matrix of size ``n``, a power of two (float32)."""
    if n < 1 or n & (n - 1):
        raise InputError(f"the Haar transform needs a power-of-two size, got {n}")
    m = torch.ones(1, 1, dtype=torch.float64)
    while m.shape[0] < n:
        half = m.shape[0]
        m = torch.cat([torch.kron(m, torch.tensor([[1.0, 1.0]], dtype=torch.float64)),
                       torch.kron(torch.eye(half, dtype=torch.float64), torch.tensor([[1.0, -1.0]], dtype=torch.float64))])
    return (m / m.norm(dim=1, keepdim=True)).float()


def squared_norm_bound(q: torch.Tensor) -> float:
    """A float64 upper bound on ``||Q||_2^2`` for the stored float32 matrix ``q``: ``||Q||_2^2 =
    ||Q^T Q||_2`` is at most the largest absolute row sum of the symmetric ``Q^T Q``. The Gram
    matrix is computed in float64 (products of float32 numbers are exact there) and every sum
    raised by its error bound (:func:`lipapps.rounding.sum_error`)."""
    q64 = q.double()
    n = q64.shape[0]
    gram = (q64.T @ q64).abs()
    entry_error = sum_error(n, float((q64.abs().T @ q64.abs()).max()))
    largest = float(gram.sum(1).max())
    return sum_up(largest, q64.shape[1] * entry_error, sum_error(q64.shape[1], largest + q64.shape[1] * entry_error))


@functools.lru_cache(maxsize=None)
def _gain_cap(group: int, patch: int) -> float:
    """The largest float32 ``s`` with ``s ||T_k||^2 ||D x D||^2 <= 1`` for the stored transforms
    (a constant of the two sizes, computed once: every filter of those sizes stores the same transforms)."""
    bound = Fraction(squared_norm_bound(haar_matrix(group))) * Fraction(squared_norm_bound(patch_transform(patch)))
    cap = torch.tensor(float(1 / bound), dtype=torch.float32)
    while Fraction(float(cap)) * bound > 1:
        cap = torch.nextafter(cap, torch.tensor(0.0))
    return float(cap)


def check_shape(patch: int, group: int, region: int, partitions: int) -> None:
    """Raise :class:`~lipapps.InputError` unless ``patch >= 1``, ``partitions >= 1``, ``group`` is a
    power of two and ``region^2 / group`` is one (what :class:`CollaborativeWiener` needs)."""
    cells = region * region // group if group > 0 and region * region % group == 0 else 0
    if patch < 1 or partitions < 1 or group < 1 or group & (group - 1) or cells < 1 or cells & (cells - 1):
        raise InputError("the collaborative filter needs patch >= 1, partitions >= 1, a power-of-two group and "
                         f"region^2 / group a power of two; got patch {patch}, group {group}, region {region}, partitions {partitions}")


def _principal_halves(features: torch.Tensor, steps: int = 8) -> torch.Tensor:
    """For ``features`` ``(cells, n, f)``: each cell's indices ordered along its top principal axis
    (power iteration on the cell's scatter matrix from a seeded start; only the grouping depends
    on it, not the certificate)."""
    centred = features - features.mean(1, keepdim=True)
    scatter = centred.transpose(1, 2) @ centred
    v = torch.randn(features.shape[0], features.shape[2], 1, generator=torch.Generator().manual_seed(0))
    for _ in range(steps):
        v = scatter @ v
        v = v / v.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (centred @ v)[..., 0].argsort(dim=1)


class CollaborativeWiener:
    """The collaborative Wiener filter ``C`` of ``guide`` at noise level ``sigma`` (module docstring):
    a fixed linear map, firmly non-expansive, certified on images of the guide's shape.

    ``guide``: ``(H, W)``, ``(1, H, W)`` or ``(1, 1, H, W)``; ``sigma``: the noise level of the
    inputs on the 0-255 scale; ``patch``: the patch side; ``group``: patches per group (a power of
    two); ``region``: the side of the cells of positions that are partitioned (``region^2 / group``
    a power of two); ``partitions``: how many shifted partitions are averaged.
    """

    def __init__(self, guide: torch.Tensor, sigma: float, patch: int = 8, group: int = 16, region: int = 16,
                 partitions: int = 1) -> None:
        if guide.dim() < 2 or guide.numel() != guide.shape[-1] * guide.shape[-2]:
            raise InputError(f"the collaborative filter takes one grey image as its guide, got shape {tuple(guide.shape)}")
        if not sigma > 0:
            raise InputError(f"the collaborative filter's noise level must be positive, got {sigma}")
        check_shape(patch, group, region, partitions)
        self.shape = tuple(guide.shape)
        self.patch, self.region = patch, region
        height, width = guide.shape[-2:]
        self.torus = tuple(math.ceil((n + patch - 1) / region) * region for n in (height, width))
        self.haar, self.dct = haar_matrix(group), patch_transform(patch)
        cap = _gain_cap(group, patch)
        self.scale = down(1.0 / (partitions * patch * patch))
        patches = self._patches(guide.detach().to(torch.float32).reshape(height, width))
        positions = torch.arange(patches.shape[0]).reshape(self.torus)
        self.partitions = []
        for r in range(partitions):
            shift = (r * region) // partitions
            cell = positions.roll((-shift, -shift), (0, 1)).reshape(self.torus[0] // region, region, self.torus[1] // region, region)
            groups = cell.permute(0, 2, 1, 3).reshape(-1, region * region)
            while groups.shape[1] > group:
                groups = groups.gather(1, _principal_halves(patches[groups])).reshape(-1, groups.shape[1] // 2)
            energy = self._analyse(patches[groups]) ** 2
            gains = (energy / (energy + (sigma / 255.0) ** 2)).clamp(0.0, cap)
            self.partitions.append((groups, gains))

    def _patches(self, image: torch.Tensor) -> torch.Tensor:
        """``U P x``: the circular patches of the zero-embedded image at every torus position, ``(positions, p^2)``."""
        p = self.patch
        torus = image.new_zeros(self.torus)
        torus[: image.shape[0], : image.shape[1]] = image
        wrapped = torch.cat([torus, torus[: p - 1]], 0)
        wrapped = torch.cat([wrapped, wrapped[:, : p - 1]], 1)
        return F.unfold(wrapped[None, None], p)[0].T

    def _fold(self, patches: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``P^T U^T``: the adjoint of :meth:`_patches`."""
        p, (th, tw) = self.patch, self.torus
        full = F.fold(patches.T[None], (th + p - 1, tw + p - 1), p)[0, 0]
        out = full[:th, :tw].clone()
        out[: p - 1] += full[th:, :tw]
        out[:, : p - 1] += full[:th, tw:]
        out[: p - 1, : p - 1] += full[th:, tw:]
        return out[:height, :width]

    def _analyse(self, groups: torch.Tensor) -> torch.Tensor:
        """``T G``: Haar along the group, 2D DCT on each patch; ``groups`` ``(n, k, p^2)``."""
        return self.haar.to(groups.dtype) @ groups @ self.dct.to(groups.dtype).T

    def _synthesise(self, coefficients: torch.Tensor) -> torch.Tensor:
        """``T^T c``."""
        return self.haar.to(coefficients.dtype).T @ coefficients @ self.dct.to(coefficients.dtype)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape) != self.shape:
            raise InputError(f"the collaborative filter was built for images of shape {self.shape}, got {tuple(x.shape)}")
        dtype = x.dtype if x.dtype == torch.float64 else torch.float32
        height, width = x.shape[-2:]
        patches = self._patches(x.to(dtype).reshape(height, width))
        total = torch.zeros_like(patches)
        for groups, gains in self.partitions:
            filtered = self._synthesise(gains.to(dtype) * self._analyse(patches[groups]))
            total.index_add_(0, groups.flatten(), filtered.reshape(-1, self.patch * self.patch))
        return (self._fold(total, height, width) * self.scale).reshape(x.shape).to(x.dtype)

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        """``1/2`` (firmly non-expansive) on images of the guide's shape, else ``None``."""
        return 0.5 if input_shape is None or tuple(input_shape) == self.shape else None


@dataclass(frozen=True)
class CollaborativeSettings:
    """A collaborative stage: blend weight ``w`` of ``C`` against the prior ``D`` (``w C + (1 - w) D``)
    and ``C``'s noise level as a multiple of the prior's effective level, with ``C``'s shape."""

    weight: float = 0.5
    level_factor: float = 1.0
    patch: int = 8
    group: int = 16
    region: int = 16
    partitions: int = 1

    def __post_init__(self) -> None:
        check_shape(self.patch, self.group, self.region, self.partitions)

    def filter(self, guide: torch.Tensor, sigma: float) -> CollaborativeWiener:
        """``C`` built from ``guide`` for a prior of effective level ``sigma`` (0-255 scale)."""
        return CollaborativeWiener(guide, self.level_factor * sigma, self.patch, self.group, self.region, self.partitions)

    def blend(self, guide: torch.Tensor, denoiser: Denoiser, sigma: float) -> NonLocalBlend:
        """``w C + (1 - w) D`` with ``C`` built from ``guide``."""
        return NonLocalBlend(self.filter(guide, sigma), denoiser, self.weight)

    def describe(self) -> str:
        """The stage in words, for reports."""
        return f"collaborative Wiener filter (weight {self.weight:g}, level factor {self.level_factor:g})"
