"""Norm computations against exact references: SVD, and the explicit matrix of a convolution."""

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
import torch
import torch.nn.functional as F

import lipapps
from lipapps import spectral
from lipapps.constraints import UnitNormProjection, constrain_


def conv_matrix(kernel, h, w, padding):
    """The explicit matrix of x -> conv2d(x, kernel) on h x w images (zero padding)."""
    c_in = kernel.shape[1]
    eye = torch.eye(c_in * h * w, dtype=kernel.dtype).reshape(-1, c_in, h, w)
    return F.conv2d(eye, kernel, padding=padding).reshape(c_in * h * w, -1).T


@pytest.mark.parametrize("shape", [(5, 3), (3, 7), (20, 20), (64, 10)])
def test_projection_lands_in_the_unit_ball(shape):
    layer = torch.nn.Linear(shape[1], shape[0])
    with torch.no_grad():
        layer.weight.mul_(25.0)
    constrain_(layer, "weight", "projection")
    assert spectral.matrix_norm(layer.weight) <= 1.0
    sigma = torch.linalg.svdvals(layer.weight.detach().double())[0]
    assert sigma >= 1 - 2e-3  # projection onto the ball's boundary, up to the power-iteration slack


def test_projection_leaves_points_inside_the_ball_alone():
    weight = torch.randn(6, 4)
    weight = weight / torch.linalg.svdvals(weight)[0] * 0.5
    proj = UnitNormProjection(weight)
    before = weight.clone()
    proj.project_(weight)
    assert torch.equal(weight, before)


def test_parametrization_matches_svd():
    layer = lipapps.LipschitzLinear(9, 5)
    with torch.no_grad():
        layer.parametrizations.weight.original.copy_(torch.randn(5, 9) * 7)
    for _ in range(5):
        w = layer.weight
    sigma = torch.linalg.svdvals(w.detach().double())[0]
    assert 1 - 2e-3 <= sigma and spectral.matrix_norm(w) <= 1.0


def test_certified_bound_is_an_upper_bound_even_from_a_bad_start():
    weights = torch.randn(5, 30, 20)
    v = torch.zeros(5, 20)
    v[:, 0] = 1.0  # a poor warm start
    bounds = spectral.certified_matrix_bounds(weights, v, steps=2)
    exact = torch.linalg.svdvals(weights.double())[:, 0]
    assert torch.all(bounds.double() >= exact * (1 - 1e-7))
    assert torch.all(bounds.double() <= exact * 1.06)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_conv_transpose_is_the_exact_adjoint(k):
    kernel = torch.randn(4, 3, k, k, dtype=torch.float64)
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    y = torch.randn(2, 4, 7, 9, dtype=torch.float64)
    kx = F.conv2d(x, kernel, padding=k // 2)
    kty = F.conv_transpose2d(y, kernel, padding=k // 2)
    assert torch.allclose((kx * y).sum(), (x * kty).sum(), rtol=1e-10)


def test_circular_norm_is_exact_and_bounds_zero_padding():
    kernel = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    exact_zero = torch.linalg.matrix_norm(conv_matrix(kernel, 6, 5, 1), 2)
    circular = spectral.circular_conv_norm(kernel, (8, 7))
    gram = float(spectral.conv_gram_bound(kernel))
    assert exact_zero <= circular * (1 + 1e-12)
    assert circular <= gram * (1 + 1e-12)
    # circular conv on a grid: explicit matrix with wrap-around padding
    eye = torch.eye(2 * 8 * 7, dtype=torch.float64).reshape(-1, 2, 8, 7)
    circ = F.conv2d(F.pad(eye, (1, 1, 1, 1), mode="circular"), kernel).reshape(2 * 8 * 7, -1).T
    assert circular == pytest.approx(float(torch.linalg.matrix_norm(circ, 2)), rel=1e-10)


def test_gram_bound_is_tight_for_orthogonal_convolutions():
    q = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))[0]
    kernel = torch.zeros(4, 4, 3, 3, dtype=torch.float64)
    kernel[:, :, 1, 1] = q
    assert float(spectral.conv_gram_bound(kernel)) == pytest.approx(1.0, abs=1e-12)


def test_perron_weights_tighten_the_gram_bound():
    kernel = torch.randn(6, 5, 3, 3)
    q = torch.full((5,), 5 ** -0.5)
    loose = float(spectral.conv_gram_bound(kernel))
    for _ in range(30):
        spectral.perron_vector_(kernel, q)
    tight = float(spectral.conv_gram_bound(kernel, q))
    exact = spectral.circular_conv_norm(kernel, (32, 32))
    assert exact <= tight * (1 + 1e-6) <= loose * (1 + 1e-6)


@pytest.mark.parametrize("shape", [(5, 3), (3, 7), (100, 90)])
def test_tracked_vector_is_the_top_singular_vector(shape):
    """The normalisation's gradient uses v: it must follow the top singular vector as W changes."""
    layer = lipapps.LipschitzLinear(shape[1], shape[0])
    original = layer.parametrizations.weight.original
    with torch.no_grad():
        original.copy_(torch.randn(shape) * 3)
    for _ in range(5):
        layer.weight  # training-mode forward updates v
    u, _, vh = torch.linalg.svd(original.detach().double())
    top = vh[0] if shape[0] >= shape[1] else u[:, 0]
    v = layer.parametrizations.weight[0].v.double()
    assert abs(float(v @ top)) > 0.99


def test_certificate_of_trained_convolutions_needs_no_image_size():
    """The size-independent certificate is the tightest Gram bound, so it is <= what training enforced."""
    layer = lipapps.LipschitzConv2d(8, 1)
    opt = torch.optim.Adam(layer.parameters(), lr=0.5)
    for _ in range(20):
        loss = -layer(torch.randn(4, 8, 6, 6)).pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert lipapps.certify(layer).upper_bound <= 1.0
    kernel = layer.weight.detach().double()
    assert spectral.conv_perron_bound(kernel) >= spectral.circular_conv_norm(kernel, (16, 16)) * (1 - 1e-9)


def _drifting_bounds(bound, steps: int = 20):
    """``(bounds, exact)`` norms of 3 matrices (above DIRECT_EIGENVALUE_SIZE) that drift by small
    random steps from near-orthogonal rows, ``bound(weights, v)`` warm-started in one ``v``."""
    gen = torch.Generator().manual_seed(0)
    size = spectral.DIRECT_EIGENVALUE_SIZE + 16
    weights = torch.linalg.qr(torch.randn(3, size, size + 5, generator=gen).mT)[0].mT.contiguous()
    v = torch.randn(3, size, generator=gen)
    for _ in range(steps):
        weights += 1e-3 * torch.randn(weights.shape, generator=gen)
        yield bound(weights, v).double(), torch.linalg.svdvals(weights.double())[:, 0]


def test_fast_path_tracks_moving_weights_with_proved_bounds():
    """Warm-started power step + one Cholesky (matrices above DIRECT_EIGENVALUE_SIZE)."""
    for bounds, exact in _drifting_bounds(spectral.certified_matrix_bounds):
        assert torch.all(bounds >= exact * (1 - 1e-7))
        assert torch.all(bounds <= exact * 1.06)


def test_fast_path_rejects_a_warm_start_that_misses_the_top_direction():
    """A warm start orthogonal to the top singular vector underestimates ||W||: the Cholesky
    check must refuse that candidate and the fallback must still return an upper bound."""
    size = spectral.DIRECT_EIGENVALUE_SIZE + 8
    diag = torch.ones(size)
    diag[0] = 3.0
    weights = torch.diag(diag)[None]
    v = torch.zeros(1, size)
    v[0, 1] = 1.0  # eigenvector of W^T W for the eigenvalue 1, not 9
    bound = spectral.certified_matrix_bounds(weights, v)
    assert float(bound[0]) >= 3.0


@settings(max_examples=40, deadline=None)
@given(
    c_out=st.integers(1, 6),
    c_in=st.integers(1, 6),
    kh=st.sampled_from([1, 3, 5]),
    kw=st.sampled_from([3, 5]),
    grid=st.sampled_from([16, 32]),
    seed=st.integers(0, 10_000),
)
def test_grid_bound_is_above_the_norm_at_every_frequency(c_out, c_in, kh, kw, grid, seed):
    """sup over all frequencies, approximated from below on a 256 x 256 grid, never exceeds it."""
    kernel = torch.randn(c_out, c_in, kh, kw, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    bound = float(spectral.conv_grid_bound(kernel, grid))
    assert spectral.circular_conv_norm(kernel, (256, 256)) <= bound * (1 + 1e-10)
    # and it is the grid maximum divided by the documented slack, nothing looser
    grid_max = spectral.circular_conv_norm(kernel, (grid, grid))
    assert bound == pytest.approx(grid_max / spectral.grid_slack(kernel.shape, grid), rel=1e-9)


def test_grid_bound_holds_where_the_peak_falls_between_grid_points():
    """A single-channel kernel whose response peaks half-way between two of the grid's frequencies."""
    grid = 16
    # |K^(w)|^2 = k0^2 + d^2 + 2 k0 s cos w + (s^2 - d^2) cos^2 w with s = k1 + k-1, d = k1 - k-1,
    # largest at cos w = k0 s / (d^2 - s^2): put that at w = 2 pi 2.5 / grid
    s_, d_ = 1.0, 2.0
    k0 = (d_**2 - s_**2) * torch.cos(torch.tensor(2 * torch.pi * 2.5 / grid, dtype=torch.float64))
    kernel = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    kernel[0, 0, 1] = torch.stack([torch.tensor((s_ - d_) / 2, dtype=torch.float64), k0, torch.tensor((s_ + d_) / 2, dtype=torch.float64)])
    bound = float(spectral.conv_grid_bound(kernel, grid))
    fine = spectral.circular_conv_norm(kernel, (1024, 1024))
    assert spectral.circular_conv_norm(kernel, (grid, grid)) < fine  # the grid misses the peak
    assert fine <= bound * (1 + 1e-12)


def test_grid_bound_bounds_zero_padding_and_is_differentiable():
    kernel = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    bound = spectral.conv_grid_bound(kernel)
    exact_zero = torch.linalg.matrix_norm(conv_matrix(kernel.detach(), 6, 5, 1), 2)
    assert exact_zero <= float(bound.detach())
    bound.backward()
    assert kernel.grad is not None and torch.isfinite(kernel.grad).all() and kernel.grad.abs().sum() > 0


def test_certificate_never_exceeds_the_training_bound():
    """min(Perron, grid bounds) <= min(Gram bound with any weights, training-grid bound)."""
    kernel = torch.randn(8, 5, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    q = torch.rand(5, dtype=torch.float64) + 0.1
    enforced = min(float(spectral.conv_gram_bound(kernel, q)), float(spectral.conv_grid_bound(kernel)))
    certificate = spectral.conv_norm_certificate(kernel)
    assert spectral.circular_conv_norm(kernel, (128, 128)) <= certificate <= enforced * (1 + 1e-12)


def test_grid_too_coarse_for_the_kernel_is_refused():
    with pytest.raises(ValueError, match="too coarse"):
        spectral.conv_grid_bound(torch.randn(2, 2, 5, 5), grid=8)


@settings(max_examples=25, deadline=None)
@given(
    c_out=st.integers(1, 12),
    c_in=st.integers(1, 12),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 10_000),
)
def test_proved_grid_bound_is_the_grid_bound_up_to_its_slack(c_out, c_in, dtype, seed):
    """From a cold start and then warm: never below the exact grid bound, at most GRID_SLACK above it."""
    gen = torch.Generator().manual_seed(seed)
    kernel = torch.randn(c_out, c_in, 3, 3, dtype=dtype, generator=gen)
    exact = float(spectral.conv_grid_bound(kernel.to(torch.float64)))
    vectors = spectral.grid_vectors(tuple(kernel.shape))
    for _ in range(2):
        proved = float(spectral.proved_grid_bound(kernel, vectors, update=True))
        assert exact * (1 - 1e-6) <= proved <= exact * (1 + spectral.GRID_SLACK) * (1 + 1e-5)
        kernel = kernel + 1e-3 * torch.randn(kernel.shape, dtype=dtype, generator=gen)
        exact = float(spectral.conv_grid_bound(kernel.to(torch.float64)))


def test_proved_grid_bound_falls_back_to_the_float64_maximum_raised_by_its_error(monkeypatch):
    """When no float32 proof passes, the bound is the float64 grid maximum plus its rounding-error
    bound (the certificate's :func:`_grid_root` on the training grid), never a guessed margin."""
    from lipapps.spectral import conv

    monkeypatch.setattr(conv, "_proved_grid_top", lambda gram, rayleigh: None)
    kernel = torch.randn(12, 5, 3, 3, generator=torch.Generator().manual_seed(3))
    fallback = float(conv.proved_grid_bound(kernel, spectral.grid_vectors(tuple(kernel.shape)), update=True))
    k64 = kernel.to(torch.float64)  # already the smaller side (5 input channels)
    proved = conv._grid_root(k64, conv.conv_gram_kernel(k64), spectral.CONV_GRID) ** 0.5
    assert float(spectral.conv_grid_bound(kernel.to(torch.float64))) < fallback
    assert abs(fallback - proved) <= 1e-6 * proved


def test_proved_grid_bound_is_differentiable_like_the_grid_bound():
    kernel = torch.randn(6, 10, 3, 3, dtype=torch.float64, requires_grad=True)
    vectors = spectral.grid_vectors(tuple(kernel.shape))
    spectral.proved_grid_bound(kernel, vectors, update=True).backward()
    proved_grad = kernel.grad.clone()
    kernel.grad = None
    spectral.conv_grid_bound(kernel).backward()
    cosine = F.cosine_similarity(proved_grad.flatten(), kernel.grad.flatten(), dim=0)
    assert torch.isfinite(proved_grad).all() and cosine > 0.99


def test_grid_warm_starts_are_not_saved():
    """The warm starts live in a non-persistent buffer: files written before them still load."""
    conv = lipapps.LipschitzConv2d(3, 5, 3)
    assert not any("grid_vectors" in key for key in conv.state_dict())


def test_sync_free_dense_bounds_are_upper_bounds_tracking_moving_weights():
    """Every candidate checked at once, the smallest proved kept: tight once warm, always above."""
    for bounds, exact in _drifting_bounds(spectral.sync_free_matrix_bounds):
        assert torch.all(bounds >= exact * (1 - 1e-7))
    assert torch.all(bounds <= exact * (1 + 2e-3))  # Lanczos from the warm start: within the 1e-3 slack


def test_sync_free_dense_bound_falls_back_to_gershgorin_when_no_candidate_is_proved():
    """A warm start on an eigenvector of a smaller eigenvalue stays there: no candidate passes,
    and the Gershgorin bound still lies above the norm."""
    size = spectral.DIRECT_EIGENVALUE_SIZE + 8
    diag = torch.ones(size)
    diag[0] = 3.0
    v = torch.zeros(1, size)
    v[0, 1] = 1.0
    bound = spectral.sync_free_matrix_bounds(torch.diag(diag)[None], v)
    assert 9.0 * (1 + 1e-3) >= float(bound[0]) ** 2 >= 9.0


@settings(max_examples=20, deadline=None)
@given(c_out=st.integers(1, 6), c_in=st.integers(1, 6), k=st.sampled_from([3, 5]), seed=st.integers(0, 10_000))
@example(c_out=6, c_in=6, k=5, seed=1907)  # proved only from the fourth step (found by a CI-like run)
def test_sync_free_grid_bound_is_the_grid_bound_up_to_its_slack_where_proved(c_out, c_in, k, seed):
    kernel = torch.randn(c_out, c_in, k, k, generator=torch.Generator().manual_seed(seed))
    vectors = spectral.grid_vectors(tuple(kernel.shape))
    exact = float(spectral.conv_grid_bound(kernel.double()))
    q = torch.ones(c_in)
    for _ in range(8):  # a cold start, then warm ones: the power step converges, within the slack in a few
        bound, proved = spectral.sync_free_grid_bound(kernel, vectors, update=True)
        with spectral.sync_free():
            training = float(spectral.conv_training_bound(kernel, q, False, vectors.clone()))
        assert training >= spectral.circular_conv_norm(kernel, (96, 96)) * (1 - 1e-5)
        if bool(proved):
            assert exact * (1 - 1e-5) <= float(bound) <= exact * (1 + 5e-2)
    assert bool(proved)
