"""experiments/bench_conditioned.py run as a script on a tiny train400 stand-in and a small conditioned model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import lipapps
from denoisers.images import write_image
from denoisers.model import CONDITIONED_RIDGE, AveragedDenoiser


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """``LIPAPPS_DATA`` with ten smooth 40 x 40 images as ``images/train400`` (one is a validation image)."""
    gen = torch.Generator().manual_seed(0)
    for i in range(10):
        image = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 44, 44, generator=gen), 5, stride=1)
        write_image(tmp_path / "data" / "images" / "train400" / f"{i}.png", image[0, 0])
    return tmp_path / "data"


@pytest.fixture
def model(tmp_path: Path) -> Path:
    conditioned = AveragedDenoiser(**{**CONDITIONED_RIDGE, "hidden_channels": 3, "kernel_size": 3})
    with torch.no_grad():
        conditioned.network[1].activation.log_radius[1].fill_(1.0)
    return lipapps.save(conditioned, tmp_path / "conditioned.pt")


def test_one_record_per_image_level_and_method_and_nothing_redone(tmp_path: Path, run_experiment, data: Path, model: Path) -> None:
    results = tmp_path / "c.json"
    args = ["--set", "validation", "--levels", "15", "30", "--model", str(model), "--results", str(results)]
    done = run_experiment("bench_conditioned.py", args, data=data)
    assert done.returncode == 0, done.stderr
    records = json.loads(results.read_text())
    assert sorted((r["level"], r["method"]) for r in records) == [(15, "conditioned"), (15, "shipped levels"),
                                                                    (30, "conditioned"), (30, "shipped levels")]
    assert all(r["chain"] > 0 and r["first"] > 0 and r["provenance"]["command"] for r in records)
    table = results.with_suffix(".md").read_text()
    assert "| validation | 15 | 1 |" in table and "| validation | 30 | 1 |" in table
    again = run_experiment("bench_conditioned.py", args, data=data)
    assert again.returncode == 0 and json.loads(results.read_text()) == records


@pytest.mark.parametrize(("args", "message"), [(["--levels", "0"], "--levels must be positive"),
                                               (["--levels", "25", "--images", "0"], "--images must be at least 1"),
                                               (["--levels", "25", "--model", "missing.pt"], "conditioned denoiser not found")])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path, run_experiment, data: Path, args: list[str], message: str) -> None:
    done = run_experiment("bench_conditioned.py", ["--set", "validation", *args, "--results", str(tmp_path / "c.json")], data=data)
    assert done.returncode == 2 and message in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "c.json").exists()


def test_a_model_that_is_not_noise_conditioned_is_refused(tmp_path: Path, run_experiment, data: Path) -> None:
    plain = lipapps.save(AveragedDenoiser(depth=1), tmp_path / "plain.pt")
    done = run_experiment("bench_conditioned.py", ["--set", "validation", "--levels", "25", "--model", str(plain),
                                                   "--results", str(tmp_path / "c.json")], data=data)
    assert done.returncode == 2 and "does not hold a noise-conditioned" in done.stderr.strip().splitlines()[-1]


def test_the_two_configurations_can_run_apart_and_pair_up(tmp_path: Path, run_experiment, data: Path, model: Path) -> None:
    results = tmp_path / "c.json"
    common = ["--set", "validation", "--levels", "20", "--results", str(results)]
    assert run_experiment("bench_conditioned.py", [*common, "--methods", "shipped levels"], data=data).returncode == 0
    (shipped,) = json.loads(results.read_text())
    assert shipped["method"] == "shipped levels" and "| validation |" not in results.with_suffix(".md").read_text()
    assert run_experiment("bench_conditioned.py", [*common, "--model", str(model)], data=data).returncode == 0
    records = json.loads(results.read_text())
    assert len(records) == 2 and shipped in records  # the shipped row is not run again
    assert "| validation | 20 | 1 |" in results.with_suffix(".md").read_text()
