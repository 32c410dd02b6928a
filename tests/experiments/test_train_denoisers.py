"""experiments/train_denoisers.py, run as a script: the ridge recipe's stages, where each starts, what each writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import lipapps
from denoisers.images import write_image


def write_smooth_images(folder: Path, count: int, seed: int) -> Path:
    """``count`` smoothed random 100 x 100 images in ``folder`` (a training set for one-epoch runs); returns ``folder``."""
    gen = torch.Generator().manual_seed(seed)
    for k in range(count):
        write_image(folder / f"img{k}.png", torch.nn.functional.avg_pool2d(torch.rand(1, 1, 100, 100, generator=gen), 3, 1, 1)[0, 0])
    return folder


def test_ridge_recipe_restarts_sigma_25_and_fine_tunes_from_the_restart(tmp_path: Path, run_experiment) -> None:
    data = write_smooth_images(tmp_path / "data", count=4, seed=0)
    dirs = {name: tmp_path / name for name in ("weights", "results", "checkpoints")}
    args = ["--family", "ridge", "--data", str(data), "--sigma", "25", "15", "--epochs", "1", "--restart-epochs", "1",
            "--finetune-epochs", "1", "--patches-per-image", "2", "--weights-dir", str(dirs["weights"]),
            "--results-dir", str(dirs["results"]), "--checkpoint-dir", str(dirs["checkpoints"])]
    done = run_experiment("train_denoisers.py", args)
    assert done.returncode == 0, done.stderr
    records = {}
    for name in ("ridge_sigma25_scratch", "ridge_sigma25", "ridge_sigma15"):
        (records[name],) = json.loads((dirs["results"] / f"denoiser_training_{name}.json").read_text())
        assert records[name]["provenance"]["command"].endswith(str(dirs["checkpoints"]))
    assert records["ridge_sigma25_scratch"]["initialised_from"] == "scratch"
    assert records["ridge_sigma25"]["initialised_from"] == str(dirs["checkpoints"] / "ridge_sigma25_scratch.pt")
    assert records["ridge_sigma15"]["initialised_from"] == str(dirs["weights"] / "ridge_sigma25.pt")
    assert [records[n]["recipe"]["lr"] for n in records] == pytest.approx([3e-3, 1e-3, 7.5e-4])
    assert not (dirs["weights"] / "ridge_sigma25_scratch.pt").exists()  # the first run is not shipped
    for name in ("ridge_sigma25", "ridge_sigma15"):
        model = lipapps.load(dirs["weights"] / f"{name}.pt")
        assert model.certified_averagedness((1, 100, 100)) == pytest.approx(0.99)


def test_multiscale_recipe_starts_from_the_shipped_ridge_weights_and_stays_certified(tmp_path: Path, run_experiment) -> None:
    data = write_smooth_images(tmp_path / "data", count=3, seed=1)
    dirs = {name: tmp_path / name for name in ("weights", "results", "checkpoints")}
    args = ["--family", "multiscale", "--data", str(data), "--sigma", "25", "--epochs", "1", "--patches-per-image", "2",
            "--weights-dir", str(dirs["weights"]), "--results-dir", str(dirs["results"]), "--checkpoint-dir", str(dirs["checkpoints"])]
    done = run_experiment("train_denoisers.py", args)
    assert done.returncode == 0, done.stderr
    (record,) = json.loads((dirs["results"] / "denoiser_training_multiscale_sigma25.json").read_text())
    assert record["initialised_from"] == "denoisers/weights/ridge_sigma25.pt (multiscale_from_ridge)"
    assert record["recipe"]["lr"] == pytest.approx(1e-3) and record["config"]["dilations"] == [[1], [1, 2, 4], [1, 2, 4]]
    model = lipapps.load(dirs["weights"] / "multiscale_sigma25.pt")
    assert model.certified_averagedness((1, 100, 100)) == pytest.approx(0.99)
    assert record["certificate"] <= 1.0


def test_conditioned_recipe_trains_one_model_over_the_levels_from_the_shipped_ridge_weights(tmp_path: Path, run_experiment) -> None:
    data = write_smooth_images(tmp_path / "data", count=3, seed=2)
    dirs = {name: tmp_path / name for name in ("weights", "results", "checkpoints")}
    args = ["--family", "conditioned", "--data", str(data), "--epochs", "1", "--patches-per-image", "2",
            "--weights-dir", str(dirs["weights"]), "--results-dir", str(dirs["results"]), "--checkpoint-dir", str(dirs["checkpoints"])]
    done = run_experiment("train_denoisers.py", args)
    assert done.returncode == 0, done.stderr
    (record,) = json.loads((dirs["results"] / "denoiser_training_conditioned_ridge.json").read_text())
    assert record["initialised_from"] == ("denoisers/weights/ridge_sigma15.pt, denoisers/weights/ridge_sigma25.pt, "
                                          "denoisers/weights/ridge_sigma50.pt (conditioned_from_ridges)")
    assert record["sigma_range"] == [5.0, 50.0] and record["config"]["noise_conditioned"] and record["config"]["filter_banks"] == 3
    assert list(record["history"][0]["validation_psnr_per_level"]) == ["5", "15", "25", "50"]
    model = lipapps.load(dirs["weights"] / "conditioned_ridge.pt")
    assert model.certified_averagedness((1, 100, 100)) == pytest.approx(0.99) and record["certificate"] <= 1.0
