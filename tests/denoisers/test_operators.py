import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.transform import iradon, radon

from lipapps import InputError

from denoisers.operators import Blur, Downsampling, Identity, Inpainting, LinearOperator, gaussian_kernel, motion_kernel
from denoisers.radon import ParallelBeamCT, field_of_view, uniform_angles

OPERATORS = {
    "identity": lambda: Identity((20, 24)),
    "gaussian_blur": lambda: Blur(gaussian_kernel(7, 1.5), (20, 24)),
    "motion_blur": lambda: Blur(motion_kernel(7, 30.0), (20, 24)),
    "asymmetric_blur": lambda: Blur(torch.rand(3, 5, generator=torch.Generator().manual_seed(1)), (20, 24)),
    "inpainting": lambda: Inpainting.random((20, 24), 0.6, seed=1),
    "downsampling": lambda: Downsampling((20, 24), 2),
    "ct_even": lambda: ParallelBeamCT(24, uniform_angles(9)),
    "ct_odd": lambda: ParallelBeamCT(21, uniform_angles(7)),
}


@pytest.fixture(params=sorted(OPERATORS))
def operator(request):
    return OPERATORS[request.param]()


def test_adjoint_matches_forward(operator):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, *operator.image_shape, generator=gen)
    y = torch.randn(2, *operator.measurement_shape, generator=gen)
    lhs = (operator.A(x) * y).sum()
    rhs = (x * operator.A_adjoint(y)).sum()
    assert abs(float(lhs - rhs)) <= 1e-5 * max(1.0, abs(float(lhs)))


def test_norm_bound_is_an_upper_bound_and_nearly_tight(operator):
    v = torch.randn(*operator.image_shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for _ in range(60):
        v = operator.A_adjoint(operator.A(v))
        v = v / v.norm()
    estimate = float(operator.A(v).norm())
    bound = operator.norm_bound()
    assert estimate <= bound * (1 + 1e-6)
    assert bound <= 1.25 * estimate


def test_data_prox_solves_its_optimality_condition(operator):
    gen = torch.Generator().manual_seed(2)
    z = torch.randn(*operator.image_shape, generator=gen, dtype=torch.float64)
    y = torch.randn(*operator.measurement_shape, generator=gen, dtype=torch.float64)
    gamma = 0.7 / operator.norm_bound() ** 2
    x = operator.data_prox(z, y, gamma)
    gradient = operator.A_adjoint(operator.A(x) - y) + (x - z) / gamma
    assert float(gradient.norm()) <= 1e-4 * float(z.norm() / gamma)


def test_shape_errors_name_the_problem(operator):
    with pytest.raises(InputError, match="expects"):
        operator.A(torch.zeros(3, 3))


def test_blur_is_periodic_convolution_with_centred_kernel():
    kernel = torch.rand(5, 3, generator=torch.Generator().manual_seed(3))
    x = torch.rand(16, 18, generator=torch.Generator().manual_seed(4))
    ours = Blur(kernel, (16, 18)).A(x).numpy()
    reference = ndimage.convolve(x.numpy().astype(np.float64), kernel.numpy().astype(np.float64), mode="wrap")
    np.testing.assert_allclose(ours, reference, atol=1e-5)


@pytest.mark.parametrize("kernel", [gaussian_kernel(9, 2.0), motion_kernel(9, 0.0), motion_kernel(8, 45.0)])
def test_kernels_are_normalised_odd_and_centred(kernel):
    assert abs(float(kernel.sum()) - 1) < 1e-6 and (kernel >= 0).all()
    h, w = kernel.shape
    assert h % 2 == 1 and w % 2 == 1
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    assert abs(float((kernel * rows).sum()) - h // 2) < 1e-5
    assert abs(float((kernel * cols).sum()) - w // 2) < 1e-5


def test_radon_matches_scikit_image():
    n = 33
    yy, xx = np.mgrid[:n, :n]
    image = np.exp(-((yy - 14.0) ** 2 + (xx - 18.0) ** 2) / 30.0) + (np.abs(yy - 16) + np.abs(xx - 16) < 6)
    image[(yy - n // 2) ** 2 + (xx - n // 2) ** 2 > (n // 2) ** 2] = 0
    angles = uniform_angles(12)
    ours = ParallelBeamCT(n, angles).A(torch.tensor(image)).numpy()
    reference = radon(image, theta=angles.numpy(), circle=True).T
    np.testing.assert_allclose(ours, reference, atol=1e-5 * np.abs(reference).max())


def test_ct_initial_estimate_is_a_filtered_back_projection_like_scikit_image():
    n = 33
    yy, xx = np.mgrid[:n, :n]
    image = np.exp(-((yy - 14.0) ** 2 + (xx - 18.0) ** 2) / 30.0) + (np.abs(yy - 16) + np.abs(xx - 16) < 6)
    image[(yy - n // 2) ** 2 + (xx - n // 2) ** 2 > (n // 2) ** 2] = 0
    operator = ParallelBeamCT(n, uniform_angles(12))
    sinogram = operator.A(torch.tensor(image))
    ours = operator.initial_estimate(sinogram).numpy()
    reference = iradon(sinogram.numpy().T, theta=operator.angles.numpy(), filter_name="ramp", circle=True)
    assert np.linalg.norm(ours - reference) <= 0.05 * np.linalg.norm(reference)
    assert np.linalg.norm(ours - image) <= 1.1 * np.linalg.norm(reference - image)
    back_projection = LinearOperator.initial_estimate(operator, sinogram).numpy()
    assert np.linalg.norm(ours - image) < 0.5 * np.linalg.norm(back_projection - image)


def test_bad_operator_arguments_raise_input_error():
    with pytest.raises(InputError, match="divisible"):
        Downsampling((21, 20), 2)
    with pytest.raises(InputError, match="0 .* and 1"):
        Inpainting(torch.full((4, 4), 0.5))
    with pytest.raises(InputError, match="larger than the image"):
        Blur(torch.ones(9, 9), (5, 5))
    with pytest.raises(InputError, match="NaN"):
        Blur(torch.tensor([[float("nan")]]), (5, 5))
    with pytest.raises(InputError, match="angles"):
        uniform_angles(0)


def test_ct_data_prox_is_accurate_on_the_solution_for_float32_data_and_a_large_penalty():
    """The CT prox is a conjugate-gradient solve. With a large penalty ``gamma A^T y`` dominates
    the right-hand side, so a residual small relative to it can still leave a large error in
    ``x``; the solve must be accurate on ``x`` itself (against an explicit dense solve)."""
    operator = ParallelBeamCT(12, uniform_angles(6))
    gen = torch.Generator().manual_seed(3)
    truth = torch.rand(12, 12, generator=gen, dtype=torch.float64)
    y = (operator.A(truth) + 0.1 * torch.randn(*operator.measurement_shape, generator=gen, dtype=torch.float64)).float()
    z = torch.rand(12, 12, generator=gen).float()
    gamma = 5.0
    basis = torch.eye(144, dtype=torch.float64).reshape(144, 12, 12)
    matrix = torch.stack([operator.A(b).reshape(-1) for b in basis], dim=1)
    system = torch.eye(144, dtype=torch.float64) + gamma * matrix.T @ matrix
    exact = torch.linalg.solve(system, z.double().reshape(-1) + gamma * matrix.T @ y.double().reshape(-1))
    x = operator.data_prox(z, y, gamma)
    assert x.dtype == torch.float32
    assert float((x.double().reshape(-1) - exact).norm()) <= 1e-5 * float(exact.norm())


def _dense_ct_prox(operator, z, y, gamma):
    n = operator.image_shape[0]
    basis = torch.eye(n * n, dtype=torch.float64).reshape(n * n, n, n)
    matrix = torch.stack([operator.A(b).reshape(-1) for b in basis], dim=1)
    system = torch.eye(n * n, dtype=torch.float64) + gamma * matrix.T @ matrix
    return torch.linalg.solve(system, z.double().reshape(-1) + gamma * matrix.T @ y.double().reshape(-1)).reshape(n, n)


@pytest.mark.parametrize("max_error", [1e-1, 1e-3, 1e-6])
def test_inexact_ct_prox_error_bound_is_true_and_within_the_request(max_error):
    operator = ParallelBeamCT(12, uniform_angles(6))
    gen = torch.Generator().manual_seed(4)
    y = (operator.A(torch.rand(12, 12, generator=gen, dtype=torch.float64))).float()
    z = torch.rand(12, 12, generator=gen).float()
    gamma = 0.5
    exact = _dense_ct_prox(operator, z, y, gamma)
    solution = operator.inexact_data_prox(z, y, gamma, max_error)
    assert solution.x.dtype == torch.float32 and solution.steps >= 1
    assert float((solution.x.double() - exact).norm()) <= solution.error_bound <= max_error
    warm = operator.inexact_data_prox(z, y, gamma, max_error, guess=exact.float())
    assert warm.steps < solution.steps or warm.steps == 1


def test_closed_form_prox_is_exact_and_takes_no_steps():
    operator = Blur(gaussian_kernel(5, 1.0), (12, 12))
    z, y = torch.rand(12, 12), torch.rand(12, 12)
    solution = operator.inexact_data_prox(z, y, 0.3, 1e-9)
    assert solution.error_bound == 0.0 and solution.steps == 0
    assert torch.equal(solution.x, operator.data_prox(z, y, 0.3))


def test_inexact_prox_refuses_a_non_positive_tolerance():
    operator = ParallelBeamCT(12, uniform_angles(6))
    with pytest.raises(InputError, match="max_error"):
        operator.inexact_data_prox(torch.rand(12, 12), torch.rand(6, 12), 0.5, 0.0)


def test_only_ct_restricts_estimates_to_a_support(operator):
    x = torch.rand(2, *operator.image_shape, generator=torch.Generator().manual_seed(0))
    restricted = operator.restrict_to_support(x)
    if isinstance(operator, ParallelBeamCT):
        disc = field_of_view(operator.image_shape[0])
        assert torch.equal(restricted, x * disc) and not torch.equal(restricted, x)
        assert torch.equal(operator.restrict_to_support(restricted), restricted)  # a projection
    else:
        assert torch.equal(restricted, x)
