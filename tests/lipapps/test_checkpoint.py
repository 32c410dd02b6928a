"""Model files: round trip, safe loading, clear errors for foreign, corrupt or tampered files."""

import pickle

import pytest
import torch

import lipapps
from lipapps.errors import CheckpointError


@pytest.mark.parametrize("constraint", ["parametrization", "projection"])
@pytest.mark.parametrize("fixed_width", [False, True])
def test_round_trip(tmp_path, constraint, fixed_width):
    model = lipapps.LipschitzResNet(3, 2, width=8, depth=2, fixed_width=fixed_width, constraint=constraint).eval()
    path = lipapps.save(model, tmp_path / "m.pt", metadata={"note": "test"})
    loaded = lipapps.load(path)
    x = torch.randn(10, 3)
    assert torch.allclose(model(x), loaded(x), atol=1e-6)
    assert loaded.config() == model.config()
    assert not list(tmp_path.glob(".*tmp"))  # nothing half-written left behind


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_malicious_pickle_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pt"
    torch.save({"format": "lipapps-model", "payload": Exploit()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        lipapps.load(path)
    assert "pwned" not in capsys.readouterr().out


def test_plain_pickle_is_refused(tmp_path):
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError):
        lipapps.load(path)


def test_foreign_corrupt_and_missing_files(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a lipapps model file"):
        lipapps.load(foreign)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="refused to load|not a readable checkpoint"):
        lipapps.load(corrupt)
    with pytest.raises(FileNotFoundError):
        lipapps.load(tmp_path / "missing.pt")


def test_tampered_weights_break_the_check_on_load(tmp_path):
    model = lipapps.LipschitzResNet(3, 1, width=8, depth=2, constraint="projection")
    path = lipapps.save(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["layers.1.weight"] *= 5
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="exceeds 1"):
        lipapps.load(path)


def test_classes_outside_the_suite_are_refused(tmp_path):
    model = lipapps.LipschitzResNet(2, 1, width=4, depth=1)
    path = lipapps.save(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    payload["class"] = "os.system"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="not one of the suite's"):
        lipapps.load(path)


def test_legacy_config_fills_arguments_older_files_lack(tmp_path, monkeypatch):
    model = lipapps.LipschitzResNet(3, 1, width=8, depth=3).eval()
    path = lipapps.save(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    del payload["config"]["depth"]  # a file written before the class had a `depth` argument
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="do not match the stored architecture"):
        lipapps.load(path)  # the constructor's default depth is not what the file holds
    monkeypatch.setattr(lipapps.LipschitzResNet, "legacy_config", {"depth": 3}, raising=False)
    loaded = lipapps.load(path)
    x = torch.randn(5, 3)
    assert loaded.config()["depth"] == 3 and torch.allclose(loaded(x), model(x), atol=1e-6)



@pytest.mark.parametrize("factor", [1 + 1e-6, 1 + 2**-23])
def test_load_refuses_a_certificate_just_above_one(tmp_path, factor):
    """``load`` compares the certificate with 1 exactly: a readout of norm ``1 + 1e-6`` (inside the
    old ``1e-5`` tolerance that let two shipped denoisers through), or one float32 ulp above 1, after
    an isometric lift, is refused, and the error names the bound; the readout scaled below 1 loads."""
    model = lipapps.LipschitzResNet(3, 3, width=3, depth=0, constraint="projection")
    path = lipapps.save(model, tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    readout = torch.eye(3, dtype=torch.float64)
    payload["state_dict"]["layers.0.weight"] = torch.eye(3)
    payload["state_dict"]["layers.1.weight"] = (readout * factor).float()
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=r"certificate 1\.0000\d* exceeds 1"):
        lipapps.load(path)
    payload["state_dict"]["layers.1.weight"] = (readout * (1 - 1e-6)).float()
    torch.save(payload, path)
    assert lipapps.certify(lipapps.load(path)).upper_bound <= 1.0
