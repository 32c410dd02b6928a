"""experiments/bench_w1.py and bench_wgan.py, run as scripts: bad arguments are refused before any
work, and a resumed run skips finished cases and renders the table from the stored records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "experiments" / name), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)


def test_unknown_case_is_refused():
    run = script("bench_w1.py", "--quick", "--only", "no-such-case")
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "lipapps: error: unknown case no-such-case; choose from ring-vs-gaussian"]


def test_finished_cases_are_skipped_and_the_table_names_the_baseline_that_ran(tmp_path: Path):
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


def test_wgan_bench_refuses_unknown_data(tmp_path: Path):
    run = script("bench_wgan.py", "--data", "nosuch", "--out", str(tmp_path))
    assert run.returncode == 2 and "invalid choice" in run.stderr
    assert not any(tmp_path.iterdir())
