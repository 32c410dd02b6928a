"""experiments/bench_wgan_images.py, run as a script on tiny IDX files: every run is evaluated at
its training-time marks and writes its record, grid and curves; a rerun does nothing, a longer
budget extends the runs from their checkpoints; bad input is one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from critics.image_metrics import ImageClassifier, save_classifier
from lipapps.results import read_records

ROOT = Path(__file__).resolve().parents[2]


def script(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "bench_wgan_images.py"), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture
def folders(tmp_path: Path, tiny_idx) -> dict[str, Path]:
    """Tiny MNIST IDX files (40 training, 20 test images) and an untrained classifier file."""
    idx, weights = tmp_path / "idx", tmp_path / "weights"
    tiny_idx(idx)
    weights.mkdir()
    save_classifier(ImageClassifier().eval(), weights / "classifier_mnist.pt", "mnist", 0.1)
    return {"idx": idx, "weights": weights, "work": tmp_path / "work", "out": tmp_path / "out"}


def bench(folders: dict[str, Path], minutes: str) -> subprocess.CompletedProcess:
    (folders["out"]).mkdir(exist_ok=True)
    return script("--data", "mnist", "--data-dir", str(folders["idx"]), "--seeds", "0", "--weights", str(folders["weights"]),
                  "--work", str(folders["work"]), "--out", str(folders["out"]), "--eval-samples", "20", "--w1-samples", "10",
                  "--w1-epochs", "3", "--checkpoint-every", "1", "--minutes", minutes, "--eval-every", "0.005")


def test_runs_are_evaluated_recorded_and_extended_from_their_checkpoints(folders):
    first = bench(folders, "0.01")  # 0.6 s of training per run, evaluated at 0.3 s and 0.6 s
    assert first.returncode == 0, first.stderr
    results = folders["out"] / "wgan_images.json"
    records = {r["critic"]: r for r in read_records(results)}
    assert set(records) == {"certified", "wgan-gp"}
    for kind, record in records.items():
        assert record["complete"] and [p["target_seconds"] for p in record["curve"]] == pytest.approx([0.3, 0.6])
        assert record["seconds"] >= 0.6 and record["steps"] >= 1 and record["eval_samples"] == 20
        assert record["w1_lower"] <= record["w1_upper"] and record["w1_samples"] == 10
        assert (folders["out"] / record["grid"]).stat().st_size > 0
    assert records["certified"]["max_certificate"] <= 1.0 and records["wgan-gp"]["certificate"] is None
    assert (folders["out"] / "wgan_images_mnist_curves.png").exists()
    text = results.read_text()
    assert bench(folders, "0.01").returncode == 0 and results.read_text() == text  # done: nothing reruns
    longer = bench(folders, "0.015")
    assert longer.returncode == 0, longer.stderr
    for record in read_records(results):
        before = records[record["critic"]]
        assert [p["target_seconds"] for p in record["curve"]] == pytest.approx([0.3, 0.6, 0.9])
        assert record["steps"] >= before["steps"] and record["seconds"] >= 0.9 - 1e-9


@pytest.mark.parametrize("change, message", [
    (("--w1-samples", "1"), "2 <= --w1-samples"),
    (("--data-dir", "{empty}"), "train-images-idx3-ubyte"),
    (("--weights", "{empty}"), "no such file"),
])
def test_bad_input_is_one_line(folders, tmp_path, change, message):
    (tmp_path / "empty").mkdir()
    option, value = change[0], change[1].format(empty=tmp_path / "empty")
    run = script("--data", "mnist", "--data-dir", str(folders["idx"]), "--weights", str(folders["weights"]),
                 "--work", str(folders["work"]), "--out", str(tmp_path), option, value)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith("lipapps: error:") and message in lines[0], run.stderr
