"""The multi-scale operator and block: exact adjoint, a norm bound above the exact norm, and a
certificate that stays <= 1 (no tolerance) and is never beaten after aggressive training."""

import copy

import pytest
import torch
import torch.nn as nn

import lipapps
from lipapps.testing import aggressive_steps
from lipapps.multiscale import (
    DOWNSAMPLINGS,
    MultiScaleConv2d,
    MultiScaleGradientFlowBlock,
    downsample,
    downsample_adjoint,
)

CONSTRAINTS = ["parametrization", "projection"]
SMALL = ((1,), (1, 2), (2,))


@torch.no_grad()
def dense(fn, in_shape):
    """The matrix of a linear map (float64) from its action on the standard basis."""
    n = torch.Size(in_shape).numel()
    out = fn(torch.eye(n, dtype=torch.float64).reshape(n, *in_shape))
    parts = out if isinstance(out, (list, tuple)) else [out]
    return torch.cat([p.reshape(n, -1) for p in parts], dim=1).T


@pytest.mark.parametrize("mode", DOWNSAMPLINGS)
@pytest.mark.parametrize("size", [(4, 6), (5, 7), (1, 1)])
def test_downsampling_has_norm_at_most_one_and_an_exact_adjoint(mode, size):
    """Haar low-pass = 2 x average pooling: orthonormal rows (P P^T = I on even sizes)."""
    p = dense(lambda x: downsample(x, mode), (2, *size))
    sv = torch.linalg.svdvals(p)
    assert sv.max() <= 1 + 1e-12
    if size[0] % 2 == 0 and size[1] % 2 == 0:
        assert torch.allclose(p @ p.T, torch.eye(p.shape[0], dtype=torch.float64), atol=1e-12)
    out_shape = downsample(torch.zeros(1, 2, *size), mode).shape[1:]
    p_adjoint = dense(lambda y: downsample_adjoint(y, mode, size), tuple(out_shape))
    assert torch.allclose(p_adjoint, p.T, atol=1e-15)


@pytest.mark.parametrize("kernel_size", [3, (5, 3, 1)])
@pytest.mark.parametrize("mode", DOWNSAMPLINGS)
@pytest.mark.parametrize("size", [(12, 16), (7, 11), (3, 2)])
def test_adjoint_is_exact(mode, size, kernel_size):
    """<K x, z> = <x, K^T z> in float64 (a numerical identity, hence the tight tolerance)."""
    op = MultiScaleConv2d(2, 3, dilations=SMALL, kernel_size=kernel_size, downsampling=mode, init="random").double()
    x = torch.randn(2, 2, *size, dtype=torch.float64)
    with torch.no_grad():
        kx = op(x)
    assert [tuple(t.shape[-2:]) for t in kx] == op.sizes(size)
    z = [torch.randn_like(t) for t in kx]
    lhs = sum((a * b).sum() for a, b in zip(kx, z))
    with torch.no_grad():
        rhs = (x * op.adjoint(z, size)).sum()
    assert abs(float(lhs - rhs)) <= 1e-12 * float(lhs.abs() + rhs.abs() + 1)


@pytest.mark.parametrize("kernel_size", [3, (7, 3, 3)])
@pytest.mark.parametrize("mode", DOWNSAMPLINGS)
@pytest.mark.parametrize("constraint", CONSTRAINTS)
def test_exact_norm_is_below_the_certified_bound_after_training(mode, constraint, kernel_size):
    op = MultiScaleConv2d(1, 3, dilations=SMALL, kernel_size=kernel_size, downsampling=mode, constraint=constraint, init="random")
    with torch.no_grad():
        op.scale_logits.copy_(torch.tensor([0.3, -1.0, 2.0]))
    shape = (1, 7, 9)
    gen = torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(op.parameters(), lr=1.0)
    for _ in range(10):
        loss = -sum(t.pow(2).sum() for t in op(torch.randn(4, *shape, generator=gen)))
        opt.zero_grad()
        loss.backward()
        opt.step()
        lipapps.project_(op)
    op = op.double().eval()
    exact = float(torch.linalg.svdvals(dense(op, shape))[0])
    assert exact <= op.norm_bound(shape) <= op.norm_bound() <= 1.0
    assert exact > 0.5  # the bound is not vacuous: trained towards it


def test_unconstrained_operator_is_caught_by_its_bound():
    op = MultiScaleConv2d(1, 3, dilations=SMALL, constraint="none", init="random").double()
    with torch.no_grad():
        for p in op.branches.parameters():
            p.mul_(4.0)
    shape = (1, 6, 8)
    exact = float(torch.linalg.svdvals(dense(op, shape))[0])
    assert 1.0 < exact <= op.norm_bound(shape) <= op.norm_bound()
    block = MultiScaleGradientFlowBlock(1, 3, dilations=SMALL, constraint="none", step_size=2.0)
    block.operator = op
    assert block.lipschitz_bound(shape) == pytest.approx(2 * op.squared_norm_bound(shape) - 1, rel=1e-12)
    assert block.certified_averagedness() is None


@pytest.mark.parametrize("constraint", CONSTRAINTS)
@pytest.mark.parametrize("activation", ["relu", "spline"])
@pytest.mark.parametrize("mode", DOWNSAMPLINGS)
@pytest.mark.parametrize("lr", [0.1, 10.0])
def test_certified_after_aggressive_training(constraint, activation, mode, lr):
    """Certificate exactly <= 1 (no tolerance), also after loading; no pair beats it."""
    torch.manual_seed(int(lr))
    shape = (1, 12, 11)
    model = nn.Sequential(
        MultiScaleGradientFlowBlock(1, 4, dilations=SMALL, downsampling=mode, constraint=constraint, activation=activation),
        MultiScaleGradientFlowBlock(1, 4, dilations=((2,), (1,)), downsampling=mode, step_size=1.0, constraint=constraint, activation=activation),
    )
    aggressive_steps(model, shape, steps=12, lr=lr, seed=int(lr), batch=4)
    bound = lipapps.certify(model).upper_bound
    assert lipapps.certify(model, input_shape=shape).upper_bound <= bound <= 1.0
    assert model[1].certified_averagedness() <= 0.5  # tau = 1: firmly non-expansive
    loaded = copy.deepcopy(model)
    loaded.load_state_dict(model.state_dict())
    assert lipapps.certify(loaded).upper_bound <= 1.0
    x = 3 * torch.randn((6, *shape), generator=torch.Generator().manual_seed(2))
    found = lipapps.empirical_lipschitz(model, x, steps=30, power_iterations=5)
    assert found <= bound * (1 + 1e-9)  # the search's own float64 rounding of a ratio near 1


def test_firmly_non_expansive_when_certified():
    """tau L <= 1: ||T x - T y||^2 <= <T x - T y, x - y> on random pairs."""
    block = MultiScaleGradientFlowBlock(2, 4, dilations=SMALL, step_size=1.0, activation="spline")
    aggressive_steps(block, (2, 9, 8), steps=5, lr=1.0, seed=3, batch=4)
    assert block.certified_averagedness((2, 9, 8)) <= 0.5
    block = block.double()
    x, y = torch.randn(2, 16, 2, 9, 8, dtype=torch.float64)
    with torch.no_grad():
        d = block(x) - block(y)
    assert ((d * d).flatten(1).sum(1) <= (d * (x - y)).flatten(1).sum(1) + 1e-12).all()


def test_receptive_field_of_an_impulse():
    """An impulse's response spreads over 100+ pixels: (4 r + 1) 2^s for the coarsest branch."""
    block = MultiScaleGradientFlowBlock(1, 4, activation="spline").double()  # default: 3 scales
    field = block.operator.receptive_field()
    assert field == 60  # (2 (1 + 2 + 4) + 1) 4 at scale 2
    size = 160
    x = torch.zeros(1, 1, size, size, dtype=torch.float64)
    x[..., 80, 80] = 1.0
    with torch.no_grad():
        response = (block(x) - x).abs()[0, 0]
    rows = torch.nonzero(response.amax(dim=1) > 0).flatten()
    width = int(rows.max() - rows.min()) + 1
    assert 100 <= width <= 2 * field


def test_per_scale_kernel_sizes_set_each_branch_and_its_receptive_field():
    """A wide full-resolution branch beside 3 x 3 coarse ones: (2 r_s + 1) 2^s with r_s = sum d (k_s - 1) / 2."""
    op = MultiScaleConv2d(1, 2, dilations=((1,), (1, 2)), kernel_size=(15, 3))
    assert [conv.kernel_size for branch in op.branches for conv in branch] == [(15, 15), (3, 3), (3, 3)]
    assert op.receptive_field() == 15  # scale 1 alone: (2 * 3 + 1) * 2 = 14
    assert MultiScaleConv2d(1, 2, dilations=((1,), (1, 2)), kernel_size=(5, 3)).receptive_field() == 14


@pytest.mark.parametrize("size", [(13, 17), (1, 1), (2, 5)])
def test_odd_and_tiny_images_keep_their_shape(size):
    block = MultiScaleGradientFlowBlock(3, 4, downsampling="unshuffle")
    assert block(torch.randn(2, 3, *size)).shape == (2, 3, *size)
    assert lipapps.certify(block, input_shape=(3, *size)).upper_bound <= 1.0


def test_arguments_are_validated():
    with pytest.raises(ValueError, match="kernel_size"):
        MultiScaleConv2d(1, 2, kernel_size=4)
    with pytest.raises(ValueError, match="kernel_size"):
        MultiScaleConv2d(1, 2, dilations=((1,), (1,)), kernel_size=(13, 3, 3))
    with pytest.raises(ValueError, match="kernel_size"):
        MultiScaleConv2d(1, 2, dilations=((1,), (1,)), kernel_size=(13, 4))
    with pytest.raises(ValueError, match="downsampling"):
        MultiScaleConv2d(1, 2, downsampling="bilinear")
    with pytest.raises(ValueError, match="dilations"):
        MultiScaleConv2d(1, 2, dilations=((1,), ()))
    with pytest.raises(ValueError, match="dilations"):
        MultiScaleConv2d(1, 2, dilations=((0,),))
    with pytest.raises(ValueError, match="init"):
        MultiScaleConv2d(1, 2, init="zeros")
    with pytest.raises(ValueError, match="activation"):
        MultiScaleGradientFlowBlock(1, 2, activation="tanh")
    with pytest.raises(ValueError, match="step_size"):
        MultiScaleGradientFlowBlock(1, 2, step_size=2.5)
    with pytest.raises(ValueError, match="feature maps"):
        MultiScaleConv2d(1, 2).adjoint([torch.zeros(1, 2, 4, 4)], (4, 4))


def test_branch_weights_keep_finite_gradients_when_a_branch_underflows():
    """sqrt(softmax) has an infinite derivative where a weight underflows to 0; Adam at lr 10 once made the logits NaN."""
    operator = MultiScaleConv2d(1, 2, dilations=((1,), (1,)))
    with torch.no_grad():
        operator.scale_logits.copy_(torch.tensor([0.0, -200.0]))
    weights = operator.branch_weights()
    weights.sum().backward()
    assert torch.isfinite(operator.scale_logits.grad).all()
    assert torch.allclose(weights.square().sum(), torch.tensor(1.0)) and weights[1] >= 0
