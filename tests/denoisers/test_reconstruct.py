import time
import warnings
from dataclasses import replace

import pytest
import torch
from skimage import data
from skimage.transform import resize

from lipapps import InputError

from denoisers.metrics import psnr
from denoisers.pnp import ConvergenceWarning
from denoisers.problems import simulate
from denoisers.model import CONDITIONED_RANGE, CONDITIONED_RIDGE, AveragedDenoiser
from denoisers.parameters import (ADMM_LEVEL, ADMM_MIN_LEVEL, COLLABORATIVE, COLLABORATIVE_FIRST, MAX_SCALE, NON_LOCAL,
                                  REGULARISATION, admm_penalty, choose_settings, conditioned_level, served_level)
from denoisers.nonlocal_filter import NonLocalBlend
from denoisers.reconstruct import refine, relaxed_prior, run_pnp
from denoisers.weights import available_sigmas, load_denoiser

IMAGE = torch.full((32, 32), 0.5)


@pytest.mark.parametrize("name", ["deblur", "inpaint", "superres", "ct"])
def test_admm_level_is_at_least_the_problems_floor(name):
    settings = choose_settings(simulate(name, IMAGE), "admm")
    assert settings.denoiser_sigma in available_sigmas()
    assert settings.denoiser_sigma >= ADMM_MIN_LEVEL[name]


@pytest.mark.parametrize(("noise", "level"), [(15 / 255, 15), (25 / 255, 25), (50 / 255, 50), (40 / 255, 50)])
def test_admm_denoising_uses_the_nearest_level(noise, level):
    assert choose_settings(simulate("denoise", IMAGE, noise=noise), "admm").denoiser_sigma == level


def test_admm_penalty_balances_the_chosen_level_against_the_noise():
    problem = simulate("inpaint", IMAGE, noise=0.02)
    k = REGULARISATION["admm"]["inpaint"]
    for level in available_sigmas():
        settings = choose_settings(problem, "admm", level=level)
        assert settings.denoiser_sigma == level
        assert settings.penalty == pytest.approx(settings.strength * (level / (255 * k * 0.02)) ** 2)
        assert settings.step is None


def test_a_level_between_shipped_ones_is_the_next_level_above_scaled():
    """Level 30 is served by the level-50 denoiser as ``D(a x) / a``, ``a = 5 / 3``: the prior acts for
    noise 30 (its penalty is level 30's), and its certificate is the level-50 model's."""
    problem = simulate("deblur", IMAGE, noise=0.02)
    settings = choose_settings(problem, "admm", level=30)
    assert (settings.denoiser_sigma, settings.scale) == (50, pytest.approx(5 / 3))
    assert settings.effective_level == pytest.approx(30 * settings.strength**0.5)
    assert settings.penalty == pytest.approx(admm_penalty(30, settings.strength, REGULARISATION["admm"]["deblur"], 0.02))
    prior = relaxed_prior(settings)
    assert prior.certified_averagedness((1, 1, 16, 16)) == relaxed_prior(choose_settings(problem, "admm", level=50)).certified_averagedness((1, 1, 16, 16))
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(prior(x), relaxed_prior(replace(settings, scale=1.0))(x * settings.scale) / settings.scale)
    assert served_level(25, [15, 25, 50]) == (25, 1.0)


def test_a_floor_never_lowers_the_level_of_a_noisy_problem():
    assert choose_settings(simulate("deblur", IMAGE, noise=50 / 255), "admm").denoiser_sigma == 50


def test_bad_level_requests_are_refused():
    problem = simulate("deblur", IMAGE)
    with pytest.raises(InputError, match="no shipped denoiser at or above level 70"):
        choose_settings(problem, "admm", level=70)
    with pytest.raises(InputError, match="level must be a positive number"):
        choose_settings(problem, "admm", level=-5)
    with pytest.raises(InputError, match="ADMM only"):
        choose_settings(problem, "fbs", level=25)
    with pytest.raises(InputError, match="regularisation must be positive"):
        choose_settings(problem, "admm", regularisation=0.0)


@pytest.mark.parametrize("algorithm", ["admm", "fbs"])
def test_one_reconstruction_loads_and_certifies_the_denoiser_once(monkeypatch, algorithm):
    import denoisers.parameters as parameters

    loaded = []
    monkeypatch.setattr(parameters, "load_denoiser", lambda level, family: loaded.append(level) or load_denoiser(level, family))
    problem = simulate("deblur", IMAGE)
    settings = parameters.choose_settings(problem, algorithm)
    result = run_pnp(problem, settings, max_iter=3)
    assert loaded == [settings.denoiser_sigma]
    assert settings.denoiser.sigma == settings.denoiser_sigma
    assert result.x.shape == IMAGE.shape


def test_fbs_denoising_with_the_ridge_family_applies_its_denoiser_once():
    torch.manual_seed(0)
    problem = simulate("denoise", torch.rand(24, 24), noise=25 / 255)
    settings = choose_settings(problem, "fbs", family="ridge", non_local=False)
    ridge = load_denoiser(25, "ridge")
    assert (settings.denoiser_sigma, settings.strength) == (25, 1.0)
    assert settings.denoiser.averaging == ridge.averaging == pytest.approx(0.99)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = run_pnp(problem, settings, max_iter=5)
    with torch.no_grad():
        once = ridge(problem.y[None, None])[0, 0]
    assert torch.allclose(result.x, once, atol=1e-5)


def test_admm_relaxes_the_ridge_family_to_firmly_non_expansive():
    settings = choose_settings(simulate("deblur", IMAGE), "admm", family="ridge")
    assert settings.denoiser.averaging == pytest.approx(0.99)
    assert settings.strength * settings.denoiser.averaging == pytest.approx(0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        run_pnp(simulate("deblur", IMAGE), settings, max_iter=3)
    with pytest.raises(InputError, match="unknown denoiser family"):
        choose_settings(simulate("deblur", IMAGE), "admm", family="deep")


def test_ct_admm_uses_its_fixed_level_inexact_steps_and_a_relaxation_inside_the_guarantee():
    from denoisers.parameters import DEFAULT_CONFIGURATION, PROX_TOLERANCE, RELAXATION

    for noise in (0.05, 0.5, 2.0):
        settings = choose_settings(simulate("ct", IMAGE, noise=noise), "admm")
        assert settings.family == DEFAULT_CONFIGURATION["ct"][1]
        assert 0 < settings.strength * settings.denoiser.certified_averagedness() <= 0.5  # firmly non-expansive
        assert (settings.denoiser_sigma, settings.denoiser_sigma / settings.scale) == (
            served_level(ADMM_LEVEL["ct"], available_sigmas("firm"))[0], pytest.approx(ADMM_LEVEL["ct"]))
        assert settings.relaxation == RELAXATION["ct"] and 0 < settings.relaxation < 2
        assert settings.prox_tolerance == PROX_TOLERANCE["ct"] > 0
    deblur = choose_settings(simulate("deblur", IMAGE), "admm")
    assert deblur.relaxation == 1.0 and deblur.prox_tolerance is None


@pytest.mark.parametrize("name", ["denoise", "deblur", "inpaint", "ct"])
def test_each_problem_stops_at_its_own_tolerance(name):
    from denoisers.parameters import STOP_TOLERANCE, STOP_TOLERANCE_DEFAULT

    for algorithm in ("fbs", "admm"):
        settings = choose_settings(simulate(name, IMAGE), algorithm)
        assert settings.tol == STOP_TOLERANCE[algorithm].get(name, STOP_TOLERANCE_DEFAULT) > 0
    # FBS's small steps would meet a loose tolerance at once: it keeps the default everywhere
    assert choose_settings(simulate(name, IMAGE), "fbs").tol == STOP_TOLERANCE_DEFAULT


def test_a_run_stops_at_the_settings_tolerance_unless_told_otherwise():
    problem = simulate("deblur", torch.rand(24, 24, generator=torch.Generator().manual_seed(0)), seed=0)
    settings = replace(choose_settings(problem, "admm", non_local=False), tol=1e-2)
    loose, strict = run_pnp(problem, settings), run_pnp(problem, settings, tol=1e-5)
    assert loose.converged and strict.converged and loose.iterations < strict.iterations
    assert loose.trace.relative_residual[-1] <= 1e-2 < loose.trace.relative_residual[-2]
    assert strict.trace.relative_residual[-1] <= 1e-5


def test_ct_reconstruction_at_the_defaults_converges_within_its_error_allowance():
    from denoisers.pnp import residual_non_increasing
    from denoisers.problems import simulate_ct_relative

    image = torch.zeros(32, 32)
    image[8:24, 10:20] = 0.8
    problem = simulate_ct_relative(image, 12, 0.01, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = run_pnp(problem, choose_settings(problem, "admm"), max_iter=300)
    assert result.converged and residual_non_increasing(result)
    assert sum(result.trace.prox_steps) > 0 and all(e >= 0 for e in result.trace.step_error)


def test_relative_ct_noise_is_the_fraction_of_the_sinogram_peak():
    from denoisers.problems import simulate_ct_relative

    image = torch.rand(24, 24, generator=torch.Generator().manual_seed(0))
    problem = simulate_ct_relative(image, 8, 0.02, seed=3)
    clean = problem.operator.A(problem.truth)
    assert problem.noise == pytest.approx(0.02 * float(clean.max()))
    assert torch.equal(problem.y, simulate("ct", image, noise=problem.noise, seed=3, angles=8).y)
    with pytest.raises(InputError, match="peak"):
        simulate_ct_relative(image, 8, -0.1)


@pytest.mark.parametrize("name", ["denoise", "deblur", "inpaint", "superres", "ct"])
def test_unnamed_algorithm_and_family_give_the_problems_best_certified_configuration(name):
    from denoisers.parameters import DEFAULT_CONFIGURATION

    settings = choose_settings(simulate(name, IMAGE))
    algorithm, family = DEFAULT_CONFIGURATION[name]
    assert settings.algorithm == algorithm
    assert settings.denoiser.averaging == load_denoiser(settings.denoiser_sigma, family).averaging
    other = "admm" if algorithm == "fbs" else "fbs"
    assert choose_settings(simulate(name, IMAGE), other).denoiser.averaging == 0.5  # firm for the other algorithm


def test_a_stages_seconds_include_building_its_filter():
    problem = simulate("denoise", torch.rand(16, 16, generator=torch.Generator().manual_seed(0)), noise=0.1)
    settings = choose_settings(problem, non_local=False)

    class SlowToBuild:
        def blend(self, guide, denoiser, sigma):
            time.sleep(0.2)
            return NonLocalBlend(denoiser, denoiser, 0.5)

    first = run_pnp(problem, settings, max_iter=3)
    chained, _ = refine(problem, settings, first, SlowToBuild(), relaxed_prior(settings), max_iter=3)
    assert chained.stages[-1].seconds >= 0.2 and chained.seconds >= first.seconds + 0.2


def test_inverse_problems_and_strong_noise_run_the_collaborative_stage_first():
    problem = simulate("deblur", torch.rand(32, 32, generator=torch.Generator().manual_seed(1)))
    settings = choose_settings(problem)
    assert settings.stages == (COLLABORATIVE_FIRST["deblur"], NON_LOCAL["deblur"])
    assert choose_settings(simulate("ct", IMAGE)).stages == (COLLABORATIVE_FIRST["ct"], NON_LOCAL["ct"])
    for name in ("superres", "inpaint"):
        assert choose_settings(simulate(name, IMAGE)).stages == (COLLABORATIVE_FIRST[name], NON_LOCAL[name])
    for sigma, first in ((15, False), (25, False), (25.5, True), (50, True), (75, True)):
        stages = choose_settings(simulate("denoise", IMAGE, noise=sigma / 255)).stages
        assert stages == ((COLLABORATIVE_FIRST["denoise"], NON_LOCAL["denoise"]) if first else
                          (NON_LOCAL["denoise"], COLLABORATIVE["denoise"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        chained = run_pnp(problem, settings, max_iter=4)
        first = run_pnp(problem, replace(settings, stages=()), max_iter=4)
        collaborative, prior = refine(problem, settings, first, COLLABORATIVE_FIRST["deblur"], relaxed_prior(settings), max_iter=4)
        expected, _ = refine(problem, settings, collaborative, NON_LOCAL["deblur"], prior, max_iter=4)
    assert len(chained.stages) == 3
    assert torch.equal(chained.stages[1].x, collaborative.x) and torch.equal(chained.x, expected.x)


def test_denoising_between_shipped_levels_scales_the_next_level_up_instead_of_relaxing_it():
    truth = torch.from_numpy(resize(data.camera(), (96, 96), anti_aliasing=True)).float()
    problem = simulate("denoise", truth, noise=35 / 255, seed=0)
    settings = choose_settings(problem, family="ridge")
    assert (settings.denoiser_sigma, settings.strength, settings.scale) == (50, 1.0, 50 / 35)
    assert settings.effective_level == pytest.approx(35)
    relaxed = replace(settings, scale=1.0, strength=(35 / 50) ** 2)  # the rule before: keeps part of the noise
    assert psnr(run_pnp(problem, settings).x, truth) > psnr(run_pnp(problem, relaxed).x, truth) + 1.0
    assert choose_settings(simulate("denoise", truth, noise=25 / 255), family="ridge").scale == 1.0  # a shipped level as it is
    faint = choose_settings(simulate("denoise", truth, noise=1 / 255), family="ridge")  # scaled by MAX_SCALE, then relaxed
    assert (faint.denoiser_sigma, faint.scale) == (15, MAX_SCALE) and faint.strength == pytest.approx((MAX_SCALE / 15) ** 2)
    assert faint.effective_level == pytest.approx(1)
    assert choose_settings(simulate("deblur", truth), "fbs").scale == 1.0  # other problems relax toward the data


def test_default_denoising_runs_the_conditioned_model_at_the_noise_level_and_scales_below_its_range():
    truth = torch.from_numpy(resize(data.camera(), (96, 96), anti_aliasing=True)).float()
    settings = choose_settings(simulate("denoise", truth, noise=35 / 255))
    assert settings.family == "conditioned" and settings.denoiser.noise_conditioned
    assert (settings.denoiser_sigma, settings.strength, settings.scale) == pytest.approx((35, 1.0, 1.0))
    faint = choose_settings(simulate("denoise", truth, noise=1 / 255))  # the range's end scaled by MAX_SCALE, then relaxed
    assert (faint.denoiser_sigma, faint.scale) == (CONDITIONED_RANGE[0], MAX_SCALE)
    assert faint.effective_level == pytest.approx(1) and faint.denoiser.sigma == CONDITIONED_RANGE[0]


def _conditioned():
    model = AveragedDenoiser(**{**CONDITIONED_RIDGE, "hidden_channels": 4, "kernel_size": 5})
    with torch.no_grad():
        model.network[1].activation.log_radius[1].fill_(1.0)  # thresholds grow with the level
    return model


@pytest.mark.parametrize(("sigma", "level", "scale"), [(3.0, 5.0, 5 / 3), (12.5, 12.5, 1.0), (50.0, 50.0, 1.0), (60.0, 50.0, 50 / 60)])
def test_a_noise_conditioned_denoiser_denoises_at_the_noise_level_inside_its_range(sigma, level, scale):
    model = _conditioned()
    problem = simulate("denoise", torch.rand(24, 24, generator=torch.Generator().manual_seed(0)), noise=sigma / 255)
    settings = choose_settings(problem, denoiser=model)
    assert (settings.denoiser_sigma, settings.scale, settings.strength) == pytest.approx((level, scale, 1.0))
    assert settings.denoiser is not model and settings.denoiser.sigma == level and model.sigma == 25.0
    assert settings.effective_level == pytest.approx(sigma)
    with torch.no_grad():
        expected = model(problem.y.reshape(1, 1, 24, 24) * scale, level) / scale
        assert torch.allclose(run_pnp(problem, replace(settings, stages=())).x.reshape(expected.shape), expected, atol=1e-6)
    assert relaxed_prior(settings).certified_averagedness() == 0.99


def test_admm_runs_a_noise_conditioned_denoiser_at_the_rules_level_or_the_one_asked():
    model = _conditioned()
    problem = simulate("deblur", IMAGE, noise=0.01)
    settings = choose_settings(problem, "admm", denoiser=model)
    assert settings.denoiser_sigma == ADMM_MIN_LEVEL["deblur"] and settings.scale == 1.0
    k = REGULARISATION["admm"]["deblur"]
    assert settings.penalty == pytest.approx(admm_penalty(ADMM_MIN_LEVEL["deblur"], settings.strength, k, 0.01))
    noisy = simulate("deblur", IMAGE, noise=0.12)
    assert choose_settings(noisy, "admm", denoiser=model).denoiser_sigma == pytest.approx(255 * 0.12 * k)
    asked = choose_settings(problem, "admm", level=30, denoiser=model)
    assert (asked.denoiser_sigma, asked.scale, asked.denoiser.sigma) == (30, 1.0, 30)
    with pytest.raises(InputError, match="a given denoiser has its own level"):
        choose_settings(problem, "admm", level=30, denoiser=load_denoiser(25))


def test_a_conditioned_level_outside_the_range_is_its_nearer_end_scaled():
    assert conditioned_level(20.0) == (20.0, 1.0)
    assert conditioned_level(2.0) == (CONDITIONED_RANGE[0], CONDITIONED_RANGE[0] / 2.0)
    assert conditioned_level(100.0) == (CONDITIONED_RANGE[1], CONDITIONED_RANGE[1] / 100.0)
    with pytest.raises(InputError, match="positive number"):
        conditioned_level(0.0)
    with pytest.raises(ValueError, match="not noise-conditioned"):
        load_denoiser(25, "ridge").at_level(15.0)
