"""Reconstruction with the shipped denoisers: PnP run at the settings of :mod:`denoisers.parameters`."""

from __future__ import annotations

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
    """
    base = settings.denoiser if denoiser is None else denoiser
    prior = base if settings.strength == 1.0 else RelaxedDenoiser(base, settings.strength)
    kwargs = dict(max_iter=max_iter, tol=tol, truth=problem.truth, progress=progress)
    if settings.algorithm == "fbs":
        return pnp_fbs(problem.operator, problem.y, prior, step_size=settings.step, **kwargs)
    return pnp_admm(problem.operator, problem.y, prior, penalty=settings.penalty, relaxation=settings.relaxation,
                    prox_tolerance=settings.prox_tolerance, **kwargs)
