"""The monotone splines (plain and conditioned) keep every slope in [0, 1] whatever their parameters, so blocks stay certified."""

import pytest
import torch

from lipapps.activations import ConditionedMonotoneSpline, MonotoneSpline


def scrambled(channels=3, knots=7, seed=0):
    spline = MonotoneSpline(channels, knots=knots)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in spline.parameters():
            p.copy_(8 * torch.randn(p.shape, generator=gen))  # far outside the initial values
    return spline


@pytest.mark.parametrize("seed", range(5))
def test_any_parameters_give_a_non_decreasing_1_lipschitz_profile_through_zero(seed):
    spline = scrambled(seed=seed).double()
    z = torch.linspace(-50, 50, 20001, dtype=torch.float64).view(1, 1, -1).expand(1, 3, -1).contiguous()
    with torch.no_grad():
        s = spline(z)
        slopes = (s[..., 1:] - s[..., :-1]) / (z[..., 1:] - z[..., :-1])
        assert slopes.min() >= -1e-9 and slopes.max() <= 1 + 1e-9
        assert spline(torch.zeros(1, 3, 1)).abs().max() == 0


def test_it_is_the_piecewise_linear_interpolant_of_its_knot_values():
    spline = scrambled(channels=1, knots=5, seed=7)
    with torch.no_grad():
        radius = spline.log_radius.exp().item()
        knots = torch.linspace(-radius, radius, 5)
        values = spline(knots.view(1, 1, -1)).flatten()
        middle = 0.5 * (knots[1:] + knots[:-1])
        expected = 0.5 * (values[1:] + values[:-1])
        assert torch.allclose(spline(middle.view(1, 1, -1)).flatten(), expected, atol=1e-6 * radius)
        inner = spline.slopes()[0, 1:-1]
        assert torch.allclose((values[1:] - values[:-1]) / (knots[1:] - knots[:-1]), inner, atol=1e-4)


def test_it_starts_as_a_clip_at_half_its_radius():
    spline = MonotoneSpline(2, knots=21, radius=0.2)
    z = torch.tensor([-1.0, -0.05, 0.0, 0.05, 1.0]).view(1, 1, -1).expand(1, 2, -1)
    with torch.no_grad():
        assert torch.allclose(spline(z)[0, 0], torch.tensor([-0.1, -0.05, 0.0, 0.05, 0.1]), atol=0.02)


def test_gradients_reach_every_parameter():
    spline = MonotoneSpline(2, knots=5)
    spline(0.3 * torch.randn(4, 2, 8, 8)).pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in spline.parameters())


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="knots must be odd"):
        MonotoneSpline(2, knots=4)
    with pytest.raises(ValueError, match="radius must be positive"):
        MonotoneSpline(2, radius=0.0)
    with pytest.raises(ValueError, match="expected 2 channels"):
        MonotoneSpline(2)(torch.zeros(1, 3, 4))


def test_nan_inputs_give_nan_outputs():
    out = MonotoneSpline(1)(torch.tensor([[[float("nan"), 0.01]]])).flatten()
    assert out[0].isnan() and out[1].isfinite()


def scrambled_conditioned(channels=3, knots=7, seed=0):
    """Slope logits far outside their start; span and shift within a few e-folds (a span of e^20 shifted
    by 30 spans puts the outputs near 1e10, where float64 difference quotients of steps 0.006 are noise)."""
    spline = ConditionedMonotoneSpline(channels, knots=knots)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in spline.named_parameters():
            p.copy_((8 if name.endswith("logits") else 1) * torch.randn(p.shape, generator=gen))
    return spline


@pytest.mark.parametrize("seed", range(3))
def test_a_conditioned_spline_is_non_decreasing_and_1_lipschitz_at_every_condition(seed):
    spline = scrambled_conditioned(seed=seed).double()
    z = torch.linspace(-60, 60, 20001, dtype=torch.float64).view(1, 1, -1).expand(5, 3, -1).contiguous()
    conditions = torch.tensor([-2.0, -0.7, 0.0, 0.4, 1.5], dtype=torch.float64)
    with torch.no_grad():
        s = spline(z, conditions)
    slopes = (s[..., 1:] - s[..., :-1]) / (z[..., 1:] - z[..., :-1])
    assert slopes.min() >= -1e-9 and slopes.max() <= 1 + 1e-9


def test_each_sample_gets_the_spline_of_its_own_condition():
    spline = scrambled_conditioned(seed=4)
    z = torch.randn(3, 3, 5, 5, generator=torch.Generator().manual_seed(0))
    conditions = torch.tensor([-1.0, 0.0, 0.6])
    with torch.no_grad():
        together = spline(z, conditions)
        for i, t in enumerate(conditions):
            assert torch.allclose(together[i : i + 1], spline(z[i : i + 1], float(t)), atol=1e-6)
        assert torch.equal(spline(z, 0.6), spline(z, torch.full((3,), 0.6)))


def test_at_degree_0_it_is_the_plain_spline_shifted():
    plain = scrambled(channels=2, knots=5, seed=3)
    conditioned = ConditionedMonotoneSpline(2, knots=5, degree=0)
    with torch.no_grad():
        conditioned.slope_logits[0].copy_(plain.slope_logits)
        conditioned.end_logits[0].copy_(plain.end_logits)
        conditioned.log_radius[0].copy_(plain.log_radius)
        conditioned.shift[0].copy_(torch.tensor([0.5, -0.25]))
        z = torch.randn(4, 2, 7, generator=torch.Generator().manual_seed(1))
        bias = plain.log_radius.exp() * torch.tensor([0.5, -0.25])
        for t in (-1.0, 0.0, 2.0):
            assert torch.allclose(conditioned(z, t), plain(z + bias.view(1, 2, 1)), atol=1e-6)


def test_a_conditioned_spline_names_bad_arguments():
    with pytest.raises(ValueError, match="degree must be non-negative"):
        ConditionedMonotoneSpline(2, degree=-1)
    with pytest.raises(ValueError, match="expected 2 channels"):
        ConditionedMonotoneSpline(2)(torch.zeros(1, 3, 4), 0.0)
