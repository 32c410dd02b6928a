"""The layers one by one: initialisation, validation, the input-injection recursion.

The property test that runs every layer through aggressive training is in test_constraints.py.
"""

import pytest
import torch
import torch.nn as nn

import lipapps
from lipapps.layers import GroupSort2

CONSTRAINTS = ["parametrization", "projection"]


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


@pytest.mark.parametrize("out_channels, dilation", [(1, 1), (1, 3), (2, 1)])
def test_conv_adjoint_is_the_transposed_convolution(out_channels, dilation):
    from lipapps.layers import conv_adjoint

    torch.manual_seed(0)
    weight = torch.randn(5, out_channels, 7, 7, dtype=torch.float64)
    padding = dilation * 3
    x = torch.randn(2, out_channels, 11, 9, dtype=torch.float64)
    z = torch.randn(2, 5, 11, 9, dtype=torch.float64)
    adjoint = conv_adjoint(z, weight, padding, dilation)
    reference = torch.nn.functional.conv_transpose2d(z, weight, padding=padding, dilation=dilation)
    assert adjoint.shape == x.shape and torch.allclose(adjoint, reference, rtol=0, atol=1e-12)
    kx = torch.nn.functional.conv2d(x, weight, padding=padding, dilation=dilation)
    assert torch.isclose((kx * z).sum(), (x * adjoint).sum(), rtol=1e-12)


def test_groupsort2_sorts_pairs_along_its_dim_and_is_certified_one_lipschitz():
    assert GroupSort2()(torch.tensor([[1.0, 3.0, 2.0, -1.0]])).tolist() == [[3.0, 1.0, 2.0, -1.0]]
    images = torch.randn(5, 6, 4, 4)
    out = GroupSort2(dim=1)(images)
    pairs = images.unflatten(1, (3, 2))
    assert torch.equal(out[:, 0::2], pairs.max(2).values) and torch.equal(out[:, 1::2], pairs.min(2).values)
    net = torch.nn.Sequential(GroupSort2(dim=1), torch.nn.Flatten())
    assert lipapps.certify(net).upper_bound == 1.0
    assert lipapps.empirical_lipschitz(net, images, steps=30) <= 1.0 + 1e-6  # an isometry on each piece
    with pytest.raises(ValueError, match="even size"):
        GroupSort2(dim=1)(torch.randn(2, 3, 4, 4))


def test_a_conditioned_block_mixes_its_banks_per_sample_as_one_kernel_per_level():
    block = lipapps.ConditionedConvGradientFlowBlock(2, 5, kernel_size=3, banks=3)
    with torch.no_grad():
        block.mixture_logits.normal_(generator=torch.Generator().manual_seed(0))
        x = torch.randn(3, 2, 9, 9, generator=torch.Generator().manual_seed(1))
        conditions = torch.tensor([-1.5, 0.0, 0.7])
        together = block(x, conditions)
        for i, t in enumerate(conditions.tolist()):
            assert torch.allclose(together[i : i + 1], block(x[i : i + 1], t), atol=1e-5)
        weights = block.mixture(conditions)
    assert torch.allclose(weights.sum(dim=1), torch.ones(3)) and (weights > 0).all()
    norms = [lipapps.layers.conv_norm_bound(k, None) for k in block.kernels()]
    assert block.lipschitz_bound() == lipapps.layers.block_bound(2.0, max(norms) ** 2) <= 1.0
    with pytest.raises(ValueError, match="banks must be a positive integer"):
        lipapps.ConditionedConvGradientFlowBlock(2, 5, banks=0)
