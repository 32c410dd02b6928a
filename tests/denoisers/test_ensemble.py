import torch
import torch.nn as nn

import lipapps
from denoisers.ensemble import GeometricEnsemble
from denoisers.model import AveragedDenoiser
from denoisers.pnp import RelaxedDenoiser


def _trained_looking_model() -> AveragedDenoiser:
    """A small denoiser moved off its initialisation (still certified: the constraint is a parametrization)."""
    model = AveragedDenoiser(channels=4, hidden_channels=8, depth=2).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return model


def test_ensemble_is_equivariant_and_keeps_the_certificate():
    model = _trained_looking_model()
    ensemble = GeometricEnsemble(model)
    assert ensemble.certified_averagedness() == 0.5
    assert ensemble.certified_averagedness((1, 12, 20)) == 0.5
    x = torch.rand(2, 1, 12, 20, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = ensemble(x)
        assert out.shape == x.shape
        # averaging over the group makes D_E commute with every symmetry, which D alone does not
        torch.testing.assert_close(ensemble(x.flip(-1)), out.flip(-1))
        torch.testing.assert_close(ensemble(torch.rot90(x, 1, (-2, -1))), torch.rot90(out, 1, (-2, -1)))
        assert not torch.allclose(model(x.flip(-1)), model(x).flip(-1), atol=1e-4)


def test_ensemble_is_firmly_non_expansive_on_random_pairs():
    ensemble = GeometricEnsemble(_trained_looking_model())
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(8, 1, 15, 18, generator=gen)
    y = x + 0.2 * torch.randn(x.shape, generator=gen)
    with torch.no_grad():
        dx, dy = ensemble(x), ensemble(y)
    gap = (x - y).flatten(1).norm(dim=1)
    # D runs in float32: the allowance is the rounding of this measurement, never the certificate's
    assert ((2 * dx - x - 2 * dy + y).flatten(1).norm(dim=1) <= gap * (1 + 1e-5)).all()


class _EnsembleModule(nn.Module):
    """The ensemble of ``model`` as a module, so that the adversarial search can copy it to float64."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return GeometricEnsemble(self.model)(x)


def test_adversarial_search_cannot_beat_the_ensemble_certificate():
    model = _trained_looking_model()
    ensemble = GeometricEnsemble(model)
    x = torch.rand(3, 1, 10, 14, generator=torch.Generator().manual_seed(3))
    bound = (1 - 0.5) + 0.5 * model.network_bound((1, 10, 14))  # Lipschitz bound of an a-averaged D
    assert ensemble.certified_averagedness((1, 10, 14)) == 0.5 and bound <= 1.0
    found = lipapps.empirical_lipschitz(_EnsembleModule(model), x, steps=30, power_iterations=5)
    assert 0.5 < found <= bound * (1 + 1e-6)


def test_ensemble_of_an_uncertified_denoiser_has_no_certificate():
    assert GeometricEnsemble(lambda x: 2 * x).certified_averagedness() is None
    relaxed = RelaxedDenoiser(GeometricEnsemble(_trained_looking_model()), 0.5)
    assert relaxed.certified_averagedness((1, 8, 8)) == 0.25
    assert lipapps.certify(_trained_looking_model()).upper_bound <= 1.0
