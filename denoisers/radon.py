"""Sparse-view parallel-beam CT: a Radon transform in torch with its exact adjoint.

The geometry is scikit-image's ``radon(image, theta, circle=True)``: an ``n x n`` image rotates
about the pixel ``(n // 2, n // 2)``; the projection at angle ``theta`` sums the bilinearly
interpolated image along ``n`` unit-spaced samples of each of ``n`` parallel rays (one per
detector bin), so the sinogram has shape ``(len(angles), n)`` (scikit-image returns its transpose).
Rays cover the inscribed disc; the image is meant to vanish outside it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from lipapps import InputError

from denoisers.operators import LinearOperator


def uniform_angles(n_angles: int) -> torch.Tensor:
    """``n_angles`` projection angles in degrees, evenly spaced on ``[0, 180)``."""
    if n_angles < 1:
        raise InputError(f"the number of CT angles must be >= 1, got {n_angles}")
    return torch.arange(n_angles, dtype=torch.float64) * (180.0 / n_angles)


def field_of_view(n: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean ``n x n`` mask of the disc the rays cover: pixels within ``n // 2`` of ``(n // 2, n // 2)``."""
    offsets = torch.arange(n, device=device) - n // 2
    return offsets[:, None] ** 2 + offsets[None, :] ** 2 <= (n // 2) ** 2


def ramp_filter(size: int) -> torch.Tensor:
    """The ramp (Ram-Lak) filter's frequency response on ``size`` points (float64), built from its
    sampled spatial kernel (``1/4`` at 0, ``-1 / (pi k)^2`` at odd ``k``), which avoids the DC
    bias of sampling ``|w|`` directly (Kak and Slaney, "Principles of Computerized Tomographic
    Imaging", 1988, eq. 61; scikit-image's ``iradon`` builds its ramp the same way)."""
    odd = torch.cat([torch.arange(1, size // 2 + 1, 2), torch.arange(size // 2 - 1, 0, -2)]).double()
    kernel = torch.zeros(size, dtype=torch.float64)
    kernel[0] = 0.25
    kernel[1::2] = -1.0 / (math.pi * odd) ** 2
    return 2.0 * torch.fft.fft(kernel).real


def radon_matrix(n: int, angles: torch.Tensor) -> torch.Tensor:
    """The Radon transform of ``n x n`` images as a sparse ``(len(angles) n) x n^2`` matrix (float64, COO).

    Row ``a n + s`` (angle ``a``, detector ``s``) holds the bilinear-interpolation weights of the
    ``n`` samples ``t`` of its ray at pixel coordinates ``(row, col) = (c - s' sin + t' cos,
    c + s' cos + t' sin)`` (``c = n // 2``, ``s' = s - c``, ``t' = t - c``): each sample spreads
    over its four neighbouring pixels with weights ``(1 - dr)(1 - dc)``, ``(1 - dr) dc``, ...;
    neighbours outside the image get none (zero padding). Weights are non-negative.
    """
    centre = n // 2
    offsets = torch.arange(n, dtype=torch.float64) - centre
    theta = angles * (math.pi / 180.0)
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    t, s = offsets[:, None], offsets[None, :]  # (samples, detectors)
    cols = centre + s * cos + t * sin  # (angles, samples, detectors)
    rows = centre - s * sin + t * cos
    ray = (torch.arange(angles.numel())[:, None, None] * n + torch.arange(n)[None, None, :]).expand_as(rows)
    r0, c0 = rows.floor(), cols.floor()
    dr, dc = rows - r0, cols - c0
    entries_r, entries_c, entries_w = [], [], []
    for step_r, weight_r in ((0, 1 - dr), (1, dr)):
        for step_c, weight_c in ((0, 1 - dc), (1, dc)):
            r, c = (r0 + step_r).long(), (c0 + step_c).long()
            inside = (r >= 0) & (r < n) & (c >= 0) & (c < n)
            entries_r.append(ray[inside])
            entries_c.append(r[inside] * n + c[inside])
            entries_w.append((weight_r * weight_c)[inside])
    indices = torch.stack([torch.cat(entries_r), torch.cat(entries_c)])
    shape = (angles.numel() * n, n * n)
    return torch.sparse_coo_tensor(indices, torch.cat(entries_w), shape, check_invariants=True).coalesce()


class ParallelBeamCT(LinearOperator):
    """``A x``: line integrals of ``x`` along parallel rays at the given angles (degrees).

    ``A`` is an explicit sparse matrix (:func:`radon_matrix`: bilinear interpolation at the ray
    samples, summed along each ray) and ``A^T`` multiplies by its transpose, stored alongside: the
    exact adjoint (backprojection) by construction, and both products cost one sparse
    matrix-vector product (the adjoint as a vector-Jacobian product of ``grid_sample`` took eight
    times as long as the forward map).
    ``norm_bound`` is the Schur bound ``||A||_2 <= sqrt(||A||_1 ||A||_inf)``, exact to evaluate
    for non-negative weights (``||A||_inf = max A 1``, ``||A||_1 = max A^T 1``): a provable bound,
    within about 15% of the power-iteration estimate here, because near-constant images
    almost attain it.
    """

    def __init__(self, image_size: int, angles: Sequence[float] | torch.Tensor) -> None:
        if image_size < 2:
            raise InputError(f"CT image size must be >= 2, got {image_size}")
        angles = torch.as_tensor(angles, dtype=torch.float64).reshape(-1)
        if angles.numel() == 0 or not torch.isfinite(angles).all():
            raise InputError("CT needs at least one finite projection angle")
        n = int(image_size)
        self.image_shape = (n, n)
        self.measurement_shape = (angles.numel(), n)
        self.angles = angles
        matrix = radon_matrix(n, angles)
        # row sums of A and of A^T (the Schur bound), from the non-negative weights
        row_sums = torch.zeros(matrix.shape[0], dtype=torch.float64).index_add_(0, matrix.indices()[0], matrix.values())
        col_sums = torch.zeros(matrix.shape[1], dtype=torch.float64).index_add_(0, matrix.indices()[1], matrix.values())
        self._norm = math.sqrt(float(row_sums.max()) * float(col_sums.max())) * (1 + 1e-6)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            self._csr = {(torch.float64, torch.device("cpu")): (matrix.to_sparse_csr(), matrix.t().coalesce().to_sparse_csr())}

    def _matrix(self, like: torch.Tensor, transpose: bool) -> torch.Tensor:
        """``A`` (or ``A^T``) in the dtype and on the device of ``like`` (converted once, then kept)."""
        key = (like.dtype, like.device)
        if key not in self._csr:
            self._csr[key] = tuple(m.to(device=like.device, dtype=like.dtype) for m in self._csr[(torch.float64, torch.device("cpu"))])
        return self._csr[key][int(transpose)]

    def _apply(self, v: torch.Tensor, transpose: bool, out_shape: tuple[int, int]) -> torch.Tensor:
        lead = v.shape[:-2]
        columns = v.reshape(-1, v.shape[-2] * v.shape[-1]).mT
        return (self._matrix(v, transpose) @ columns).mT.reshape(*lead, *out_shape)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self.check_image(x)
        return self._apply(x, False, self.measurement_shape)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self.check_measurement(y)
        return self._apply(y, True, self.image_shape)

    def norm_bound(self) -> float:
        return self._norm

    def restrict_to_support(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` zero outside the inscribed disc (:func:`field_of_view`), where the object lies."""
        self.check_image(x)
        return x * field_of_view(self.image_shape[0], x.device)

    def initial_estimate(self, y: torch.Tensor) -> torch.Tensor:
        """Filtered back-projection: each projection convolved with the ramp filter (zero-padded to
        twice the detector count, at least 64), back-projected by ``A^T`` with weight
        ``pi / (2 angles)``, and zero outside the inscribed disc. Within 0.01 dB of scikit-image's
        ``iradon(filter_name="ramp")`` on the benchmark crops."""
        self.check_measurement(y)
        n = self.image_shape[0]
        padded = max(64, 2 ** math.ceil(math.log2(2 * n)))
        response = ramp_filter(padded)[: padded // 2 + 1].to(y.device)
        spectrum = torch.fft.rfft(y.double(), n=padded, dim=-1) * response
        filtered = torch.fft.irfft(spectrum, n=padded, dim=-1)[..., :n]
        image = self.A_adjoint(filtered) * (math.pi / (2 * self.measurement_shape[0]))
        return self.restrict_to_support(image).to(y.dtype)
