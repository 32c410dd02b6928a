"""Classical baselines from scikit-image (and the optional ``bm3d`` package) for the benchmark and demo.

* :class:`TVDenoiser`: ``denoise_tv_chambolle``, the proximal map of ``weight * TV`` (Rudin-
  Osher-Fatemi; Chambolle 2004) computed iteratively. Plugged into the same PnP solvers it gives
  the TV-regularised reconstruction ``min 1/2 ||A x - y||^2 + (weight / g) TV(x)``. It carries no
  averagedness certificate here (the prox is firmly non-expansive only when solved exactly).
* wavelet shrinkage (BayesShrink, ``denoise_wavelet``) and BM3D for Gaussian denoising, and
  :class:`BM3DDenoiser`, BM3D as a (non-certified) PnP prior;
* filtered back-projection and SART (``iradon``, ``iradon_sart``) for CT, and their oracle
  tuning, :func:`best_filtered_back_projection` (filter) and :func:`best_sart` (sweep count);
* the benchmark's tuning rules for them: :func:`best_tv_denoising`, :func:`best_tv_reconstruction`
  and :func:`best_bm3d_prior_reconstruction`, each the best of a grid of weights against the truth
  (the best the baseline can do, i.e. favoured);
* :class:`DnCNN`: an unconstrained DnCNN-style network (Zhang et al. 2017), trained like the
  certified denoiser, to measure what the Lipschitz constraint costs and what it buys.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import torch
import torch.nn as nn
from skimage.restoration import denoise_tv_chambolle, denoise_wavelet
from skimage.transform import iradon, iradon_sart

import lipapps
from lipapps.errors import InputError
from lipapps.layers import conv_norm_bound
from lipapps.rounding import round_up

from denoisers.metrics import psnr
from denoisers.parameters import NOISE_FLOOR, REGULARISATION, admm_penalty
from denoisers.pnp import ConvergenceWarning, PnPResult, pnp_admm
from denoisers.problems import Problem
from denoisers.radon import ParallelBeamCT

#: Chambolle TV denoising weights for noise 25/255, scaled in proportion to other noise levels.
TV_DENOISE_WEIGHTS = (0.03, 0.04, 0.06, 0.08, 0.1, 0.13)
#: TV reconstruction ``min 1/2 ||A x - y||^2 + lam TV(x)``: ``lam / sigma_n^2`` on this grid (the
#: MAP weight scales with the noise variance), each solved by ADMM with penalties
#: ``c / ||A||^2`` for ``c`` in TV_PENALTIES (only the speed depends on it: CT needs large ``c``
#: to converge within the budget), TV_ITERATIONS_FACTOR times the PnP iteration budget.
TV_PRIOR_STRENGTHS = (5, 10, 20, 50, 100, 200, 400)
TV_PENALTIES = (1, 10, 100)
TV_ITERATIONS_FACTOR = 2
#: BM3D as the PnP-ADMM prior: its level (0-255 scale) and the penalty rule of our PnP-ADMM,
#: ``(level / (255 k sigma_n))^2`` with ``k`` the problem's factor (``REGULARISATION``) times a
#: factor, on the grid BM3D_PRIOR_LEVELS x BM3D_PRIOR_FACTORS searched by :func:`grid_ascent` from
#: BM3D_PRIOR_START, BM3D_PRIOR_ITERATIONS iterations per run.
BM3D_PRIOR_LEVELS = (10, 15, 25, 40, 60, 90)
BM3D_PRIOR_FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)
BM3D_PRIOR_START = (25, 1.0)
BM3D_PRIOR_ITERATIONS = 60


@lipapps.register_model
class DnCNN(lipapps.AveragedModel):
    """Unconstrained residual denoiser ``D(y) = y - R(y)`` (DnCNN, Zhang et al. 2017, without batch norm).

    ``R`` is ``depth`` 3x3 convolutions with ReLU between them (1 -> ``channels`` -> ... -> 1):
    it predicts the noise. Nothing constrains its weights, so ``D`` carries no averagedness
    certificate and PnP with it has no convergence guarantee: it is the benchmark's baseline
    for the price of the constraint, never a shipped prior. ``lipschitz_bound`` is still a
    true bound (``1 + prod_i ||C_i||``), only a useless one.
    """

    #: ``sigma`` is the live attribute (set it before fine-tuning for another level).
    config_attributes = ("sigma",)

    def __init__(self, channels: int = 32, depth: int = 8, sigma: float = 25.0) -> None:
        super().__init__()
        if depth < 2:
            raise ValueError(f"depth must be at least 2, got {depth}")
        self.sigma = float(sigma)
        widths = [1, *[channels] * (depth - 1), 1]
        layers: list[nn.Module] = []
        for i, (c_in, c_out) in enumerate(zip(widths, widths[1:])):
            layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
            if i < depth - 1:
                layers.append(nn.ReLU())
        self.residual = nn.Sequential(*layers)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y - self.residual(y)

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """``1 + prod ||C_i||`` (triangle inequality, ReLU 1-Lipschitz, provable conv bounds), in
        exact rational arithmetic, rounded up."""
        product = Fraction(1)
        for layer in self.residual:
            if isinstance(layer, nn.Conv2d):
                product *= Fraction(conv_norm_bound(layer.weight, input_shape))
        return round_up(1 + product)

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> None:
        """``None``: nothing makes this network averaged."""
        return None

    def check_constraint(self) -> None:
        """Nothing to check on load: the baseline is unconstrained by design."""


class TVDenoiser:
    """``x -> prox_{weight TV}(x)`` on ``(N, 1, H, W)`` tensors (Chambolle's projection algorithm)."""

    def __init__(self, weight: float, max_num_iter: int = 100) -> None:
        self.weight, self.max_num_iter = weight, max_num_iter

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().cpu().numpy().astype(np.float64)
        out = np.stack([denoise_tv_chambolle(a[0], weight=self.weight, max_num_iter=self.max_num_iter)[None] for a in array])
        return torch.from_numpy(out).to(x.dtype)


class BM3DDenoiser:
    """``x -> BM3D(x)`` at noise level ``noise`` on ``(N, 1, H, W)`` tensors: a strong classical
    prior for PnP. Nothing makes it averaged, so PnP with it has no convergence guarantee
    (the solvers warn). Needs the optional ``bm3d`` package (the ``bench`` extra)."""

    def __init__(self, noise: float) -> None:
        self.noise = noise

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([bm3d_denoise(a[0].detach().cpu(), self.noise)[None] for a in x]).to(x.dtype)


def wavelet_denoise(noisy: torch.Tensor, noise: float) -> torch.Tensor:
    """BayesShrink soft thresholding of db8 wavelet coefficients (known noise level)."""
    out = denoise_wavelet(noisy.numpy().astype(np.float64), sigma=noise, wavelet="db8", mode="soft", method="BayesShrink", rescale_sigma=True)
    return torch.from_numpy(out).float()


def bm3d_denoise(noisy: torch.Tensor, noise: float) -> torch.Tensor:
    """BM3D (Dabov et al. 2007) from the optional ``bm3d`` package (``pip install lipapps[bench]``)."""
    import bm3d

    return torch.from_numpy(np.asarray(bm3d.bm3d(noisy.numpy().astype(np.float64), sigma_psd=noise))).float()


#: scikit-image's FBP filters, the grid :func:`best_filtered_back_projection` picks from.
FBP_FILTERS = ("ramp", "shepp-logan", "cosine", "hamming", "hann")


def filtered_back_projection(operator: ParallelBeamCT, sinogram: torch.Tensor, filter_name: str = "ramp") -> torch.Tensor:
    """FBP with ``filter_name`` (scikit-image ``iradon``, same geometry as :class:`ParallelBeamCT`)."""
    out = iradon(sinogram.numpy().T.astype(np.float64), theta=operator.angles.numpy(), filter_name=filter_name, circle=True)
    return torch.from_numpy(out).float()


def best_filtered_back_projection(
    operator: ParallelBeamCT, sinogram: torch.Tensor, truth: torch.Tensor
) -> tuple[torch.Tensor, float, str]:
    """FBP with the best of :data:`FBP_FILTERS` by PSNR against ``truth`` (an oracle, favouring the
    baseline): the estimate, the seconds that filter took, and its name."""
    runs = []
    for name in FBP_FILTERS:
        start = time.perf_counter()
        out = filtered_back_projection(operator, sinogram, name)
        runs.append((out, time.perf_counter() - start, name))
    return max(runs, key=lambda r: psnr(r[0], truth))


def sart(operator: ParallelBeamCT, sinogram: torch.Tensor, iterations: int = 3) -> torch.Tensor:
    """SART (Andersen & Kak 1984; scikit-image ``iradon_sart``), ``iterations`` sweeps, clipped to ``[0, 1]``."""
    angles, data = operator.angles.numpy(), sinogram.numpy().T.astype(np.float64)
    estimate = None
    for _ in range(iterations):
        estimate = iradon_sart(data, theta=angles, image=estimate, clip=(0.0, 1.0))
    return torch.from_numpy(estimate).float()


def best_sart(
    operator: ParallelBeamCT, sinogram: torch.Tensor, truth: torch.Tensor, max_sweeps: int = 20
) -> tuple[torch.Tensor, float, int]:
    """SART (as :func:`sart`) stopped at the best sweep count in ``1..max_sweeps`` by PSNR against
    ``truth`` (an oracle): the estimate, the seconds of the sweeps up to it, and the count."""
    angles, data = operator.angles.numpy(), sinogram.numpy().T.astype(np.float64)
    estimate, elapsed, best = None, 0.0, None
    for sweeps in range(1, max_sweeps + 1):
        start = time.perf_counter()
        estimate = iradon_sart(data, theta=angles, image=estimate, clip=(0.0, 1.0))
        elapsed += time.perf_counter() - start
        out = torch.from_numpy(estimate).float()
        if best is None or psnr(out, truth) > psnr(best[0], truth):
            best = (out, elapsed, sweeps)
    return best


def best_tv_denoising(
    noisy: torch.Tensor, truth: torch.Tensor, noise: float, weights: tuple[float, ...] = TV_DENOISE_WEIGHTS
) -> tuple[torch.Tensor, float, float]:
    """TV denoising of an ``H x W`` image at the best of ``weights`` scaled by ``noise / (25 / 255)``,
    by PSNR against ``truth``: the estimate, the seconds that weight took, and the weight."""
    scale = noise / (25 / 255)
    runs = []
    for w in weights:
        start = time.perf_counter()
        out = TVDenoiser(w * scale)(noisy[None, None])[0, 0]
        runs.append((out, time.perf_counter() - start, w * scale))
    return max(runs, key=lambda r: psnr(r[0], truth))


def best_tv_reconstruction(
    problem: Problem,
    max_iter: int,
    strengths: tuple[float, ...] = TV_PRIOR_STRENGTHS,
    penalties: tuple[float, ...] = TV_PENALTIES,
) -> tuple[PnPResult, float, float]:
    """ADMM with the TV prox as prior (``min 1/2 ||A x - y||^2 + lam TV(x)``), the best of
    ``lam / sigma_n^2`` in ``strengths`` x penalty ``c / ||A||^2`` for ``c`` in ``penalties`` by final
    PSNR against the truth (``TV_ITERATIONS_FACTOR * max_iter`` iterations): the run, ``lam / sigma_n^2``, ``c``."""
    lipschitz = problem.operator.norm_bound() ** 2
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the TV prox carries no certificate here
        for strength in strengths:
            for c in penalties:
                # ADMM solves min (penalty / 2) ||A x - y||^2 + w TV(x): w = lam * penalty
                penalty = c / lipschitz
                weight = strength * max(problem.noise, NOISE_FLOOR) ** 2 * penalty
                result = pnp_admm(problem.operator, problem.y, TVDenoiser(weight), penalty=penalty,
                                  max_iter=TV_ITERATIONS_FACTOR * max_iter, tol=1e-4, truth=problem.truth)
                runs.append((result, strength, c))
    return max(runs, key=lambda r: r[0].trace.psnr[-1])


def grid_ascent(score: Callable[[tuple], float], axes: tuple[tuple, ...], start: tuple) -> tuple:
    """A maximiser of ``score`` over the grid ``axes[0] x axes[1] x ...`` found by steepest ascent
    from ``start``: move to the best of the neighbours (one step along one axis) while it scores
    higher. Each point is scored once; for a score unimodal along the grid this is the grid's best
    at a fraction of its cost, and unlike a fixed small grid it is never stopped by an edge inside
    the range worth trying."""
    if len(start) != len(axes) or any(value not in axis for value, axis in zip(start, axes)):
        raise InputError(f"the start {start} is not a point of the grid {axes}")
    scores: dict[tuple, float] = {}

    def scored(point: tuple) -> float:
        if point not in scores:
            scores[point] = score(point)
        return scores[point]

    best = start
    while True:
        index = [axis.index(value) for axis, value in zip(axes, best)]
        neighbours = [best[:a] + (axes[a][i],) + best[a + 1:]
                      for a in range(len(axes)) for i in (index[a] - 1, index[a] + 1) if 0 <= i < len(axes[a])]
        candidate = max(neighbours, key=scored, default=best)
        if scored(candidate) <= scored(best):
            return best
        best = candidate


def best_bm3d_prior_reconstruction(
    problem: Problem,
    levels: tuple[int, ...] = BM3D_PRIOR_LEVELS,
    factors: tuple[float, ...] = BM3D_PRIOR_FACTORS,
    start: tuple[int, float] = BM3D_PRIOR_START,
    max_iter: int = BM3D_PRIOR_ITERATIONS,
) -> tuple[PnPResult, int, float]:
    """PnP-ADMM with :class:`BM3DDenoiser` as prior (no guarantee), its level and penalty factor
    (times the problem's ``k``) chosen by final PSNR against the truth (:func:`grid_ascent` on
    ``levels`` x ``factors`` from ``start``): the run, level, factor."""
    runs: dict[tuple[int, float], PnPResult] = {}

    def run(point: tuple[int, float]) -> float:
        level, factor = point
        penalty = admm_penalty(level, 1.0, factor * REGULARISATION["admm"][problem.name], problem.noise)
        runs[point] = pnp_admm(problem.operator, problem.y, BM3DDenoiser(level / 255.0), penalty=penalty,
                               max_iter=max_iter, tol=1e-4, truth=problem.truth)
        return runs[point].trace.psnr[-1]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # BM3D carries no certificate
        level, factor = grid_ascent(run, (levels, factors), start)
    return runs[level, factor], level, factor
