"""experiments/tune_stop.py run as a script on a tiny train400 stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARGS = ["--problem", "deblur", "--images", "1", "--max-iter", "3"]


@pytest.fixture
def run(run_experiment, train400_stand_in: Path):
    """``run(args)``: tune_stop.py on a train400 stand-in with the tiny ``ARGS``, then ``args``."""
    return lambda args: run_experiment("tune_stop.py", [*ARGS, "--data", str(train400_stand_in), *args])


def test_one_record_per_tolerance_and_nothing_redone(tmp_path: Path, run) -> None:
    results = tmp_path / "stop.json"
    done = run(["--stop-tolerances", "1e-4", "0.5", "--results", str(results)])
    assert done.returncode == 0, done.stderr
    records = json.loads(results.read_text())
    assert sorted(r["tol"] for r in records) == [1e-4, 0.5]
    loose = next(r for r in records if r["tol"] == 0.5)
    tight = next(r for r in records if r["tol"] == 1e-4)
    assert loose["converged"] and not tight["converged"]  # 3 iterations per run cannot reach 1e-4
    assert loose["iterations"] < tight["iterations"] and all(r["monotone"] for r in records)
    table = results.with_suffix(".md").read_text()
    assert "| deblur | 1 |" in table and "stop tolerance" in table
    again = run(["--stop-tolerances", "1e-4", "0.5", "--results", str(results)])
    assert again.returncode == 0 and json.loads(results.read_text()) == records


@pytest.mark.parametrize(("args", "message"), [(["--stop-tolerances", "0"], "--stop-tolerances must be positive"),
                                               (["--stop-tolerances", "1e-3", "--max-iter", "0"], "--max-iter must be at least 1"),
                                               (["--stop-tolerances", "1e-3", "--problem", "ct"], "invalid choice")])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path: Path, run, args: list[str], message: str) -> None:
    done = run([*args, "--results", str(tmp_path / "t.json")])
    assert done.returncode == 2 and message in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "t.json").exists()
