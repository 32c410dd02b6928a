"""A certified averaged convolutional denoiser: ``D = (1 - a) I + a N`` with ``N`` 1-Lipschitz.

``N = S o R o Phi_depth o ... o Phi_1 o Q o U``: ``U`` rearranges each ``r x r`` cell of pixels
into ``r^2`` channels at ``1/r`` of the resolution (``nn.PixelUnshuffle``; a permutation of the
coordinates, hence an isometry) and ``S`` puts them back (FFDNet, Zhang et al. 2018, works at
half resolution the same way: the blocks see a receptive field ``r`` times larger for ``1/r^2``
of the cost per block); a lifting convolution ``Q`` (``r^2 -> channels``), negative
gradient flow blocks ``Phi_i(z) = z - tau K_i^T relu(K_i z + b_i)`` (:class:`lipapps.ConvGradientFlowBlock`)
and a readout convolution ``R`` (``channels -> r^2``), each with operator norm <= 1 and
``tau ||K_i||^2 <= 2``, so ``N`` is non-expansive (the product of per-map bounds, docs/math.md section 2).
Images whose sides are not multiples of ``r`` are zero-padded before ``U`` and cropped after
``S`` (an isometric embedding and a projection: neither increases distances). Without lifting
(``lifting=False``, ``channels = r^2``) ``Q`` and ``R`` are the identity: with ``r = 1``, one
spline block and ``a`` near 1 this is the convex-ridge gradient-step denoiser
``D(x) = x - 2 a K^T s(K x + b)`` of Goujon et al. (2023). With ``dilations`` each block is a
:class:`lipapps.MultiScaleGradientFlowBlock` instead: ``K = [w_s K_s P^s]`` stacks the wide
full-resolution convolution with dilated ``3 x 3`` convolutions after ``s`` Haar low-pass
downsamplings, ``||K|| <= 1`` certified, so the same bound holds with a potential whose receptive
field spans 100+ pixels (:data:`MULTISCALE_RIDGE`: the convex-ridge form on such a ``K``).
Then ``D`` is ``a``-averaged for ``0 < a < 1``, and firmly non-expansive for ``a = 1/2``
(docs/math.md sections 2 and 6; Ryu et al. 2019, Sherry et al. 2024): the condition PnP-FBS needs,
and for ``a <= 1/2`` the one PnP-ADMM needs.
"""

from __future__ import annotations

import copy
from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F

import lipapps
from lipapps import (CheckpointError, ConditionedConvGradientFlowBlock, ConvGradientFlowBlock, InputInjection, LipschitzConv2d,
                     MultiScaleGradientFlowBlock)
from lipapps.rounding import round_up

#: The convex-ridge denoiser (the ``ridge`` family of shipped weights): one spline block of 32
#: filters 13 x 13 on the image itself, ``a = 0.99`` (Goujon et al. 2023); ``AveragedDenoiser(**CONVEX_RIDGE)``.
CONVEX_RIDGE = {"channels": 1, "hidden_channels": 32, "depth": 1, "kernel_size": 13, "averaging": 0.99, "downsampling": 1,
                "activation": "spline", "lifting": False}
#: The multi-scale convex-ridge denoiser (the ``multiscale`` recipe, not shipped): :data:`CONVEX_RIDGE` with a
#: multi-scale ``K``: the 32 filters 13 x 13 on the image, and 32 channels after one and after two
#: Haar low-pass downsamplings, each through 3 x 3 convolutions of dilations 1, 2, 4 (60 pixels wide).
MULTISCALE_RIDGE = {**CONVEX_RIDGE, "dilations": [[1], [1, 2, 4], [1, 2, 4]], "coarse_kernel_size": 3}
#: The noise-conditioned convex-ridge denoiser: :data:`CONVEX_RIDGE` whose splines (shape, span and
#: shift) and filters (a mixture of three banks of 32 filters 13 x 13) are functions of the noise
#: level (:class:`lipapps.ConditionedConvGradientFlowBlock`).
CONDITIONED_RIDGE = {**CONVEX_RIDGE, "noise_conditioned": True, "filter_banks": 3}
#: The level ``t = 0`` of a noise-conditioned denoiser: ``t = log(sigma / REFERENCE_SIGMA)``.
REFERENCE_SIGMA = 25.0
#: The degree of the polynomials in ``t`` of a noise-conditioned denoiser's splines.
CONDITION_DEGREE = 2
#: The levels (0-255 scale) a noise-conditioned denoiser is trained over and run at; a level outside
#: is served by the nearer end, scaled (:func:`denoisers.parameters.choose_settings`).
CONDITIONED_RANGE = (5.0, 50.0)


@lipapps.register_model
class AveragedDenoiser(lipapps.AveragedModel):
    """Grayscale Gaussian denoiser ``D(x) = (1 - a) x + a N(x)`` on ``(B, 1, H, W)`` images in ``[0, 1]``.

    Args:
        channels: width of the state of the gradient flow.
        hidden_channels: width of each block's potential (rows of ``K_i``).
        depth: number of gradient flow blocks.
        kernel_size: odd size of every convolution.
        averaging: ``a`` in ``(0, 1)``.
        step_size: ``tau`` in ``[0, 2]`` of every block.
        downsampling: ``r``: the blocks work on ``r x r`` cells of pixels stacked as channels
            (1: at full resolution).
        injection: ``alpha`` of :class:`lipapps.InputInjection` around the blocks (each block's
            output is mixed with the lifted input, ``z_k = (1 - alpha) Phi_k(z_{k-1}) + alpha Q U x``;
            0: the plain composition, the shipped weights).
        activation: ``"relu"`` or ``"spline"`` (a learned non-decreasing spline per hidden channel,
            slopes in ``[0, 1]``: :class:`lipapps.activations.MonotoneSpline`; the same
            certificate).
        lifting: ``False`` drops ``Q`` and ``R`` (then ``channels`` must be ``r^2``). With
            ``channels=1``, ``downsampling=1`` and one spline block of wide kernels this is the
            convex-ridge denoiser; lifting and readout there would be two 1 -> 1 convolutions that
            start as ``+-delta`` with independent signs, so half the seeds would start from
            ``N = -Phi``.
        dilations: ``None`` (each block one convolution, :class:`lipapps.ConvGradientFlowBlock`) or,
            per scale, the dilations of a :class:`lipapps.MultiScaleGradientFlowBlock` (Haar
            low-pass downsampling between scales): ``kernel_size`` on the first scale,
            ``coarse_kernel_size`` on the others.
        coarse_kernel_size: odd kernel size of the coarse scales (with ``dilations`` only).
        noise_conditioned: every block is a :class:`lipapps.ConditionedConvGradientFlowBlock` (spline
            activations, single scale, no injection) whose splines are functions of
            ``t = log(sigma / 25)``: one model for every noise level, one certificate for all of them.
        filter_banks: with ``noise_conditioned``, the number of convolutions each block mixes by level.
        sigma: noise level on the 0-255 scale the weights were trained for (recorded, not used); for a
            noise-conditioned model, the level ``forward`` denoises at when none is given.
        constraint: ``"parametrization"``, ``"projection"`` or ``"none"`` (the unconstrained
            baseline of the benchmark, which carries no certificate).
    """

    #: Files written before ``downsampling`` / ``injection`` / ``activation`` / ``lifting`` /
    #: ``dilations`` existed: full resolution, no injection, relu, lifting and readout, single-scale blocks.
    legacy_config = {"downsampling": 1, "injection": 0.0, "activation": "relu", "lifting": True, "dilations": None,
                     "noise_conditioned": False, "filter_banks": 1}
    #: ``sigma`` is the live attribute (set it before fine-tuning for another level).
    config_attributes = ("sigma",)

    def __init__(
        self,
        channels: int = 16,
        hidden_channels: int = 64,
        depth: int = 6,
        kernel_size: int = 3,
        averaging: float = 0.5,
        step_size: float = 2.0,
        downsampling: int = 2,
        injection: float = 0.0,
        activation: str = "relu",
        lifting: bool = True,
        dilations: list[list[int]] | None = None,
        coarse_kernel_size: int = 3,
        noise_conditioned: bool = False,
        filter_banks: int = 1,
        sigma: float = 25.0,
        constraint: str = "parametrization",
    ) -> None:
        super().__init__()
        if not 0.0 < averaging < 1.0:
            raise ValueError(f"averaging must lie in (0, 1), got {averaging}")
        if downsampling < 1:
            raise ValueError(f"downsampling must be a positive integer, got {downsampling}")
        if min(channels, hidden_channels) < 1 or depth < 0:
            raise ValueError(f"channels and hidden_channels must be positive and depth non-negative, "
                             f"got {channels}, {hidden_channels} and {depth}")
        self.averaging = float(averaging)
        self.sigma = float(sigma)
        self.constraint = constraint
        self.downsampling = int(downsampling)
        self.noise_conditioned = bool(noise_conditioned)
        if noise_conditioned and (activation != "spline" or dilations is not None or injection != 0.0):
            raise ValueError("a noise-conditioned denoiser has spline activations, single-scale blocks and no injection")
        if filter_banks != 1 and not noise_conditioned:
            raise ValueError(f"filter banks are mixed by noise level: {filter_banks} banks need noise_conditioned=True")
        cells = self.downsampling**2
        if not lifting and channels != cells:
            raise ValueError(f"without lifting, channels must equal downsampling^2 = {cells}, got {channels}")
        if noise_conditioned:
            blocks = [
                ConditionedConvGradientFlowBlock(channels, hidden_channels, kernel_size, step_size, constraint=constraint,
                                                 degree=CONDITION_DEGREE, banks=filter_banks)
                for _ in range(depth)
            ]
        elif dilations is None:
            blocks = [
                ConvGradientFlowBlock(channels, hidden_channels, kernel_size, step_size, constraint=constraint, activation=activation)
                for _ in range(depth)
            ]
        else:
            sizes = [kernel_size] + [coarse_kernel_size] * (len(dilations) - 1)
            blocks = [
                MultiScaleGradientFlowBlock(channels, hidden_channels, dilations, sizes, step_size=step_size,
                                            constraint=constraint, activation=activation)
                for _ in range(depth)
            ]
        flow = blocks if injection == 0.0 else [InputInjection(blocks, injection)]
        if lifting:
            flow = [LipschitzConv2d(cells, channels, kernel_size, constraint=constraint), *flow,
                    LipschitzConv2d(channels, cells, kernel_size, constraint=constraint)]
        self.network = nn.Sequential(nn.PixelUnshuffle(self.downsampling), *flow, nn.PixelShuffle(self.downsampling))

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """``D(x)``; ``sigma`` (0-255 scale, a number or one per image) only for a noise-conditioned
        model, which otherwise denoises at ``self.sigma``."""
        return (1.0 - self.averaging) * x + self.averaging * self.apply_network(x, sigma)

    def at_level(self, sigma: float) -> AveragedDenoiser:
        """This noise-conditioned model denoising at ``sigma`` when called without a level: a shallow
        copy that shares the weights (so the certificate) and sets only ``sigma``."""
        if not self.noise_conditioned:
            raise ValueError(f"this denoiser is not noise-conditioned (trained for sigma {self.sigma:g}); it has one level")
        view = copy.copy(self)
        view.sigma = float(sigma)
        return view

    def apply_network(self, x: torch.Tensor, sigma: float | torch.Tensor | None = None) -> torch.Tensor:
        """``N(x)`` on ``(B, 1, H, W)``: zero-padded to multiples of ``r``, then cropped back."""
        if sigma is not None and not self.noise_conditioned:
            raise ValueError(f"this denoiser is not noise-conditioned (trained for sigma {self.sigma:g}); it takes no sigma")
        h, w = x.shape[-2:]
        r = self.downsampling
        pad_h, pad_w = -h % r, -w % r
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        if not self.noise_conditioned:
            return self.network(x)[..., :h, :w]
        level = self.sigma if sigma is None else sigma
        # a number is checked on the host; a tensor of levels per image costs one read-back
        if not (bool((level > 0).all()) if isinstance(level, torch.Tensor) else level > 0):
            raise ValueError("sigma must be positive")
        condition = torch.log(torch.as_tensor(level, dtype=x.dtype, device=x.device) / REFERENCE_SIGMA)
        for module in self.network:
            x = module(x, condition) if isinstance(module, ConditionedConvGradientFlowBlock) else module(x)
        return x[..., :h, :w]

    def network_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """Provable Lipschitz bound of ``N``: the product of per-map bounds (docs/math.md section 2).

        :func:`lipapps.certify`: each convolution's norm by :func:`lipapps.layers.conv_norm_bound`
        (the smaller of the Perron root of the Gram-kernel bound and the frequency-grid bounds,
        and with ``input_shape`` the exact circular norm on the padded grid); a block contributes
        ``max(1, tau n^2 - 1)``; the pixel rearrangements contribute 1. ``input_shape`` is that
        of an image, ``(1, H, W)``; the convolutions see ``ceil(H / r) x ceil(W / r)``.
        """
        if input_shape is not None:
            r = self.downsampling
            input_shape = (*input_shape[:-2], -(-input_shape[-2] // r), -(-input_shape[-1] // r))
        return lipapps.certify(self.network, input_shape=input_shape).upper_bound

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """``(1 - a) + a Lip(N)``: the triangle inequality on ``D = (1 - a) I + a N`` (exact
        rational arithmetic, rounded up: a true upper bound)."""
        a = Fraction(self.averaging)
        return round_up((1 - a) + a * Fraction(self.network_bound(input_shape)))

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        """``a`` when ``N`` is certified non-expansive (its certificate ``<= 1``, compared exactly: then
        ``D`` is ``a``-averaged), else ``None``."""
        if self.constraint == "none" or not self.network_bound(input_shape) <= 1.0:
            return None
        return self.averaging

    def check_constraint(self) -> None:
        """Raise :class:`lipapps.CheckpointError` unless ``N``'s certificate is ``<= 1`` (no tolerance; used on load)."""
        if self.constraint == "none":
            return
        bound = self.network_bound()
        if not bound <= 1.0:
            raise CheckpointError(f"denoiser network certificate {bound!r} exceeds 1: the model is not averaged")

