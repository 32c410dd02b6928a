"""The PnP benchmark: our certified denoisers against classical baselines, one record per run.

Every function returns records (dicts) with ``problem``, ``image``, ``method``, ``psnr``,
``ssim`` and ``seconds``, plus what the run needs to be read: for PnP runs the iterations,
whether it converged, whether its fixed-point residual was non-increasing
(:func:`denoisers.pnp.residual_non_increasing`) and how many convergence warnings it raised.

* :func:`bench_denoising`: our denoisers applied once and as a geometric self-ensemble (the
  firmly non-expansive prior, and the convex-ridge one where shipped), the CLI's default denoising
  (the convex-ridge denoiser, then the non-local stage), the unconstrained baseline
  where trained, TV (best weight against the truth), wavelet BayesShrink and BM3D (when the
  optional ``bench`` extra installed them);
* :func:`bench_inverse`: PnP-FBS and PnP-ADMM at the settings of :mod:`denoisers.parameters`, the
  unconstrained baseline at the same settings, ADMM with the TV prox as prior (best of its grid),
  optionally our ADMM tuned per image (best level x factor, as TV is) and BM3D as the prior, and
  for CT filtered back-projection and SART.

The unconstrained baseline is read from ``baseline_dir/dncnn_sigma<S>.pt`` when that file exists.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

import lipapps
from lipapps import InputError
from lipapps.results import markdown_table

from denoisers.baselines import (
    DnCNN,
    best_bm3d_prior_reconstruction,
    best_tv_denoising,
    best_tv_reconstruction,
    bm3d_denoise,
    filtered_back_projection,
    sart,
    wavelet_denoise,
)
from denoisers.ensemble import GeometricEnsemble
from denoisers.figures import save_panel
from denoisers.images import read_image
from denoisers.metrics import psnr, ssim
from denoisers.parameters import REGULARISATION, admm_penalty, choose_settings
from denoisers.pnp import ConvergenceWarning, Denoiser, PnPResult, residual_non_increasing
from denoisers.problems import Problem, simulate
from denoisers.reconstruct import run_pnp
from denoisers.weights import available_sigmas, load_denoiser, nearest_sigma

INVERSE_PROBLEMS = ("deblur", "inpaint", "superres", "ct")
#: The problems on which ``bm3d_prior`` runs BM3D as the PnP-ADMM prior (minutes per image).
BM3D_PRIOR_PROBLEMS = ("deblur", "ct")
#: ``tuned_factors``: our PnP-ADMM over the shipped levels and these multiples of the problem's
#: factor ``k`` (``REGULARISATION``), the best final PSNR against the truth reported, as for TV.
TUNED_FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)
BASELINE = "DnCNN-style, unconstrained"
#: The method label of :func:`default_denoising_row`.
DEFAULT_DENOISING = "ours, default (noise-conditioned convex ridge + non-local stages)"
Record = dict[str, Any]
#: The parts of :func:`bench_inverse`: our runs, and the baselines that do not depend on our weights.
PARTS = ("ours", "baselines")

T = TypeVar("T")


def load_baseline(sigma: int, baseline_dir: Path | None) -> DnCNN | None:
    """The unconstrained baseline trained for ``sigma`` in ``baseline_dir``, or ``None`` when absent."""
    path = None if baseline_dir is None else Path(baseline_dir) / f"dncnn_sigma{sigma}.pt"
    return lipapps.load(path) if path is not None and path.is_file() else None


def record(problem: str, image: str, method: str, estimate: torch.Tensor, truth: torch.Tensor, seconds: float, **extra: Any) -> Record:
    """One run's record: PSNR and SSIM of ``estimate`` against ``truth``, seconds, and ``extra``."""
    return {"problem": problem, "image": image, "method": method, "psnr": psnr(estimate, truth),
            "ssim": ssim(estimate, truth), "seconds": seconds, **extra}


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _pnp_record(problem: Problem, image: str, method: str, result: PnPResult, **extra: Any) -> Record:
    return record(problem.name, image, method, result.x, problem.truth, result.seconds, iterations=result.iterations,
                  converged=result.converged, residual_non_increasing=residual_non_increasing(result), **extra)


def _denoiser_rows(problem: str, image: str, label: str, model: Denoiser, noisy: torch.Tensor, truth: torch.Tensor) -> list[Record]:
    """``model`` applied once, and its geometric self-ensemble (8 applications)."""
    rows = []
    for suffix, denoiser in (("", model), (", x8 self-ensemble", GeometricEnsemble(model))):
        with torch.no_grad():
            out, t = _timed(lambda: denoiser(noisy[None, None])[0, 0])
        rows.append(record(problem, image, label + suffix, out, truth, t))
    return rows


def default_denoising_row(label: str, image: str, problem: Problem) -> Record:
    """``lipapps reconstruct --problem denoise`` at its defaults (:func:`~denoisers.parameters.choose_settings`):
    the record of problem ``label``, with iterations and convergence."""
    return {**_pnp_record(problem, image, DEFAULT_DENOISING, run_pnp(problem, choose_settings(problem))), "problem": label}


def shipped_denoisers(sigma: int) -> list[tuple[str, Denoiser]]:
    """Our shipped denoisers for ``sigma``: the firmly non-expansive PnP prior, and the convex-ridge one where shipped."""
    models: list[tuple[str, Denoiser]] = [("ours", load_denoiser(sigma))]
    if sigma in available_sigmas("ridge"):
        models.append(("ours, convex ridge", load_denoiser(sigma, "ridge")))
    return models


def classical_denoiser_rows(problem: str, image: str, noisy: torch.Tensor, truth: torch.Tensor, noise: float) -> list[Record]:
    """TV (:func:`~denoisers.baselines.best_tv_denoising`), wavelet BayesShrink and BM3D (when the
    optional ``bench`` extra installed them)."""
    best, seconds, weight = best_tv_denoising(noisy, truth, noise)
    rows = [record(problem, image, "TV (best weight)", best, truth, seconds, tv_weight=weight)]
    for method, denoise in (("wavelet BayesShrink", wavelet_denoise), ("BM3D", bm3d_denoise)):
        try:  # PyWavelets and bm3d come with the optional `bench` extra
            out, t = _timed(lambda: denoise(noisy, noise))
        except ImportError:
            continue
        rows.append(record(problem, image, method, out, truth, t))
    return rows


def bench_denoising(name: str, truth: torch.Tensor, noise: float, seed: int, baseline_dir: Path | None = None,
                    parts: tuple[str, ...] = PARTS) -> list[Record]:
    """Gaussian denoising of ``truth`` at ``noise`` (seeded): ours at the nearest shipped level, the baseline, the classical ones.

    ``parts`` as for :func:`bench_inverse` (``"ours"`` includes the noisy input's row); each record names its ``part``.
    """
    _check_parts(parts)
    problem = simulate("denoise", truth, noise, seed)
    rows = []
    if "ours" in parts:
        sigma = nearest_sigma(noise)
        ours = [record("denoise", name, "noisy", problem.y, truth, 0.0)]
        for label, model in shipped_denoisers(sigma):
            ours += _denoiser_rows("denoise", name, f"{label} (sigma {sigma})", model, problem.y, truth)
        ours.append(default_denoising_row("denoise", name, problem))
        baseline = load_baseline(sigma, baseline_dir)
        if baseline is not None:
            ours += _denoiser_rows("denoise", name, f"{BASELINE} (sigma {baseline.sigma:.0f})", baseline, problem.y, truth)
        rows += [{**r, "part": "ours"} for r in ours]
    if "baselines" in parts:
        rows += [{**r, "part": "baselines"} for r in classical_denoiser_rows("denoise", name, problem.y, truth, noise)]
    return rows


def _check_parts(parts: tuple[str, ...]) -> None:
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise InputError(f"unknown benchmark parts {sorted(unknown)}; choose from {', '.join(PARTS)}")


def bench_inverse(
    problem_name: str,
    name: str,
    truth: torch.Tensor,
    seed: int,
    max_iter: int,
    panel: Path | None = None,
    baseline_dir: Path | None = None,
    bm3d_prior: bool = False,
    tuned_factors: tuple[float, ...] = (),
    parts: tuple[str, ...] = PARTS,
) -> list[Record]:
    """One inverse problem on ``truth`` (seeded): the runs listed in the module docstring.

    ``panel``: where to save the figure of our PnP-ADMM run. ``tuned_factors``: when not empty,
    also our PnP-ADMM at the best shipped level x factor (:func:`best_tuned_admm`). ``parts``: which
    of :data:`PARTS` to run: ``"ours"`` (our PnP runs and the unconstrained network at the same
    settings) and ``"baselines"`` (TV, BM3D as prior, FBP and SART; they do not depend on our
    weights). Each record names its ``part``.
    """
    _check_parts(parts)
    problem = simulate(problem_name, truth, None, seed)
    rows = []
    if "ours" in parts:
        rows += [{**r, "part": "ours"} for r in _our_inverse_rows(problem, name, max_iter, panel, baseline_dir, tuned_factors)]
    if "baselines" in parts:
        rows += [{**r, "part": "baselines"} for r in _baseline_inverse_rows(problem, name, max_iter, bm3d_prior)]
    return rows


def _our_inverse_rows(problem: Problem, name: str, max_iter: int, panel: Path | None, baseline_dir: Path | None,
                      tuned_factors: tuple[float, ...]) -> list[Record]:
    problem_name, truth = problem.name, problem.truth
    rows = []
    for algorithm in ("fbs", "admm"):
        settings = choose_settings(problem, algorithm)
        baseline = load_baseline(settings.denoiser_sigma, baseline_dir)
        for label, denoiser in (("ours", None), (BASELINE, baseline)):
            if label == BASELINE and denoiser is None:
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                result = run_pnp(problem, settings, denoiser=denoiser, max_iter=max_iter)
            rows.append(_pnp_record(problem, name, f"{label} PnP-{algorithm.upper()}", result, guarantee_warnings=len(caught),
                                    denoiser_sigma=settings.denoiser_sigma, effective_level=settings.effective_level,
                                    strength=settings.strength,
                                    stages=[stage.describe() for stage in settings.stages]))
            if panel is not None and algorithm == "admm" and label == "ours":
                save_panel(panel, truth, problem.y, result, f"{problem_name}: PnP-ADMM, certified denoiser", problem_name != "ct")
    if tuned_factors:
        best, level, factor = best_tuned_admm(problem, max_iter, tuned_factors)
        rows.append(_pnp_record(problem, name, "ours PnP-ADMM (best level and factor)", best, denoiser_sigma=level, factor=factor))
    return rows


def _baseline_inverse_rows(problem: Problem, name: str, max_iter: int, bm3d_prior: bool) -> list[Record]:
    problem_name, truth = problem.name, problem.truth
    rows = []
    best, strength, c = best_tv_reconstruction(problem, max_iter)
    rows.append(record(problem_name, name, "TV prior, ADMM (best weight)", best.x, truth, best.seconds,
                       iterations=best.iterations, tv_strength_over_noise_variance=strength, tv_penalty_factor=c))
    if bm3d_prior and problem_name in BM3D_PRIOR_PROBLEMS:
        best, level, factor = best_bm3d_prior_reconstruction(problem)
        rows.append(_pnp_record(problem, name, "BM3D prior, ADMM (best level, no guarantee)", best, bm3d_level=level, bm3d_factor=factor))
    if problem_name == "ct":
        out, t = _timed(lambda: filtered_back_projection(problem.operator, problem.y))
        rows.append(record("ct", name, "FBP", out, truth, t))
        out, t = _timed(lambda: sart(problem.operator, problem.y))
        rows.append(record("ct", name, "SART (3 sweeps)", out, truth, t))
    return rows


def best_tuned_admm(problem: Problem, max_iter: int, factors: tuple[float, ...] = TUNED_FACTORS) -> tuple[PnPResult, int, float]:
    """Our PnP-ADMM at the best shipped level and factor (``factors`` x the problem's ``k``) by final
    PSNR against the truth, tuned per image as TV is: the run, the level, the factor."""
    runs = []
    for level in available_sigmas():
        settings = choose_settings(problem, "admm", level=level)  # loads and certifies the level's model once
        for factor in factors:
            k = factor * REGULARISATION["admm"][problem.name]
            tuned = replace(settings, penalty=admm_penalty(level, settings.strength, k, problem.noise))
            runs.append((run_pnp(problem, tuned, max_iter=max_iter), level, factor))
    return max(runs, key=lambda r: r[0].trace.psnr[-1])


def bench_set_denoising(files: list[Path], sigmas: list[int], baseline_dir: Path | None = None) -> list[Record]:
    """Our denoisers, the unconstrained baseline (where trained) and the classical ones on every image of ``files``
    (all of BSD68, or :func:`denoisers.images.classic_image_files`) at each level (problem ``"denoise sigma <S>"``,
    noise seed = the image's index)."""
    rows = []
    ours = {sigma: shipped_denoisers(sigma) for sigma in sigmas}
    baselines = {sigma: load_baseline(sigma, baseline_dir) for sigma in sigmas}
    for index, path in enumerate(files):
        truth = read_image(path)
        for sigma in sigmas:
            problem = simulate("denoise", truth, sigma / 255, seed=index)
            rows.append(record(f"denoise sigma {sigma}", path.name, "noisy", problem.y, truth, 0.0))
            for label, model in ours[sigma]:
                rows += _denoiser_rows(f"denoise sigma {sigma}", path.name, label, model, problem.y, truth)
            rows.append(default_denoising_row(f"denoise sigma {sigma}", path.name, problem))
            if baselines[sigma] is not None:
                rows += _denoiser_rows(f"denoise sigma {sigma}", path.name, BASELINE, baselines[sigma], problem.y, truth)
            rows += classical_denoiser_rows(f"denoise sigma {sigma}", path.name, problem.y, truth, sigma / 255)
        print(f"{index + 1}/{len(files)} {path.name}", flush=True)
    return rows


def mean_denoising_psnr(model: Denoiser, files: list[Path], sigma: float, device: torch.device | str = "cpu") -> float:
    """Mean PSNR of ``model`` (run on ``device``) denoising each image of ``files`` at ``sigma`` (0-255
    scale), with the noise of :func:`bench_set_denoising` (seed = the image's index)."""
    values = []
    with torch.no_grad():
        for index, path in enumerate(files):
            truth = read_image(path)
            y = simulate("denoise", truth, sigma / 255, seed=index).y
            values.append(psnr(model(y[None, None].to(device))[0, 0].clamp(0, 1).cpu(), truth))
    return sum(values) / len(values)


def _fraction(group: list[Record], key: str) -> str:
    flags = [r[key] for r in group if key in r]
    return f"{sum(flags)}/{len(flags)}" if flags else ""


def summary_table(rows: list[Record]) -> str:
    """A markdown table of the mean PSNR, SSIM and seconds per (problem, method), in order of first
    appearance, with the number of images and the fraction of runs that converged and whose residual was non-increasing."""
    groups: dict[tuple[str, str], list[Record]] = {}
    for r in rows:
        groups.setdefault((r["problem"], r["method"]), []).append(r)
    columns = [
        ("problem", lambda g: g[0]["problem"]),
        ("method", lambda g: g[0]["method"]),
        ("PSNR (dB)", lambda g: f"{np.mean([r['psnr'] for r in g]):.2f}"),
        ("SSIM", lambda g: f"{np.mean([r['ssim'] for r in g]):.4f}"),
        ("seconds", lambda g: f"{np.mean([r['seconds'] for r in g]):.2f}"),
        ("images", len),
        ("converged", lambda g: _fraction(g, "converged")),
        ("residual non-increasing", lambda g: _fraction(g, "residual_non_increasing")),
    ]
    return markdown_table(groups.values(), columns)
