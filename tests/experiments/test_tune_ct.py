"""experiments/tune_ct.py run as a script on a tiny train400 stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARGS = ["--images", "1", "--levels", "25", "--factors", "0.8", "--angles", "8", "--max-iter", "4"]


@pytest.fixture
def run(run_experiment, train400_stand_in: Path):
    """``run(args)``: tune_ct.py on a train400 stand-in with the tiny ``ARGS``, then ``args``."""
    return lambda args: run_experiment("tune_ct.py", [*ARGS, "--data", str(train400_stand_in), *args])


def test_one_record_per_tolerance_with_every_run_counted(tmp_path: Path, run) -> None:
    results = tmp_path / "tuning.json"
    done = run(["--prox-tolerances", "0.01", "1", "--results", str(results)])
    assert done.returncode == 0, done.stderr
    records = json.loads(results.read_text())
    assert [r["prox_tolerance"] for r in records] == [0.01, 1.0]
    assert all(r["converged"] is not None and r["cg_products"] > 0 for r in records)
    # the stages run the solver three times: iterations and CG products count all of them
    assert all(r["iterations"] > 4 for r in records)
    table = results.with_suffix(".md").read_text()
    assert "prox tolerance c" in table and "| 8 |" in table
    again = run(["--prox-tolerances", "0.01", "1", "--results", str(results)])
    assert again.returncode == 0 and json.loads(results.read_text()) == records  # nothing redone


def test_one_record_per_stopping_tolerance_and_older_records_count_as_the_old_one(tmp_path: Path, run) -> None:
    results = tmp_path / "tuning.json"
    assert run(["--stop-tolerances", "1e-4", "1e-2", "--results", str(results)]).returncode == 0
    records = json.loads(results.read_text())
    assert sorted(r["tol"] for r in records) == [1e-4, 1e-2]
    assert "stop tolerance" in results.with_suffix(".md").read_text()
    older = [r for r in records if r["tol"] == 1e-4]
    del older[0]["tol"]  # as written before --stop-tolerances existed, at the then fixed 1e-4
    results.write_text(json.dumps(older))
    again = run(["--stop-tolerances", "1e-4", "--results", str(results)])
    assert again.returncode == 0 and json.loads(results.read_text()) == older  # nothing redone


@pytest.mark.parametrize("option", ["--prox-tolerances", "--stop-tolerances"])
def test_a_tolerance_that_is_not_positive_is_refused(tmp_path: Path, run, option: str) -> None:
    done = run([option, "0", "--results", str(tmp_path / "t.json")])
    assert done.returncode == 2 and f"{option} must be positive" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "t.json").exists()


def test_a_level_between_shipped_ones_runs_scaled_and_the_best_row_of_the_shipped_weights_is_bold(tmp_path: Path, run) -> None:
    results = tmp_path / "tuning.json"
    assert run(["--levels", "25", "30", "--results", str(results)]).returncode == 0
    records = json.loads(results.read_text())
    assert sorted(r["level"] for r in records) == [25, 30]
    assert len({r["weights"] for r in records}) == 2  # level 30 runs the level-50 weights
    best = max(records, key=lambda r: r["psnr"])
    assert results.with_suffix(".md").read_text().count("**") == 2 and f"**{best['psnr']:.2f}**" in results.with_suffix(".md").read_text()
    stale = {**best, "weights": "earlier", "k": 0.5, "psnr": best["psnr"] + 1.0}  # a record of weights no longer shipped
    results.write_text(json.dumps([*records, stale]))
    assert run(["--levels", "25", "--factors", "1", "--results", str(results)]).returncode == 0  # one more record: a new table
    best = max((r for r in json.loads(results.read_text()) if r["weights"] != "earlier"), key=lambda r: r["psnr"])
    table = results.with_suffix(".md").read_text()
    assert f"**{best['psnr']:.2f}**" in table and f"| {stale['psnr']:.2f} |" in table  # listed, not bold


def test_a_level_above_every_shipped_one_is_refused(tmp_path: Path, run) -> None:
    done = run(["--levels", "25", "70", "--results", str(tmp_path / "t.json")])
    assert done.returncode == 2 and "no shipped denoiser at or above level 70" in done.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "t.json").exists()
