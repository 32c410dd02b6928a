"""experiments/bench_ct.py run as a script on a tiny BSD68 stand-in."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from denoisers.images import write_image

ARGS = ["--images", "1", "--size", "32", "--max-iter", "3", "--sart-sweeps", "2"]


@pytest.fixture
def run(run_experiment, data: Path):
    """``run(args)``: bench_ct.py on ``data`` with the tiny ``ARGS``, then ``args``."""
    return lambda args: run_experiment("bench_ct.py", [*ARGS, "--data", str(data), *args])


@pytest.fixture
def data(tmp_path: Path) -> Path:
    image = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 44, 44, generator=torch.Generator().manual_seed(0)), 5, stride=1)
    write_image(tmp_path / "bsd68" / "a.png", image[0, 0])
    return tmp_path / "bsd68"


def test_records_ours_fbp_and_sart_once_per_image(data: Path, tmp_path: Path, run) -> None:
    results = tmp_path / "ct.json"
    done = run(["--results", str(results)])
    assert done.returncode == 0, done.stderr
    records = json.loads(results.read_text())
    assert [r["method"] for r in records] == ["ours, PnP-ADMM", "FBP (best filter)", "SART (best sweeps)"]
    assert records[0]["iterations"] <= 9 and records[0]["monotone"] and "provenance" in records[0]
    assert "mean of 1 with BM3D" not in results.with_suffix(".md").read_text()
    again = run(["--results", str(results)])
    assert again.returncode == 0 and json.loads(results.read_text()) == records  # nothing redone


def added_by(option: str, results: Path, run) -> tuple[list[dict], str]:
    """Run the bench into ``results``, then again with ``option``; require the first run's records
    kept as they were. Returns the records the second run added and the table."""
    assert run(["--results", str(results)]).returncode == 0
    before = json.loads(results.read_text())
    done = run(["--results", str(results), option])
    assert done.returncode == 0, done.stderr
    records = json.loads(results.read_text())
    assert records[:3] == before
    return records[3:], results.with_suffix(".md").read_text()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("bm3d") is None, reason="needs the bm3d package")
def test_bm3d_prior_is_added_to_an_existing_file_without_rerunning_the_rest(data: Path, tmp_path: Path, run) -> None:
    added, table = added_by("--bm3d-prior", tmp_path / "ct.json", run)
    assert added[0]["method"].startswith("BM3D prior")
    assert "mean of 1 with BM3D" in table


def test_tv_prior_is_added_to_an_existing_file_without_rerunning_the_rest(data: Path, tmp_path: Path, run) -> None:
    added, table = added_by("--tv-prior", tmp_path / "ct.json", run)
    assert [r["method"] for r in added] == ["TV prior, ADMM (best strength and penalty)"]
    assert added[0]["setting"].startswith("strength ") and added[0]["iterations"] <= 6
    assert "mean of 1 with TV" in table and "mean of 1 with BM3D" not in table


def test_skip_leaves_out_the_first_images_and_keeps_each_seed(data: Path, tmp_path: Path, run) -> None:
    write_image(data / "b.png", torch.rand(44, 44, generator=torch.Generator().manual_seed(1)))
    both, skipped = tmp_path / "both.json", tmp_path / "skipped.json"
    assert run(["--images", "2", "--results", str(both)]).returncode == 0
    assert run(["--images", "2", "--skip", "1", "--results", str(skipped)]).returncode == 0
    records = json.loads(skipped.read_text())
    assert {r["image"] for r in records} == {"b.png"}
    same = [r for r in json.loads(both.read_text()) if r["image"] == "b.png"]
    assert [r["psnr"] for r in records] == pytest.approx([r["psnr"] for r in same], abs=1e-6)  # b.png keeps seed 1
    refused = run(["--images", "2", "--skip", "2", "--results", str(skipped)])
    assert refused.returncode == 2 and "--skip must be from 0 to 1" in refused.stderr.strip().splitlines()[-1]


def test_tuned_ours_is_added_with_its_level_and_factor(data: Path, tmp_path: Path, run) -> None:
    from denoisers.benchmark import TUNED_FACTORS
    from denoisers.weights import available_sigmas

    added, table = added_by("--tuned-ours", tmp_path / "ct.json", run)
    assert [r["method"] for r in added] == ["ours, PnP-ADMM (best level and factor)"]
    level, factor = added[0]["setting"].split(", ")
    assert int(level.split()[1]) in available_sigmas() and float(factor.split()[1]) in TUNED_FACTORS
    assert added[0]["monotone"] and added[0]["iterations"] <= 9  # three runs of at most 3
    assert "mean of 1 with ours tuned" in table


def test_classic_runs_on_the_photographs_scikit_image_ships_and_excludes_data(tmp_path: Path, run, run_experiment) -> None:
    from denoisers.images import CLASSIC_IMAGES

    results = tmp_path / "classic.json"
    done = run_experiment("bench_ct.py", [*ARGS, "--classic", "--results", str(results)])
    assert done.returncode == 0, done.stderr
    assert {r["image"] for r in json.loads(results.read_text())} == {CLASSIC_IMAGES[0]}
    both = run(["--classic", "--results", str(tmp_path / "both.json")])  # run() names --data as well
    assert both.returncode == 2 and "not allowed with argument" in both.stderr and not (tmp_path / "both.json").exists()


def test_a_missing_image_folder_is_one_line_and_exit_2(tmp_path: Path, run_experiment) -> None:
    results = tmp_path / "ct.json"
    done = run_experiment("bench_ct.py", [*ARGS, "--data", str(tmp_path / "absent"), "--results", str(results)])
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].endswith(f"image folder not found: {tmp_path / 'absent'}")
    assert "Traceback" not in done.stderr and not results.exists()
