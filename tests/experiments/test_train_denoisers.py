"""experiments/train_denoisers.py: the stages of a family's recipe and where each one starts."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

import lipapps
from denoisers.images import write_image

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "train_denoisers.py"


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("experiment_train_denoisers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("WEIGHTS", "RESULTS", "CHECKPOINTS", "BASELINE_WEIGHTS"):
        monkeypatch.setattr(module, name, tmp_path / name.lower())
    monkeypatch.setattr(module, "ROOT", tmp_path)
    return module


def test_ridge_recipe_restarts_sigma_25_and_fine_tunes_from_the_restart(script: ModuleType, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    gen = torch.Generator().manual_seed(0)
    for k in range(4):
        write_image(data / f"img{k}.png", torch.nn.functional.avg_pool2d(torch.rand(1, 1, 100, 100, generator=gen), 3, 1, 1)[0, 0])
    monkeypatch.setattr(sys, "argv", ["train_denoisers.py", "--family", "ridge", "--data", str(data), "--sigma", "25", "15",
                                      "--epochs", "1", "--restart-epochs", "1", "--finetune-epochs", "1", "--patches-per-image", "2"])
    script.main()
    records = {name: json.loads((tmp_path / "results" / f"denoiser_training_{name}.json").read_text())
               for name in ("ridge_sigma25_scratch", "ridge_sigma25", "ridge_sigma15")}
    assert records["ridge_sigma25_scratch"]["initialised_from"] == "scratch"
    assert records["ridge_sigma25"]["initialised_from"] == "checkpoints/ridge_sigma25_scratch.pt"
    assert records["ridge_sigma15"]["initialised_from"] == "weights/ridge_sigma25.pt"
    assert [records[n]["recipe"]["lr"] for n in records] == pytest.approx([3e-3, 1e-3, 7.5e-4])
    assert not (tmp_path / "weights" / "ridge_sigma25_scratch.pt").exists()  # the first run is not shipped
    for name in ("ridge_sigma25", "ridge_sigma15"):
        model = lipapps.load(tmp_path / "weights" / f"{name}.pt")
        assert model.certified_averagedness((1, 100, 100)) == pytest.approx(0.99)
