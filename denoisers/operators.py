"""Linear forward models ``y = A x + noise`` with exact adjoints and a provable operator norm.

Every operator follows one contract (the deepinv ``LinearPhysics`` pattern): ``A`` and
``A_adjoint`` act on the last two axes of a tensor (leading axes are a batch), ``A_adjoint`` is
the exact adjoint (``<A x, y> = <x, A^T y>`` up to rounding; tests/denoisers check every
operator), ``norm_bound`` is a provable upper bound on ``||A||_2`` (exact where a closed form
exists), and ``data_prox`` solves ``argmin_x 1/2 ||A x - y||^2 + 1/(2 gamma) ||x - z||^2``, the
proximal map that ADMM / Douglas-Rachford need.

Images are grayscale intensities on the ``[0, 1]`` scale, shape ``(..., H, W)``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lipapps import InputError


class LinearOperator(ABC):
    """A linear map from images of ``image_shape`` to measurements of ``measurement_shape``."""

    image_shape: tuple[int, int]
    measurement_shape: tuple[int, int]

    @abstractmethod
    def A(self, x: torch.Tensor) -> torch.Tensor:
        """The forward map ``x -> A x``."""

    @abstractmethod
    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        """The exact adjoint ``y -> A^T y``."""

    @abstractmethod
    def norm_bound(self) -> float:
        """A provable upper bound on the operator norm ``||A||_2``."""

    def initial_estimate(self, y: torch.Tensor) -> torch.Tensor:
        """A cheap image from the measurement, where iterative solvers start: ``A^T y / ||A||^2``
        (on the image's intensity scale for every operator here). Operators with a better direct
        inversion override it (CT: filtered back-projection). The start changes no guarantee."""
        return self.A_adjoint(y) / self.norm_bound() ** 2

    def restrict_to_support(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` with the pixels the model holds to be zero set to zero: the identity here. CT's
        model (scikit-image's ``radon(circle=True)``) places the object inside the inscribed disc,
        so its estimates are zero outside it. Solvers apply this to the estimates they report, not
        to their iterates: the prior decides the pixels no measurement constrains, and a hard zero
        there would put an edge into the denoiser's input at every step."""
        return x

    #: Whether :meth:`data_prox` is a closed form (exact up to rounding); iterative solvers then
    #: have no solve error to control.
    closed_form_prox: bool = False

    def data_prox(self, z: torch.Tensor, y: torch.Tensor, gamma: float, guess: torch.Tensor | None = None) -> torch.Tensor:
        """``(I + gamma A^T A)^{-1} (z + gamma A^T y)``: the prox of ``gamma/2 ||A . - y||^2`` at ``z``.

        This default solves the symmetric positive definite system ``M x = r`` by conjugate
        gradients in float64, started from ``guess`` (default ``z``; iterative solvers pass the
        previous solution); operators with a closed form override it and ignore ``guess``.
        Accuracy is on the *solution*: ``M >= I`` gives ``||x - x*|| <= ||M x - r||`` and
        ``||x*|| >= ||r|| / (1 + gamma ||A||^2)``, so stopping at a residual of
        ``1e-6 ||r|| / (1 + gamma ||A||^2)`` bounds the error by ``1e-6 ||x*||``. (A residual
        relative to ``||r||`` alone is not enough: ``gamma A^T y`` dominates ``r`` and the error
        could be ``1 + gamma ||A||^2`` times larger, enough to make a PnP-ADMM residual jump.)
        """
        rhs = z.double() + gamma * self.A_adjoint(y.double())
        start = z if guess is None else guess
        rtol = 1e-6 / (1.0 + gamma * self.norm_bound() ** 2)
        solution = conjugate_gradient(
            lambda v: v + gamma * self.A_adjoint(self.A(v)), rhs, x0=start.double(), rtol=rtol, max_iter=2000
        )
        return solution.to(z.dtype)

    def inexact_data_prox(
        self, z: torch.Tensor, y: torch.Tensor, gamma: float, max_error: float, guess: torch.Tensor | None = None
    ) -> "ProxSolution":
        """The data prox of :meth:`data_prox` to a guaranteed accuracy: ``||x - x*|| <= error_bound <= max_error``.

        Conjugate gradients on ``M x = r`` (``M = I + gamma A^T A``, float64) from ``guess``
        (default ``z``), stopped once the *true* residual ``||r - M x||``, recomputed rather than
        the recursively updated one, is at most ``max_error - ||x_out - x||`` (``x_out``: ``x``
        cast to ``z.dtype``). Since ``M >= I``, ``||x - x*|| <= ||M (x - x*)|| = ||M x - r||``
        (docs/math.md section 5: the gradient of the 1-strongly convex prox objective bounds the
        error), and the cast adds at most ``||x_out - x||``: ``error_bound`` is a true bound.
        Closed forms return ``error_bound = 0`` (exact up to the rounding of one evaluation) and
        zero steps. Warm starts (``guess`` = the previous solution) make the solves short.
        """
        if max_error <= 0:
            raise InputError(f"max_error must be positive, got {max_error}")
        if self.closed_form_prox:
            return ProxSolution(self.data_prox(z, y, gamma), 0.0, 0)
        rhs = z.double() + gamma * self.A_adjoint(y.double())
        start = (z if guess is None else guess).double()
        x, residual, steps = verified_conjugate_gradient(
            lambda v: v + gamma * self.A_adjoint(self.A(v)), rhs, start, lambda out_gap: max_error - out_gap, z.dtype
        )
        out = x.to(z.dtype)
        return ProxSolution(out, residual + float((out.double() - x).norm()), steps)

    def check_image(self, x: torch.Tensor) -> None:
        """Raise :class:`lipapps.InputError` unless the last two axes of ``x`` are ``image_shape``."""
        if tuple(x.shape[-2:]) != tuple(self.image_shape):
            raise InputError(f"{type(self).__name__} expects images of shape {self.image_shape}, got {tuple(x.shape[-2:])}")

    def check_measurement(self, y: torch.Tensor) -> None:
        """Raise :class:`lipapps.InputError` unless the last two axes of ``y`` are ``measurement_shape``."""
        if tuple(y.shape[-2:]) != tuple(self.measurement_shape):
            raise InputError(
                f"{type(self).__name__} expects measurements of shape {self.measurement_shape}, got {tuple(y.shape[-2:])}"
            )


def conjugate_gradient(
    apply: Callable[[torch.Tensor], torch.Tensor], rhs: torch.Tensor, x0: torch.Tensor, rtol: float = 1e-6, max_iter: int = 200
) -> torch.Tensor:
    """Solve ``M x = rhs`` for a symmetric positive definite ``M`` given as ``apply`` (Hestenes-Stiefel)."""
    x = x0.clone()
    r = rhs - apply(x)
    p = r.clone()
    rr = (r * r).sum()
    stop = (rtol * rhs.norm()) ** 2
    for _ in range(max_iter):
        if rr <= stop:
            break
        mp = apply(p)
        alpha = rr / (p * mp).sum()
        x = x + alpha * p
        r = r - alpha * mp
        rr_new = (r * r).sum()
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


@dataclass(frozen=True)
class ProxSolution:
    """An approximate data prox ``x`` with a proven ``error_bound`` on ``||x - x*||`` and the CG ``steps`` it took."""

    x: torch.Tensor
    error_bound: float
    steps: int


#: The most conjugate-gradient steps :func:`verified_conjugate_gradient` takes before giving up.
MAX_CG_STEPS = 5000


def verified_conjugate_gradient(
    apply: Callable[[torch.Tensor], torch.Tensor],
    rhs: torch.Tensor,
    x0: torch.Tensor,
    target: Callable[[float], float],
    out_dtype: torch.dtype,
) -> tuple[torch.Tensor, float, int]:
    """Conjugate gradients on ``M x = rhs`` (``M`` symmetric positive definite) until the true
    residual ``||rhs - M x||`` is at most ``target(||x.to(out_dtype) - x||)``.

    The recursively updated residual drifts from the true one in floating point, so whenever it
    passes the target the true residual is recomputed (one more product with ``M``); the solve
    stops only on the recomputed value, and restarts from it otherwise. Returns ``x``, its true
    residual norm and the number of products with ``M``. Raises :class:`ArithmeticError` when
    :data:`MAX_CG_STEPS` products do not reach the target, or when the target is not positive.
    """
    x = x0.clone()
    r = rhs - apply(x)
    steps = 1
    while True:
        residual, goal = float(r.norm()), target(float((x.to(out_dtype).double() - x).norm()))
        if residual <= goal:
            return x, residual, steps
        if goal <= 0:
            raise ArithmeticError(f"the residual target {goal:.3g} is not positive")
        p, rr = r.clone(), (r * r).sum()
        while steps < MAX_CG_STEPS:
            mp = apply(p)
            alpha = rr / (p * mp).sum()
            x = x + alpha * p
            r = r - alpha * mp
            rr_new = (r * r).sum()
            steps += 1
            if float(rr_new.sqrt()) <= goal:
                break
            p = r + (rr_new / rr) * p
            rr = rr_new
        if steps >= MAX_CG_STEPS:
            raise ArithmeticError(f"conjugate gradients did not reach the residual {goal:.3g} in {steps} steps")
        r = rhs - apply(x)
        steps += 1


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    if len(shape) != 2 or min(shape) < 1:
        raise InputError(f"image shape must be two positive sizes (H, W), got {tuple(shape)}")
    return int(shape[0]), int(shape[1])


class Identity(LinearOperator):
    """``A = I``: Gaussian denoising. ``||A|| = 1``."""

    closed_form_prox = True

    def __init__(self, image_shape: tuple[int, int]) -> None:
        self.image_shape = self.measurement_shape = _check_shape(image_shape)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self.check_image(x)
        return x

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self.check_measurement(y)
        return y

    def norm_bound(self) -> float:
        return 1.0

    def data_prox(self, z: torch.Tensor, y: torch.Tensor, gamma: float, guess: torch.Tensor | None = None) -> torch.Tensor:
        return (z + gamma * y) / (1.0 + gamma)


def gaussian_kernel(size: int, std: float) -> torch.Tensor:
    """A normalised ``size x size`` Gaussian blur kernel with standard deviation ``std`` pixels."""
    if size < 1 or size % 2 != 1 or std <= 0:
        raise InputError(f"Gaussian kernel needs an odd size >= 1 and std > 0, got size={size}, std={std}")
    r = torch.arange(size, dtype=torch.float64) - size // 2
    g = torch.exp(-(r**2) / (2 * std**2))
    k = g[:, None] * g[None, :]
    return (k / k.sum()).float()


def motion_kernel(length: int, angle_degrees: float) -> torch.Tensor:
    """A normalised linear motion-blur kernel: a segment of ``length`` pixels through the centre.

    The segment is sampled densely and splatted bilinearly, so any angle gives a smooth kernel of
    odd size ``length + 2`` (when ``length`` is odd; one more otherwise) with its centre at the array's centre.
    """
    if length < 1:
        raise InputError(f"motion kernel length must be >= 1, got {length}")
    size = length + 2 + (1 - length % 2)
    c = size // 2
    t = torch.linspace(-(length - 1) / 2, (length - 1) / 2, 8 * length + 1, dtype=torch.float64)
    a = math.radians(angle_degrees)
    rows, cols = c - t * math.sin(a), c + t * math.cos(a)
    k = torch.zeros(size, size, dtype=torch.float64)
    r0, c0 = rows.floor().long(), cols.floor().long()
    fr, fc = rows - r0, cols - c0
    for dr, dc, w in ((0, 0, (1 - fr) * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 0, fr * (1 - fc)), (1, 1, fr * fc)):
        k.index_put_((r0 + dr, c0 + dc), w, accumulate=True)
    return (k / k.sum()).float()


class Blur(LinearOperator):
    """Convolution with ``kernel`` under periodic boundary conditions: ``A x = k * x`` (circular).

    The kernel's centre is the array's centre pixel ``(kh // 2, kw // 2)``; ``A`` is diagonal in
    the DFT basis with transfer function ``K = fft2(k)`` on the image grid, so ``A^T`` multiplies
    by ``conj(K)``, ``||A||_2 = max |K|`` exactly, and the data prox is a division by
    ``1 + gamma |K|^2``.
    """

    closed_form_prox = True

    def __init__(self, kernel: torch.Tensor, image_shape: tuple[int, int]) -> None:
        self.image_shape = self.measurement_shape = _check_shape(image_shape)
        kernel = torch.as_tensor(kernel, dtype=torch.float32)
        if kernel.dim() != 2:
            raise InputError(f"blur kernel must be a 2-D array, got shape {tuple(kernel.shape)}")
        if not torch.isfinite(kernel).all():
            raise InputError("blur kernel contains NaN or infinite values")
        kh, kw = kernel.shape
        if kh > self.image_shape[0] or kw > self.image_shape[1]:
            raise InputError(f"blur kernel {tuple(kernel.shape)} is larger than the image {self.image_shape}")
        self.kernel = kernel
        padded = torch.zeros(self.image_shape, dtype=torch.float64)
        padded[:kh, :kw] = kernel.double()
        padded = torch.roll(padded, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
        self.transfer = torch.fft.fft2(padded)

    def _multiply(self, x: torch.Tensor, transfer: torch.Tensor) -> torch.Tensor:
        self.check_image(x)
        out = torch.fft.ifft2(torch.fft.fft2(x.double()) * transfer).real
        return out.to(x.dtype)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        return self._multiply(x, self.transfer)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self._multiply(y, self.transfer.conj())

    def norm_bound(self) -> float:
        return float(self.transfer.abs().max())

    def data_prox(self, z: torch.Tensor, y: torch.Tensor, gamma: float, guess: torch.Tensor | None = None) -> torch.Tensor:
        rhs = torch.fft.fft2((z + gamma * self.A_adjoint(y)).double())
        out = torch.fft.ifft2(rhs / (1.0 + gamma * self.transfer.abs() ** 2)).real
        return out.to(z.dtype)


class Inpainting(LinearOperator):
    """``A x = m . x`` with a binary mask ``m`` (1 = observed): a diagonal projection, ``||A|| = 1``."""

    closed_form_prox = True

    def __init__(self, mask: torch.Tensor) -> None:
        mask = torch.as_tensor(mask)
        if mask.dim() != 2:
            raise InputError(f"inpainting mask must be a 2-D array, got shape {tuple(mask.shape)}")
        if not ((mask == 0) | (mask == 1)).all():
            raise InputError("inpainting mask must contain only 0 (missing) and 1 (observed)")
        self.mask = mask.to(torch.float32)
        self.image_shape = self.measurement_shape = _check_shape(tuple(mask.shape))

    @classmethod
    def random(cls, image_shape: tuple[int, int], observed: float, seed: int = 0) -> "Inpainting":
        """A mask observing each pixel independently with probability ``observed``."""
        if not 0.0 < observed <= 1.0:
            raise InputError(f"observed fraction must lie in (0, 1], got {observed}")
        gen = torch.Generator().manual_seed(seed)
        return cls((torch.rand(_check_shape(image_shape), generator=gen) < observed).float())

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self.check_image(x)
        return x * self.mask.to(x.dtype)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        return self.A(y)

    def norm_bound(self) -> float:
        return float(self.mask.max())

    def data_prox(self, z: torch.Tensor, y: torch.Tensor, gamma: float, guess: torch.Tensor | None = None) -> torch.Tensor:
        m = self.mask.to(z.dtype)
        return (z + gamma * m * y) / (1.0 + gamma * m)


class Downsampling(LinearOperator):
    """``A x``: the mean of each ``factor x factor`` block (super-resolution by ``factor``).

    ``A^T y`` spreads each value over its block divided by ``factor^2``; ``A A^T = I / factor^2``,
    so ``||A||_2 = 1 / factor`` exactly and the data prox has a closed form (Woodbury).
    """

    closed_form_prox = True

    def __init__(self, image_shape: tuple[int, int], factor: int = 2) -> None:
        self.image_shape = _check_shape(image_shape)
        if factor < 1 or self.image_shape[0] % factor or self.image_shape[1] % factor:
            raise InputError(f"image shape {self.image_shape} must be divisible by the downsampling factor {factor}")
        self.factor = factor
        self.measurement_shape = (self.image_shape[0] // factor, self.image_shape[1] // factor)

    def A(self, x: torch.Tensor) -> torch.Tensor:
        self.check_image(x)
        lead = x.shape[:-2]
        pooled = F.avg_pool2d(x.reshape(-1, 1, *self.image_shape), self.factor)
        return pooled.reshape(*lead, *self.measurement_shape)

    def A_adjoint(self, y: torch.Tensor) -> torch.Tensor:
        self.check_measurement(y)
        f = self.factor
        return y.repeat_interleave(f, dim=-2).repeat_interleave(f, dim=-1) / f**2

    def norm_bound(self) -> float:
        return 1.0 / self.factor

    def data_prox(self, z: torch.Tensor, y: torch.Tensor, gamma: float, guess: torch.Tensor | None = None) -> torch.Tensor:
        # (I + g A^T A)^{-1} = I - g A^T (I + g A A^T)^{-1} A, and A A^T = I / f^2.
        rhs = z + gamma * self.A_adjoint(y)
        scale = gamma / (1.0 + gamma / self.factor**2)
        return rhs - scale * self.A_adjoint(self.A(rhs))
