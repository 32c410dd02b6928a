"""Reconstruction with the shipped denoisers: PnP run at the settings of :mod:`denoisers.parameters`.

With a non-local stage (``settings.non_local``) the reconstruction is two convergent PnP runs:
the first with the prior ``D``; its estimate guides a fixed, certified non-local filter ``F``
(:mod:`denoisers.nonlocal_filter`), and the second run, warm-started there, uses the blend
``w F + (1 - w) D``. Each run has a fixed averaged prior, so each carries PnP's guarantee; the
filter's dependence on the first run's estimate is outside it (as BM3D's second stage depends on
its first).
"""

from __future__ import annotations

import torch

from lipapps import InputError

from denoisers.parameters import PnPSettings
from denoisers.pnp import Denoiser, PnPResult, RelaxedDenoiser, pnp_admm, pnp_fbs
from denoisers.problems import Problem


def run_pnp(
    problem: Problem,
    settings: PnPSettings,
    denoiser: Denoiser | None = None,
    max_iter: int = 300,
    tol: float = 1e-4,
    progress: bool = False,
) -> PnPResult:
    """Run the solver of ``settings`` on ``problem`` (default denoiser: the shipped one of ``settings``).

    The prior is the denoiser relaxed to ``settings.strength`` (:class:`~denoisers.pnp.RelaxedDenoiser`);
    FBS takes ``settings.step``, ADMM ``settings.penalty``, ``settings.relaxation`` and ``settings.prox_tolerance``.
    With ``settings.non_local`` a second run follows (module docstring) and the result chains both.
    """
    prior = _prior(settings, denoiser)
    first = _solve(problem, settings, prior, None, max_iter, tol, progress)
    if settings.non_local is None:
        return first
    return refine_non_local(problem, settings, first, denoiser, max_iter, tol, progress)


def refine_non_local(
    problem: Problem,
    settings: PnPSettings,
    first: PnPResult,
    denoiser: Denoiser | None = None,
    max_iter: int = 300,
    tol: float = 1e-4,
    progress: bool = False,
) -> PnPResult:
    """The non-local stage of ``settings.non_local`` after the run ``first`` (module docstring):
    the filter built from ``first``'s estimate, the second run warm-started there; both chained."""
    if settings.non_local is None:
        raise InputError("these settings have no non-local stage")
    prior = _prior(settings, denoiser)
    guide = first.x.reshape(1, 1, *first.x.shape[-2:])
    blend = settings.non_local.blend(guide, prior, settings.effective_level)
    second = _solve(problem, settings, blend, first.x, max_iter, tol, progress)
    return PnPResult.chain([first, second])


def _prior(settings: PnPSettings, denoiser: Denoiser | None) -> Denoiser:
    """The denoiser (default: the shipped one of ``settings``) relaxed to ``settings.strength``."""
    base = settings.denoiser if denoiser is None else denoiser
    return base if settings.strength == 1.0 else RelaxedDenoiser(base, settings.strength)


def _solve(problem: Problem, settings: PnPSettings, prior: Denoiser, x0: torch.Tensor | None, max_iter: int,
           tol: float, progress: bool) -> PnPResult:
    kwargs = dict(max_iter=max_iter, tol=tol, x0=x0, truth=problem.truth, progress=progress)
    if settings.algorithm == "fbs":
        return pnp_fbs(problem.operator, problem.y, prior, step_size=settings.step, **kwargs)
    return pnp_admm(problem.operator, problem.y, prior, penalty=settings.penalty, relaxation=settings.relaxation,
                    prox_tolerance=settings.prox_tolerance, **kwargs)
