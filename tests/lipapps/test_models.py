"""The networks of lipapps.models: the paper's two architectures and the lifted MNIST network."""

import torch

import lipapps
from lipapps.certify import certify
from lipapps.models import LiftedLipschitzResNet


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


def test_free_lift_and_readout_are_not_certified_as_one() -> None:
    model = LiftedLipschitzResNet(10, 3, lift=5, depth=1, io_constraint="none")
    with torch.no_grad():
        model.layers[0].weight.mul_(4.0)
    assert certify(model).upper_bound > 3.0
    constrained = LiftedLipschitzResNet(10, 3, lift=5, depth=1)
    assert LiftedLipschitzResNet(**constrained.config()).config() == constrained.config()


def test_deep_lifted_network_keeps_the_signal_at_initialisation() -> None:
    """Square flow weights give an orthogonal Jacobian at init: differences keep their size."""
    x = torch.randn(256, 12)
    deep = LiftedLipschitzResNet(12, 3, lift=6, depth=40)
    shallow = LiftedLipschitzResNet(12, 3, lift=6, depth=1)
    with torch.no_grad():
        ratio = deep(x).std(0).norm() / shallow(x).std(0).norm()
    assert ratio > 0.2
