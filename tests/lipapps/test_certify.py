"""certify: a provable bound from what a module declares, and a refusal for anything else."""

import pytest
import torch
import torch.nn as nn

import lipapps
from lipapps import checkpoint
from lipapps.cli import main as lipapps_main
from lipapps.errors import CertificationError, InputError
from lipapps.models import MODEL_REGISTRY


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


@pytest.mark.parametrize(
    "module, bound",
    [(nn.LeakyReLU(0.1), 1.0), (nn.LeakyReLU(-1.0), 1.0), (nn.Dropout(0.0), 1.0), (nn.Dropout(0.5).eval(), 1.0),
     (nn.Sequential(nn.ReLU(), nn.Flatten(), nn.PixelUnshuffle(2)), 1.0)],
)
def test_parameter_free_maps_that_are_1_lipschitz(module, bound):
    assert lipapps.certify(module).upper_bound == bound


class LayersButNoContract(nn.Module):
    """A forward that is not its ``layers``: certifying ``layers`` would be a false certificate."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(lipapps.LipschitzLinear(2, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 5.0 * self.layers(x)


class ScaledSequential(nn.Sequential):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 5.0 * super().forward(x)


@pytest.mark.parametrize(
    "module, name",
    [(nn.LeakyReLU(2.0), "LeakyReLU"), (nn.Dropout(0.5), "Dropout"), (LayersButNoContract(), "LayersButNoContract"),
     (ScaledSequential(lipapps.LipschitzLinear(2, 2)), "ScaledSequential"), (nn.Sequential(nn.Linear(2, 2)), "Linear"),
     (nn.Sequential(lipapps.LipschitzLinear(2, 2), nn.Softplus()), "Softplus")],
)
def test_modules_it_cannot_bound_are_refused(module, name):
    """Dropout in training mode scales by 1 / (1 - p); LeakyReLU of slope 2 doubles; foreign maps say nothing."""
    with pytest.raises(CertificationError, match=f"cannot certify {name}"):
        lipapps.certify(module)
    assert issubclass(CertificationError, TypeError) and issubclass(CertificationError, InputError)


class Uncertifiable(lipapps.CertifiedModel):
    """A model whose composition holds a map certify cannot bound (registered only inside its test)."""

    composition = "layers"

    def __init__(self, in_features: int = 3) -> None:
        super().__init__()
        self.layers = nn.Sequential(lipapps.LipschitzLinear(in_features, in_features), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def test_cli_refuses_a_model_it_cannot_bound_with_one_line(tmp_path, monkeypatch, capsys):
    name = f"{Uncertifiable.__module__}.{Uncertifiable.__qualname__}"
    monkeypatch.setitem(MODEL_REGISTRY, name, Uncertifiable)  # removed again after the test
    lipapps.register_model(Uncertifiable)
    path = lipapps.save(Uncertifiable(), tmp_path / "m.pt")
    trusted = checkpoint.trusted_packages() | {Uncertifiable.__module__.split(".")[0]}
    monkeypatch.setattr(checkpoint, "trusted_packages", lambda: trusted)
    assert lipapps_main(["certify", str(path), "--input-shape", "3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lipapps: error: cannot certify GELU (layers.1)")
