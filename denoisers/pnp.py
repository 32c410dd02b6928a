"""Plug-and-play reconstruction: forward-backward splitting and ADMM with a denoiser as prior.

Both solvers are Krasnoselskii-Mann iterations ``w+ = w + lam (T w - w)`` of an operator ``T``
built from the data term ``f(x) = 1/2 ||A x - y||^2`` and the denoiser ``D``. When ``T`` is
averaged and has a fixed point, the iterates converge and the fixed-point residual
``||w_{k+1} - w_k||`` is non-increasing (Bauschke & Combettes 2017, Prop. 5.16; Ryu et al. 2019,
"Plug-and-play methods provably converge with properly trained denoisers"). Each solver states
the condition on ``D`` and its parameters, and warns with :class:`ConvergenceWarning` when the
user's setting breaks it (or when the denoiser carries no certificate).

A denoiser is any callable on ``(N, 1, H, W)`` tensors; one that is certified exposes
``certified_averagedness(input_shape) -> float | None``, the ``a`` of ``D = (1 - a) I + a N``
with ``N`` provably non-expansive (``None`` when no certificate holds).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.utils.parametrize as parametrize
from tqdm.auto import tqdm

from lipapps import InputError

from denoisers.metrics import psnr
from denoisers.operators import Identity, LinearOperator

Denoiser = Callable[[torch.Tensor], torch.Tensor]


class ConvergenceWarning(UserWarning):
    """The chosen setting is outside the conditions under which convergence is proven."""


@dataclass
class PnPTrace:
    """Per-iteration history: ``||w_{k+1} - w_k||``, the same relative to ``||w_{k+1}||``, ``||w_{k+1}||``,
    PSNR, and ``step_error``: a proven bound on ``||w_{k+1} - S w_k||``, the distance of the
    computed iterate from the exact relaxed step ``S = I + lam (T - I)`` (0 for exact steps; for
    PnP-ADMM with inexact data steps, ``lam`` times the prox's error bound), and ``prox_steps``:
    conjugate-gradient products of each data step (0 for closed forms and for FBS)."""

    fixed_point_residual: list[float] = field(default_factory=list)
    relative_residual: list[float] = field(default_factory=list)
    iterate_norm: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    step_error: list[float] = field(default_factory=list)
    prox_steps: list[int] = field(default_factory=list)


@dataclass
class PnPResult:
    """A reconstruction ``x`` (shape of the image), how the iteration ended, and its trace.

    ``stages``: the runs a multi-stage reconstruction chained, in order (empty for one run; see
    :func:`denoisers.reconstruct.run_pnp`); then ``x``, ``residual`` and ``trace`` are the last
    stage's, ``iterations`` and ``seconds`` the totals, and ``converged`` says every stage converged.
    """

    x: torch.Tensor
    iterations: int
    converged: bool
    residual: float
    seconds: float
    trace: PnPTrace
    stages: tuple[PnPResult, ...] = ()

    @property
    def runs(self) -> tuple[PnPResult, ...]:
        """The single runs this result is made of: its stages, or itself."""
        return self.stages or (self,)

    @classmethod
    def chain(cls, stages: list[PnPResult]) -> PnPResult:
        """One result for runs made one after the other (the last one's estimate is the answer)."""
        last = stages[-1]
        return cls(last.x, sum(r.iterations for r in stages), all(r.converged for r in stages), last.residual,
                   sum(r.seconds for r in stages), last.trace, tuple(stages))


class RelaxedDenoiser:
    """``D_s = (1 - s) I + s D`` for ``0 < s <= 1``: a weaker denoiser, the strength knob of PnP.

    If ``D`` is ``a``-averaged, ``D_s = (1 - s a) I + s a N`` is ``s a``-averaged.
    """

    def __init__(self, denoiser: Denoiser, strength: float) -> None:
        if not 0.0 < strength <= 1.0:
            raise InputError(f"denoiser strength must lie in (0, 1], got {strength}")
        self.denoiser, self.strength = denoiser, strength

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.strength * (self.denoiser(x) - x)

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        inner = denoiser_averagedness(self.denoiser, input_shape)
        return None if inner is None else self.strength * inner


class ScaledDenoiser:
    """``D_a(x) = D(a x) / a`` for ``a > 0``: a denoiser for noise ``sigma_d`` applied to noise
    ``sigma = sigma_d / a`` (the image is scaled until its noise is the level ``D`` was trained for).

    If ``D = (1 - t) I + t N`` is ``t``-averaged, ``D_a = (1 - t) I + t N_a`` with
    ``N_a(x) = N(a x) / a``, and ``||N_a(x) - N_a(y)|| <= ||a x - a y|| / a = ||x - y||``: ``D_a``
    is ``t``-averaged with the same certificate.
    """

    def __init__(self, denoiser: Denoiser, scale: float) -> None:
        if not (math.isfinite(scale) and scale > 0.0):
            raise InputError(f"denoiser scale must be a positive number, got {scale}")
        self.denoiser, self.scale = denoiser, scale

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.denoiser(x * self.scale) / self.scale

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        return denoiser_averagedness(self.denoiser, input_shape)


class RepeatCache:
    """``D`` that remembers its last input and output: called again on an equal input (same shape,
    dtype and values) it returns the stored output instead of recomputing it. The map, and so its
    certificate, is ``D``'s. A chain of PnP runs calls its priors on the same image again (for
    denoising each run's first step and its convergence check are ``D(y)``, and a later stage's
    blend contains the earlier priors), which then costs one evaluation.
    """

    def __init__(self, denoiser: Denoiser) -> None:
        self.denoiser = denoiser
        self._input: torch.Tensor | None = None
        self._output: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        last = self._input
        if last is None or last.shape != x.shape or last.dtype != x.dtype or last.device != x.device or not torch.equal(last, x):
            self._input, self._output = x.detach().clone(), self.denoiser(x)
        return self._output.clone()

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        return denoiser_averagedness(self.denoiser, input_shape)


def denoiser_averagedness(denoiser: Denoiser, input_shape: tuple[int, ...] | None = None) -> float | None:
    """The certified ``a`` of an averaged denoiser, or ``None`` when it carries no certificate.

    The size-independent certificate (``input_shape=None``, valid for every image size) is asked
    first; only when it fails is the one for ``input_shape`` (tighter, and slower for large
    images) asked."""
    method = getattr(denoiser, "certified_averagedness", None)
    if method is None:
        return None
    general = method(None)
    return general if general is not None or input_shape is None else method(input_shape)


def _averaged_composition(a1: float, a2: float) -> float:
    """Averagedness of ``T1 T2`` for ``a1``- and ``a2``-averaged maps (Combettes & Yamada 2015)."""
    return (a1 + a2 - 2 * a1 * a2) / (1 - a1 * a2)


def _warn(message: str) -> None:
    warnings.warn(message, ConvergenceWarning, stacklevel=3)


def _check_common(operator: LinearOperator, y: torch.Tensor, max_iter: int, tol: float) -> None:
    operator.check_measurement(y)
    if not torch.isfinite(y).all():
        raise InputError("the measurement contains NaN or infinite values")
    if max_iter < 1:
        raise InputError(f"max_iter must be >= 1, got {max_iter}")
    if tol < 0:
        raise InputError(f"tol must be >= 0, got {tol}")


def _as_batch(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(1, 1, *x.shape[-2:])


#: One evaluation of ``T``: ``T w``, the estimate, a bound on the error of ``T w``, the CG products it took.
Step = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, float, int]]


def _iterate(
    step: Step,
    w0: torch.Tensor,
    relaxation: float,
    max_iter: int,
    tol: float,
    truth: torch.Tensor | None,
    progress: bool,
) -> PnPResult:
    """Run ``w+ = w + lam (T w - w)`` where ``step(w) = (T w, estimate, error, products)``; stop on the relative residual.

    The result's ``x`` is the estimate of the last step evaluated (the one whose residual stopped
    the run, whose PSNR is the trace's last), so no step is evaluated beyond the stopping test."""
    start = time.perf_counter()
    trace = PnPTrace()
    w, converged, iterations = w0, False, 0
    estimate = w0
    bar = tqdm(range(max_iter), desc="pnp", disable=not progress, leave=False)
    # The denoiser's weights are fixed: parametrized weights are computed once (parametrize.cached).
    with torch.no_grad(), parametrize.cached():
        for iterations in (k + 1 for k in bar):
            tw, estimate, error, products = step(w)
            trace.step_error.append(relaxation * error)
            trace.prox_steps.append(products)
            w_next = w + relaxation * (tw - w)
            change, norm = float((w_next - w).norm()), float(w_next.norm())
            relative = change / max(norm, 1e-12)
            trace.fixed_point_residual.append(change)
            trace.relative_residual.append(relative)
            trace.iterate_norm.append(norm)
            if truth is not None:
                trace.psnr.append(psnr(estimate, truth))
            bar.set_postfix(residual=f"{relative:.2e}")
            w = w_next
            if relative <= tol:
                converged = True
                break
    return PnPResult(
        x=estimate.reshape(w0.shape[-2:]),
        iterations=iterations,
        converged=converged,
        residual=trace.relative_residual[-1],
        seconds=time.perf_counter() - start,
        trace=trace,
    )


def residual_non_increasing(result: PnPResult) -> bool:
    """Whether the fixed-point residual ``r_k = ||w_{k+1} - w_k||`` of a run never increased by
    more than its steps' proven errors allow.

    For an averaged iteration ``r_{k+1} <= r_k`` in exact arithmetic (Krasnoselskii-Mann, module
    docstring). When step ``k`` is computed to within ``e_k = ||w_{k+1} - S w_k||`` of the exact
    relaxed step ``S`` (``trace.step_error``; inexact data steps), ``S`` non-expansive gives
    ``r_{k+1} <= r_k + e_k + e_{k+1}``, and that much increase is allowed. The iterates are
    stored in ``result.x.dtype``, each entry rounded by up to ``eps / 2`` of its size (``eps``
    that dtype's machine epsilon), so the iterates behind ``r_k`` and ``r_{k+1}`` are known only
    to within ``eps / 2 ||w_{k+1}||`` and ``eps / 2 ||w_{k+2}||``: an increase
    ``r_{k+1} - r_k <= eps (||w_{k+1}|| + ||w_{k+2}||)`` is below what the dtype resolves and is
    not counted either. Errors larger than that rounding and not in ``step_error`` (in the
    evaluation of the denoiser, say) are counted. A chained result (``stages``) is checked stage by stage.
    """
    if result.stages:
        return all(residual_non_increasing(stage) for stage in result.stages)
    eps = torch.finfo(result.x.dtype).eps
    residuals, norms = result.trace.fixed_point_residual, result.trace.iterate_norm
    errors = result.trace.step_error or [0.0] * len(residuals)
    return all(
        later <= earlier + eps * (norms[k] + norms[k + 1]) + errors[k] + errors[k + 1]
        for k, (earlier, later) in enumerate(zip(residuals, residuals[1:]))
    )


def pnp_fbs(
    operator: LinearOperator,
    y: torch.Tensor,
    denoiser: Denoiser,
    *,
    step_size: float | None = None,
    relaxation: float = 1.0,
    max_iter: int = 200,
    tol: float = 1e-4,
    x0: torch.Tensor | None = None,
    truth: torch.Tensor | None = None,
    progress: bool = False,
) -> PnPResult:
    """PnP forward-backward: ``x+ = x + lam (D(x - g A^T (A x - y)) - x)``; the estimate reported is
    ``D(...)`` restricted to the operator's support (:meth:`~denoisers.operators.LinearOperator.restrict_to_support`).

    Convergence (docs/math.md section 6): with ``L >= ||A||_2^2`` (``operator.norm_bound()^2``),
    the gradient step ``G = I - g A^T (A . - y)`` is ``g L / 2``-averaged for ``0 < g < 2 / L``;
    if ``D`` is ``a``-averaged then ``T = D G`` is averaged with
    ``a_T = (a + g L/2 - a g L) / (1 - a g L / 2)`` (Combettes & Yamada 2015), and the relaxed
    iteration converges to a fixed point of ``T`` (when one exists) for ``0 < lam < 1 / a_T``,
    with ``||x_{k+1} - x_k||`` non-increasing (Krasnoselskii-Mann). A warning is issued when
    ``g`` or ``lam`` break this or when ``D`` has no averagedness certificate.

    Args:
        operator: the forward model ``A``.
        y: the measurement, shape ``operator.measurement_shape``.
        denoiser: ``D``, a callable on ``(1, 1, H, W)`` tensors.
        step_size: ``g``; default ``1 / L``.
        relaxation: ``lam``.
        max_iter, tol: stop when ``||x_{k+1} - x_k|| / ||x_{k+1}|| <= tol`` or after ``max_iter``.
        x0: initial image; default ``operator.initial_estimate(y)`` (``A^T y / L``, for CT the
            filtered back-projection).
        truth: ground truth, to record PSNR per iteration.
        progress: show a tqdm bar.
    """
    _check_common(operator, y, max_iter, tol)
    lipschitz = operator.norm_bound() ** 2
    g = 1.0 / lipschitz if step_size is None else float(step_size)
    if g <= 0:
        raise InputError(f"step size must be positive, got {g}")
    if relaxation <= 0:
        raise InputError(f"relaxation must be positive, got {relaxation}")
    a = denoiser_averagedness(denoiser, (1, *operator.image_shape))
    if g * lipschitz >= 2:
        _warn(f"step size {g:.3g} >= 2 / ||A||^2 = {2 / lipschitz:.3g}: the gradient step is not averaged")
    elif a is None or not 0 < a < 1:
        _warn("the denoiser has no averagedness certificate: PnP-FBS convergence is not guaranteed")
    elif relaxation >= 1 / _averaged_composition(a, g * lipschitz / 2):
        bound = 1 / _averaged_composition(a, g * lipschitz / 2)
        _warn(f"relaxation {relaxation} >= 1 / a_T = {bound:.3g}: the relaxed iteration is not averaged")

    def forward_step(x: torch.Tensor) -> torch.Tensor:
        if g == 1.0 and isinstance(operator, Identity):
            return y  # x - (x - y), without its rounding: the denoiser then sees the same input every step
        return x - g * operator.A_adjoint(operator.A(x) - y)

    def step(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float, int]:
        out = denoiser(_as_batch(forward_step(x))).reshape(x.shape)
        return out, operator.restrict_to_support(out), 0.0, 0

    start = operator.initial_estimate(y) if x0 is None else x0.to(y.dtype)
    return _iterate(step, start, relaxation, max_iter, tol, truth, progress)


def pnp_admm(
    operator: LinearOperator,
    y: torch.Tensor,
    denoiser: Denoiser,
    *,
    penalty: float = 1.0,
    relaxation: float = 1.0,
    max_iter: int = 200,
    tol: float = 1e-4,
    prox_tolerance: float | None = None,
    x0: torch.Tensor | None = None,
    truth: torch.Tensor | None = None,
    progress: bool = False,
) -> PnPResult:
    """PnP-ADMM in its Douglas-Rachford form on ``z`` (Eckstein & Bertsekas 1992).

    ``x = prox_{g f}(z)``, ``u = D(2 x - z)``, ``z+ = z + lam (u - x)``, with
    ``f = 1/2 ||A . - y||^2`` and ``g = penalty``; the estimate is ``x`` (as every solver here
    reports it: through the operator's :meth:`~denoisers.operators.LinearOperator.restrict_to_support`). This is
    ``z+ = z + (lam / 2) (R_D R_f z - z)`` with reflections ``R = 2 P - I``. ``R_f`` is
    non-expansive for any ``g > 0`` (``prox`` of a convex function), and ``R_D`` is non-expansive
    exactly when ``D`` is firmly non-expansive, i.e. ``a``-averaged with ``a <= 1/2`` (docs/math.md section 6;
    Pesquet et al. 2021). Then for ``0 < lam < 2`` the iteration converges and
    ``||z_{k+1} - z_k||`` is non-increasing. A warning is issued otherwise. The data prox is
    exact for denoising, blur, inpainting and downsampling and a conjugate-gradient solve for CT.

    Inexact data steps (``prox_tolerance = c``, operators without a closed-form prox): the
    ``k``-th prox (``k = 0, 1, ...``) is a warm-started conjugate-gradient solve stopped at a
    proven error ``||x_k - prox(z_k)|| <= eps_k = c ||z_0|| / (k + 1)^2``
    (:meth:`~denoisers.operators.LinearOperator.inexact_data_prox`), a summable sequence:
    ``sum_k eps_k <= c ||z_0|| pi^2 / 6``. An error ``d`` in ``x`` moves ``T z = (z + R_D R_f z) / 2``
    by at most ``d`` (``R_D`` non-expansive, ``R_f z = 2 x - z`` off by ``2 d``), so the
    iteration is Krasnoselskii-Mann with summable errors and converges under the same conditions
    (Eckstein & Bertsekas 1992; Combettes 2004), with ``||z_{k+2} - z_{k+1}|| <= ||z_{k+1} - z_k||
    + lam (eps_k + eps_{k+1})`` in place of monotonicity (``trace.step_error`` records
    ``lam`` times each proven error; :func:`residual_non_increasing` allows for it). ``None``:
    solve every prox to ``1e-6`` relative accuracy (:meth:`~denoisers.operators.LinearOperator.data_prox`).
    """
    _check_common(operator, y, max_iter, tol)
    if penalty <= 0:
        raise InputError(f"ADMM penalty must be positive, got {penalty}")
    if prox_tolerance is not None and not prox_tolerance > 0:
        raise InputError(f"prox tolerance must be positive, got {prox_tolerance}")
    if relaxation <= 0:
        raise InputError(f"relaxation must be positive, got {relaxation}")
    a = denoiser_averagedness(denoiser, (1, *operator.image_shape))
    if a is None or not 0 < a <= 0.5:
        _warn(
            f"PnP-ADMM needs a firmly non-expansive denoiser (a <= 1/2), certified a = {a}: "
            "convergence is not guaranteed"
        )
    elif relaxation >= 2:
        _warn(f"relaxation {relaxation} >= 2: the Douglas-Rachford iteration is not averaged")

    start = operator.initial_estimate(y) if x0 is None else x0.to(y.dtype)
    scale = max(float(start.norm()), float(torch.finfo(torch.float32).tiny))
    previous: list[torch.Tensor] = []  # the last data-prox solution: a warm start for iterative solves
    calls = [0]

    def step(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float, int]:
        guess = previous[-1] if previous else None
        if prox_tolerance is None:
            x, error, products = operator.data_prox(z, y, penalty, guess=guess), 0.0, 0
        else:
            solution = operator.inexact_data_prox(z, y, penalty, prox_tolerance * scale / (calls[0] + 1) ** 2, guess=guess)
            x, error, products = solution.x, solution.error_bound, solution.steps
        calls[0] += 1
        previous[:] = [x]
        u = denoiser(_as_batch(2 * x - z)).reshape(z.shape)
        return z + (u - x), operator.restrict_to_support(x), error, products

    return _iterate(step, start, relaxation, max_iter, tol, truth, progress)
