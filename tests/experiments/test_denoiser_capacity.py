"""experiments/denoiser_capacity.py: a budgeted run writes a certified row, its weights, and merges."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

import lipapps
from denoisers.images import write_image

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "denoiser_capacity.py"
TINY = {"channels": 2, "hidden_channels": 4, "depth": 1, "patch_size": 16, "patches_per_image": 4}


@pytest.fixture
def capacity(monkeypatch):
    spec = importlib.util.spec_from_file_location("experiment_denoiser_capacity", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "VARIANTS", {"tiny": TINY, "tiny, deeper": {**TINY, "depth": 2}})
    return module


def test_budgeted_runs_write_certified_rows_and_merge(capacity, tmp_path, monkeypatch):
    gen = torch.Generator().manual_seed(0)
    for sub, count in (("train400", 4), ("bsd68", 2)):
        for i in range(count):
            write_image(tmp_path / "data" / sub / f"{i}.png", torch.rand(30, 26, generator=gen))
    for name, results in (("tiny", "a.json"), ("tiny, deeper", "b.json")):
        argv = ["denoiser_capacity.py", "--device", "cpu", "--minutes", "0.001", "--data", str(tmp_path / "data"),
                "--results", str(tmp_path / results), "--weights-dir", str(tmp_path / "weights"), "--variants", name]
        monkeypatch.setattr(sys, "argv", argv)
        capacity.main()
    row = json.loads((tmp_path / "a.json").read_text())["rows"][0]
    assert row["variant"] == "tiny" and row["epochs"] >= 1 and row["certificate"] <= 1 + 1e-5
    assert len(row["validation_psnr"]) == row["epochs"] and 0 < row["bsd68_psnr"] < 100
    saved = lipapps.load(tmp_path / "weights" / "tiny.pt")
    assert saved.config()["channels"] == 2
    merged = tmp_path / "merged.json"
    monkeypatch.setattr(sys, "argv", ["denoiser_capacity.py", "--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                                      "--results", str(merged)])
    capacity.main()
    assert [r["variant"] for r in json.loads(merged.read_text())["rows"]] == ["tiny", "tiny, deeper"]
    assert "| tiny, deeper |" in merged.with_suffix(".md").read_text()
