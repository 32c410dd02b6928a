import importlib
import sys

import pytest
import torch

dinv = pytest.importorskip("deepinv")
skimage_data = pytest.importorskip("skimage.data")

from lipapps import InputError  # noqa: E402

from denoisers.deepinv_adapter import DeepinvDenoiser  # noqa: E402
from denoisers.metrics import psnr  # noqa: E402


@pytest.fixture(scope="module")
def denoiser() -> DeepinvDenoiser:
    return DeepinvDenoiser()


@pytest.fixture(scope="module")
def camera() -> torch.Tensor:
    """A 64x64 crop of scikit-image's camera (bundled, no download), ``(1, 1, 64, 64)`` in ``[0, 1]``."""
    return torch.from_numpy(skimage_data.camera()[40:104, 220:284]).float().div(255.0).reshape(1, 1, 64, 64)


def test_is_a_deepinv_denoiser_keeping_shape_and_dtype(denoiser):
    assert isinstance(denoiser, dinv.models.Denoiser)
    assert denoiser.levels == [15, 25, 50]
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = denoiser(x, 0.1)
        assert out.shape == x.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
        assert denoiser(x.double(), 0.1).dtype == torch.float64
    with pytest.raises(InputError, match="B, C, H, W"):
        denoiser(x[0], 0.1)


def test_channels_are_denoised_independently(denoiser):
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    model = denoiser.models["25"]
    with torch.no_grad():
        out = denoiser(x, 25 / 255)
        expected = torch.stack([model(x[:, c : c + 1])[:, 0] for c in range(3)], dim=1)
    torch.testing.assert_close(out, expected)


def test_each_batch_element_gets_the_nearest_shipped_level(denoiser):
    x = torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    sigma = torch.tensor([0.0, 21.0, 40.0, 90.0]) / 255  # nearest: 15, 25, 50, 50
    with torch.no_grad():
        out = denoiser(x, sigma)
        expected = torch.cat([denoiser.models[str(s)](x[i : i + 1]) for i, s in enumerate([15, 25, 50, 50])])
    torch.testing.assert_close(out, expected)
    with pytest.raises(InputError, match="non-negative"):
        denoiser(x, -0.1)
    with pytest.raises(ValueError, match="batch size"):
        denoiser(x, torch.tensor([0.1, 0.2]))


def test_a_fixed_level_ignores_the_solver_sigma(denoiser):
    fixed = DeepinvDenoiser(sigma=50)
    x = torch.rand(1, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        torch.testing.assert_close(fixed(x, 0.01), denoiser(x, 50 / 255))
    with pytest.raises(InputError, match="available"):
        DeepinvDenoiser(sigma=7)


def test_certificate_and_firm_non_expansiveness(denoiser):
    """``a = 1/2``-averaged means firmly non-expansive: ``||D x - D y||^2 <= <D x - D y, x - y>``."""
    assert denoiser.certified_averagedness() == 0.5
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(8, 2, 24, 24, generator=gen)
    y = x + 0.1 * torch.randn(x.shape, generator=gen)
    with torch.no_grad():
        dx, dy = denoiser(x, 25 / 255), denoiser(y, 25 / 255)
    gap = (dx - dy).flatten(1)
    assert ((gap * gap).sum(1) <= (gap * (x - y).flatten(1)).sum(1) * (1 + 1e-4)).all()


def test_denoises_the_camera_crop(denoiser, camera):
    noisy = camera + 25 / 255 * torch.randn(camera.shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        estimate = denoiser(noisy, 25 / 255)
    assert psnr(estimate, camera) > psnr(noisy, camera) + 4.0


def _blur_problem(camera: torch.Tensor):
    physics = dinv.physics.BlurFFT(
        img_size=(1, 64, 64),
        filter=dinv.physics.functional.gaussian_blur(sigma=(1.0, 1.0)),
        noise_model=dinv.physics.GaussianNoise(sigma=0.03, rng=torch.Generator().manual_seed(6)),
    )
    return physics, physics(camera)


def test_pnp_pgd_in_deepinv_deblurs_with_non_increasing_steps(denoiser, camera):
    """deepinv's PGD iterates ``T = D o (I - g A^T (A . - y))``, averaged for ``g = 1 < 2 / ||A||^2``.

    The prior matters: the same 20 steps without it (Landweber) do not beat the measurement.
    """
    physics, y = _blur_problem(camera)
    landweber = dinv.optim.PGD(data_fidelity=dinv.optim.data_fidelity.L2(), stepsize=1.0, max_iter=20)
    with torch.no_grad():
        unregularised = landweber(y, physics)
    solver = dinv.optim.PGD(
        prior=dinv.optim.PnP(denoiser=denoiser),
        data_fidelity=dinv.optim.data_fidelity.L2(),
        stepsize=1.0,
        sigma_denoiser=25 / 255,
        max_iter=20,
        custom_metrics={"step": lambda _, previous, current: float((current - previous).norm())},
    )
    estimate, metrics = solver(y, physics, compute_metrics=True)
    assert estimate.shape == camera.shape
    assert psnr(estimate, camera) > max(psnr(y, camera), psnr(unregularised, camera)) + 3.0
    steps = metrics["step"][0]
    assert len(steps) == 20 and steps[-1] < 0.1 * steps[0]
    assert all(later <= earlier * (1 + 1e-3) + 1e-6 for earlier, later in zip(steps, steps[1:]))


@pytest.mark.parametrize("iteration", ["DRS", "ADMM"])
def test_pnp_splittings_from_optim_builder_improve_on_the_measurement(iteration, denoiser, camera):
    physics, y = _blur_problem(camera)
    solver = dinv.optim.optim_builder(
        iteration,
        prior=dinv.optim.PnP(denoiser=denoiser),
        data_fidelity=dinv.optim.data_fidelity.L2(),
        params_algo={"stepsize": 1.0, "g_param": 25 / 255},
        max_iter=10,
    )
    with torch.no_grad():
        estimate = solver(y, physics)
    assert psnr(estimate, camera) > psnr(y, camera) + 3.0


def test_missing_deepinv_gives_the_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepinv", None)
    monkeypatch.setitem(sys.modules, "deepinv.models", None)
    monkeypatch.delitem(sys.modules, "denoisers.deepinv_adapter")
    with pytest.raises(ImportError, match=r"pip install lipapps\[deepinv\]"):
        importlib.import_module("denoisers.deepinv_adapter")


def test_the_ridge_family_is_certified_averaged_and_denoises(camera):
    ridge = DeepinvDenoiser(family="ridge")
    assert ridge.levels == [15, 25, 50] and ridge.certified_averagedness() == 0.99
    noisy = camera + 25 / 255 * torch.randn(camera.shape, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        estimate = ridge(noisy, 25 / 255)
    assert psnr(estimate, camera) > psnr(noisy, camera) + 4.0
    with pytest.raises(InputError, match="unknown denoiser family"):
        DeepinvDenoiser(family="bm3d")
