"""experiments/tune_collaborative.py run as a script on a tiny train400 stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARGS = ["--problems", "denoise", "--sigmas", "25", "--images", "1", "--weights", "0.5", "--factors", "1"]


@pytest.fixture
def run(run_experiment, train400_stand_in: Path):
    """``run(args)``: tune_collaborative.py on a train400 stand-in with the tiny ``ARGS``, then ``args``."""
    return lambda args: run_experiment("tune_collaborative.py", [*ARGS, "--data", str(train400_stand_in), *args])


def test_one_record_per_cell_side_and_group_size(tmp_path: Path, run) -> None:
    results = tmp_path / "tuning.json"
    done = run(["--regions", "8", "16", "--groups", "16", "--results", str(results)])
    assert done.returncode == 0, done.stderr
    records = json.loads(results.read_text())
    assert sorted((r["region"], r["group"]) for r in records) == [(8, 16), (16, 16)]
    assert all(r["converged"] and r["monotone"] for r in records)
    assert "| region | group |" in results.with_suffix(".md").read_text()


def test_a_record_from_before_the_cell_side_counts_as_the_default(tmp_path: Path, run) -> None:
    results = tmp_path / "tuning.json"
    assert run(["--results", str(results)]).returncode == 0
    records = json.loads(results.read_text())
    for record in records:  # as written before --regions and --groups existed
        del record["region"], record["group"]
    results.write_text(json.dumps(records))
    again = run(["--regions", "16", "--groups", "16", "--results", str(results)])
    assert again.returncode == 0 and json.loads(results.read_text()) == records  # nothing redone


def test_a_group_that_is_not_a_power_of_two_is_refused_before_any_work(tmp_path: Path, run) -> None:
    done = run(["--groups", "6", "--results", str(tmp_path / "t.json")])
    assert done.returncode == 2 and "power-of-two group" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "t.json").exists()
