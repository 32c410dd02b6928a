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
        c, n = self.channels, self.knots
        if z.dim() < 2 or z.shape[1] != c:
            raise ValueError(f"expected {c} channels in dimension 1, got shape {tuple(z.shape)}")
        shape = (1, c) + (1,) * (z.dim() - 2)
        width = 2.0 / (n - 1)
        slopes = self.slopes()
        inner = slopes[:, 1:-1]
        # the spline's values at the knots (in units of r_c), 0 at the middle knot
        values = torch.cat([inner.new_zeros(c, 1), torch.cumsum(inner * width, dim=1)], dim=1)
        values = values - values[:, (n - 1) // 2 : (n + 1) // 2]
        radius = self.log_radius.clamp(-LOG_RADIUS_LIMIT, LOG_RADIUS_LIMIT).exp().view(shape)
        u = z / radius
        # NaN inputs read knot 0 here and stay NaN through the end terms below
        position = torch.nan_to_num(((u + 1.0) / width).clamp(0.0, n - 1 - 1e-6))
        interval = position.floor().long()
        channel = torch.arange(c, device=z.device).view(shape)
        out = torch.take(values, interval + channel * n) + torch.take(inner, interval + channel * (n - 1)) * (position - interval) * width
        out = out + slopes[:, 0].view(shape) * (u + 1.0).clamp(max=0.0) + slopes[:, -1].view(shape) * (u - 1.0).clamp(min=0.0)
        return out * radius

    def extra_repr(self) -> str:
        return f"channels={self.channels}, knots={self.knots}"
