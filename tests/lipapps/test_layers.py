"""Every Lipschitz layer of the suite, run through one contract: certified and unbeatable.

After many aggressive optimiser steps (large learning rate, a loss that pushes the gain up), the
certificate must stay <= 1 (+ float rounding) and an adversarial search must not find a ratio
above the certificate. Both constraint modes.
"""

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lipapps
from lipapps import spectral

TOL = 1e-5
CONSTRAINTS = ["parametrization", "projection"]


def dense_resnet(cfg, constraint):
    return lipapps.LipschitzResNet(
        cfg["in"], cfg["out"], width=cfg["width"], depth=cfg["depth"], hidden=cfg["hidden"], fixed_width=False, constraint=constraint
    ), (cfg["in"],)


def fixed_width_resnet(cfg, constraint):
    return lipapps.LipschitzResNet(
        cfg["in"], cfg["out"], width=cfg["in"] + 3 + cfg["width"] % 4, depth=cfg["depth"], hidden=cfg["hidden"], fixed_width=True, constraint=constraint
    ), (cfg["in"],)


def conv_stack(cfg, constraint):
    c = 1 + cfg["in"] % 3
    model = nn.Sequential(
        lipapps.LipschitzConv2d(c, cfg["width"], kernel_size=3, constraint=constraint),
        lipapps.ConvGradientFlowBlock(cfg["width"], cfg["hidden"], kernel_size=3, constraint=constraint),
        lipapps.ConvGradientFlowBlock(cfg["width"], cfg["hidden"], kernel_size=5, step_size=1.0, constraint=constraint),
        lipapps.LipschitzConv2d(cfg["width"], cfg["out"], kernel_size=1, constraint=constraint),
    )
    return model, (c, 6, 6)


def spline_conv_stack(cfg, constraint):
    """Gradient flow blocks with learned monotone spline activations (lipapps.activations)."""
    c = 1 + cfg["in"] % 3
    model = nn.Sequential(
        lipapps.ConvGradientFlowBlock(c, cfg["hidden"], kernel_size=3, activation="spline", constraint=constraint),
        lipapps.ConvGradientFlowBlock(c, cfg["hidden"], kernel_size=5, step_size=1.0, activation="spline", constraint=constraint),
    )
    return model, (c, 6, 6)


def wide_resnet(cfg, constraint):
    """Maps wider than DIRECT_EIGENVALUE_SIZE: the power-step + Cholesky fast path and its fallbacks."""
    width = spectral.DIRECT_EIGENVALUE_SIZE + 8 + cfg["width"]
    return lipapps.LipschitzResNet(
        cfg["in"], cfg["out"], width=width, depth=min(cfg["depth"], 2), fixed_width=False, constraint=constraint
    ), (cfg["in"],)


def injected_flow(cfg, constraint):
    """Gradient-flow steps that each see the lifted input again (lipapps.InputInjection)."""
    steps = [lipapps.GradientFlowBlock(cfg["width"], cfg["hidden"], constraint=constraint) for _ in range(max(cfg["depth"], 1))]
    model = nn.Sequential(
        lipapps.LipschitzLinear(cfg["in"], cfg["width"], constraint=constraint),
        lipapps.InputInjection(steps, injection=(cfg["seed"] % 5) / 5),
        lipapps.LipschitzLinear(cfg["width"], cfg["out"], constraint=constraint),
    )
    return model, (cfg["in"],)


LAYER_REGISTRY = {
    "resnet": dense_resnet, "fixed_width_resnet": fixed_width_resnet, "wide_resnet": wide_resnet, "conv": conv_stack,
    "injected": injected_flow, "spline_conv": spline_conv_stack,
}


def hammer(model, input_shape, steps, lr, seed):
    """Aggressive Adam steps on a loss that rewards large output differences (gain up)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        x = torch.randn((16, *input_shape), generator=gen)
        out = model(x)
        loss = -(out - out.roll(1, 0)).pow(2).sum() - out.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        lipapps.project_(model)
    model.eval()
    return model


configs = st.fixed_dictionaries(
    {
        "in": st.integers(1, 5),
        "out": st.integers(1, 3),
        "width": st.integers(2, 12),
        "hidden": st.integers(1, 12),
        "depth": st.integers(0, 4),
        "seed": st.integers(0, 1000),
        "lr": st.sampled_from([0.1, 1.0, 10.0]),
    }
)


@pytest.mark.parametrize("kind", sorted(LAYER_REGISTRY))
@pytest.mark.parametrize("constraint", CONSTRAINTS)
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs)
def test_certified_after_aggressive_training(kind, constraint, cfg):
    torch.manual_seed(cfg["seed"])
    model, shape = LAYER_REGISTRY[kind](cfg, constraint)
    hammer(model, shape, steps=15, lr=cfg["lr"], seed=cfg["seed"])
    bound = lipapps.certify(model, input_shape=shape if kind in ("conv", "spline_conv") else None).upper_bound
    assert bound <= 1 + TOL
    x = 3 * torch.randn((8, *shape), generator=torch.Generator().manual_seed(cfg["seed"]))
    found = lipapps.empirical_lipschitz(model, x, steps=30, power_iterations=5)
    assert found <= bound * (1 + 1e-4)


def test_unconstrained_model_is_caught_by_the_certificate():
    model = lipapps.LipschitzResNet(3, 2, width=8, depth=2, constraint="none")
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    bound = lipapps.certify(model).upper_bound
    found = lipapps.empirical_lipschitz(model, torch.randn(32, 3))
    assert found > 1.5
    assert found <= bound * (1 + 1e-4)


def test_adversarial_search_finds_the_gain_of_a_linear_map():
    lin = nn.Sequential(lipapps.LipschitzLinear(4, 4, constraint="none"))
    with torch.no_grad():
        lin[0].weight.copy_(torch.diag(torch.tensor([3.0, 1.0, 0.5, 0.1])))
    assert lipapps.empirical_lipschitz(lin, torch.randn(8, 4)) == pytest.approx(3.0, rel=1e-3)
    assert lipapps.certify(lin).upper_bound == pytest.approx(3.0, rel=1e-6)


@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_dynamic_isometry_at_initialisation(constraint):
    """Orthogonal W and tau = 2: each block's Jacobian is orthogonal, so gains are ~1 everywhere."""
    block = lipapps.GradientFlowBlock(6, 6, constraint=constraint)
    x = torch.randn(1, 6)
    jac = torch.autograd.functional.jacobian(lambda z: block(z), x).reshape(6, 6)
    sv = torch.linalg.svdvals(jac)
    assert torch.allclose(sv, torch.ones(6), atol=5e-3)  # up to the constraint's 1e-3 slack


def test_step_size_and_width_are_validated():
    with pytest.raises(ValueError, match="step_size"):
        lipapps.GradientFlowBlock(3, 3, step_size=2.5)
    with pytest.raises(ValueError, match="in_features \\+ 3"):
        lipapps.LipschitzResNet(5, 1, width=7, fixed_width=True)
    with pytest.raises(ValueError, match="constraint"):
        lipapps.LipschitzLinear(2, 2, constraint="clip")
    with pytest.raises(ValueError, match="init"):
        lipapps.LipschitzLinear(2, 2, init="zeros")


def test_theorem_41_affine_maps_start_as_the_identity():
    """The maps A_i between fixed-width blocks are initialised to I (see LipschitzResNet)."""
    model = lipapps.LipschitzResNet(3, 2, width=9, depth=3, fixed_width=True)
    between = [m for m in model.layers[1:-1] if isinstance(m, lipapps.LipschitzLinear)]
    assert len(between) == 2
    for layer in between:
        assert torch.allclose(layer.weight, torch.eye(9), atol=1e-3)  # up to the checked slack


def test_vector_outputs_and_batch_shapes():
    model = lipapps.LipschitzResNet(7, 4, width=12, depth=3, fixed_width=True)
    assert model(torch.randn(5, 7)).shape == (5, 4)
    block = lipapps.ConvGradientFlowBlock(3, 5)
    assert block(torch.randn(2, 3, 9, 11)).shape == (2, 3, 9, 11)


def test_input_injection_certifies_by_its_recursion():
    """Expansive steps: the bound is (1 - a) b L + a step by step, and no pair beats it."""
    steps = [lipapps.GradientFlowBlock(3, 4, constraint="none") for _ in range(3)]
    with torch.no_grad():
        for step in steps:
            step.weight.mul_(2.0)
    flow = lipapps.InputInjection(steps, injection=0.25)
    expected = 1.0
    for step in steps:
        expected = 0.75 * step.lipschitz_bound() * expected + 0.25
    assert lipapps.certify(flow).upper_bound == pytest.approx(expected, rel=1e-12)
    assert lipapps.empirical_lipschitz(flow, torch.randn(16, 3)) <= expected * (1 + 1e-4)
    assert lipapps.certify(lipapps.InputInjection(steps, injection=1.0)).upper_bound == 1.0


def test_input_injection_is_validated():
    with pytest.raises(ValueError, match="injection"):
        lipapps.InputInjection([nn.Identity()], injection=1.5)
