"""Floating point: the training margin, and the outward rounding of every float64 certificate.

A certificate is a true upper bound, compared with 1 without tolerance (``docs/math.md``,
"Floating point"). Two facts make that possible:

* Training keeps every constrained weight in the ball of radius ``1 / (1 + TRAINING_MARGIN)``
  (:func:`training_divisor`), not of radius 1: the float32 weight ``fl(W)`` differs from the
  exact quotient ``W`` by at most ``u32 ||W||_F`` in spectral norm (each entry is rounded to
  nearest, relative error ``u32 = 2^-24``), hence by at most ``sqrt(T) u32 ||W||_F`` for a
  convolution with ``T`` taps; with ``||W||_F <= sqrt(min(c_in, c_out))`` this is ``< 1e-6`` for the
  suite's layers (13 x 13 single-channel kernels, 64 x 16 x 3 x 3 kernels, 784 x 200 matrices), and
  the float32 arithmetic of the per-step bound (a Cholesky proof in float32, measured below
  ``5e-7``) adds as much again. ``TRAINING_MARGIN = 2^-16`` (``1.5e-5``) leaves a factor of ten
  above the largest excess measured on shipped weights trained without it (``1.05e-6``).
* Every float64 number a certificate is built from is raised by a stated bound on its error:
  :func:`solver_error` for LAPACK's singular and eigenvalue solvers, :func:`fft_error` for
  FFTs, :func:`sum_error` for sums of products (convolutions, Gram kernels); the formulas that
  combine such numbers (products of per-layer bounds, ``tau L - 1``, square roots) are evaluated
  exactly in rational arithmetic and rounded up once (:func:`round_up`, :func:`sum_up`,
  :func:`sqrt_up`).
"""

from __future__ import annotations

import math
from fractions import Fraction

import torch

#: Unit roundoff of float64 (round to nearest).
UNIT_ROUNDOFF = 2.0**-53
#: Training keeps every constrained weight's norm at most ``1 / (1 + TRAINING_MARGIN)`` (module docstring).
TRAINING_MARGIN = 2.0**-16
#: ``p(m, n) = SOLVER_ERROR_FACTOR * m * n`` in the singular / eigenvalue error bound of :func:`solver_error`.
SOLVER_ERROR_FACTOR = 64
#: The constant of the FFT error bound of :func:`fft_error`.
FFT_ERROR_FACTOR = 64


def round_up(value: Fraction | float) -> float:
    """The smallest float64 ``>= value``, for an exact rational ``value`` (a :class:`~fractions.Fraction`
    built from float64 numbers, whose arithmetic is exact). ``float(Fraction)`` rounds to nearest."""
    nearest = float(value)
    return nearest if Fraction(nearest) >= value else math.nextafter(nearest, math.inf)


def sum_up(*values: float) -> float:
    """The exact sum of float64 ``values``, rounded up (error bounds add up without rounding down)."""
    return round_up(sum(map(Fraction, values), Fraction(0)))


def product_up(*values: float) -> float:
    """The exact product of float64 ``values``, rounded up (per-layer bounds multiply without
    rounding down); 1 for no values."""
    return round_up(math.prod(map(Fraction, values), start=Fraction(1)))


def sqrt_up(value: Fraction | float) -> float:
    """A float64 ``>= sqrt(value)``, within two ulps of it, for an exact rational or float ``value``."""
    exact = Fraction(value)
    root = math.sqrt(float(exact))
    while Fraction(root) ** 2 < exact:
        root = math.nextafter(root, math.inf)
    return root


def tensor_up(value: float, like: torch.Tensor) -> torch.Tensor:
    """The smallest number of ``like``'s dtype ``>= value`` (a 0-d tensor on ``like``'s device):
    storing a float64 bound in a float32 tensor rounds to nearest, possibly down; this does not."""
    nearest = torch.tensor(value, dtype=like.dtype, device=like.device)
    if float(nearest) < value:
        nearest = torch.nextafter(nearest, torch.tensor(math.inf, dtype=like.dtype, device=like.device))
    return nearest


def down(value: float) -> float:
    """The next float64 below ``value``: a lower bound on the exact result of the one correctly
    rounded operation that produced ``value`` (within half an ulp of it)."""
    return math.nextafter(value, -math.inf)


def training_divisor(bound: float | torch.Tensor) -> float | torch.Tensor:
    """``max(1, (1 + TRAINING_MARGIN) c)`` for a bound ``c >= ||W||`` (a float, or a tensor kept
    differentiable): dividing ``W`` by it leaves ``||W|| <= 1 / (1 + TRAINING_MARGIN)``, and leaves a
    weight already that small as it is."""
    scaled = (1.0 + TRAINING_MARGIN) * bound
    return scaled.clamp_min(1.0) if isinstance(scaled, torch.Tensor) else max(1.0, scaled)


def solver_error(rows: int, cols: int, frobenius: float) -> float:
    """Bound on ``|sigma_i(fl) - sigma_i|`` for singular (or symmetric eigen-) values computed by
    LAPACK in float64 from a ``rows x cols`` matrix ``W`` with ``||W||_F <= frobenius``.

    The SVD and the symmetric eigensolvers are backward stable: the computed values are the exact
    ones of ``W + E`` with ``||E||_2 <= p(m, n) u ||W||_2`` (Golub & Van Loan, *Matrix
    Computations*, 4th ed., Secs. 8.3 and 8.6), and by Weyl's inequality every value moves by at
    most ``||E||_2``. The reduction to bidiagonal / tridiagonal form applies ``<= 2 min(m, n)``
    Householder reflections, each with backward error ``c max(m, n) u ||W||_F`` (Higham, *Accuracy
    and Stability of Numerical Algorithms*, 2nd ed., Lemma 19.3), and the iteration on the reduced
    form is backward stable with an error of the same order; ``p(m, n) = SOLVER_ERROR_FACTOR m n``
    with ``||W||_2 <= ||W||_F`` covers ``c <= 16`` in the reduction and as much again in the
    iteration, with room for the ``(m n) u`` relative error of computing ``||W||_F`` itself. See ``docs/math.md``, "Floating point".
    """
    return round_up(Fraction(SOLVER_ERROR_FACTOR * max(rows, 1) * max(cols, 1)) * Fraction(UNIT_ROUNDOFF) * Fraction(frobenius))


def fft_error(points: int, norm: float) -> float:
    """Bound on ``||fl(F x) - F x||_2`` for an unnormalised float64 DFT ``F`` of ``points`` points
    (any dimension) of an input with ``||x||_2 <= norm``.

    Cooley-Tukey FFTs satisfy ``||fl(y) - y|| <= log2(N) eta ||y|| / (1 - log2(N) eta)`` with
    ``eta = mu + gamma_4 (sqrt(2) + mu)`` and ``mu`` the twiddle factors' error, about ``7 u``
    (Higham 2002, Thm 24.2), and ``||y|| = sqrt(N) ||x||`` (Parseval); mixed-radix and Bluestein
    transforms for other sizes have the same form with larger constants, which
    :data:`FFT_ERROR_FACTOR` covers. Zero padding changes no norm.
    """
    levels = max(1, math.ceil(math.log2(max(points, 2))))
    return round_up(Fraction(FFT_ERROR_FACTOR * levels) * Fraction(UNIT_ROUNDOFF) * Fraction(sqrt_up(points)) * Fraction(norm))


def sum_error(terms: int, magnitude: float) -> float:
    """Bound on the error of a float64 sum of ``terms`` products whose absolute values sum to at
    most ``magnitude``, in any order: ``gamma_n magnitude`` with ``gamma_n = n u / (1 - n u) <= 2 n u``
    (Higham 2002, Eq. 3.5), doubled for complex arithmetic (each complex product has error
    ``<= sqrt(2) gamma_2``)."""
    return round_up(Fraction(4 * max(terms, 1)) * Fraction(UNIT_ROUNDOFF) * Fraction(magnitude))
