"""The unconstrained DnCNN-style baseline: a residual denoiser with a true (large) bound and no certificate."""

import pytest
import torch

import lipapps
from lipapps.errors import InputError
from denoisers.baselines import DnCNN, grid_ascent
from denoisers.operators import Blur, gaussian_kernel
from denoisers.pnp import ConvergenceWarning, pnp_fbs


def test_dncnn_is_the_input_minus_its_residual():
    torch.manual_seed(0)
    model = DnCNN(channels=4, depth=3)
    y = torch.rand(2, 1, 12, 12)
    assert torch.allclose(model(y), y - model.residual(y))
    with torch.no_grad():
        for p in model.residual.parameters():
            p.zero_()
    assert torch.equal(model(y), y)


def test_dncnn_bound_is_a_true_bound_and_it_has_no_certificate():
    torch.manual_seed(1)
    model = DnCNN(channels=4, depth=3)
    with torch.no_grad():
        for layer in model.residual:
            if isinstance(layer, torch.nn.Conv2d):
                layer.weight.mul_(3.0)
    bound = lipapps.certify(model).upper_bound
    assert bound > 1.0
    x = torch.rand(64, 1, 10, 10)
    assert lipapps.empirical_lipschitz(model, x) <= bound * (1 + 1e-5)
    assert model.certified_averagedness() is None


def test_dncnn_round_trips_and_pnp_warns_that_nothing_is_guaranteed(tmp_path):
    torch.manual_seed(2)
    model = DnCNN(channels=4, depth=3, sigma=25)
    path = tmp_path / "dncnn.pt"
    lipapps.save(model, path)
    loaded = lipapps.load(path)
    assert isinstance(loaded, DnCNN) and loaded.config() == model.config()
    x = torch.rand(1, 1, 9, 9)
    assert torch.equal(loaded(x), model(x))
    operator = Blur(gaussian_kernel(5, 1.0), (16, 16))
    y = operator.A(torch.rand(16, 16))
    with pytest.warns(ConvergenceWarning, match="no averagedness certificate"):
        pnp_fbs(operator, y, loaded, max_iter=3)


def test_dncnn_rejects_a_depth_below_two():
    with pytest.raises(ValueError, match="depth"):
        DnCNN(depth=1)


def test_a_retargeted_noise_level_is_saved(tmp_path):
    model = DnCNN(channels=4, depth=3, sigma=25)
    model.sigma = 50.0  # fine-tuning the sigma 25 weights for sigma 50
    lipapps.save(model, tmp_path / "dncnn50.pt")
    assert lipapps.load(tmp_path / "dncnn50.pt").sigma == 50.0


def test_oracle_ct_baselines_pick_the_best_of_their_grids():
    from denoisers.baselines import FBP_FILTERS, best_filtered_back_projection, best_sart, filtered_back_projection, sart
    from denoisers.metrics import psnr
    from denoisers.problems import simulate_ct_relative

    image = torch.zeros(32, 32)
    image[8:24, 10:20] = 0.8
    problem = simulate_ct_relative(image, 10, 0.02, seed=1)
    fbp, seconds, name = best_filtered_back_projection(problem.operator, problem.y, problem.truth)
    assert name in FBP_FILTERS and seconds >= 0
    assert psnr(fbp, problem.truth) == max(psnr(filtered_back_projection(problem.operator, problem.y, f), problem.truth)
                                           for f in FBP_FILTERS)
    best, _, sweeps = best_sart(problem.operator, problem.y, problem.truth, 4)
    assert 1 <= sweeps <= 4 and torch.equal(best, sart(problem.operator, problem.y, sweeps))
    assert psnr(best, problem.truth) >= max(psnr(sart(problem.operator, problem.y, s), problem.truth) for s in range(1, 5))


def test_grid_ascent_climbs_past_the_start_to_the_grid_maximum_scoring_each_point_once():
    calls = []

    def score(point):
        calls.append(point)
        level, factor = point
        return -((level - 60) ** 2) - 100 * (factor - 0.7) ** 2

    axes = ((10, 15, 25, 40, 60, 90), (0.5, 0.7, 1.0, 1.4, 2.0))
    assert grid_ascent(score, axes, (25, 1.0)) == (60, 0.7)
    assert len(calls) == len(set(calls)) < 30  # fewer than the whole grid, none twice


def test_grid_ascent_stops_at_a_local_maximum_and_rejects_a_start_off_the_grid():
    assert grid_ascent(lambda p: -abs(p[0] - 2), ((0, 1, 2, 3),), (0,)) == (2,)
    assert grid_ascent(lambda p: 0.0, ((0, 1),), (1,)) == (1,)  # ties do not move
    with pytest.raises(InputError, match="not a point of the grid"):
        grid_ascent(lambda p: 0.0, ((0, 1),), (5,))
