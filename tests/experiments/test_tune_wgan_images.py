"""experiments/tune_wgan_images.py, run as a script on tiny IDX files: each variant trains to its
budget on the chosen clock, is scored and recorded once; the bench's seeds are refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from critics.image_metrics import ImageClassifier, save_classifier
from lipapps.results import read_records

ROOT = Path(__file__).resolve().parents[2]


def script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "experiments" / "tune_wgan_images.py"), "--work", str(tmp_path / "work"),
                           "--out", str(tmp_path / "out"), "--weights", str(tmp_path / "classifier.pt"), *args],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)


@pytest.fixture
def folder(tmp_path: Path, tiny_idx) -> Path:
    tiny_idx(tmp_path / "idx")
    save_classifier(ImageClassifier().eval(), tmp_path / "classifier.pt", "mnist", 0.1)
    (tmp_path / "out").mkdir()
    return tmp_path


def test_variants_are_trained_scored_and_recorded_once(folder):
    args = ("--data-dir", str(folder / "idx"), "--variants", "gp-paper", "certified-2x1e-3", "--minutes", "0.005",
            "--eval-samples", "20")
    run = script(folder, *args)
    assert run.returncode == 0, run.stderr
    records = {r["variant"]: r for r in read_records(folder / "out" / "wgan_tuning.json")}
    assert set(records) == {"gp-paper", "certified-2x1e-3"}
    for record in records.values():
        assert record["seconds"] >= 0.3 and record["steps"] >= 1 and record["clock"] == "cpu"
        assert record["frechet_distance"] >= 0 and record["seed"] == 2
    assert records["certified-2x1e-3"]["certificate"] <= 1.0 and records["gp-paper"]["certificate"] is None
    assert records["certified-2x1e-3"]["recipe"]["critic_steps"] == 2
    text = (folder / "out" / "wgan_tuning.json").read_text()
    assert script(folder, *args).returncode == 0 and (folder / "out" / "wgan_tuning.json").read_text() == text


@pytest.mark.parametrize("change, message", [(("--seeds", "0"), "seeds 0 and 1 are the bench's"),
                                             (("--eval-samples", "1"), "--eval-samples")])
def test_bad_input_is_one_line(folder, change, message):
    run = script(folder, "--data-dir", str(folder / "idx"), *change)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith("lipapps: error:") and message in lines[0], run.stderr
