"""experiments/bench_w1.py and bench_wgan.py, run as scripts: bad arguments are refused before any
work, and a resumed run skips finished cases and renders the table from the stored records."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def script(run_experiment):
    """``script(name, *args)``: ``experiments/<name>`` run with ``args``, five minutes at most."""
    return lambda name, *args: run_experiment(name, args, timeout=300)


def test_unknown_case_is_refused(script):
    run = script("bench_w1.py", "--quick", "--only", "no-such-case")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "lipapps: error: unknown case no-such-case; choose from ring-vs-gaussian"]


def test_finished_cases_are_skipped_and_the_table_names_the_baseline_that_ran(tmp_path: Path, script):
    common = {"case": "ring-vs-gaussian", "dim": 2, "lower": 1.0, "upper": 1.1, "network_lower": 0.9, "heldout": 1.0,
              "heldout_ci95": [0.9, 1.1], "seconds": 1.0, "width": 0.1, "wgan_gp": 1.2, "wgan_gp_seconds": 2.0}
    quick = {**common, "n": 500, "groupsort_reimplementation": 0.8, "groupsort_reimplementation_seconds": 3.0,
             "groupsort_reimplementation_rel_err": -0.2}
    deel = {**common, "n": 200, "deel_torchlip": 0.95, "deel_torchlip_seconds": 4.0}
    (tmp_path / "w1_bench_quick.json").write_text(json.dumps([quick, deel]))
    run = script("bench_w1.py", "--quick", "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "---" not in run.stdout  # nothing trained: the quick case (n = 500) is stored
    table = (tmp_path / "w1_bench_quick.md").read_text().split("Other critics")[1]
    assert "| deel-torchlip (s) | GroupSort + torch spectral_norm (s) | WGAN-GP MLP (s) |" in table
    assert "| ring-vs-gaussian | 500 | 1.0000  (1.0) |  | 0.8000 -20.00% (3.0) | 1.2000  (2.0) |" in table
    assert "| ring-vs-gaussian | 200 | 1.0000  (1.0) | 0.9500  (4.0) |  | 1.2000  (2.0) |" in table


def test_wgan_bench_refuses_unknown_data(tmp_path: Path, script):
    run = script("bench_wgan.py", "--data", "nosuch", "--out", str(tmp_path))
    assert run.returncode == 2 and "invalid choice" in run.stderr
    assert not any(tmp_path.iterdir())


def test_suite_refuses_an_unknown_family_before_any_work(tmp_path: Path, script):
    run = script("bench_w1.py", "--suite", "--families", "nosuch", "--out", str(tmp_path))
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and run.stderr.startswith("lipapps: error: unknown family nosuch")
    assert not any(tmp_path.iterdir())


def test_suite_resumes_and_renders_a_table_per_family_held_out_apart(tmp_path: Path, script):
    common = {"dim": 2, "n": 50, "seed": 0, "lower": 1.0, "upper": 1.01, "bracket": 0.01, "heldout": 0.9,
              "heldout_ci95": [0.8, 1.0], "seconds": 2.0, "cpu_seconds": 1.0, "exact": 1.005, "emd2_seconds": 0.5,
              "sinkhorn": 1.1, "sinkhorn_seconds": 0.2, "lower_rel_err": -0.005, "upper_rel_err": 0.005}
    stored = [{**common, "family": "ring", "case": "ring-d2", "tuning": True},
              {**common, "family": "discrete-vs-continuous", "case": "discrete-vs-continuous-d2", "tuning": False,
               "population_w1": 0.95, "heldout_rel_err_population": -0.0526},
              {**common, "family": "scale", "case": "scale-d16", "dim": 16, "tuning": True, "population_w1": 0.92,
               "heldout_rel_err_population": -0.0217, "ci_covers_population": True,
               "provenance": {"commit": "0123456789abcdef"}}]
    (tmp_path / "w1_suite.json").write_text(json.dumps(stored))
    run = script("bench_w1.py", "--suite", "--families", "ring", "discrete-vs-continuous", "--sizes", "50",
                 "--out", str(tmp_path))
    assert run.returncode == 0, run.stderr
    assert "---" not in run.stdout  # both stored: nothing ran
    tuning, held_out = (tmp_path / "w1_suite.md").read_text().split("## Held-out families")
    assert "### ring" in tuning and "discrete-vs-continuous" not in tuning
    assert "### discrete-vs-continuous" in held_out
    assert "| ring-d2 | 50 | 0 | 1.0050 | 1.0000 -0.50% | 1.0100 +0.50% | +1.00% | 0.9000 [0.8000, 1.0000] |" in tuning
    assert "| scale-d16 | 50 | 0 |" in tuning and "| 01234567 |" in tuning
    assert ("- tuning families: 1 (pair, n, seed) cases; estimate within 3% on 1, 95% interval covering on 1"
            in held_out)
    assert (tmp_path / "w1_suite_width_vs_n.png").exists()
