"""experiments/tune_nonlocal.py, tune_nonlocal_pnp.py, tune_collaborative.py and tune_unshipped_levels.py, run as scripts on tiny validation images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from denoisers.images import write_image


@pytest.fixture
def data(tmp_path: Path) -> Path:
    gen = torch.Generator().manual_seed(0)
    for name in ("a", "b", "c"):
        image = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 44, 44, generator=gen), 5, stride=1)[0, 0]
        write_image(tmp_path / "images" / "train400" / f"{name}.png", image)
    return tmp_path


def test_denoising_grid_is_recorded_once_per_setting_and_resumed(data: Path, run_experiment) -> None:
    results = data / "nl.json"
    args = ["--sigmas", "25", "--images", "1", "--radii", "2", "--patches", "3", "--factors", "0.04", "0.06",
            "--weights", "0.5", "1.0", "--results", str(results)]
    done = run_experiment("tune_nonlocal.py", args, data)
    assert done.returncode == 0, done.stderr
    records = json.loads(results.read_text())
    assert len(records) == 4 and {r["weight"] for r in records} == {0.5, 1.0}
    assert all(r["sigma"] == 25 and r["psnr"] > 0 and r["ridge_psnr"] > 0 and "provenance" in r for r in records)
    assert "| 25 | 1 | 2 | 3 |" in results.with_suffix(".md").read_text()
    again = run_experiment("tune_nonlocal.py", args, data)
    assert again.returncode == 0 and json.loads(results.read_text()) == records  # nothing redone


def test_pnp_grid_records_both_runs_and_their_guarantee(data: Path, run_experiment) -> None:
    results = data / "nl_pnp.json"
    done = run_experiment("tune_nonlocal_pnp.py", ["--problems", "deblur", "--images", "1", "--weights", "0.5",
                                                   "--factors", "0.03", "--max-iter", "4", "--results", str(results)], data)
    assert done.returncode == 0, done.stderr
    (record,) = json.loads(results.read_text())
    assert record["problem"] == "deblur" and record["first_iterations"] <= 4 and record["stage_iterations"] <= 4
    assert record["monotone"] and record["psnr"] > 0 and record["first_psnr"] > 0


def test_collaborative_grid_records_each_setting_beside_the_reconstruction_without_it(data: Path, run_experiment) -> None:
    results = data / "collab.json"
    args = ["--problems", "denoise", "deblur", "--sigmas", "25", "--images", "1", "--weights", "0.5", "1.0", "--factors", "1",
            "--max-iter", "4", "--results", str(results)]
    done = run_experiment("tune_collaborative.py", args, data)
    assert done.returncode == 0, done.stderr
    records = json.loads(results.read_text())
    assert [(r["problem"], r["weight"], r["position"]) for r in records] == [
        ("denoise sigma 25", 0.5, "after"), ("denoise sigma 25", 1.0, "after"), ("deblur", 0.5, "before"), ("deblur", 1.0, "before")]
    assert all(r["monotone"] and r["psnr"] > 0 and r["base_psnr"] > 0 and "provenance" in r for r in records)
    denoise = [r for r in records if r["problem"] == "denoise sigma 25"]
    assert denoise[0]["psnr"] != denoise[1]["psnr"]  # the weight is applied
    again = run_experiment("tune_collaborative.py", args, data)
    assert again.returncode == 0 and json.loads(results.read_text()) == records
    after = run_experiment("tune_collaborative.py", ["--problems", "deblur", *args[3:], "--position", "after"], data)
    assert after.returncode == 0, after.stderr
    moved = json.loads(results.read_text())[len(records):]
    assert [(r["problem"], r["position"]) for r in moved] == [("deblur", "after")] * 2
    assert moved[0]["base_psnr"] == pytest.approx(records[2]["base_psnr"], abs=1e-3)  # the same chain without the stage
    assert moved[0]["psnr"] != records[2]["psnr"]


def test_unshipped_levels_record_the_scaled_and_the_relaxed_denoiser(data: Path, run_experiment) -> None:
    results = data / "levels.json"
    args = ["--sigmas", "35", "25", "--images", "2", "--results", str(results)]
    done = run_experiment("tune_unshipped_levels.py", args, data)
    assert done.returncode == 0, done.stderr
    between, shipped = json.loads(results.read_text())
    assert (between["sigma"], between["level"], shipped["level"]) == (35, 50, 25) and "provenance" in between
    assert between["scaled"] != between["relaxed"] and shipped["scaled"] == shipped["relaxed"]  # a shipped level runs as it is
    assert all(r[k] > 0 for r in (between, shipped) for k in ("scaled_first", "scaled", "relaxed_first", "relaxed"))
    again = run_experiment("tune_unshipped_levels.py", args, data)
    assert again.returncode == 0 and json.loads(results.read_text()) == [between, shipped]
