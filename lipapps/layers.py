"""The suite's 1-Lipschitz layers.

Each layer knows a provable bound on its own Lipschitz constant (``lipschitz_bound``), computed
from float64 singular values rounded outward for dense maps and from a provable bound for
convolutions (:mod:`lipapps.spectral`, :mod:`lipapps.rounding`);
:func:`lipapps.certify` multiplies them along the network.

References: Murari, Furuya, Schönlieb, "Approximation theory for 1-Lipschitz ResNets" (NeurIPS
2025); Meunier et al., "A dynamical system perspective for Lipschitz neural networks" (ICML 2022).
"""

from __future__ import annotations

from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F

from lipapps import spectral
from lipapps.activations import ConditionedMonotoneSpline, MonotoneSpline
from lipapps.certify import certify
from lipapps.constraints import check_constraint, constrain_
from lipapps.contract import LipschitzModule
from lipapps.rounding import round_up


#: Activations of :class:`ConvGradientFlowBlock`: both non-decreasing with slopes in ``[0, 1]``.
ACTIVATIONS = ("relu", "spline")


def check_kernel_size(kernel_size: int) -> int:
    """``kernel_size`` checked to be odd, so that zero 'same' padding ``kernel_size // 2`` keeps the size."""
    if kernel_size % 2 != 1:
        raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
    return kernel_size


def check_step_size(step_size: float) -> float:
    """``tau`` checked to lie in ``[0, 2]``, the range where a block with ``||K|| <= 1`` is non-expansive."""
    if not 0.0 <= step_size <= 2.0:
        raise ValueError(f"step_size must lie in [0, 2] (tau ||W||^2 <= 2 with ||W|| <= 1), got {step_size}")
    return float(step_size)


def block_bound(step_size: float, squared_norm: Fraction | float) -> float:
    """``max(1, tau L - 1)`` for a gradient-flow block with ``L >= ||K||^2``, rounded up.

    The largest ``|eigenvalue|`` of the block's Jacobian ``I - tau K^T D K`` (eigenvalues in
    ``[1 - tau ||K||^2, 1]``); evaluated exactly in rational arithmetic and rounded up once
    (:func:`lipapps.rounding.round_up`), so a true upper bound.
    """
    return max(1.0, round_up(Fraction(step_size) * Fraction(squared_norm) - 1))


def conv_norm_bound(kernel: torch.Tensor, input_shape: tuple[int, ...] | None) -> float:
    """Provable bound on a stride-1, zero-'same'-padded convolution's operator norm.

    Without ``input_shape``: the size-independent certificate of
    :func:`lipapps.spectral.conv_norm_certificate` (Perron root of the Gram-kernel bound, or the
    frequency-grid bound, whichever is smaller); with ``(C, H, W)``: the smaller of that and the
    exact circular norm on the ``(H + k - 1) x (W + k - 1)`` grid, which bounds the zero-padded
    operator on ``H x W`` images (it is a compression of that circular operator).
    """
    k64 = kernel.detach().to(torch.float64).cpu()
    if all(s == 1 for s in kernel.shape[2:]):
        return spectral.matrix_norm(k64)
    bound = spectral.conv_norm_certificate(k64)
    if input_shape is not None:
        kh, kw = kernel.shape[-2:]
        grid = (input_shape[-2] + kh - 1, input_shape[-1] + kw - 1)
        bound = min(bound, spectral.circular_conv_norm(k64, grid))
    return bound


class LipschitzLinear(nn.Linear, LipschitzModule):
    """``y = W x + b`` with ``||W||_2 <= 1``: 1-Lipschitz in l2.

    Initialised (semi-)orthogonal, so the map is an isometry or a co-isometry at the start:
    ``init="orthogonal"`` draws it at random, ``init="identity"`` takes ``[I 0]`` (the affine
    maps between Theorem 4.1 blocks, so that a deep stack starts as a composition of its blocks
    rather than of random rotations).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        constraint: str = "parametrization",
        init: str = "orthogonal",
    ) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.constraint = check_constraint(constraint)
        if init == "orthogonal":
            nn.init.orthogonal_(self.weight)
        elif init == "identity":
            nn.init.eye_(self.weight)
        else:
            raise ValueError(f"init must be 'orthogonal' or 'identity', got {init!r}")
        if bias:
            nn.init.zeros_(self.bias)
        constrain_(self, "weight", constraint)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        return spectral.matrix_norm(self.weight)


class LipschitzConv2d(nn.Conv2d, LipschitzModule):
    """Stride-1 convolution with zero 'same' padding and operator norm <= 1 for every image size.

    The kernel is kept inside the ball of the smaller of :func:`lipapps.spectral.conv_gram_bound`
    and :func:`lipapps.spectral.conv_grid_bound`, both bounds on the operator norm for all image
    sizes; ``kernel_size = 1`` is a dense map per pixel and uses the exact spectral norm. Initialised as an orthogonal ``1 x 1`` map in the kernel's centre
    (a near-isometry).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, bias: bool = True, constraint: str = "parametrization"
    ) -> None:
        check_kernel_size(kernel_size)
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.constraint = check_constraint(constraint)
        orthogonal_centre_(self.weight)
        if bias:
            nn.init.zeros_(self.bias)
        constrain_(self, "weight", constraint)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        return conv_norm_bound(self.weight, input_shape)


def random_filters_(kernel: torch.Tensor) -> None:
    """Gaussian filters with standard deviation ``fan_in^(-1/2)`` (torch's global generator).

    The unit-ball constraint divides them by their norm bound when it exceeds 1; the raw scale is
    what Adam's steps are measured against (scaled down to norm 1 first, a kernel of 169 taps has
    entries near 0.007, and steps of 3e-3 then change it by 40% each: 20.3 dB after 200 steps of
    the convex-ridge denoiser, 25.7 dB from this scale).
    """
    with torch.no_grad():
        kernel.normal_(0.0, kernel[0].numel() ** -0.5)


def orthogonal_centre_(kernel: torch.Tensor) -> None:
    """Zero kernel with an orthogonal matrix at the centre tap: an isometric ``1 x 1`` conv."""
    with torch.no_grad():
        centre = torch.empty(kernel.shape[0], kernel.shape[1])
        nn.init.orthogonal_(centre)
        kernel.zero_()
        kernel[:, :, kernel.shape[2] // 2, kernel.shape[3] // 2] = centre


class GradientFlowBlock(LipschitzModule):
    """``x -> x - tau W^T relu(W x + b)``: an explicit Euler step of a negative gradient flow.

    The step is ``x - tau grad phi(x)`` for the convex ``phi(x) = sum_i r(w_i . x + b_i)``
    (``r' = relu``) whose gradient is ``||W||_2^2``-Lipschitz. The Jacobian
    ``I - tau W^T D W`` (``D`` diagonal in ``[0, 1]``) is symmetric with eigenvalues in
    ``[1 - tau ||W||^2, 1]``, so the block is 1-Lipschitz when ``tau ||W||_2^2 <= 2`` and firmly
    non-expansive (1/2-averaged) when ``tau ||W||_2^2 <= 1`` (Meunier et al. 2022; Murari et
    al. 2025). Here ``||W||_2 <= 1`` is enforced and ``tau = step_size`` in ``[0, 2]``.

    With ``W`` orthogonal and ``tau = 2`` (the initialisation) the Jacobian ``W^T (I - 2D) W`` is
    orthogonal: dynamic isometry.

    Args:
        features: dimension of ``x``.
        hidden: number of rows of ``W`` (the width of the potential).
        step_size: ``tau``.
        constraint: ``"parametrization"``, ``"projection"`` or ``"none"``.
    """

    def __init__(self, features: int, hidden: int, step_size: float = 2.0, constraint: str = "parametrization") -> None:
        super().__init__()
        self.features, self.hidden = features, hidden
        self.step_size = check_step_size(step_size)
        self.constraint = check_constraint(constraint)
        self.weight = nn.Parameter(torch.empty(hidden, features))
        self.bias = nn.Parameter(torch.zeros(hidden))
        nn.init.orthogonal_(self.weight)
        constrain_(self, "weight", constraint)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        return x - self.step_size * (F.relu(F.linear(x, w, self.bias)) @ w)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """``max(1, tau ||W||^2 - 1)``: the largest |eigenvalue| of ``I - tau W^T D W``."""
        return block_bound(self.step_size, Fraction(spectral.matrix_norm(self.weight)) ** 2)

    def extra_repr(self) -> str:
        return f"features={self.features}, hidden={self.hidden}, step_size={self.step_size}, constraint={self.constraint!r}"


def conv_adjoint(z: torch.Tensor, weight: torch.Tensor, padding: int, dilation: int = 1) -> torch.Tensor:
    """``K^T z`` for ``K = conv2d(., weight, padding=padding, dilation=dilation)`` (stride 1): the
    exact adjoint, ``conv_transpose2d`` with the same weight, padding and dilation.

    With one output channel (``weight.shape[1] == 1``, a map back onto grey images) the same sum
    ``sum_c k_c^T z_c`` is evaluated as a depthwise convolution of each channel with its flipped
    filter followed by the sum over channels: the same linear map (up to the order of the float
    additions), several times faster on the CPU than the transposed convolution with one output
    channel.
    """
    if weight.shape[1] == 1:
        flipped = weight.flip(-1, -2)
        return F.conv2d(z, flipped, padding=padding, dilation=dilation, groups=weight.shape[0]).sum(1, keepdim=True)
    return F.conv_transpose2d(z, weight, padding=padding, dilation=dilation)


class ConvGradientFlowBlock(LipschitzModule):
    """``x -> x - tau K^T relu(K x + b)`` with a convolution ``K`` and its exact adjoint.

    ``K`` is ``conv2d`` (stride 1, zero 'same' padding) and ``K^T`` its exact adjoint
    (:func:`conv_adjoint`: ``conv_transpose2d`` with the same weight, stride and padding), so the step is a gradient step on a
    convex potential and the facts of :class:`GradientFlowBlock` hold with ``||K||_op``:
    1-Lipschitz for ``tau ||K||^2 <= 2``, firmly non-expansive for ``tau ||K||^2 <= 1``.
    ``||K||_op <= 1`` for every image size is enforced with the smaller of the Gram bound of
    :func:`lipapps.spectral.conv_gram_bound` and the frequency-grid bound of
    :func:`lipapps.spectral.conv_grid_bound` (proved each step by
    :func:`lipapps.spectral.proved_grid_bound`, at most ``1e-4`` above it).

    ``activation="spline"`` replaces relu by a learned :class:`lipapps.activations.MonotoneSpline`
    per hidden channel (non-decreasing, slopes in ``[0, 1]``): the potential stays convex and
    ``||K||^2``-smooth, so the same bounds hold (:mod:`lipapps.activations`). Relu blocks start
    from the orthogonal centre tap (an isometry); spline blocks from random filters
    (:func:`random_filters_`), because their initial clip profiles shrink filter responses and
    need filters that differ (with one input channel the centre tap makes every filter a
    multiple of a delta; 200 steps of the convex-ridge denoiser reached 19.7 dB from it, 25.7 dB
    from random filters).
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        step_size: float = 2.0,
        constraint: str = "parametrization",
        activation: str = "relu",
    ) -> None:
        super().__init__()
        check_kernel_size(kernel_size)
        self.channels, self.hidden_channels, self.kernel_size = channels, hidden_channels, kernel_size
        self.padding = kernel_size // 2
        self.step_size = check_step_size(step_size)
        self.constraint = check_constraint(constraint)
        self.weight = nn.Parameter(torch.empty(hidden_channels, channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(hidden_channels))
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if activation == "relu":
            self.activation = nn.ReLU()
            orthogonal_centre_(self.weight)
        else:
            self.activation = MonotoneSpline(hidden_channels)
            random_filters_(self.weight)
        constrain_(self, "weight", constraint)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.weight
        z = self.activation(F.conv2d(x, k, self.bias, padding=self.padding))
        return x - self.step_size * conv_adjoint(z, k, self.padding)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        return block_bound(self.step_size, Fraction(conv_norm_bound(self.weight, input_shape)) ** 2)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, hidden_channels={self.hidden_channels}, "
            f"kernel_size={self.kernel_size}, step_size={self.step_size}, constraint={self.constraint!r}"
        )


class ConditionedConvGradientFlowBlock(LipschitzModule):
    """``x -> x - tau K_t^T s_t(K_t x)``: a spline :class:`ConvGradientFlowBlock` conditioned on a scalar ``t``.

    ``s_t`` is a :class:`lipapps.activations.ConditionedMonotoneSpline` per hidden channel (its
    shape, span and shift, the block's bias, are polynomials in ``t``). ``K_t = sum_j w_j(t) K_j``
    mixes ``banks`` convolutions, each constrained as in :class:`ConvGradientFlowBlock`
    (``||K_j|| <= 1``), with weights ``w(t)`` = the softmax of polynomials in ``t`` (one bank: ``K``
    itself, the same for every ``t``). A convex combination of maps of norm at most ``n`` has norm
    at most ``n``, so ``||K_t|| <= max_j ||K_j||`` for every ``t``, and for each ``t`` the block is a
    gradient step on a convex, ``||K_t||^2``-smooth potential: the bound
    ``max(1, tau max_j ||K_j||^2 - 1)`` holds for every condition at once, one certificate for every
    noise level a denoiser is conditioned on. The condition is passed to ``forward`` (a scalar, or
    one value per sample; one value mixes the kernels once, several mix the responses per sample).
    """

    def __init__(
        self,
        channels: int,
        hidden_channels: int,
        kernel_size: int = 3,
        step_size: float = 2.0,
        constraint: str = "parametrization",
        degree: int = 2,
        banks: int = 1,
    ) -> None:
        super().__init__()
        check_kernel_size(kernel_size)
        if banks < 1:
            raise ValueError(f"banks must be a positive integer, got {banks}")
        self.channels, self.hidden_channels, self.kernel_size, self.banks = channels, hidden_channels, kernel_size, banks
        self.padding = kernel_size // 2
        self.step_size = check_step_size(step_size)
        self.constraint = check_constraint(constraint)
        self.activation = ConditionedMonotoneSpline(hidden_channels, degree=degree)
        #: the kernels ``K_j`` are the attributes ``weight``, ``weight_1``, ... (one bank: ``weight`` alone)
        self.weight_names = ["weight"] + [f"weight_{j}" for j in range(1, banks)]
        for name in self.weight_names:
            setattr(self, name, nn.Parameter(torch.empty(hidden_channels, channels, kernel_size, kernel_size)))
            random_filters_(getattr(self, name))
            constrain_(self, name, constraint)
        if banks > 1:
            self.mixture_logits = nn.Parameter(torch.zeros(banks, degree + 1))

    def kernels(self) -> list[torch.Tensor]:
        """The constrained kernels ``K_j``."""
        return [getattr(self, name) for name in self.weight_names]

    def mixture(self, condition: torch.Tensor) -> torch.Tensor:
        """``(B, banks)``: the weights ``w(t)`` of each sample's condition (softmax of polynomials in ``t``)."""
        return torch.softmax(self.activation.features(condition) @ self.mixture_logits.T, dim=1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor | float) -> torch.Tensor:
        kernels = self.kernels()
        condition = torch.as_tensor(condition, dtype=x.dtype, device=x.device).reshape(-1)
        if self.banks == 1 or condition.numel() == 1:
            k = kernels[0] if self.banks == 1 else torch.einsum("j,j...->...", self.mixture(condition)[0], torch.stack(kernels))
            z = self.activation(F.conv2d(x, k, padding=self.padding), condition)
            return x - self.step_size * conv_adjoint(z, k, self.padding)
        w = self.mixture(condition).T.reshape(self.banks, -1, 1, 1, 1)
        response = sum(w_j * F.conv2d(x, k, padding=self.padding) for w_j, k in zip(w, kernels))
        z = self.activation(response, condition)
        return x - self.step_size * sum(w_j * conv_adjoint(z, k, self.padding) for w_j, k in zip(w, kernels))

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        norm = max(Fraction(conv_norm_bound(k, input_shape)) for k in self.kernels())
        return block_bound(self.step_size, norm**2)

    def extra_repr(self) -> str:
        return (
            f"channels={self.channels}, hidden_channels={self.hidden_channels}, kernel_size={self.kernel_size}, "
            f"banks={self.banks}, step_size={self.step_size}, constraint={self.constraint!r}"
        )


class SortPair(LipschitzModule):
    """``(x1, x2, ...) -> (max(x1, x2), min(x1, x2), ...)``: a permutation on each half-space.

    Each piece is an isometry and the pieces agree on ``x1 = x2``, so the map is 1-Lipschitz
    in l2 (docs/math.md section 2).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = torch.maximum(x[..., :1], x[..., 1:2])
        bottom = torch.minimum(x[..., :1], x[..., 1:2])
        return torch.cat([top, bottom, x[..., 2:]], dim=-1)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        return 1.0


class GroupSort2(LipschitzModule):
    """GroupSort with groups of two (MaxMin; Anil, Lucas, Grosse 2019): along ``dim``, each
    consecutive pair ``(a, b)`` becomes ``(max(a, b), min(a, b))``.

    On each half-space ``a >= b`` or ``a <= b`` of every pair the map is a permutation of the
    coordinates, an isometry, and the pieces agree where ``a = b``: 1-Lipschitz in l2 (as
    :class:`SortPair`, docs/math.md section 2), and its Jacobian is orthogonal almost everywhere,
    so unlike ReLU it never shrinks a gradient. ``dim`` must have even size.
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = int(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[self.dim] % 2:
            raise ValueError(f"GroupSort2 needs an even size along dim {self.dim}, got {x.shape[self.dim]}")
        moved = x.movedim(self.dim, -1)
        pairs = moved.unflatten(-1, (-1, 2))
        top, bottom = pairs.max(-1).values, pairs.min(-1).values
        return torch.stack([top, bottom], -1).flatten(-2).movedim(-1, self.dim)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        return 1.0

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class FixedWidthBlock(LipschitzModule):
    """Theorem 4.1's block: ``z -> [max(z1, z2), min(z1, z2), z3, Phi(z_4:)]``.

    ``Phi`` is a :class:`GradientFlowBlock` on the last ``width - 3`` coordinates. The map is a
    direct sum of 1-Lipschitz maps on orthogonal coordinate blocks (pair sorting, the identity on
    ``z3``, ``Phi``), hence 1-Lipschitz in l2: its bound is the largest of the parts' bounds.
    """

    def __init__(self, width: int, hidden: int, step_size: float = 2.0, constraint: str = "parametrization") -> None:
        super().__init__()
        if width < 4:
            raise ValueError(f"the fixed-width block needs width >= 4, got {width}")
        self.sort = SortPair()
        self.flow = GradientFlowBlock(width - 3, hidden, step_size=step_size, constraint=constraint)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        head = self.sort(z[..., :3])
        return torch.cat([head, self.flow(z[..., 3:])], dim=-1)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        return max(1.0, self.flow.lipschitz_bound())


class InputInjection(LipschitzModule):
    """``z_0 = x``, ``z_k = (1 - alpha) Phi_k(z_{k-1}) + alpha x``: every step sees the input again.

    With ``L_k`` a bound on the Lipschitz constant of ``x -> z_k`` and ``b_k`` one of ``Phi_k``,
    the triangle inequality gives ``L_k <= (1 - alpha) b_k L_{k-1} + alpha``, ``L_0 = 1``; with
    non-expansive steps (``b_k <= 1``) every ``L_k <= 1``, so the map stays non-expansive for any
    number of steps and any ``alpha`` in ``[0, 1]``. With shared gradient-flow steps this is an
    unrolled proximal-gradient iteration for ``min_z 1/2 ||z - x||^2 + R(z)`` with a convex ridge
    regulariser (Goujon et al. 2023), whose input term a plain composition of blocks lacks.
    :func:`lipapps.certify` uses this recursion (``lipschitz_bound``), not the product of the
    steps' bounds.
    """

    def __init__(self, steps: list[nn.Module], injection: float) -> None:
        super().__init__()
        if not 0.0 <= injection <= 1.0:
            raise ValueError(f"injection must lie in [0, 1], got {injection}")
        self.steps = nn.ModuleList(steps)
        self.injection = float(injection)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x
        for step in self.steps:
            z = (1.0 - self.injection) * step(z) + self.injection * x
        return z

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """The recursion of the class docstring, in exact rational arithmetic, rounded up once."""
        alpha = Fraction(self.injection)
        bound = Fraction(1)
        for step in self.steps:
            bound = (1 - alpha) * Fraction(certify(step, input_shape).upper_bound) * bound + alpha
        return round_up(bound)

    def extra_repr(self) -> str:
        return f"injection={self.injection}"
