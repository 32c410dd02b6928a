import pytest
import torch

from lipapps import InputError
from denoisers.collaborative_filter import (
    CollaborativeSettings,
    CollaborativeWiener,
    _gain_cap,
    dct_matrix,
    haar_matrix,
    patch_transform,
    squared_norm_bound,
)
from denoisers.metrics import psnr


def smooth_image(size: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 1, 4, 4, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)[0, 0].clamp(0, 1)


def small_filter(guide: torch.Tensor, sigma: float = 25.0) -> CollaborativeWiener:
    return CollaborativeWiener(guide, sigma, patch=4, group=4, region=4, partitions=2)


def dense_matrix(filter_: CollaborativeWiener, shape: tuple[int, int]) -> torch.Tensor:
    n = shape[0] * shape[1]
    basis = torch.eye(n, dtype=torch.float64).reshape(n, *shape)
    return torch.stack([filter_(e).flatten() for e in basis], 1)


def test_transforms_are_orthonormal_and_their_norm_bounds_hold():
    for q in (dct_matrix(8), haar_matrix(16), dct_matrix(5), patch_transform(8)):
        gram = q.double() @ q.double().T
        assert torch.allclose(gram, torch.eye(len(q), dtype=torch.float64), atol=1e-6)
        assert squared_norm_bound(q) >= torch.linalg.matrix_norm(q.double(), 2).item() ** 2
    cap = _gain_cap(16, 8)
    assert 0.999 < cap <= 1.0
    assert cap * squared_norm_bound(haar_matrix(16)) * squared_norm_bound(patch_transform(8)) <= 1.0


def test_the_filter_is_symmetric_with_spectrum_in_zero_one_on_a_textured_guide():
    guide = torch.rand(10, 9, generator=torch.Generator().manual_seed(1))
    matrix = dense_matrix(small_filter(guide, sigma=40.0), (10, 9))
    assert torch.allclose(matrix, matrix.T, atol=1e-12)
    eigenvalues = torch.linalg.eigvalsh(matrix)
    assert eigenvalues.min() >= -1e-12 and eigenvalues.max() <= 1.0
    assert eigenvalues.max() > 0.5  # not trivially small: the guide's structure passes


def test_an_adversarial_search_does_not_beat_firm_non_expansiveness():
    guide = smooth_image(16)
    filter_ = small_filter(guide)
    x = torch.randn(2, 16, 16, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.Adam([x], lr=0.05)
    for _ in range(100):
        d = x[0] - x[1]
        out = filter_(x[0]) - filter_(x[1])
        ratio = out.norm() / d.norm()
        optimiser.zero_grad()
        (-ratio).backward()
        optimiser.step()
    with torch.no_grad():
        d = x[0] - x[1]
        out = filter_(x[0]) - filter_(x[1])
        assert out.norm() <= d.norm()
        assert out.pow(2).sum() <= (out * d).sum() + 1e-12  # ||C d||^2 <= <C d, d>


def test_it_denoises_a_smooth_image_given_a_clean_guide():
    truth = smooth_image(32)
    noisy = truth + 0.1 * torch.randn(32, 32, generator=torch.Generator().manual_seed(2))
    out = CollaborativeWiener(truth, 25.5)(noisy)
    assert psnr(out, truth) > psnr(noisy, truth) + 5


def test_certificate_is_for_the_guides_shape_and_the_blend_adds_up():
    guide = smooth_image(16)[None, None]
    filter_ = small_filter(guide)
    assert filter_.certified_averagedness(None) == 0.5
    assert filter_.certified_averagedness((1, 1, 16, 16)) == 0.5
    assert filter_.certified_averagedness((1, 1, 8, 8)) is None
    with pytest.raises(InputError, match="built for images of shape"):
        filter_(torch.zeros(1, 1, 8, 8))

    class HalfAveraged:
        def __call__(self, x):
            return x / 2

        def certified_averagedness(self, shape=None):
            return 0.25

    blend = CollaborativeSettings(weight=0.5, patch=4, group=4, region=4).blend(guide, HalfAveraged(), 25.0)
    assert blend.certified_averagedness((1, 1, 16, 16)) == pytest.approx(0.5 * 0.5 + 0.5 * 0.25)


@pytest.mark.parametrize("kwargs, message", [
    (dict(sigma=0.0), "noise level must be positive"),
    (dict(group=6), "power-of-two group"),
    (dict(region=6, group=4), "region\\^2 / group a power of two"),
    (dict(patch=0), "patch >= 1"),
])
def test_bad_settings_are_refused(kwargs, message):
    arguments = dict(sigma=25.0, patch=4, group=4, region=4)
    arguments.update(kwargs)
    with pytest.raises(InputError, match=message):
        CollaborativeWiener(smooth_image(16), **arguments)


@pytest.mark.parametrize("kwargs", [dict(group=6), dict(region=6, group=4), dict(partitions=0)])
def test_settings_of_a_shape_no_filter_takes_are_refused_when_made(kwargs):
    with pytest.raises(InputError, match="the collaborative filter needs"):
        CollaborativeSettings(**kwargs)


def test_a_batch_of_guides_is_refused():
    with pytest.raises(InputError, match="one grey image"):
        CollaborativeWiener(torch.zeros(2, 1, 8, 8), 25.0)
