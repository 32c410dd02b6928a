"""Certified multi-scale linear operators and the gradient-flow block built on them.

A gradient-flow block ``x - tau K^T s(K x + b)`` (``s`` non-decreasing with slopes in ``[0, 1]``)
is 1-Lipschitz for *any* linear ``K`` with ``tau ||K||^2 <= 2``: its Jacobian
``I - tau K^T D K`` (``D`` diagonal in ``[0, 1]``) is symmetric with eigenvalues in
``[1 - tau ||K||^2, 1]`` (Meunier et al., ICML 2022). Here ``K`` is multi-scale,

    ``K x = [w_0 K_0 x; w_1 K_1 P x; ...; w_{S-1} K_{S-1} P^{S-1} x]``,

with ``P`` a downsampling by 2 of norm ``<= 1`` (:func:`downsample`), each ``K_s`` a stack of
stride-1, zero-'same'-padded (dilated) ``k_s x k_s`` convolutions ``C_{s,J} ... C_{s,1}`` kept in the unit
operator-norm ball by :func:`lipapps.constraints.constrain_`, and branch weights ``w_s``. From
``||[A; B]||^2 <= ||A||^2 + ||B||^2`` and ``||A B|| <= ||A|| ||B||``,

    ``||K||^2 <= sum_s w_s^2 prod_j ||C_{s,j}||^2 ||P||^(2 s) <= sum_s w_s^2``,

and the weights are ``w = sqrt(softmax(theta))`` (``theta`` learned), so ``sum_s w_s^2 = 1`` by
construction. The adjoint ``K^T`` is exact: transposed convolutions and
the adjoint of each downsampling. Branch ``s`` sees a window of ``(2 r_s + 1) 2^s`` pixels with
``r_s = sum_j d_j (k_s - 1) / 2``, so a few convolutions at coarse scales give the potential a
receptive field of 100+ pixels at the cost of a few full-resolution convolutions.

Float rounding: a certificate is a true upper bound, compared with 1 without tolerance. The
factors ``||C_{s,j}||`` are the suite's float64 bounds, rounded outward
(:func:`lipapps.layers.conv_norm_bound`); the weights are read exactly from their float32
values; and the formula combining them is evaluated in exact rational arithmetic and rounded up
once (:mod:`lipapps.rounding`). Training keeps every convolution's norm at most
``1 / (1 + TRAINING_MARGIN)`` (:func:`lipapps.rounding.training_divisor`), which leaves room for
the float32 rounding of the weights ``w_s`` (``sum_s w_s^2 <= 1 + 4 S 2^-24``), so that trained
operators certify ``||K|| <= 1`` itself (``docs/math.md``, "Floating point").
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.utils.parametrize as parametrize

from lipapps import spectral
from lipapps.activations import MonotoneSpline
from lipapps.constraints import check_constraint, constrain_
from lipapps.contract import LipschitzModule
from lipapps.layers import (ACTIVATIONS, block_bound, check_step_size, conv_adjoint, conv_norm_bound, orthogonal_centre_,
                            random_filters_)
from lipapps.rounding import round_up, sqrt_up

#: Downsamplings ``P`` by 2, both of norm ``<= 1`` (see :func:`downsample`).
DOWNSAMPLINGS = ("haar", "unshuffle")
def _halved(size: int) -> int:
    return (size + 1) // 2


def downsample(x: torch.Tensor, mode: str) -> torch.Tensor:
    """``P x``: one level of downsampling by 2 of ``(N, C, H, W)`` images, ``||P|| <= 1``.

    Odd sizes are zero-padded by one row / column at the bottom / right first (an isometric
    embedding: norm 1, adjoint the crop). Then

    * ``"haar"``: the low-pass band of the orthonormal Haar transform, ``(x_00 + x_01 + x_10 +
      x_11) / 2`` per 2x2 block: 2x2 average pooling times 2. Its rows have disjoint supports
      and unit norm, so ``P P^T = I`` and ``||P|| = 1`` (average pooling alone has norm 1/2).
      Channels are kept.
    * ``"unshuffle"``: ``pixel_unshuffle``, a permutation of the pixels into ``4 C`` channels
      (norm 1; nothing is discarded).
    """
    pad_h, pad_w = x.shape[-2] % 2, x.shape[-1] % 2
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h))
    if mode == "haar":
        return 2.0 * F.avg_pool2d(x, 2)
    return F.pixel_unshuffle(x, 2)


def downsample_adjoint(y: torch.Tensor, mode: str, size: tuple[int, int]) -> torch.Tensor:
    """``P^T y``, the exact adjoint of :func:`downsample` onto images of spatial ``size``.

    ``"haar"``: nearest upsampling times 1/2; ``"unshuffle"``: ``pixel_shuffle``; then the
    crop that undoes the zero padding of odd sizes.
    """
    if mode == "haar":
        x = 0.5 * y.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
    else:
        x = F.pixel_shuffle(y, 2)
    return x[..., : size[0], : size[1]]


def dilated_conv_norm_bound(kernel: torch.Tensor, dilation: int, input_shape: tuple[int, ...] | None) -> float:
    """Provable bound on the norm of a stride-1, zero-'same'-padded convolution with ``dilation``.

    The dilated convolution's transfer matrix is ``F(d w)``, ``F`` the undilated one's, so its
    supremum over frequencies, which bounds every image size and both paddings (Sedghi, Gupta,
    Long 2019), equals the undilated one: :func:`lipapps.layers.conv_norm_bound` of ``kernel``
    without a size bounds it. With ``input_shape = (C, H, W)`` also the exact circular norm of the
    dilated kernel (extent ``e = d (k - 1) + 1``) on the ``(H + e - 1) x (W + e - 1)`` grid, of
    which the zero-padded operator is a compression; the smaller of the two.
    """
    bound = conv_norm_bound(kernel, None)
    if input_shape is not None:
        spread = kernel.new_zeros(*kernel.shape[:2], *((s - 1) * dilation + 1 for s in kernel.shape[2:]))
        spread[..., ::dilation, ::dilation] = kernel.detach()
        grid = (input_shape[-2] + spread.shape[-2] - 1, input_shape[-1] + spread.shape[-1] - 1)
        bound = min(bound, spectral.circular_conv_norm(spread, grid))
    return bound


def _check_kernel_sizes(kernel_size: int | Sequence[int], scales: int) -> tuple[int, ...]:
    sizes = (int(kernel_size),) * scales if isinstance(kernel_size, int) else tuple(int(k) for k in kernel_size)
    if len(sizes) != scales or any(k < 1 or k % 2 != 1 for k in sizes):
        raise ValueError(f"kernel_size must be odd (one for all scales, or one per scale: {scales}), got {kernel_size!r}")
    return sizes


def _check_dilations(dilations: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    branches = tuple(tuple(int(d) for d in branch) for branch in dilations)
    if not branches or any(not branch or min(branch) < 1 for branch in branches):
        raise ValueError(f"dilations must give each scale a non-empty list of positive dilations, got {dilations!r}")
    return branches


class MultiScaleConv2d(nn.Module):
    """``K x = [w_s K_s P^s x]_s``: a multi-scale linear operator with ``||K|| <= 1`` and exact adjoint.

    Scale ``s = 0, ..., S - 1`` (``S = len(dilations)``) downsamples ``s`` times by ``P``
    (:func:`downsample`), then applies ``len(dilations[s])`` stride-1, zero-'same'-padded
    ``k_s x k_s`` convolutions without bias (``kernel_size``: one odd ``k`` for every scale, or
    one per scale, e.g. a wide full-resolution branch beside ``3 x 3`` coarse ones), the ``j``-th with dilation ``dilations[s][j]``: the first
    maps the scale's channels (``in_channels``, times ``4^s`` for ``"unshuffle"``) to
    ``out_channels``, the others ``out_channels`` to ``out_channels``. Each convolution is kept
    in the unit ball for every image size (``constraint``, see :mod:`lipapps.constraints`), and
    the branch weights ``w_s = sqrt(softmax(theta)_s)`` give ``||K||^2 <= sum_s w_s^2 prod_j
    ||C_{s,j}||^2 < 1`` (module docstring). :meth:`norm_bound` certifies the bound
    from the weights as they are (so it also catches ``constraint="none"``).

    ``forward`` returns the list of the scales' feature maps (scale ``s`` is
    ``ceil(H / 2^s) x ceil(W / 2^s)``); :meth:`adjoint` maps such a list back to images.
    ``init="orthogonal"`` starts every convolution as an orthogonal ``1 x 1`` map at the
    kernel's centre, ``"random"`` from Gaussian filters (see :class:`lipapps.ConvGradientFlowBlock`).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dilations: Sequence[Sequence[int]] = ((1,), (1, 2, 4), (1, 2, 4)),
        kernel_size: int | Sequence[int] = 3,
        downsampling: str = "haar",
        constraint: str = "parametrization",
        init: str = "orthogonal",
    ) -> None:
        super().__init__()
        self.dilations = _check_dilations(dilations)
        self.kernel_sizes = _check_kernel_sizes(kernel_size, len(self.dilations))
        if downsampling not in DOWNSAMPLINGS:
            raise ValueError(f"downsampling must be one of {DOWNSAMPLINGS}, got {downsampling!r}")
        if init not in ("orthogonal", "random"):
            raise ValueError(f"init must be 'orthogonal' or 'random', got {init!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.downsampling = downsampling
        self.constraint = check_constraint(constraint)
        self.branches = nn.ModuleList()
        for s, (branch, k) in enumerate(zip(self.dilations, self.kernel_sizes)):
            channels = in_channels * (4**s if downsampling == "unshuffle" else 1)
            convs = nn.ModuleList()
            for j, d in enumerate(branch):
                conv = nn.Conv2d(channels if j == 0 else out_channels, out_channels, k, padding=d * (k // 2), dilation=d, bias=False)
                (orthogonal_centre_ if init == "orthogonal" else random_filters_)(conv.weight)
                convs.append(constrain_(conv, "weight", constraint))
            self.branches.append(convs)
        self.scale_logits = nn.Parameter(torch.zeros(len(self.dilations)))

    @property
    def scales(self) -> int:
        return len(self.dilations)

    def branch_weights(self) -> torch.Tensor:
        """``w = sqrt(softmax(theta))``: ``sum_s w_s^2 = 1``. Computed as ``exp(log_softmax(theta) / 2)``,
        whose gradient stays finite where a weight underflows to 0 (``sqrt`` there has an infinite
        derivative, and Adam at a large step turned the logits into NaN)."""
        return torch.exp(0.5 * torch.log_softmax(self.scale_logits, dim=0))

    def sizes(self, size: tuple[int, int]) -> list[tuple[int, int]]:
        """Spatial size of every scale's feature maps for ``size = (H, W)`` images."""
        sizes = [tuple(size)]
        for _ in range(1, self.scales):
            sizes.append((_halved(sizes[-1][0]), _halved(sizes[-1][1])))
        return sizes

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        weights = self.branch_weights()
        out = []
        level = x
        for s, convs in enumerate(self.branches):
            if s > 0:
                level = downsample(level, self.downsampling)
            y = level
            for conv in convs:
                y = conv(y)
            out.append(weights[s] * y)
        return out

    def adjoint(self, z: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """``K^T z = sum_s (P^T)^s K_s^T w_s z_s`` onto ``size = (H, W)`` images, evaluated as
        ``K_0^T w_0 z_0 + P^T (K_1^T w_1 z_1 + P^T (...))``; each ``C^T`` is :func:`lipapps.layers.conv_adjoint`
        of the convolution's weight, padding and dilation (exact for zero padding)."""
        if len(z) != self.scales:
            raise ValueError(f"expected {self.scales} feature maps, got {len(z)}")
        weights = self.branch_weights()
        sizes = self.sizes(size)
        acc = None
        for s in reversed(range(self.scales)):
            y = weights[s] * z[s]
            for conv in reversed(self.branches[s]):
                y = conv_adjoint(y, conv.weight, conv.padding[0], conv.dilation[0])
            acc = y if acc is None else acc + y
            if s > 0:
                acc = downsample_adjoint(acc, self.downsampling, sizes[s - 1])
        return acc

    def squared_norm_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """A provable bound on ``||K||^2``: ``sum_s w_s^2 prod_j ||C_{s,j}||^2`` (``||P|| <= 1``).

        Each ``||C_{s,j}||`` is :func:`dilated_conv_norm_bound` (on the scale's image size when
        ``input_shape = (C, H, W)`` is given, else for every size), rounded outward; ``w_s`` are the
        float32 weights, exact in float64; the sum of products is exact (rational arithmetic) and
        rounded up once.
        """
        weights = self.branch_weights().detach().to(torch.float64).cpu().tolist()
        sizes = None if input_shape is None else self.sizes(tuple(input_shape[-2:]))
        total = Fraction(0)
        for s, convs in enumerate(self.branches):
            term = Fraction(weights[s]) ** 2
            for conv in convs:
                shape = None if sizes is None else (conv.in_channels, *sizes[s])
                term *= Fraction(dilated_conv_norm_bound(conv.weight, conv.dilation[0], shape)) ** 2
            total += term
        return round_up(total)

    def norm_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """A provable bound on ``||K||`` (``sqrt`` of :meth:`squared_norm_bound`, rounded up)."""
        return sqrt_up(self.squared_norm_bound(input_shape))

    def receptive_field(self) -> int:
        """Side, in input pixels, of the largest window one output of ``K`` depends on:
        ``max_s (2 r_s + 1) 2^s`` with ``r_s = sum_j d_{s,j} (k_s - 1) / 2`` (scale-``s`` pixels)."""
        return max((2 * (k // 2) * sum(branch) + 1) * 2**s for s, (branch, k) in enumerate(zip(self.dilations, self.kernel_sizes)))

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, dilations={self.dilations}, "
            f"kernel_size={self.kernel_sizes}, downsampling={self.downsampling!r}, constraint={self.constraint!r}"
        )


class MultiScaleGradientFlowBlock(LipschitzModule):
    """``x -> x - tau K^T s(K x + b)`` with the multi-scale ``K`` of :class:`MultiScaleConv2d`.

    The gradient step ``x - tau grad phi(x)`` on the convex ``phi(x) = sum_i r_i((K x + b)_i)``,
    ``r_i' = s`` (relu, or a :class:`lipapps.activations.MonotoneSpline` per scale: slopes in
    ``[0, 1]``), whose gradient is ``||K||^2``-Lipschitz. Its Jacobian ``I - tau K^T D K`` has
    eigenvalues in ``[1 - tau ||K||^2, 1]``, so with ``L >= ||K||^2`` certified
    (:meth:`MultiScaleConv2d.squared_norm_bound`) the block is ``max(1, tau L - 1)``-Lipschitz:
    1-Lipschitz for ``tau L <= 2``, and ``tau L / 2``-averaged for ``tau L < 2`` (firmly
    non-expansive when ``tau L <= 1``). ``||K|| < 1`` is kept by construction and ``tau =
    step_size`` lies in ``[0, 2]``. The potential's receptive field is that of ``K``, the step's
    that of ``K^T K`` (about twice as wide).

    Args:
        channels: channels of ``x``.
        hidden_channels: channels of every scale's feature maps.
        dilations, kernel_size, downsampling, constraint: those of :class:`MultiScaleConv2d`.
        step_size: ``tau``.
        activation: ``"relu"`` (convolutions start orthogonal) or ``"spline"`` (random filters).
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: int = 32,
        dilations: Sequence[Sequence[int]] = ((1,), (1, 2, 4), (1, 2, 4)),
        kernel_size: int | Sequence[int] = 3,
        downsampling: str = "haar",
        step_size: float = 2.0,
        constraint: str = "parametrization",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.channels, self.hidden_channels, self.activation_name = channels, hidden_channels, activation
        self.step_size = check_step_size(step_size)
        self.operator = MultiScaleConv2d(
            channels, hidden_channels, dilations, kernel_size, downsampling, constraint,
            init="orthogonal" if activation == "relu" else "random",
        )
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(hidden_channels)) for _ in self.operator.dilations])
        self.activations = nn.ModuleList(
            [nn.ReLU() if activation == "relu" else MonotoneSpline(hidden_channels) for _ in self.operator.dilations]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # cached: each parametrized kernel is normalised once for K and K^T
        with parametrize.cached():
            z = [act(y + b.view(1, -1, 1, 1)) for y, b, act in zip(self.operator(x), self.biases, self.activations)]
            return x - self.step_size * self.operator.adjoint(z, x.shape[-2:])

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """``max(1, tau L - 1)``, ``L`` the certified bound on ``||K||^2``, rounded upwards."""
        return block_bound(self.step_size, self.operator.squared_norm_bound(input_shape))

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        """``a = tau L / 2`` (rounded up) when ``a < 1``: the block is then ``a``-averaged, firmly
        non-expansive when ``a <= 1/2``; ``None`` when the certificate gives no ``a < 1``."""
        a = round_up(Fraction(self.step_size) * Fraction(self.operator.squared_norm_bound(input_shape)) / 2)
        return a if a < 1.0 else None

    def extra_repr(self) -> str:
        return f"channels={self.channels}, hidden_channels={self.hidden_channels}, step_size={self.step_size}, activation={self.activation_name!r}"
