import warnings

import pytest
import torch

from lipapps import InputError

from denoisers.pnp import ConvergenceWarning
from denoisers.problems import simulate
from denoisers.parameters import ADMM_MIN_LEVEL, REGULARISATION, choose_settings
from denoisers.reconstruct import run_pnp
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


def test_a_floor_never_lowers_the_level_of_a_noisy_problem():
    assert choose_settings(simulate("deblur", IMAGE, noise=50 / 255), "admm").denoiser_sigma == 50


def test_bad_level_requests_are_refused():
    problem = simulate("deblur", IMAGE)
    with pytest.raises(InputError, match="no shipped denoiser for level 7"):
        choose_settings(problem, "admm", level=7)
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
    settings = choose_settings(problem, "fbs", family="ridge")
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
