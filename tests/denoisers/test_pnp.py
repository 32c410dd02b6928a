import warnings

import pytest
import torch

from lipapps import InputError

from denoisers.metrics import psnr
from denoisers.operators import Blur, Downsampling, Identity, Inpainting, gaussian_kernel
from denoisers.pnp import (
    ConvergenceWarning,
    PnPResult,
    PnPTrace,
    RelaxedDenoiser,
    ScaledDenoiser,
    RepeatCache,
    denoiser_averagedness,
    pnp_admm,
    pnp_fbs,
    residual_non_increasing,
)
from denoisers.radon import ParallelBeamCT, field_of_view, uniform_angles

N = 24


def _problem(name: str, seed: int, make_image):
    gen = torch.Generator().manual_seed(seed)
    operator = {
        "blur": lambda: Blur(gaussian_kernel(5, 1.0 + torch.rand((), generator=gen).item()), (N, N)),
        "inpaint": lambda: Inpainting.random((N, N), 0.5, seed=seed),
        "superres": lambda: Downsampling((N, N), 2),
        "ct": lambda: ParallelBeamCT(N, uniform_angles(8)),
    }[name]()
    truth = make_image(N, seed).double()
    y = operator.A(truth) + 0.05 * torch.randn(operator.measurement_shape, generator=gen, dtype=torch.float64)
    return operator, truth, y


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", ["blur", "inpaint", "superres", "ct"])
def test_fbs_residual_is_non_increasing(name, seed, make_image, smoothing_denoiser):
    operator, truth, y = _problem(name, seed, make_image)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = pnp_fbs(operator, y, smoothing_denoiser((N, N), 0.7), max_iter=40, tol=0, relaxation=1.2, truth=truth)
    assert result.iterations == 40 and len(result.trace.psnr) == 40
    assert residual_non_increasing(result)
    assert result.trace.fixed_point_residual[-1] < result.trace.fixed_point_residual[0]


@pytest.mark.parametrize("solver", ["fbs", "admm"])
def test_ct_estimates_are_zero_outside_the_disc(solver, make_image, smoothing_denoiser):
    operator, truth, y = _problem("ct", 2, make_image)
    truth = operator.restrict_to_support(truth)
    outside = ~field_of_view(N)
    run = {"fbs": lambda: pnp_fbs(operator, y, smoothing_denoiser((N, N), 0.7), max_iter=15, tol=0, truth=truth),
           "admm": lambda: pnp_admm(operator, y, smoothing_denoiser((N, N), 0.5), penalty=1.0, max_iter=15, tol=0, truth=truth)}
    result = run[solver]()
    assert torch.all(result.x[outside] == 0) and result.x[~outside].abs().sum() > 0
    assert result.trace.psnr[-1] == psnr(result.x, truth)


@pytest.mark.parametrize("name", ["blur", "inpaint", "ct"])
def test_admm_residual_is_non_increasing(name, make_image, smoothing_denoiser):
    operator, truth, y = _problem(name, 3, make_image)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = pnp_admm(operator, y, smoothing_denoiser((N, N), 0.5), penalty=2.0 / operator.norm_bound() ** 2, max_iter=30, tol=0)
    assert residual_non_increasing(result)


def test_pnp_beats_the_measurement_and_stops_on_tolerance(image, smoothing_denoiser):
    operator = Identity(image.shape)
    noisy = image + 0.1 * torch.randn(image.shape, generator=torch.Generator().manual_seed(0))
    for solver in (pnp_fbs, pnp_admm):
        result = solver(operator, noisy, smoothing_denoiser(image.shape, 0.5), tol=1e-3, max_iter=300)
        assert result.converged and result.iterations < 300 and result.residual <= 1e-3
        assert psnr(result.x, image) > psnr(noisy, image) + 2


def test_deblurring_beats_the_blurred_measurement(image, smoothing_denoiser):
    operator = Blur(gaussian_kernel(7, 1.5), image.shape)
    y = operator.A(image) + 0.01 * torch.randn(image.shape, generator=torch.Generator().manual_seed(1))
    result = pnp_fbs(operator, y, RelaxedDenoiser(smoothing_denoiser(image.shape, 0.5), 0.2), max_iter=200, tol=1e-5)
    assert psnr(result.x, image) > psnr(y, image) + 1


def test_warnings_when_the_setting_breaks_the_conditions(image, smoothing_denoiser):
    operator = Blur(gaussian_kernel(5, 1.0), image.shape)
    y = operator.A(image)
    denoiser = smoothing_denoiser(image.shape, 0.5)
    with pytest.warns(ConvergenceWarning, match="step size"):
        pnp_fbs(operator, y, denoiser, step_size=2.5, max_iter=2)
    with pytest.warns(ConvergenceWarning, match="relaxation"):
        pnp_fbs(operator, y, denoiser, relaxation=1.9, max_iter=2)
    with pytest.warns(ConvergenceWarning, match="certificate"):
        pnp_fbs(operator, y, lambda x: x, max_iter=2)
    with pytest.warns(ConvergenceWarning, match="firmly non-expansive"):
        pnp_admm(operator, y, smoothing_denoiser(image.shape, 0.8), max_iter=2)
    with pytest.warns(ConvergenceWarning, match="relaxation"):
        pnp_admm(operator, y, denoiser, relaxation=2.0, max_iter=2)


def test_bad_arguments_raise_input_error(image, smoothing_denoiser):
    operator = Identity(image.shape)
    denoiser = smoothing_denoiser(image.shape)
    with pytest.raises(InputError, match="expects measurements"):
        pnp_fbs(operator, image[:5], denoiser)
    with pytest.raises(InputError, match="NaN"):
        pnp_fbs(operator, torch.full(image.shape, float("nan")), denoiser)
    with pytest.raises(InputError, match="step size"):
        pnp_fbs(operator, image, denoiser, step_size=-1.0)
    with pytest.raises(InputError, match="strength"):
        RelaxedDenoiser(denoiser, 1.5)
    for scale in (0.0, -2.0, float("inf"), float("nan")):
        with pytest.raises(InputError, match="scale"):
            ScaledDenoiser(denoiser, scale)


def test_residual_check_forgives_only_the_rounding_of_the_iterates():
    def run(residuals: list[float], dtype: torch.dtype) -> PnPResult:
        trace = PnPTrace(fixed_point_residual=residuals, iterate_norm=[10.0] * len(residuals))
        return PnPResult(torch.zeros(2, 2, dtype=dtype), len(residuals), False, 0.0, 0.0, trace)

    eps = torch.finfo(torch.float32).eps
    assert residual_non_increasing(run([1.0, 0.5, 0.5], torch.float32))
    assert residual_non_increasing(run([1e-3, 1e-3 + 19 * eps], torch.float32))  # within eps (10 + 10)
    assert not residual_non_increasing(run([1e-3, 1e-3 + 21 * eps], torch.float32))
    assert not residual_non_increasing(run([1e-3, 1e-3 + 1e-12], torch.float64))  # float64 resolves it


def test_inexact_admm_errors_are_summable_and_the_residual_stays_within_them(make_image, smoothing_denoiser):
    operator, truth, y = _problem("ct", 5, make_image)
    y = y.float()
    penalty, c, lam = 0.5 / operator.norm_bound() ** 2, 1e-2, 1.6
    denoiser = smoothing_denoiser((N, N), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        inexact = pnp_admm(operator, y, denoiser, penalty=penalty, relaxation=lam, prox_tolerance=c, max_iter=60, tol=0)
        exact = pnp_admm(operator, y, denoiser, penalty=penalty, relaxation=lam, max_iter=60, tol=0)
    scale = float(operator.initial_estimate(y).norm())
    errors = inexact.trace.step_error
    assert all(0 <= e <= lam * c * scale / (k + 1) ** 2 for k, e in enumerate(errors))
    assert sum(errors) <= lam * c * scale * torch.pi**2 / 6
    assert any(e > 0 for e in errors) and sum(inexact.trace.prox_steps) > 0
    assert residual_non_increasing(inexact)
    assert inexact.trace.fixed_point_residual[-1] < 1e-3 * inexact.trace.fixed_point_residual[0]
    assert float((inexact.x - exact.x).norm()) <= 1e-3 * float(exact.x.norm())


def test_residual_check_allows_exactly_the_proven_step_errors():
    def run(residuals: list[float], errors: list[float]) -> PnPResult:
        trace = PnPTrace(fixed_point_residual=residuals, iterate_norm=[0.0] * len(residuals), step_error=errors)
        return PnPResult(torch.zeros(2, 2, dtype=torch.float64), len(residuals), False, 0.0, 0.0, trace)

    assert residual_non_increasing(run([1.0, 1.3], [0.1, 0.2]))
    assert not residual_non_increasing(run([1.0, 1.31], [0.1, 0.2]))


def test_inexact_admm_refuses_a_non_positive_tolerance(image, smoothing_denoiser):
    with pytest.raises(InputError, match="prox tolerance"):
        pnp_admm(Identity(image.shape), image, smoothing_denoiser(image.shape), prox_tolerance=0.0)


def test_averagedness_asks_the_size_independent_certificate_first():
    class ShapeOnly:
        def __init__(self) -> None:
            self.asked: list = []

        def certified_averagedness(self, input_shape=None):
            self.asked.append(input_shape)
            return None if input_shape is None else 0.5

    denoiser = ShapeOnly()
    assert denoiser_averagedness(denoiser, (1, 8, 8)) == 0.5 and denoiser.asked == [None, (1, 8, 8)]
    assert denoiser_averagedness(ShapeOnly(), None) is None


def test_repeat_cache_evaluates_once_per_distinct_input_and_keeps_the_certificate():
    calls = []

    class Halving:
        def __call__(self, x):
            calls.append(x)
            return x / 2

        def certified_averagedness(self, input_shape=None):
            return 0.25

    cached = RepeatCache(Halving())
    x = torch.ones(1, 1, 4, 4)
    first = cached(x)
    first += 100.0  # the caller's copy: the cache keeps its own
    x_again = x.clone()
    assert torch.equal(cached(x_again), x / 2) and len(calls) == 1
    assert torch.equal(cached(2 * x), x) and len(calls) == 2
    assert torch.equal(cached(x.double()), x.double() / 2) and len(calls) == 3  # another dtype is another input
    assert cached.certified_averagedness((1, 1, 4, 4)) == 0.25
