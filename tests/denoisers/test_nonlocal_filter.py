import warnings

import pytest
import torch
from skimage import data
from skimage.transform import resize

from lipapps import InputError
from denoisers.metrics import psnr
from denoisers.nonlocal_filter import NonLocalBlend, NonLocalFilter, NonLocalSettings, half_offsets
from denoisers.parameters import COLLABORATIVE, NON_LOCAL, choose_settings
from denoisers.pnp import ConvergenceWarning, RelaxedDenoiser, residual_non_increasing
from denoisers.problems import simulate
from denoisers.reconstruct import run_pnp
from denoisers.weights import load_denoiser


def _guide(shape=(1, 1, 10, 13), seed=0) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def _dense_w(filter_: NonLocalFilter, shape: tuple[int, ...]) -> torch.Tensor:
    """The stored ``W`` as a float64 matrix (each column ``W e_j``, products of float32 weights exact in float64)."""
    n = shape[-2] * shape[-1]
    filter64 = NonLocalFilter.__new__(NonLocalFilter)
    filter64.regions = filter_.regions
    filter64.diagonal = filter_.diagonal.double()
    filter64.weights = [w.double() for w in filter_.weights]
    basis = torch.eye(n, dtype=torch.float64).reshape(n, 1, *shape[-2:])
    return filter64._apply_w(basis).reshape(n, n).T


def test_half_offsets_list_each_pair_of_the_window_once():
    offsets = half_offsets(3)
    assert len(offsets) == (7 * 7 - 1) // 2
    assert not set(offsets) & {(-dy, -dx) for dy, dx in offsets}


@pytest.mark.parametrize("bandwidth, radius, patch", [(0.05, 2, 3), (0.5, 3, 1), (0.01, 4, 5)])
def test_certificate_bounds_the_exact_norm_and_the_filter_is_firmly_non_expansive(bandwidth, radius, patch):
    shape = (1, 1, 9, 11)
    filter_ = NonLocalFilter(_guide(shape), bandwidth, radius, patch, sinkhorn_steps=10)
    assert filter_.scale_bound <= 1.0
    assert filter_.certified_averagedness() == 0.5
    w = _dense_w(filter_, shape)
    assert torch.equal(w, w.T)
    assert (w >= 0).all()
    eigenvalues = torch.linalg.eigvalsh(w)
    assert eigenvalues.abs().max() <= filter_.scale_bound
    # F = W^2, checked as the stored map computes it: ||F x - F z||^2 <= <F x - F z, x - z>
    gen = torch.Generator().manual_seed(1)
    x, z = torch.rand((2, *shape), generator=gen, dtype=torch.float64)
    fx, fz = filter_(x.float()).double(), filter_(z.float()).double()
    assert ((fx - fz) ** 2).sum() <= ((fx - fz) * (x - z)).sum() + 1e-5


def test_adversarial_search_does_not_beat_the_certificate():
    shape = (1, 1, 12, 12)
    filter_ = NonLocalFilter(_guide(shape, 3), 0.1, 3, 3, sinkhorn_steps=20)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    w = _dense_w(filter_, shape)
    optimiser = torch.optim.Adam([x], lr=0.05)
    for _ in range(200):  # maximise ||W x|| / ||x|| by gradient ascent
        optimiser.zero_grad()
        v = x.reshape(-1)
        (-(w @ v).norm() / v.norm()).backward()
        optimiser.step()
    v = x.detach().reshape(-1)
    assert float((w @ v).norm() / v.norm()) <= filter_.scale_bound


def test_a_batch_has_one_filter_per_image_and_shapes_are_checked():
    guides = _guide((2, 1, 8, 8))
    filter_ = NonLocalFilter(guides, 0.1, 2, 3)
    x = torch.rand(2, 1, 8, 8)
    out = filter_(x)
    alone = NonLocalFilter(guides[1:], 0.1, 2, 3)(x[1:])
    torch.testing.assert_close(out[1:], alone)
    assert filter_.certified_averagedness((2, 1, 8, 8)) == 0.5
    assert filter_.certified_averagedness((2, 1, 8, 9)) is None
    with pytest.raises(InputError, match="built for images of shape"):
        filter_(torch.rand(1, 1, 8, 8))


@pytest.mark.parametrize("kwargs, message", [({"bandwidth": 0.0}, "bandwidth"), ({"bandwidth": 0.1, "patch": 2}, "odd patch"),
                                             ({"bandwidth": 0.1, "radius": 0}, "radius"),
                                             ({"bandwidth": 0.1, "sinkhorn_steps": -1}, "sinkhorn_steps")])
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message):
        NonLocalFilter(_guide(), **kwargs)


def test_blend_is_averaged_as_its_parts_say():
    ridge = load_denoiser(25, "ridge")
    guide = _guide((1, 1, 16, 16))
    blend = NonLocalSettings(weight=0.6).blend(guide, ridge, 25)
    assert blend.certified_averagedness() == pytest.approx(0.6 * 0.5 + 0.4 * ridge.averaging)
    firm = load_denoiser(25)
    assert NonLocalBlend(blend.filter, firm, 0.3).certified_averagedness() == pytest.approx(0.5)
    assert NonLocalBlend(blend.filter, RelaxedDenoiser(firm, 0.5), 1.0).certified_averagedness() == 0.5
    with pytest.raises(InputError, match="weight"):
        NonLocalBlend(blend.filter, firm, 1.5)


def test_the_non_local_stage_beats_the_ridge_denoiser_on_a_photograph():
    truth = torch.from_numpy(resize(data.camera(), (96, 96), anti_aliasing=True)).float()
    noisy = truth + 25 / 255 * torch.randn(truth.shape, generator=torch.Generator().manual_seed(0))
    ridge = load_denoiser(25, "ridge")
    with torch.no_grad():
        guide = ridge(noisy[None, None])
        blended = NonLocalSettings().blend(guide, ridge, 25)(noisy[None, None])
    assert psnr(blended[0, 0], truth) > psnr(guide[0, 0], truth) + 0.3


def test_default_denoising_is_three_convergent_stages_each_blending_into_the_prior_before():
    torch.manual_seed(0)
    problem = simulate("denoise", torch.rand(24, 24), noise=25 / 255)
    settings = choose_settings(problem)
    non_local_stage, collaborative_stage = settings.stages
    assert settings.family == "conditioned" and settings.stages == (NON_LOCAL["denoise"], COLLABORATIVE["denoise"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = run_pnp(problem, settings, max_iter=5)
    assert len(result.stages) == 3 and result.converged and residual_non_increasing(result)
    assert result.iterations == sum(stage.iterations for stage in result.stages)
    prior = load_denoiser(25, "conditioned")
    with torch.no_grad():
        y = problem.y[None, None]
        blend = non_local_stage.blend(prior(y), prior, 25)
        non_local = blend(y)
        expected = collaborative_stage.blend(non_local, blend, 25)(y)[0, 0]  # blended into the previous prior
    assert torch.allclose(result.stages[1].x, non_local[0, 0], atol=1e-5)
    assert torch.allclose(result.x, expected, atol=1e-5)
    assert choose_settings(problem, non_local=False).stages == ()
