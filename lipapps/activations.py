"""Activations that keep a gradient flow block's certificate.

A block ``x -> x - tau K^T s(K x + b)`` is a gradient step on the potential
``P(x) = sum_i psi_i((K x + b)_i)`` with ``psi_i' = s_i``. When every ``s_i`` is non-decreasing
and 1-Lipschitz (slopes in ``[0, 1]``), each ``psi_i`` is convex with ``psi_i'' <= 1``, so ``P``
is convex and ``||K||^2``-smooth, ``grad P`` is ``1/||K||^2``-cocoercive (Baillon-Haddad), and the
block has every property relu gives it (docs/math.md section 1): 1-Lipschitz for ``tau ||K||^2 <= 2``, firmly
non-expansive for ``tau ||K||^2 <= 1``. ReLU is one such ``s``; :class:`MonotoneSpline` learns
one per channel (the convex-ridge profiles of Goujon et al., "A neural-network-based convex
regularizer for inverse problems", IEEE TCI 2023).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

#: ``|log r_c|`` is clamped to this in the forward pass, so no optimiser step makes ``r_c`` 0 or inf.
LOG_RADIUS_LIMIT = 20.0


class MonotoneSpline(nn.Module):
    """A learned non-decreasing linear spline per channel, every slope in ``[0, 1]``.

    Channel ``c`` has ``knots`` equally spaced knots on ``[-r_c, r_c]`` (``r_c > 0`` learned) and
    slope ``sigmoid(theta_cj)`` on the ``j``-th interval; outside the knots it continues linearly
    with its own end slopes (also sigmoids), and ``s_c(0) = 0``. The sigmoid keeps every slope in
    ``(0, 1)`` for any parameter value, so the certificate of the block that uses it holds after
    every optimiser step without a projection.

    The initial profile is a clip, ``s_c(z) = clamp(z, -r_c / 2, r_c / 2)`` (up to the sigmoid's
    ``0.018`` and ``0.982``): the gradient of a Huber potential, whose gradient step is a soft
    shrinkage of the filter responses.

    Args:
        channels: number of channels (dimension 1 of the input).
        knots: number of knots, odd (so that 0 is one).
        radius: initial half-width ``r_c`` of the knots' span.
    """

    def __init__(self, channels: int, knots: int = 21, radius: float = 0.1) -> None:
        super().__init__()
        if knots < 3 or knots % 2 == 0:
            raise ValueError(f"knots must be odd and at least 3, got {knots}")
        if not radius > 0:
            raise ValueError(f"radius must be positive, got {radius}")
        self.channels, self.knots = channels, knots
        centres = torch.linspace(-1.0, 1.0, knots)
        centres = 0.5 * (centres[1:] + centres[:-1])
        self.slope_logits = nn.Parameter(torch.where(centres.abs() < 0.5, 4.0, -4.0).repeat(channels, 1))
        self.end_logits = nn.Parameter(torch.full((channels, 2), -4.0))
        self.log_radius = nn.Parameter(torch.full((channels,), math.log(radius)))

    def slopes(self) -> torch.Tensor:
        """``(channels, knots + 1)``: the left end slope, the interval slopes, the right end slope."""
        return torch.sigmoid(torch.cat([self.end_logits[:, :1], self.slope_logits, self.end_logits[:, 1:]], dim=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() < 2 or z.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels in dimension 1, got shape {tuple(z.shape)}")
        return evaluate_spline(z, self.slopes(), self.log_radius)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, knots={self.knots}"


def evaluate_spline(z: torch.Tensor, slopes: torch.Tensor, log_radius: torch.Tensor, shift: torch.Tensor | None = None) -> torch.Tensor:
    """The monotone linear spline of :class:`MonotoneSpline` at ``z`` (``(B, C, ...)``), or at
    ``z + r shift`` (``shift`` shaped like ``log_radius``: a bias in units of the span).

    ``slopes`` (``(C, knots + 1)``, or ``(B, C, knots + 1)``: one spline per sample and channel)
    holds the left end slope, the ``knots - 1`` interval slopes and the right end slope, each in
    ``[0, 1]``; ``log_radius`` (``(C,)`` or ``(B, C)``) the log half-width of the knots' span.
    The spline is 0 at 0 and has those slopes, so it is non-decreasing and 1-Lipschitz.
    """
    per_sample = slopes.dim() == 3
    c, n = slopes.shape[-2], slopes.shape[-1] - 1
    rows = z.shape[0] * c if per_sample else c
    shape = (z.shape[0] if per_sample else 1, c) + (1,) * (z.dim() - 2)
    width = 2.0 / (n - 1)
    slopes = slopes.reshape(rows, n + 1)
    inner = slopes[:, 1:-1]
    # the spline's values at the knots (in units of r_c), 0 at the middle knot
    values = torch.cat([inner.new_zeros(rows, 1), torch.cumsum(inner * width, dim=1)], dim=1)
    values = values - values[:, (n - 1) // 2 : (n + 1) // 2]
    radius = log_radius.clamp(-LOG_RADIUS_LIMIT, LOG_RADIUS_LIMIT).exp().view(shape)
    u = z / radius if shift is None else z / radius + shift.view(shape)
    # NaN inputs read knot 0 here and stay NaN through the end terms below
    position = torch.nan_to_num(((u + 1.0) / width).clamp(0.0, n - 1 - 1e-6))
    interval = position.floor().long()
    row = torch.arange(rows, device=z.device).view(shape)
    out = torch.take(values, interval + row * n) + torch.take(inner, interval + row * (n - 1)) * (position - interval) * width
    out = out + slopes[:, 0].view(shape) * (u + 1.0).clamp(max=0.0) + slopes[:, -1].view(shape) * (u - 1.0).clamp(min=0.0)
    return out * radius


class ConditionedMonotoneSpline(nn.Module):
    """A :class:`MonotoneSpline` per channel whose shape depends on a scalar condition ``t`` per sample.

    ``s_t(z) = r(t) p_t(z / r(t) + beta(t))`` with ``p_t`` the unit-span spline of slopes
    ``sigmoid(theta(t))``, where ``theta``, ``log r`` and ``beta`` (a shift in units of the span) are
    polynomials of degree ``degree`` in ``t`` with learned coefficients, per channel. Every slope lies
    in ``(0, 1)`` for every ``t`` and every parameter value, so ``s_t`` is non-decreasing and
    1-Lipschitz for each ``t``: a gradient-flow block using it keeps its certificate whatever the
    condition (a noise level, say). Coefficient 0 starts as :class:`MonotoneSpline` does (a clip),
    the others at 0 (the same spline for every ``t``).

    Args:
        channels: number of channels (dimension 1 of the input).
        knots: number of knots, odd.
        radius: initial half-width of the knots' span.
        degree: degree of the polynomials in ``t`` (0: no dependence on ``t``).
    """

    def __init__(self, channels: int, knots: int = 21, radius: float = 0.1, degree: int = 2) -> None:
        super().__init__()
        if degree < 0:
            raise ValueError(f"degree must be non-negative, got {degree}")
        start = MonotoneSpline(channels, knots, radius)
        self.channels, self.knots, self.degree = channels, knots, degree

        def coefficients(value: torch.Tensor) -> nn.Parameter:
            return nn.Parameter(torch.cat([value.detach()[None], value.new_zeros(degree, *value.shape)]))

        self.slope_logits = coefficients(start.slope_logits)
        self.end_logits = coefficients(start.end_logits)
        self.log_radius = coefficients(start.log_radius)
        self.shift = coefficients(torch.zeros(channels))

    def features(self, condition: torch.Tensor) -> torch.Tensor:
        """``(B, degree + 1)``: the powers ``1, t, ..., t^degree`` of each sample's condition."""
        return condition.reshape(-1, 1) ** torch.arange(self.degree + 1, device=condition.device, dtype=condition.dtype)

    def forward(self, z: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """``s_t(z)`` with ``condition`` a scalar (every sample) or one value per sample (``(B,)``)."""
        if z.dim() < 2 or z.shape[1] != self.channels:
            raise ValueError(f"expected {self.channels} channels in dimension 1, got shape {tuple(z.shape)}")
        condition = torch.as_tensor(condition, dtype=z.dtype, device=z.device).reshape(-1).expand(z.shape[0])
        phi = self.features(condition)
        logits = torch.cat([self.end_logits[..., :1], self.slope_logits, self.end_logits[..., 1:]], dim=-1)
        slopes = torch.sigmoid(torch.einsum("bd,dck->bck", phi, logits))
        return evaluate_spline(z, slopes, phi @ self.log_radius, phi @ self.shift)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, knots={self.knots}, degree={self.degree}"


#: The learned activations (their parameters train at ``activation_lr_factor`` times the learning rate).
LEARNED_ACTIVATIONS = (MonotoneSpline, ConditionedMonotoneSpline)
