"""The convex-ridge denoiser as a proximal map: ``D(y) = argmin_x 1/2 ||x - y||^2 + lambda R_mu(x)``.

The regulariser is the convex ridge potential of the shipped ``ridge`` denoisers (Goujon et al.,
"A neural-network-based convex regularizer for inverse problems", IEEE TCI 2023, CRR-NN)::

    R(x) = sum_i psi_i((K x)_i + b_i),   psi_i' = s_i non-decreasing with slopes in [0, 1],

with ``K`` a convolution of certified norm ``||K|| <= 1``; ``R_mu(x) = R(mu x) / mu^2`` rescales its
input (CRR-NN's ``mu``). Each ``psi_i`` is convex with ``psi_i'' <= 1``, so ``R_mu`` is convex and its
gradient ``grad R_mu(x) = K^T s(mu K x + b) / mu`` is ``||K||^2``-Lipschitz for every ``mu > 0``.
The shipped one-step ridge denoiser is the gradient step ``y - a tau grad R(y)`` on the same ``R``.

Guarantee (docs/math.md, "the convex-ridge prox"). ``F(x) = 1/2 ||x - y||^2 + lambda R_mu(x)`` is
1-strongly convex and ``L``-smooth with ``L = 1 + lambda ||K||^2``. The exact ``prox_{lambda R_mu}``
of a convex function is firmly non-expansive (Bauschke & Combettes 2017, Prop. 12.28):
``||P y - P y'||^2 <= <P y - P y', y - y'>``. :meth:`ProxDenoiser.solve` runs Nesterov's method with
constant momentum ``(sqrt(L) - 1) / (sqrt(L) + 1)`` and, for each image, stops at the first
extrapolated point ``z`` with ``||grad F(z)|| <= tol``; it returns ``x = z - grad F(z) / L``. By
1-strong convexity ``||z - P y|| <= ||grad F(z)||``, and the gradient step ``I - grad F / L`` is a
``(1 - 1/L)``-contraction, so ``e(y) = (1 - 1/L) ||grad F(z)|| <= tol`` bounds ``||x - P y||``:
returned per image as :attr:`ProxSolution.error_bound`. Hence, for the computed map ``D~``,
``||D~(y) - D~(y')|| <= ||y - y'|| + e(y) + e(y')``, and a plug-and-play iteration with this
denoiser is an inexact Krasnosel'skii-Mann iteration whose errors are the ``e`` it reports
(convergent when they are summable, Combettes 2004). The bound is evaluated in the working
precision (float32 unless the model and image are float64).

``lambda`` and ``mu`` are log-linear in the noise level: ``log lambda = l_0 + l_1 log(sigma / 25)``
and ``log mu = m_0 + m_1 log(sigma / 25)`` (sigma on the 0-255 scale), four learned numbers, so one
model serves every sigma.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F

import lipapps
from lipapps import CheckpointError, ConvGradientFlowBlock
from lipapps.layers import conv_adjoint, conv_norm_bound
from lipapps.rounding import round_up

from denoisers.model import AveragedDenoiser

#: The noise level (0-255 scale) at which ``log(sigma / REFERENCE_SIGMA) = 0`` in the rules for lambda and mu.
REFERENCE_SIGMA = 25.0


@dataclass(frozen=True)
class ProxSolution:
    """What :meth:`ProxDenoiser.solve` returns for a batch ``y`` of ``B`` images.

    ``x``: the computed prox, ``(B, 1, H, W)``; ``error_bound``: ``(B,)``, a bound on
    ``||x - prox(y)||`` per image (module docstring); ``iterations``: ``(B,)`` gradient
    evaluations per image; ``converged``: ``(B,)``, whether ``||grad F(z)|| <= tol`` was reached
    within ``max_iter`` (then ``error_bound <= tol``); ``tol``: the requested tolerance.
    """

    x: torch.Tensor
    error_bound: torch.Tensor
    iterations: torch.Tensor
    converged: torch.Tensor
    tol: float

    def summary(self) -> dict[str, float | int | bool]:
        """The largest error bound, the mean and largest iteration counts, whether every image converged."""
        return {"max_error_bound": float(self.error_bound.max()), "mean_iterations": float(self.iterations.float().mean()),
                "max_iterations": int(self.iterations.max()), "all_converged": bool(self.converged.all()), "tol": self.tol}


def _noise_levels(sigma: float | torch.Tensor, batch: int, like: torch.Tensor) -> torch.Tensor:
    """``sigma`` (a number, or one per image) as a ``(B, 1, 1, 1)`` tensor of ``like``'s dtype and device."""
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device).reshape(-1)
    if not bool((sigma > 0).all()):
        raise ValueError(f"sigma must be positive (0-255 scale), got {sigma.tolist()}")
    return sigma.expand(batch).reshape(batch, 1, 1, 1) if sigma.numel() == 1 else sigma.reshape(batch, 1, 1, 1)


@lipapps.register_model
class ProxDenoiser(lipapps.CertifiedModel):
    """Grayscale denoiser ``D(y) = prox_{lambda(sigma) R_mu(sigma)}(y)`` on ``(B, 1, H, W)`` images in ``[0, 1]``.

    The convex ridge regulariser ``R`` is held by :attr:`potential`, a spline
    :class:`lipapps.ConvGradientFlowBlock` (its ``K``, ``b`` and ``s``; ``||K|| <= 1`` kept by its
    constraint after every optimiser step); its own forward, a gradient step, is not used.
    ``forward(y)`` is :meth:`descend`: :attr:`max_iter` plain gradient steps on the prox objective
    at :attr:`sigma`, a certified 1-Lipschitz map; :meth:`solve` computes the prox faster, to
    :attr:`tol`, with per-image error bounds; training differentiates :meth:`unrolled`.

    Args:
        hidden_channels: number of filters of ``K``.
        kernel_size: odd size of the filters.
        sigma: the noise level ``forward`` denoises (0-255 scale; :meth:`solve` takes any).
        tol: stopping tolerance on ``||grad F||`` per image (absolute, ``[0, 1]`` intensity scale).
        max_iter: the steps of :meth:`forward` and the most iterations of :meth:`solve`.
        constraint: the constraint of ``K`` (``"parametrization"`` or ``"projection"``).
    """

    config_attributes = ("sigma", "tol", "max_iter")

    def __init__(
        self,
        hidden_channels: int = 32,
        kernel_size: int = 13,
        sigma: float = 25.0,
        tol: float = 1e-2,
        max_iter: int = 500,
        constraint: str = "parametrization",
    ) -> None:
        super().__init__()
        if constraint == "none":
            raise ValueError("the prox denoiser needs ||K|| <= 1 for its solver's step size: constraint cannot be 'none'")
        if not tol > 0 or max_iter < 1:
            raise ValueError(f"tol must be positive and max_iter at least 1, got {tol} and {max_iter}")
        self.sigma, self.tol, self.max_iter = float(sigma), float(tol), int(max_iter)
        self.potential = ConvGradientFlowBlock(1, hidden_channels, kernel_size, step_size=1.0, constraint=constraint, activation="spline")
        #: ``(l_0, l_1)``: ``log lambda(sigma) = l_0 + l_1 log(sigma / 25)``.
        self.log_strength = nn.Parameter(torch.tensor([math.log(2.0), 0.0]))
        #: ``(m_0, m_1)``: ``log mu(sigma) = m_0 + m_1 log(sigma / 25)``.
        self.log_scale = nn.Parameter(torch.zeros(2))

    @classmethod
    def from_ridge(cls, ridge: AveragedDenoiser, sigma: float | None = None) -> ProxDenoiser:
        """The prox of the regulariser of a one-step ``ridge`` denoiser ``y - a tau grad R(y)``.

        ``K``, ``b`` and ``s`` are copied; ``lambda = a tau`` and ``mu = 1`` at every sigma, the
        step length of the one-step denoiser (tune them with :meth:`set_rule`).
        """
        blocks = [m for m in ridge.network if isinstance(m, ConvGradientFlowBlock)]
        if len(blocks) != 1 or ridge.downsampling != 1 or blocks[0].channels != 1 or not isinstance(blocks[0].activation, lipapps.MonotoneSpline):
            raise ValueError("from_ridge needs a convex-ridge AveragedDenoiser: one spline block on the image, no lifting")
        block = blocks[0]
        model = cls(block.hidden_channels, block.kernel_size, sigma=ridge.sigma if sigma is None else sigma)
        model.potential.load_state_dict(block.state_dict())
        model.set_rule(ridge.averaging * block.step_size, 1.0)
        return model

    def set_rule(self, strength: float, scale: float, strength_slope: float = 0.0, scale_slope: float = 0.0) -> None:
        """Set ``lambda(sigma) = strength (sigma / 25)^strength_slope`` and ``mu(sigma) = scale (sigma / 25)^scale_slope``."""
        if not (strength > 0 and scale > 0):
            raise ValueError(f"strength and scale must be positive, got {strength} and {scale}")
        with torch.no_grad():
            self.log_strength.copy_(torch.tensor([math.log(strength), strength_slope]))
            self.log_scale.copy_(torch.tensor([math.log(scale), scale_slope]))

    def fit_rule(self, sigmas: list[float], strengths: list[float], scales: list[float]) -> None:
        """Least-squares fit of the log-linear rules through ``(sigma, lambda, mu)`` triples (one triple: constant rules)."""
        t = torch.log(torch.tensor(sigmas, dtype=torch.float64) / REFERENCE_SIGMA)
        design = torch.stack([torch.ones_like(t), t], dim=1) if len(sigmas) > 1 else torch.ones(1, 1, dtype=torch.float64)
        fits = [torch.linalg.lstsq(design, torch.log(torch.tensor(v, dtype=torch.float64))[:, None]).solution.flatten().tolist()
                for v in (strengths, scales)]
        (l0, *l1), (m0, *m1) = fits
        self.set_rule(math.exp(l0), math.exp(m0), l1[0] if l1 else 0.0, m1[0] if m1 else 0.0)

    def _rule(self, coefficients: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        return torch.exp(coefficients[0] + coefficients[1] * torch.log(sigma / REFERENCE_SIGMA))

    def strength(self, sigma: torch.Tensor) -> torch.Tensor:
        """``lambda(sigma)``, elementwise."""
        return self._rule(self.log_strength, sigma)

    def scale(self, sigma: torch.Tensor) -> torch.Tensor:
        """``mu(sigma)``, elementwise."""
        return self._rule(self.log_scale, sigma)

    def squared_norm_bound(self) -> float:
        """A provable bound on ``||K||^2`` for every image size (:func:`lipapps.layers.conv_norm_bound`,
        squared in exact arithmetic and rounded up)."""
        return round_up(Fraction(conv_norm_bound(self.potential.weight, None)) ** 2)

    def regulariser_gradient(self, x: torch.Tensor, scale: torch.Tensor, kernel: torch.Tensor | None = None) -> torch.Tensor:
        """``grad R_mu(x) = K^T s(mu K x + b) / mu`` (``scale`` = ``mu``, per image ``(B, 1, 1, 1)``;
        ``kernel``: ``K``'s weight when the caller materialised it once for many evaluations).

        ``K^T`` is :func:`lipapps.layers.conv_adjoint`, the exact adjoint of the convolution.
        """
        block = self.potential
        k = block.weight if kernel is None else kernel
        z = block.activation(F.conv2d(scale * x, k, block.bias, padding=block.padding))
        return conv_adjoint(z, k, block.padding) / scale

    def _parameters_at(self, y: torch.Tensor, sigma: float | torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if y.dim() != 4 or y.shape[1] != 1:
            raise ValueError(f"expected images of shape (B, 1, H, W), got {tuple(y.shape)}")
        levels = _noise_levels(self.sigma if sigma is None else sigma, y.shape[0], y)
        strength, scale = self.strength(levels), self.scale(levels)
        smoothness = 1.0 + strength * self.squared_norm_bound()
        return strength, scale, smoothness

    def unrolled(self, y: torch.Tensor, sigma: float | torch.Tensor | None = None, steps: int = 10) -> torch.Tensor:
        """``steps`` iterations of the accelerated method of :meth:`solve` from ``x_0 = y``, differentiable
        (the unrolled map trained through); :meth:`solve`'s ``x`` after as many iterations."""
        strength, scale, smoothness = self._parameters_at(y, sigma)
        momentum = (smoothness.sqrt() - 1) / (smoothness.sqrt() + 1)
        kernel = self.potential.weight
        x = previous = y
        for _ in range(steps):
            z = x + momentum * (x - previous)
            previous, x = x, z - (z - y + strength * self.regulariser_gradient(z, scale, kernel)) / smoothness
        return x

    @torch.no_grad()
    def solve(self, y: torch.Tensor, sigma: float | torch.Tensor | None = None, tol: float | None = None,
              max_iter: int | None = None) -> ProxSolution:
        """The prox at ``y`` to ``||grad F|| <= tol`` per image, with its a-posteriori error bound.

        Nesterov's method for the 1-strongly convex, ``L``-smooth ``F`` (module docstring), from
        ``x_0 = y``, step ``1 / L``, momentum ``(sqrt(L) - 1) / (sqrt(L) + 1)``, batched: an
        image leaves the batch once its extrapolated point has ``||grad F(z)|| <= tol``.
        ``sigma``: a number or one per image (default :attr:`sigma`); ``tol``, ``max_iter``:
        default :attr:`tol`, :attr:`max_iter`.
        """
        tol = self.tol if tol is None else float(tol)
        max_iter = self.max_iter if max_iter is None else int(max_iter)
        strength, scale, smoothness = self._parameters_at(y, sigma)
        momentum = (smoothness.sqrt() - 1) / (smoothness.sqrt() + 1)
        out = y.clone()
        batch = y.shape[0]
        error = torch.full((batch,), math.inf, dtype=y.dtype, device=y.device)
        iterations = torch.zeros(batch, dtype=torch.long, device=y.device)
        converged = torch.zeros(batch, dtype=torch.bool, device=y.device)
        active = torch.arange(batch, device=y.device)
        kernel = self.potential.weight
        x = previous = target = y
        for k in range(1, max_iter + 1):
            lam, mu, lip, beta = strength[active], scale[active], smoothness[active], momentum[active]
            z = x + beta * (x - previous)
            gradient = z - target + lam * self.regulariser_gradient(z, mu, kernel)
            norm = gradient.flatten(1).norm(dim=1)
            x_next = z - gradient / lip
            out[active] = x_next
            error[active] = (1 - 1 / lip.flatten()) * norm
            iterations[active] = k
            converged[active] = norm <= tol
            keep = ~converged[active]
            if not bool(keep.any()):
                break
            active, previous, x, target = active[keep], x[keep], x_next[keep], target[keep]
        return ProxSolution(x=out, error_bound=error, iterations=iterations, converged=converged, tol=tol)

    def descend(self, y: torch.Tensor, sigma: float | torch.Tensor | None = None, steps: int | None = None) -> torch.Tensor:
        """``steps`` (default :attr:`max_iter`) plain gradient steps ``x <- x - grad F(x) / L`` from
        ``x_0 = y``: a 1-Lipschitz map of ``y`` for every number of steps, converging to the prox at
        the rate ``(1 - 1/L)^k``.

        Proof: the Jacobian of ``x -> x - (x - y + lambda grad R_mu(x)) / L`` in ``x`` is
        ``I - (I + lambda K^T S K) / L`` with ``S`` the diagonal of spline slopes in ``[0, 1]``
        and ``||K||^2 <= beta``, ``L = 1 + lambda beta``: symmetric with eigenvalues in
        ``[0, 1 - 1/L]``. So ``|x_{k+1} - x'_{k+1}| <= (1 - 1/L) |x_k - x'_k| + |y - y'| / L``,
        and from ``x_0 = y`` induction gives ``|x_k - x'_k| <= |y - y'|`` (``docs/math.md``,
        section 5). Unlike :meth:`solve`, no early stop and no momentum, which would break it.
        """
        steps = self.max_iter if steps is None else int(steps)
        strength, scale, smoothness = self._parameters_at(y, sigma)
        kernel = self.potential.weight
        x = y
        for _ in range(steps):
            x = x - (x - y + strength * self.regulariser_gradient(x, scale, kernel)) / smoothness
        return x

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """:meth:`descend` at :attr:`sigma` for :attr:`max_iter` steps: the certified map (bound 1)."""
        return self.descend(y)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """1, for :meth:`forward` (:meth:`descend`: plain gradient steps from ``y``, nonexpansive for
        every number of steps). :meth:`solve` (accelerated, stopped per image) has instead
        ``||D~(y) - D~(y')|| <= ||y - y'|| + e(y) + e(y')`` with its per-image error bounds."""
        return 1.0

    def check_constraint(self) -> None:
        """Raise :class:`lipapps.CheckpointError` unless ``||K|| <= 1`` is certified (no tolerance): the
        solver's ``L = 1 + lambda ||K||^2`` and its error bound rest on it (used on load)."""
        bound = conv_norm_bound(self.potential.weight, None)
        if not bound <= 1.0:
            raise CheckpointError(f"prox denoiser: certificate {bound!r} of ||K|| exceeds 1")
