"""The classification experiments' --quick runs and the ``lipapps classify`` command."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import torch

from lipapps.classification_runs import (
    MOONS_NOISE, run_two_moons, two_moons_bayes_accuracy, two_moons_bayes_agreement,
    two_moons_bayes_labels, two_moons_fresh_draws, two_moons_kde_labels, two_moons_log_densities,
    two_moons_population_bayes_accuracy, two_moons_split, two_moons_test_bayes_agreement,
)
from lipapps.errors import InputError
from lipapps.cli import main as lipapps_main

ROOT = Path(__file__).resolve().parents[2]
SUMMARY_KEYS = {
    "test_accuracy", "certified_accuracy", "lipschitz_upper_bound", "seconds_per_epoch",
    "constraint_seconds_per_epoch",
}


def run_script(name: str, *args: str) -> None:
    """Run ``experiments/<name>.py`` as its users do, in a subprocess, and require success."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(ROOT / "experiments" / f"{name}.py"), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def idx_dir(tmp_path: Path, tiny_idx) -> Path:
    """A tiny MNIST-layout folder (gzipped IDX, torchvision raw/ layout): 40 train, 20 test."""
    tiny_idx(tmp_path / "data" / "MNIST" / "raw")
    return tmp_path / "data"


def check_record(record: dict) -> None:
    assert SUMMARY_KEYS <= record.keys()
    assert set(record["certified_accuracy"]) == {"0.5", "1.0", "1.58"}
    assert 0.0 <= record["test_accuracy"] <= 1.0
    for acc in record["certified_accuracy"].values():
        assert acc <= record["test_accuracy"]


def test_two_moons_quick(tmp_path: Path) -> None:
    run_script("two_moons", "--quick", "--out", str(tmp_path))
    records = json.loads((tmp_path / "two_moons_quick.json").read_text())
    assert {r["architecture"] for r in records} == {"3.1", "4.1"}
    for r in records:
        check_record(r)
        assert r["lipschitz_upper_bound"] <= 1.0
        assert r["train_fraction"] == 0.8 and r["depth"] == 2
        assert r["provenance"]["command"].endswith(f"--quick --out {tmp_path}")
        assert 0.0 <= r["test_bayes_agreement"] <= 1.0
    table = (tmp_path / "two_moons_quick.md").read_text()
    assert table.count("| Thm ") == 2
    assert sorted(p.suffix for p in tmp_path.glob("*.png")) == [".png", ".png"]
    # a second run finds every cell done and trains nothing
    before = (tmp_path / "two_moons_quick.json").read_text()
    run_script("two_moons", "--quick", "--out", str(tmp_path))
    assert (tmp_path / "two_moons_quick.json").read_text() == before


def test_two_moons_validation_quick_leaves_the_test_split_alone(tmp_path: Path) -> None:
    run_script("two_moons", "--quick", "--validation-fraction", "0.25", "--architectures", "3.1",
               "--out", str(tmp_path))
    [record] = json.loads((tmp_path / "two_moons_quick_validation.json").read_text())
    assert (record["validation_fraction"], record["n_train"], record["n_test"]) == (0.25, 2400, 800)
    assert 0.0 <= record["bayes_agreement"] <= 1.0
    table = (tmp_path / "two_moons_quick_validation.md").read_text()
    assert "validation acc." in table and not list(tmp_path.glob("*.png"))


def test_bayes_accuracy_is_below_one_and_above_knn_level() -> None:
    acc = two_moons_bayes_accuracy(0.8)
    assert 0.99 < acc < 1.0
    # the documented counts: 1 error in the 800 test points at 0.8, 2 in the 3200 at 0.2
    assert round((1 - acc) * 800) == 1 and round((1 - two_moons_bayes_accuracy(0.2)) * 3200) == 2


def test_bayes_labels_on_the_moons_and_between_them() -> None:
    # the outer moon (0) at its top, the inner moon (1) at its bottom; far off each curve the
    # nearer one wins
    x = torch.tensor([[0.0, 1.0], [1.0, -0.5], [-1.0, 0.0], [2.0, 0.5], [0.5, 0.9], [0.5, -0.4]])
    assert two_moons_bayes_labels(x).tolist() == [0, 1, 0, 1, 0, 1]


def test_moons_densities_match_a_brute_force_sum_over_the_arc() -> None:
    """Gauss-Legendre against a midpoint sum on 2 million angles (error below 3e-9), at points on,
    between and far from the moons; a density integrates the arc's uniform angle."""
    x = torch.tensor([[0.0, 1.0], [0.5, 0.25], [1.0, -0.5], [-0.3, 0.45], [2.5, 2.0]])
    t = (torch.arange(2_000_000, dtype=torch.float64) + 0.5) * math.pi / 2_000_000
    outer = torch.stack([torch.cos(t), torch.sin(t)], 1)
    for label, arc in enumerate((outer, torch.tensor([1.0, 0.5], dtype=torch.float64) - outer)):
        squared = torch.cdist(x.double(), arc) ** 2
        brute = torch.log(torch.exp(-squared / (2 * MOONS_NOISE**2)).mean(1) / (2 * math.pi * MOONS_NOISE**2))
        assert torch.allclose(two_moons_log_densities(x)[:, label], brute, rtol=0, atol=1e-8)


def test_bayes_rule_has_the_point_symmetry_of_the_moons() -> None:
    """``x -> (1, 1/2) - x`` maps each moon onto the other: it swaps the densities and the labels."""
    x = 3 * torch.rand(5000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) - 1
    mirror = torch.tensor([1.0, 0.5], dtype=torch.float64) - x
    assert torch.allclose(two_moons_log_densities(mirror), two_moons_log_densities(x).flip(1), atol=1e-9)
    assert torch.equal(two_moons_bayes_labels(mirror), 1 - two_moons_bayes_labels(x))


def test_population_bayes_accuracy_is_the_posterior_mean_with_its_error() -> None:
    small = two_moons_population_bayes_accuracy(20_000)
    assert small.n == 20_000 and 0 < small.standard_error < 2e-4
    assert 0.999 < small.mean < 1.0
    # another seed's estimate agrees within the errors (and is not the same number)
    other = two_moons_population_bayes_accuracy(20_000, seed=1)
    assert other.mean != small.mean
    assert abs(other.mean - small.mean) < 4 * math.hypot(small.standard_error, other.standard_error)


def test_validation_split_is_carved_from_the_training_split() -> None:
    x_train, y_train, x_test, _ = two_moons_split(0.2)
    x_fit, y_fit, x_val, y_val = two_moons_split(0.2, validation_fraction=0.2)
    assert (len(x_fit), len(x_val)) == (640, 160)
    assert torch.equal(torch.cat([x_fit, x_val]), x_train) and torch.equal(torch.cat([y_fit, y_val]), y_train)
    assert not (torch.cdist(x_val, x_test) == 0).any()
    for bad in (-0.1, 1.0, 0.0001):
        with pytest.raises(InputError):
            two_moons_split(0.2, validation_fraction=bad)


def test_kde_reference_is_close_to_bayes_and_worse_with_a_wrong_bandwidth() -> None:
    draws, bayes = two_moons_fresh_draws(n_draws=4000)
    assert not torch.equal(draws, two_moons_fresh_draws(seed=1, n_draws=4000)[0])
    near = float((two_moons_kde_labels(draws, 0.2) == bayes).double().mean())
    wide = float((two_moons_kde_labels(draws, 0.2, bandwidth=0.5) == bayes).double().mean())
    assert 0.99 < near < 1.0 and wide < near


class _Linear(torch.nn.Module):
    def __init__(self, weight: list[float], bias: float) -> None:
        super().__init__()
        self.weight, self.bias = torch.tensor(weight), bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x @ self.weight + self.bias)[:, None]


def test_bayes_agreement_counts_agreement_on_fresh_draws() -> None:
    """A constant classifier agrees with the Bayes one on the share of draws of its class (about
    one half); the two constants together agree everywhere."""
    ones, zeros = _Linear([0.0, 0.0], 1.0), _Linear([0.0, 0.0], -1.0)
    a1 = two_moons_bayes_agreement(ones, n_draws=4000)
    a0 = two_moons_bayes_agreement(zeros, n_draws=4000)
    assert abs(a1 - 0.5) < 0.03 and a0 + a1 == pytest.approx(1.0)
    # a linear separator (inner moon lies lower) agrees far better than chance, not perfectly
    assert 0.8 < two_moons_bayes_agreement(_Linear([0.3, -1.0], 0.0), n_draws=4000) < 0.99
    # on the test split: the two constants split it by the Bayes labels (1600 of 3200 each is
    # not forced, so only their sum is exact)
    t1, t0 = (two_moons_test_bayes_agreement(model, 0.2) for model in (ones, zeros))
    assert abs(t1 - 0.5) < 0.05 and t0 + t1 == pytest.approx(1.0)


def test_bayes_table_script(tmp_path: Path) -> None:
    run_script("two_moons", "--bayes", "--bayes-draws", "2000", "--fractions", "0.8", "--out", str(tmp_path))
    records = json.loads((tmp_path / "two_moons_bayes.json").read_text())
    split = next(r for r in records if r["evaluated_on"] == "test split")
    population = next(r for r in records if r["evaluated_on"] == "population")
    assert (split["errors"], split["n"], split["accuracy"]) == (1, 800, 799 / 800)
    assert split["quadrature_error"] < 1e-6 < split["min_abs_log_ratio"]
    assert population["n"] == 2000 and 0 < population["standard_error"] < 1e-3
    assert "| test split, train fraction 0.8 | 99.8750 |" in (tmp_path / "two_moons_bayes.md").read_text()


def test_run_two_moons_on_a_validation_split_records_it() -> None:
    run = run_two_moons(2, "3.1", train_fraction=0.2, epochs=1, validation_fraction=0.25, progress=False)
    record = run.record()
    assert (record["validation_fraction"], record["n_train"], record["n_test"]) == (0.25, 600, 200)
    assert record["lipschitz_upper_bound"] <= 1.0


def test_mnist_quick_end_to_end_and_free_row(tmp_path: Path, idx_dir: Path) -> None:
    run_script("mnist", "--quick", "--data-dir", str(idx_dir), "--out", str(tmp_path))
    records = json.loads((tmp_path / "mnist_quick.json").read_text())
    assert sorted(r["lifting_readout"] for r in records) == ["constrained", "free"]
    for r in records:
        check_record(r)
        assert r["n_train"] == 40 and r["n_test"] == 20 and "commit" in r["provenance"]
    constrained = next(r for r in records if r["lifting_readout"] == "constrained")
    assert constrained["lipschitz_upper_bound"] <= 1.0
    assert "| 8 | 1 | free |" in (tmp_path / "mnist_quick.md").read_text()


def test_cli_two_moons_json(capsys) -> None:
    argv = ["classify", "two-moons", "--depth", "2", "--epochs", "2", "--json"]
    assert lipapps_main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == SUMMARY_KEYS
    check_record(out)


def test_cli_mnist_json_and_errors(capsys, idx_dir: Path, tmp_path: Path) -> None:
    argv = ["classify", "mnist", "--data-dir", str(idx_dir), "--width", "6", "--depth", "1",
            "--epochs", "1", "--json"]
    assert lipapps_main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    check_record(out)
    assert out["lipschitz_upper_bound"] <= 1.0
    assert lipapps_main(["classify", "mnist", "--data-dir", str(tmp_path / "none"), "--json"]) == 2
    assert "train-images-idx3-ubyte" in capsys.readouterr().err
    assert lipapps_main(["classify", "two-moons", "--train-fraction", "1.0"]) == 2
    assert "--train-fraction" in capsys.readouterr().err
