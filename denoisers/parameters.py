"""The PnP parameter rule: the shipped denoiser, its strength and the step or penalty, from the noise level.

PnP with a denoiser ``D`` for noise ``sigma_d`` balances data and prior like the MAP problem
``min_x g f(x) + sigma_d^2 phi(x)`` (``D ~ prox_{sigma_d^2 phi}``); matching
``1 / (2 sigma_n^2) ||A x - y||^2 + phi(x)`` asks for ``g / sigma_d^2 = 1 / sigma_n^2``, scaled
here by a per-problem factor ``REGULARISATION`` (chosen on a validation crop of train400):

* FBS, ``g = 1 / L`` (inside the convergence range): the denoiser is weakened to the effective
  level ``sigma_t = k sigma_n sqrt(g)`` by :class:`~denoisers.pnp.RelaxedDenoiser` with strength
  ``(sigma_t / sigma_d)^2``, ``sigma_d`` the smallest shipped level ``>= sigma_t`` (else the
  largest). Denoising (``A = I``, ``g = 1``: the denoiser applied once, to noise ``sigma_n``)
  instead scales: :class:`~denoisers.pnp.ScaledDenoiser` with ``a = sigma_d / sigma_n``, full
  strength, up to ``a`` = :data:`MAX_SCALE` (sigma 5 for the level 15), below which the scaled
  denoiser is relaxed as well. Relaxing ``D`` toward the identity keeps part of the noise; on 10
  validation images of train400 (``experiments/tune_unshipped_levels.py``,
  ``experiments/results/unshipped_levels.md``) scaling gave 27.90 dB against 23.58 at sigma 30 and
  gained at every level from 3 to 75 (sigma 1 and 2: -0.04 and 0); scaled without the cap it lost
  below sigma 4 (1 dB at sigma 1, on 4 of those images while choosing the cap).
* A noise-conditioned denoiser (the ``conditioned`` family, or one's own) has no grid of levels: it
  runs at ``sigma_t`` (FBS) or at ``max(k sigma_n, ADMM_MIN_LEVEL)`` (ADMM) itself, inside its
  range, and at the nearer end of the range scaled outside it (:func:`conditioned_level`).
* ADMM: ``sigma_d`` the shipped level nearest ``k sigma_n``, but at least the problem's
  :data:`ADMM_MIN_LEVEL` (missing pixels and lost frequencies want a stronger prior than the
  measurement noise suggests), strength ``s = min(1, 1 / (2 a))``
  for an ``a``-averaged denoiser, so that the relaxed denoiser is firmly non-expansive as ADMM
  requires, and penalty ``s (sigma_d / (k sigma_n))^2`` (the relaxed denoiser acts like a prox
  of ``s sigma_d^2 phi``; any penalty keeps the guarantee). A level that is not shipped
  (:data:`ADMM_LEVEL`, or one asked for) is served by the next shipped level above it, scaled
  (:func:`served_level`), with that level as ``sigma_d`` in the penalty.

CT's sinogram noise says nothing about the noise a denoiser sees in the image, so ADMM takes a
fixed level there (:data:`ADMM_LEVEL`), and its data step is an inexact, warm-started
conjugate-gradient solve with summable errors (:data:`PROX_TOLERANCE`), over-relaxed
(:data:`RELAXATION`): the guarantee of :func:`denoisers.pnp.pnp_admm` is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from lipapps import InputError

from denoisers.model import CONDITIONED_RANGE, AveragedDenoiser
from denoisers.collaborative_filter import CollaborativeSettings
from denoisers.nonlocal_filter import NonLocalSettings
from denoisers.problems import Problem
from denoisers.weights import CONDITIONED, available_sigmas, load_conditioned_denoiser, load_denoiser

ALGORITHMS = ("admm", "fbs")
#: Factor ``k`` on the noise level per algorithm and problem (1 = the MAP balance), the best of
#: ``k`` in {1/3, 1, 3, 10} on validation crops of train400, not the test images
#: (``experiments/tune_pnp.py``, results in ``experiments/results/pnp_tuning.md``; ties keep 1).
#: CT's ADMM factor, level (:data:`ADMM_LEVEL`) and family (:data:`DEFAULT_CONFIGURATION`): on
#: 10 validation images of train400, 60 angles, noise 1% of the sinogram's peak (``experiments/tune_ct.py``,
#: ``experiments/results/ct_tuning.md``). With the weights of this version (sigma 25 warm-restarted,
#: sigma 15 fine-tuned from it) level 25 at ``k`` = 0.6 / 0.7 / **0.8** / 0.9 gave 25.48 / 25.67 /
#: **25.71** / 25.65 dB against level 15's best 25.53 (``k`` = 0.6; 0.7: 25.53, 0.8: 25.39). The
#: earlier weights chose level 15 at ``k`` = 0.6 (25.49 dB; level 25 was tried at ``k`` = 0.5 only). The
#: ridge family relaxed to be firmly non-expansive gained 0.08 dB over the firm one on the BSD68
#: bench at level 15 (``experiments/results/ct_bench_ridge.md``) in twice the iterations, each
#: denoiser call 4 times the firm one's CPU time, so CT keeps the firm family.
REGULARISATION = {
    "admm": {"denoise": 1.0, "deblur": 1.0, "inpaint": 1.0, "superres": 1.0, "ct": 0.8},
    "fbs": {"denoise": 1.0, "deblur": 1.0, "inpaint": 3.0, "superres": 1.0, "ct": 3.0},
}
#: The weakest shipped level PnP-ADMM uses per problem, chosen with ``k`` on the same validation
#: crops over the levels 15, 25, 50 (``tune_pnp.py --levels``): the level nearest ``k sigma_n``
#: (15 at the default noise 0.01) lost to a stronger prior with a larger penalty, inpainting
#: 31.64 dB at 15 against 31.79 at 50, deblurring 29.14 against 29.21 at 25.
ADMM_MIN_LEVEL = {"denoise": 0, "deblur": 25, "inpaint": 50, "superres": 0, "ct": 0}
#: The level PnP-ADMM uses whatever the noise, per problem (others: the rule above; CT's sinogram
#: noise is not the image noise a denoiser sees), served as any level is (:func:`served_level`): CT's
#: 30 by the level-50 denoiser scaled by 5 / 3. On 16 validation images of train400 at 1% noise, ``k`` 0.8
#: (``tune_ct.py --levels 25 30 35 40 50``, ``experiments/results/ct_level_tuning.md``), 30 was the
#: best of those levels at 60 and 42 angles (28.12 / 27.36 dB against 28.10 / 27.31 at 25; 35: 28.09
#: / 27.36; 50: 27.93 / 27.30) and level with 50 at 30 angles (26.50, 25: 26.40), in 1.1 to 1.2 times
#: level 25's CPU time (50: 1.9 to 2.5 times); at 30 angles and 0.15% noise (6 images) 30.16 against
#: 30.04 (50: 30.20 in 3.9 times the time). ``k`` at level 30: 0.7 / 0.9 gave 27.91 / 28.14 and
#: 27.29 / 27.32 at 60 / 42 angles, so 0.8 stays.
ADMM_LEVEL = {"ct": 30}
#: PnP-ADMM's relaxation ``lam`` per problem (in ``(0, 2)``: the guarantee holds); 1 where absent.
RELAXATION = {"ct": 1.6}
#: PnP-ADMM's ``prox_tolerance`` per problem (:func:`denoisers.pnp.pnp_admm`: the ``k``-th data
#: step is solved to ``c ||z_0|| / (k + 1)^2``); absent: the data prox solved to ``1e-6``. CT's
#: ``c = 0.1`` against 0.01 on 6 train400 validation images (``tune_ct.py --prox-tolerances``,
#: ``experiments/results/ct_tolerance_tuning.md``): 60 angles, 1% noise, 29.05 against 29.04 dB in
#: 7.7 against 9.2 CPU s; 30 angles, 0.1% noise (the CLI's regime) 30.27 both, 64 against 93 CPU s
#: (10576 against 17964 CG products). On the 10 BSD68 crops of ``bench_ct.py`` (1% noise) it is
#: even: 25.985 dB both, 14.3 against 13.8 CPU s on the loaded machine (63.7 against 49.0
#: iterations, 393 against 461 CG products). ``c = 1`` (before the disc restriction) cut the CG
#: products again but tripled the iterations at 1% noise.
PROX_TOLERANCE = {"ct": 0.1}
#: The stopping tolerance of every PnP run per algorithm and problem: a run stops when its relative fixed-point
#: residual ``||w_{k+1} - w_k|| / ||w_{k+1}||`` is at most this; absent: :data:`STOP_TOLERANCE_DEFAULT`.
#: CT's with PnP-ADMM, the loosest within 0.01 dB of the best in both noise regimes on 6 train400 validation
#: images (``tune_ct.py --stop-tolerances``, ``experiments/results/ct_stop_tuning.md``): at 60
#: angles, 1% noise, 1e-4 / 1e-3 / 3e-3 / 1e-2 gave 29.05 / 29.06 / 29.06 / 29.05 dB in 7.9 / 4.8 /
#: 4.3 / 3.4 CPU s; at 30 angles, 0.15% noise (the CLI's regime) 30.04 / 30.04 / 30.04 / 30.02 dB in
#: 39.0 / 23.9 / 15.7 / 9.2 CPU s. (The PSNR of a run settles long before its residual reaches 1e-4.)
#: Inpainting's with PnP-ADMM, chosen the same way on 6 train400 validation images (``tune_stop.py --problem
#: inpaint``, ``experiments/results/stop_tuning.md``): 1e-4 / 3e-4 / 1e-3 / 3e-3 / 1e-2 gave 32.54 / 32.54 / 32.54 /
#: 32.54 / 32.46 dB in 46.1 / 29.4 / 17.1 / 9.4 / 4.8 CPU s, and at 1e-4 not every run met it within
#: 300 iterations (6 held-out images: 29.81 dB at 1e-4, 1e-3 and 3e-3, in 43.6 / 16.8 / 9.2 CPU s; 1e-2: 29.74).
#: PnP-FBS keeps 1e-4 everywhere: at its step ``1 / L`` a CT iteration moves so little that its
#: relative residual is below 3e-3 from the first iterations on, long before the estimate is
#: reached (at 3e-3 it stopped near the filtered back-projection, 23.24 dB on the three crops of
#: ``bench_pnp.py`` where 150 iterations give 25.34).
STOP_TOLERANCE = {"admm": {"ct": 3e-3, "inpaint": 3e-3}, "fbs": {}}
STOP_TOLERANCE_DEFAULT = 1e-4
#: The best certified configuration per problem, ``(algorithm, family)``, on the BSD68 benchmark
#: (``experiments/results/pnp_bench.md``): denoising applies the convex-ridge denoiser once
#: (FBS with the default step; 27.40 dB against 26.94 for the firm one), every inverse problem
#: runs PnP-ADMM with the firmly non-expansive family (the one ADMM's guarantee admits unrelaxed).
#: Denoising takes the noise-conditioned form of the ridge family, one model run at the noise level
#: (``experiments/bench_conditioned.py``, ``experiments/results/conditioned_denoiser.md``, the whole
#: chain): on all of BSD68 31.05 / 28.55 / 25.55 dB at sigma 15 / 25 / 50 against 31.05 / 28.55 /
#: 25.56 with the file of each level, and between and below those levels, where the ridge files run
#: scaled, +0.26 / +0.05 / +0.02 / +0.06 / +0.02 at sigma 5 / 10 / 20 / 30 / 40 (40 validation images:
#: +0.19 at 5, -0.01 to +0.03 elsewhere; the 11 classic photographs: +0.24 at 5, 0 at 10 to 25,
#: -0.06 / -0.07 / -0.04 / -0.03 at 20 / 30 / 40 / 50).
DEFAULT_CONFIGURATION = {"denoise": ("fbs", "conditioned"), "deblur": ("admm", "firm"), "inpaint": ("admm", "firm"),
                         "superres": ("admm", "firm"), "ct": ("admm", "firm")}
#: The non-local stage per problem (:mod:`denoisers.reconstruct`), at the problem's default
#: configuration. Denoising: the setting with the best mean PSNR over sigma 15, 25 and 50 on 10
#: validation images of train400 (``experiments/tune_nonlocal.py``,
#: ``experiments/results/nonlocal_tuning.md``): radius 7, patch 3, ``c`` = 0.04, ``w`` = 0.7,
#: 31.15 / 28.67 / 25.58 dB against 30.52 / 27.93 / 24.74 for the ridge denoiser alone (each
#: level's own best: 31.19 / 28.68 / 25.59). The inverse problems: the best ``(w, c)`` on 6
#: validation images (``experiments/tune_nonlocal_pnp.py``, ``experiments/results/nonlocal_pnp_tuning.md``),
#: against the first run alone: deblurring 29.59 dB at (0.7, 0.03) against 29.23, inpainting
#: 32.22 at (0.5, 0.06) against 32.01, super-resolution 30.39 at (0.5, 0.08) against 30.08, CT
#: 27.50 at (0.85, 0.045) against 26.57.
NON_LOCAL = {"denoise": NonLocalSettings(weight=0.7, bandwidth_factor=0.04),
             "deblur": NonLocalSettings(weight=0.7, bandwidth_factor=0.03),
             "inpaint": NonLocalSettings(weight=0.5, bandwidth_factor=0.06),
             "superres": NonLocalSettings(weight=0.5, bandwidth_factor=0.08),
             "ct": NonLocalSettings(weight=0.85, bandwidth_factor=0.045)}
#: The collaborative Wiener stage, blended into the prior of the run before it (``C``'s level: the
#: level factor times the prior's effective level), where it gains on validation images
#: (``experiments/tune_collaborative.py``, ``experiments/results/collaborative_tuning.md``).
#: ``COLLABORATIVE``: after the non-local stage, ``w`` = 0.5 at level factor 1 (denoising up to
#: :data:`COLLABORATIVE_FIRST_ABOVE`). Denoising: the best mean over sigma 15, 25, 50 on the 10
#: validation images of ``NON_LOCAL``: 31.33 / 28.80 / 25.63 dB against 31.16 / 28.68 / 25.56 with
#: the non-local stage alone (8 held-out validation images: +0.15 / +0.12 / +0.05).
COLLABORATIVE = {"denoise": CollaborativeSettings(weight=0.5, level_factor=1.0)}
#: ``COLLABORATIVE_FIRST``: the stage *before* the non-local one, guided by the first run (the
#: non-local filter is then built from the sharper second estimate and blended into the second
#: run's prior), where that gains more: every inverse problem, and denoising above
#: :data:`COLLABORATIVE_FIRST_ABOVE`. On the 6 validation images of ``NON_LOCAL`` (and 6 held-out
#: ones): inpainting after the non-local stage at ``w`` = 0.5 32.46 against 32.22 (29.70 against
#: 29.35), before it at ``w`` = 0.7 32.54 (29.81; 0.5: 32.48). Super-resolution: after the non-local stage, at ``w`` = 0.5,
#: 30.50 against 30.39 (held out 26.82 against 26.77); before it 30.52 / 30.55 / 30.59 at ``w`` =
#: 0.5 / 0.7 / 1 (held out at 0.7 / 1: 26.87 / 26.91). Deblurring: after the non-local stage it lost (29.57 against
#: 29.59, at most 29.62: the Wiener gains, taken from a guide that lacks detail, remove detail the
#: data step restores); before it, at ``w`` = 0.7 and level factor 0.6, 29.65 (held out: 26.59
#: against 26.50). CT: after it 27.63 against 27.50 (held out 25.25 against 25.11); before it, at
#: level factor 1, the gain grows with ``w``: 27.67 / 27.72 / 27.75 / 27.78 at ``w`` = 0.5 / 0.7 /
#: 0.85 / 1 (held out 25.25 / 25.29 / 25.32 / 25.34). ``w`` = 0.85, not 1: with little noise (the
#: CLI's own simulation, 30 angles, noise 0.1, camera 256 x 256) ``w`` = 1, a purely linear prior
#: in the last two runs, took 401 iterations against 235 at 0.85 and ended 0.02 dB lower (26.99
#: against 27.01). With estimates restricted to the disc (``collaborative_tuning_support.md``, 6
#: images): 29.01 / 29.05 / 29.08 at ``w`` = 0.7 / 0.85 / 1, the same picture; at ``w`` = 0.85 the
#: level factor 0.8 / 1 / 1.25 / 1.5 / 2 gave 28.97 / 29.05 / 29.08 / 29.08 / 29.02 (6 held-out
#: images: 26.53 / 26.55 / 26.54 at 1 / 1.25 / 1.5), and ``w`` = 1 at 1.25 29.11 (held out 26.58);
#: but in the CLI's regime (30 angles, 0.15% noise; ``ct_tuning_collaborative_w1.md``) ``w`` = 1 at
#: 1.25 gave 30.02 dB in 23.3 CPU s against 30.04 in 15.7 at the shipped setting, and on the 10
#: BSD68 crops of ``bench_ct.py`` (``ct_bench_tuned.md``, ``ct_bench_stop.md``) 25.96 against 25.98: kept at 0.85 and 1. Denoising at ``w`` = 0.7 against ``COLLABORATIVE`` after the non-local stage:
#: sigma 15 / 25 / 35 / 40 / 50: 31.27 / 28.79 / 27.28 / 26.70 / 25.72 dB against 31.33 / 28.80 /
#: 27.22 / 26.64 / 25.63 (held out at 15 / 25 / 35 / 40 / 50: 31.44 / 29.00 / 27.41 / 26.82 / 25.81
#: against 31.48 / 28.98 / 27.34 / 26.74 / 25.73).
COLLABORATIVE_FIRST = {"deblur": CollaborativeSettings(weight=0.7, level_factor=0.6),
                       "ct": CollaborativeSettings(weight=0.85, level_factor=1.0),
                       "superres": CollaborativeSettings(weight=1.0, level_factor=1.0),
                       "inpaint": CollaborativeSettings(weight=0.7, level_factor=1.0),
                       "denoise": CollaborativeSettings(weight=0.7, level_factor=1.0)}
#: The noise level (0-255) at or below which a problem of :data:`COLLABORATIVE_FIRST` still runs the
#: collaborative stage after the non-local one (absent: never).
COLLABORATIVE_FIRST_ABOVE = {"denoise": 25.0}


def refinement_stages(problem: str, sigma: float) -> tuple[NonLocalSettings | CollaborativeSettings, ...]:
    """The refinement stages of ``problem`` at noise level ``sigma`` (0-255), in the order they run
    (:mod:`denoisers.reconstruct`): a non-local and a collaborative stage, the collaborative one
    first where :data:`COLLABORATIVE_FIRST` and :data:`COLLABORATIVE_FIRST_ABOVE` say so."""
    if problem in COLLABORATIVE_FIRST and sigma > COLLABORATIVE_FIRST_ABOVE.get(problem, -math.inf):
        return COLLABORATIVE_FIRST[problem], NON_LOCAL[problem]
    return NON_LOCAL[problem], COLLABORATIVE[problem]


#: The largest scale ``a`` of a denoiser run as ``D(a x) / a`` for weaker noise (module docstring);
#: below ``sigma_d / a`` the scaled denoiser is relaxed as well.
MAX_SCALE = 3.0
#: Smallest noise level used to set parameters (a noiseless measurement still needs a prior).
NOISE_FLOOR = 1.0 / 255.0


@dataclass(frozen=True)
class PnPSettings:
    """The settings of one PnP run: the denoiser level (0-255), its strength, and the solver's parameter.

    ``step`` is PnP-FBS's gradient step ``g`` (``None``: ``1 / L``, ``L = ||A||^2``) and ``penalty``
    PnP-ADMM's ``g`` in ``prox_{g f}``; each is ``None`` for the other algorithm. ``relaxation``
    and ``prox_tolerance`` are PnP-ADMM's (:func:`denoisers.pnp.pnp_admm`). ``denoiser`` is
    the shipped model of that level, loaded (and certified) once by :func:`choose_settings` and
    used by :func:`denoisers.reconstruct.run_pnp`; ``family`` names its shipped family (``None``
    for a model of one's own); ``stages``: the refinement stages run after the first run, in order
    (:mod:`denoisers.reconstruct`); ``scale``: the denoiser runs as ``D(a x) / a``
    (:class:`~denoisers.pnp.ScaledDenoiser`; 1: as it is); ``tol``: each run stops when its relative
    fixed-point residual is at most this (:data:`STOP_TOLERANCE`).
    """

    algorithm: str
    denoiser_sigma: float
    strength: float
    step: float | None
    penalty: float | None
    denoiser: AveragedDenoiser = field(compare=False, repr=False)
    relaxation: float = 1.0
    prox_tolerance: float | None = None
    family: str | None = None
    stages: tuple[NonLocalSettings | CollaborativeSettings, ...] = ()
    scale: float = 1.0
    tol: float = STOP_TOLERANCE_DEFAULT

    @property
    def effective_level(self) -> float:
        """The noise level (0-255) the prior acts for: ``sigma_d sqrt(strength) / scale``."""
        return self.denoiser_sigma * self.strength**0.5 / self.scale


def choose_settings(
    problem: Problem,
    algorithm: str | None = None,
    regularisation: float | None = None,
    level: int | None = None,
    family: str | None = None,
    denoiser: AveragedDenoiser | None = None,
    non_local: bool | None = None,
) -> PnPSettings:
    """Parameters for ``problem`` from its noise level (see the module docstring).

    ``algorithm=None``: the problem's :data:`DEFAULT_CONFIGURATION`; ``family=None``: that
    configuration's family when the algorithm is its algorithm, else ``"firm"``.

    ``level``: the denoiser level ADMM uses instead of the rule's, shipped or served by a shipped
    one scaled (:func:`served_level`; FBS derives its level from the step, so it takes none). ``family``: which shipped weights (:data:`denoisers.weights.FAMILIES`);
    the factors above were tuned for ``"firm"``, the better prior; for denoising, FBS with its
    default step applies the denoiser once, where the convex-ridge form is the better one, and
    ``"conditioned"`` (one model run at the rule's level, :func:`conditioned_level`) its default.
    ``denoiser``: a model of one's own (e.g. from ``lipapps denoiser train``) used instead of the
    shipped ones, as the only level, its ``sigma`` (the same rule; ``level`` must then be ``None``);
    a noise-conditioned one runs at the level the rule, or ``level``, asks for (:func:`conditioned_level`).
    ``non_local``: add the problem's refinement stages (:func:`refinement_stages`: a non-local and a
    collaborative one); ``None``: when the run is the problem's default configuration with
    shipped weights (what the stages were tuned for).
    """
    default_algorithm, default_family = DEFAULT_CONFIGURATION[problem.name]
    algorithm = default_algorithm if algorithm is None else algorithm
    if algorithm not in ALGORITHMS:
        raise InputError(f"unknown algorithm {algorithm!r}; choose one of {', '.join(ALGORITHMS)}")
    if denoiser is not None and level is not None and not denoiser.noise_conditioned:
        raise InputError("a given denoiser has its own level (its sigma); level picks among the shipped ones")
    if family is None:
        family = default_family if algorithm == default_algorithm else "firm"
    if non_local is None:  # the stage was tuned for the problem's default configuration
        non_local = (algorithm, family) == (default_algorithm, default_family) and denoiser is None
    stages = refinement_stages(problem.name, 255.0 * problem.noise) if non_local else ()
    base = load_conditioned_denoiser() if denoiser is None and family == CONDITIONED else denoiser
    conditioned = base is not None and base.noise_conditioned
    sigmas = [] if conditioned else [denoiser.sigma] if denoiser is not None else available_sigmas(family)
    if not conditioned and not sigmas:
        raise InputError(f"no shipped {family} denoiser weights found in the denoisers package")
    k = REGULARISATION[algorithm][problem.name] if regularisation is None else regularisation
    if k <= 0:
        raise InputError(f"regularisation must be positive, got {k}")
    noise = max(problem.noise, NOISE_FLOOR)
    if algorithm == "fbs":
        if level is not None:
            raise InputError("PnP-FBS sets the denoiser level from its step; level applies to ADMM only")
        target = 255.0 * k * noise / problem.operator.norm_bound()
        if conditioned:
            sigma = conditioned_level(target)[0]
            model = base.at_level(sigma)
        else:
            sigma = next((s for s in sigmas if s >= target), sigmas[-1])
            model = denoiser if denoiser is not None else load_denoiser(sigma, family)
        scale = min(sigma / target, MAX_SCALE) if problem.name == "denoise" else 1.0
        strength = 1.0 if scale == sigma / target else min(1.0, (target * scale / sigma) ** 2)
        return PnPSettings("fbs", sigma, strength, None, None, model, family=None if denoiser is not None else family,
                           stages=stages, scale=scale, tol=stop_tolerance(algorithm, problem.name))
    if level is None and (denoiser is None or conditioned) and problem.name in ADMM_LEVEL:
        level = ADMM_LEVEL[problem.name]
    if level is None and conditioned:
        level = max(255.0 * k * noise, ADMM_MIN_LEVEL[problem.name])
    elif level is None:
        nearest = min(sigmas, key=lambda s: abs(s - 255.0 * k * noise))
        level = max(nearest, next((s for s in sigmas if s >= ADMM_MIN_LEVEL[problem.name]), sigmas[-1]))
    if conditioned:
        shipped, scale = conditioned_level(level)
        model = base.at_level(shipped)
    else:
        shipped, scale = served_level(level, sigmas)
        model = denoiser if denoiser is not None else load_denoiser(shipped, family)
    strength = min(1.0, 0.5 / model.averaging)
    penalty = admm_penalty(level, strength, k, problem.noise)
    return PnPSettings("admm", shipped, strength, None, penalty, model, RELAXATION.get(problem.name, 1.0),
                       PROX_TOLERANCE.get(problem.name), None if denoiser is not None else family, stages, scale,
                       tol=stop_tolerance(algorithm, problem.name))


def served_level(level: float, sigmas: list[int]) -> tuple[int, float]:
    """The shipped level ``sigma_d`` that serves the denoiser level ``level`` (0-255) and its scale ``a``:
    ``level`` itself when shipped (``a = 1``), else the smallest shipped level above it, run as
    ``D(a x) / a`` with ``a = sigma_d / level`` (:class:`~denoisers.pnp.ScaledDenoiser`: the same
    averagedness, so the same certificate). :class:`lipapps.InputError` for a level that is not
    positive or above every shipped one."""
    if not (math.isfinite(level) and level > 0):
        raise InputError(f"denoiser level must be a positive number (0-255 scale), got {level}")
    shipped = next((s for s in sigmas if s >= level), None)
    if shipped is None:
        raise InputError(f"no shipped denoiser at or above level {level:g}; available: {sigmas}")
    return shipped, shipped / level


def conditioned_level(level: float) -> tuple[float, float]:
    """The level a noise-conditioned denoiser runs at to serve ``level`` (0-255), and its scale ``a``:
    ``level`` itself inside :data:`denoisers.model.CONDITIONED_RANGE` (``a = 1``), else the nearer end
    ``sigma_d`` of the range, run as ``D(a x) / a`` with ``a = sigma_d / level`` (the same certificate)."""
    if not (math.isfinite(level) and level > 0):
        raise InputError(f"denoiser level must be a positive number (0-255 scale), got {level}")
    low, high = CONDITIONED_RANGE
    run = min(max(level, low), high)
    return run, run / level


def stop_tolerance(algorithm: str, problem: str) -> float:
    """The relative fixed-point residual at which a run of ``algorithm`` on ``problem`` stops (:data:`STOP_TOLERANCE`)."""
    return STOP_TOLERANCE[algorithm].get(problem, STOP_TOLERANCE_DEFAULT)


def admm_penalty(level: float, strength: float, k: float, noise: float) -> float:
    """PnP-ADMM's penalty ``s (sigma_d / (k sigma_n))^2`` for a denoiser of level ``sigma_d`` (0-255
    scale) relaxed to strength ``s``, with ``sigma_n = max(noise, NOISE_FLOOR)`` (module docstring)."""
    return strength * (level / (255.0 * k * max(noise, NOISE_FLOOR))) ** 2
