"""experiments/denoiser_capacity.py --merge, run as a script; the budget and scoring helpers it calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from denoisers.benchmark import mean_denoising_psnr
from denoisers.images import read_image, write_image
from denoisers.metrics import psnr
from denoisers.model import AveragedDenoiser
from denoisers.problems import simulate
from denoisers.training import epochs_for_budget, seconds_per_step

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "denoiser_capacity.py"


def _record(variant: str) -> dict:
    return {"variant": variant, "parameters": 10, "certificate": 0.99, "minutes": 1.0, "seconds_per_step": 0.01, "epochs": 2,
            "validation_psnr": [20.0, 21.0], "bsd68_psnr": 22.0, "device": "cpu", "shipped_bsd68_psnr": 27.3}


def test_merge_joins_the_records_of_separate_runs(tmp_path: Path) -> None:
    for name, variant in (("a.json", "32 ch, 128 hidden, depth 8"), ("b.json", "shipped size (16 ch, 64 hidden, depth 6)")):
        (tmp_path / name).write_text(json.dumps([_record(variant)]))
    merged = tmp_path / "merged.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(SCRIPT), "--merge", str(tmp_path / "a.json"), str(tmp_path / "b.json"),
                           "--results", str(merged)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert {r["variant"] for r in json.loads(merged.read_text())} == {"32 ch, 128 hidden, depth 8", "shipped size (16 ch, 64 hidden, depth 6)"}
    table = merged.with_suffix(".md").read_text()
    assert table.index("| shipped size") < table.index("| 32 ch, 128 hidden, depth 8 |")  # the order of VARIANTS
    assert "score 27.30 dB" in table


def test_the_budget_fits_whole_epochs_and_at_least_one() -> None:
    assert epochs_for_budget(100.0, 0.5, 20) == 10
    assert epochs_for_budget(1.0, 0.5, 20) == 1
    model = AveragedDenoiser(channels=2, hidden_channels=4, depth=1, sigma=25)
    before = [p.clone() for p in model.parameters()]
    assert seconds_per_step(model, 25, 16, 4, torch.device("cpu"), steps=2) > 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # timed on a copy


def test_mean_denoising_psnr_of_the_identity_is_that_of_the_noisy_images(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    images = [torch.rand(20, 24, generator=gen) for _ in range(2)]
    files = [write_image(tmp_path / f"{k}.png", image) for k, image in enumerate(images)]
    expected = sum(psnr(simulate("denoise", read_image(f), 25 / 255, seed=k).y, read_image(f)) for k, f in enumerate(files)) / 2
    assert abs(mean_denoising_psnr(lambda y: y, files, 25) - expected) < 1e-9
