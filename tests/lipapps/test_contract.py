"""Every registered model of the installed suite, run through the contract of lipapps.contract.

The modules named under the entry-point group ``lipapps.models`` are imported, so the registry
holds every model class of every installed package; each one must have a small configuration
below, rebuild from its ``config()``, survive save and load unchanged, report a certificate equal
to its ``lipschitz_bound``, pass ``check_constraint`` and not be beaten by an adversarial search.
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import lipapps
from lipapps import checkpoint
from lipapps.models import MODEL_REGISTRY

for _ep in entry_points(group=checkpoint.MODELS_GROUP):
    _ep.load()

ROOT = Path(__file__).resolve().parents[2]
#: A small configuration and an input shape (without the batch) of every registered model.
SMALL: dict[str, tuple[dict, tuple[int, ...]]] = {
    "lipapps.models.LipschitzResNet": ({"in_features": 3, "out_features": 2, "width": 6, "depth": 2}, (3,)),
    "lipapps.models.LiftedLipschitzResNet": ({"in_features": 12, "out_features": 3, "lift": 5, "depth": 2}, (12,)),
    "critics.critic.W1Critic": ({"in_features": 2, "width": 6, "depth": 2, "center": [0.5, -1.0], "scale": 2.0}, (2,)),
    "denoisers.prox.ProxDenoiser": ({"hidden_channels": 4, "kernel_size": 5, "max_iter": 15}, (1, 8, 8)),
    "critics.image_critic.ImageCritic": ({"image_shape": (1, 6, 6), "channels": 2, "hidden_channels": 3, "depth": 1}, (36,)),
    "denoisers.model.AveragedDenoiser": ({"channels": 4, "hidden_channels": 4, "depth": 1}, (1, 8, 8)),
    "denoisers.baselines.DnCNN": ({"channels": 3, "depth": 2}, (1, 8, 8)),
}
SUITE = sorted(name for name in MODEL_REGISTRY if name.split(".")[0] in checkpoint.trusted_packages())


def test_every_registered_model_has_a_small_configuration():
    assert "lipapps.models.LipschitzResNet" in SUITE
    assert set(SUITE) <= set(SMALL), f"add a configuration for {set(SUITE) - set(SMALL)}"


@pytest.mark.parametrize("name", SUITE)
def test_registered_model_keeps_the_contract(name, tmp_path):
    cls = MODEL_REGISTRY[name]
    config, shape = SMALL[name]
    torch.manual_seed(0)
    model = cls(**config).eval()
    assert isinstance(model, lipapps.CertifiedModel)
    stored = model.config()
    assert json.loads(json.dumps(stored)) == stored  # JSON-able, tuples stored as lists
    assert cls(**stored).config() == stored

    loaded = lipapps.load(lipapps.save(model, tmp_path / "m.pt"))
    x = torch.rand((4, *shape), generator=torch.Generator().manual_seed(1))
    assert type(loaded) is cls and loaded.config() == stored
    torch.testing.assert_close(loaded(x), model(x))

    certificate = lipapps.certify(loaded)
    assert certificate.upper_bound == loaded.lipschitz_bound()
    loaded.check_constraint()
    found = lipapps.empirical_lipschitz(loaded, x, steps=20, power_iterations=5)
    assert found <= certificate.upper_bound * (1 + 1e-4)
    if isinstance(loaded, lipapps.AveragedModel):
        a = loaded.certified_averagedness()
        assert a is None or 0.0 < a < 1.0


def test_live_config_attributes_are_stored():
    cls = MODEL_REGISTRY.get("denoisers.model.AveragedDenoiser")
    if cls is None:
        pytest.skip("the denoisers package is not installed")
    model = cls(**SMALL["denoisers.model.AveragedDenoiser"][0])
    model.sigma = 15.0
    assert model.config()["sigma"] == 15.0


@pytest.mark.parametrize("path", sorted([*ROOT.glob("denoisers/weights/*.pt"), *ROOT.glob("experiments/weights/*.pt")]), ids=lambda p: p.name)
def test_shipped_weights_still_load_and_check(path):
    model = lipapps.load(path)
    assert isinstance(model, lipapps.CertifiedModel) and type(model)(**model.config()).config() == model.config()


def test_files_of_the_moved_lifted_network_still_load(tmp_path):
    model = lipapps.LiftedLipschitzResNet(10, 3, lift=5, depth=1).eval()
    path = lipapps.save(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["class"] = "lipapps.classification.LiftedLipschitzResNet"  # where it was defined before
    torch.save(payload, path)
    x = torch.randn(3, 10)
    torch.testing.assert_close(lipapps.load(path)(x), model(x))


def test_trusted_packages_come_from_the_entry_points(monkeypatch):
    class EntryPoint:
        value = "someapp.models"

    monkeypatch.setattr(checkpoint, "entry_points", lambda group: [EntryPoint()] if group == checkpoint.MODELS_GROUP else [])
    assert checkpoint.trusted_packages() == {"lipapps", "someapp"}
    monkeypatch.setattr(checkpoint, "entry_points", lambda group: [])
    assert checkpoint.trusted_packages() == {"lipapps"}


def test_register_model_checks_the_contract():
    class NotCertified(nn.Module):
        def __init__(self, width: int = 2) -> None:
            super().__init__()

    class NoBound(lipapps.CertifiedModel):
        def __init__(self, width: int = 2) -> None:
            super().__init__()

    class Variadic(lipapps.CertifiedModel):
        composition = "layers"

        def __init__(self, **kwargs) -> None:
            super().__init__()

    for cls, message in ((NotCertified, "must subclass"), (NoBound, "composition or override"), (Variadic, "named arguments")):
        with pytest.raises(TypeError, match=message):
            lipapps.register_model(cls)
    assert not any(name.endswith(("NotCertified", "NoBound", "Variadic")) for name in MODEL_REGISTRY)


def test_abstract_methods_are_required():
    class Incomplete(lipapps.AveragedModel):
        composition = "layers"

    with pytest.raises(TypeError, match="certified_averagedness"):
        Incomplete()


def test_config_records_the_arguments_of_each_construction():
    model = lipapps.LipschitzResNet(3, 2, width=6, depth=1, fixed_width=True)
    assert model.config() == {
        "in_features": 3, "out_features": 2, "width": 6, "depth": 1, "hidden": None, "fixed_width": True,
        "constraint": "parametrization", "step_size": 2.0, "io_constraint": None,
    }
    assert lipapps.LipschitzResNet(**model.config()).config() == model.config()
