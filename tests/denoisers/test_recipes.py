"""denoisers.recipes: the order of the training stages and where each starts."""

import pytest
import torch

from denoisers.model import CONDITIONED_RIDGE, MULTISCALE_RIDGE
from denoisers.recipes import FINETUNE_LR_DIVISOR, RESTART_LR_DIVISOR, Stage, conditioned_from_ridges, multiscale_from_ridge, training_stages
from denoisers.weights import load_denoiser

NAMES = {15: "s15", 25: "s25", 50: "s50"}


def test_sigma_25_first_then_fine_tuning_from_it() -> None:
    stages = training_stages([25, 15, 50], NAMES, 10, 0, 2, scratch_exists=False)
    assert stages == [Stage(25, 10, "s25", None, 1.0), Stage(15, 2, "s15", "s25", FINETUNE_LR_DIVISOR),
                      Stage(50, 2, "s50", "s25", FINETUNE_LR_DIVISOR)]


def test_a_restart_writes_an_intermediate_and_fine_tuning_starts_from_the_restart() -> None:
    stages = training_stages([25, 15], NAMES, 5, 3, 1, scratch_exists=False)
    assert stages == [Stage(25, 5, "s25_scratch", None, 1.0), Stage(25, 3, "s25", "s25_scratch", RESTART_LR_DIVISOR),
                      Stage(15, 1, "s15", "s25", FINETUNE_LR_DIVISOR)]


def test_a_finished_intermediate_is_not_trained_again() -> None:
    stages = training_stages([25, 15], NAMES, 5, 3, 1, scratch_exists=False, intermediate_done=True)
    assert stages == [Stage(25, 3, "s25", "s25_scratch", RESTART_LR_DIVISOR), Stage(15, 1, "s15", "s25", FINETUNE_LR_DIVISOR)]


def test_a_level_before_sigma_25_starts_from_scratch_unless_its_weights_exist() -> None:
    assert training_stages([15, 25], NAMES, 4, 0, 2, scratch_exists=False)[0] == Stage(15, 2, "s15", None, 1.0)
    assert training_stages([15], NAMES, 4, 0, 2, scratch_exists=True) == [Stage(15, 2, "s15", "s25", FINETUNE_LR_DIVISOR)]


def test_the_multiscale_warm_start_is_the_ridge_denoiser_with_its_step_scaled_by_the_branch_weight() -> None:
    """Full-resolution branch: exactly w_0^2 times the ridge step; the coarse branches add O(e^c)."""
    ridge = load_denoiser(25, "ridge")
    x = torch.rand(2, 1, 40, 36, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        step = x - ridge(x)
        alone = multiscale_from_ridge(ridge, coarse_logit=-60.0)  # coarse weights ~1e-13
        w0 = float(alone.network[1].operator.branch_weights()[0])
        assert torch.allclose(x - alone(x), w0**2 * step, atol=1e-6)
        damped = multiscale_from_ridge(ridge)
        gap = (x - damped(x) - step).norm() / step.norm()
    assert 0.01 < float(gap) < 0.1  # 2 e^-4 = 3.7% shorter, plus the coarse branches
    assert damped.config() == {**MULTISCALE_RIDGE, "sigma": 25.0, "step_size": 2.0, "injection": 0.0, "noise_conditioned": False, "filter_banks": 1,
                              "constraint": "parametrization"}
    assert damped.certified_averagedness() == 0.99


def test_the_multiscale_warm_start_needs_a_convex_ridge_denoiser() -> None:
    with pytest.raises(ValueError, match="convex-ridge"):
        multiscale_from_ridge(load_denoiser(25, "firm"))


def test_the_conditioned_warm_start_from_one_ridge_denoiser_is_it_scaled_to_each_level() -> None:
    """At level sigma it is D(m x) / m, m = 25 / sigma: how levels without weights are served."""
    ridge = load_denoiser(25, "ridge")
    model = conditioned_from_ridges([ridge])
    x = torch.rand(2, 1, 40, 36, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for sigma in (5.0, 15.0, 25.0, 50.0):
            m = 25.0 / sigma
            assert torch.allclose(model(x, sigma), ridge(m * x) / m, atol=1e-6)
    assert model.config() == {**CONDITIONED_RIDGE, "filter_banks": 1, "sigma": 25.0, "step_size": 2.0, "injection": 0.0,
                              "dilations": None, "coarse_kernel_size": 3, "constraint": "parametrization"}
    assert model.certified_averagedness() == 0.99


def test_the_conditioned_warm_start_from_the_shipped_levels_is_each_at_its_level() -> None:
    """One bank per level, mixed by a sharp softmax: at each level the shipped model, to the 0.5% leak of the mixture."""
    ridges = [load_denoiser(level, "ridge") for level in (15, 25, 50)]
    model = conditioned_from_ridges(ridges)
    x = torch.rand(2, 1, 40, 36, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        for ridge in ridges:
            step = x - ridge(x)
            assert float((model(x, ridge.sigma) - ridge(x)).norm() / step.norm()) < 0.01
        assert not torch.allclose(model(x, 20.0), ridges[0](x), atol=1e-3)
    assert model.network[1].banks == 3 and model.certified_averagedness() == 0.99


def test_the_conditioned_warm_start_needs_convex_ridge_denoisers_of_distinct_levels() -> None:
    with pytest.raises(ValueError, match="convex-ridge"):
        conditioned_from_ridges([load_denoiser(25, "firm")])
    with pytest.raises(ValueError, match="distinct levels"):
        conditioned_from_ridges([load_denoiser(25, "ridge")] * 2)
    with pytest.raises(ValueError, match="1 to 3 denoisers"):
        conditioned_from_ridges([])
