"""Reconstruction with the shipped denoisers: PnP run at the settings of :mod:`denoisers.parameters`.

With refinement stages (``settings.stages``: a non-local filter, :mod:`denoisers.nonlocal_filter`,
and a collaborative Wiener filter, :mod:`denoisers.collaborative_filter`, in the problem's order) the reconstruction is a
chain of convergent PnP runs: the first with the prior ``D``; each later run is warm-started at the
previous estimate and uses the blend ``w F + (1 - w) D'`` of the previous run's prior ``D'`` with a
fixed, certified filter ``F`` that the previous estimate guides. Each run has a fixed averaged prior, so each carries
PnP's guarantee; a filter's dependence on the previous estimate is outside it (as BM3D's second
stage depends on its first).
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Protocol

import torch

from denoisers.nonlocal_filter import NonLocalBlend
from denoisers.parameters import PnPSettings
from denoisers.pnp import Denoiser, PnPResult, RelaxedDenoiser, RepeatCache, ScaledDenoiser, pnp_admm, pnp_fbs
from denoisers.problems import Problem


class Stage(Protocol):
    """A refinement stage: the blend of a prior with a fixed filter built from a guide image."""

    def blend(self, guide: torch.Tensor, denoiser: Denoiser, sigma: float) -> NonLocalBlend:
        """``w F + (1 - w) D`` with ``F`` built from ``guide`` for a prior of effective level ``sigma``."""

    def describe(self) -> str:
        """The stage in words, for reports."""


def run_pnp(
    problem: Problem,
    settings: PnPSettings,
    denoiser: Denoiser | None = None,
    max_iter: int = 300,
    tol: float | None = None,
    progress: bool = False,
) -> PnPResult:
    """Run the solver of ``settings`` on ``problem`` (default denoiser: the shipped one of ``settings``).

    The prior is the denoiser scaled by ``settings.scale`` and relaxed to ``settings.strength``
    (:func:`relaxed_prior`);
    FBS takes ``settings.step``, ADMM ``settings.penalty``, ``settings.relaxation`` and ``settings.prox_tolerance``;
    every run stops at the relative residual ``tol`` (``None``: ``settings.tol``) or after ``max_iter`` iterations.
    With ``settings.stages`` a run follows per stage (module docstring) and the result chains them all.
    """
    prior = relaxed_prior(settings, denoiser)
    result = _solve(problem, settings, prior, None, max_iter, tol, progress)
    for stage in settings.stages:
        result, prior = refine(problem, settings, result, stage, prior, max_iter, tol, progress)
    return result


def refine(
    problem: Problem,
    settings: PnPSettings,
    previous: PnPResult,
    stage: Stage,
    prior: Denoiser,
    max_iter: int = 300,
    tol: float | None = None,
    progress: bool = False,
) -> tuple[PnPResult, Denoiser]:
    """The refinement ``stage`` after ``previous``, whose run used ``prior`` (module docstring): the
    filter built from ``previous``'s estimate, a run warm-started there with the blend. Returns the
    runs chained after ``previous``'s (the new run's seconds include building its filter), and the
    blend (the prior the next stage blends into)."""
    start = time.perf_counter()
    guide = previous.x.reshape(1, 1, *previous.x.shape[-2:])
    blend = RepeatCache(stage.blend(guide, prior, settings.effective_level))
    built = time.perf_counter() - start
    last = _solve(problem, settings, blend, previous.x, max_iter, tol, progress)
    return PnPResult.chain([*previous.runs, replace(last, seconds=last.seconds + built)]), blend


def relaxed_prior(settings: PnPSettings, denoiser: Denoiser | None = None) -> Denoiser:
    """The denoiser (default: the shipped one of ``settings``) scaled by ``settings.scale`` and relaxed
    to ``settings.strength``, behind a :class:`~denoisers.pnp.RepeatCache`."""
    base = settings.denoiser if denoiser is None else denoiser
    if settings.scale != 1.0:
        base = ScaledDenoiser(base, settings.scale)
    return RepeatCache(base if settings.strength == 1.0 else RelaxedDenoiser(base, settings.strength))


def _solve(problem: Problem, settings: PnPSettings, prior: Denoiser, x0: torch.Tensor | None, max_iter: int,
           tol: float | None, progress: bool) -> PnPResult:
    kwargs = dict(max_iter=max_iter, tol=settings.tol if tol is None else tol, x0=x0, truth=problem.truth, progress=progress)
    if settings.algorithm == "fbs":
        return pnp_fbs(problem.operator, problem.y, prior, step_size=settings.step, **kwargs)
    return pnp_admm(problem.operator, problem.y, prior, penalty=settings.penalty, relaxation=settings.relaxation,
                    prox_tolerance=settings.prox_tolerance, **kwargs)
