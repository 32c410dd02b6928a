"""The paper's constructions represent max, min and |x| exactly, with certified networks."""

import torch

import lipapps
from lipapps.constructions import abs_network, max_network, min_network


def test_max_min_abs_are_exact():
    x = torch.randn(2000, 2) * 10
    assert torch.allclose(max_network()(x).squeeze(1), x.max(1).values, atol=1e-5)
    assert torch.allclose(min_network()(x).squeeze(1), x.min(1).values, atol=1e-5)
    t = torch.linspace(-5, 5, 1001).unsqueeze(1)
    assert torch.allclose(abs_network()(t), t.abs(), atol=1e-6)


def test_constructions_are_certified():
    for net in (abs_network(), max_network(), min_network()):
        assert lipapps.certify(net).upper_bound <= 1.0
        assert net.config()["constraint"] == "projection"
