"""experiments/wgan_step_time.py, run as a script on a tiny budget: one record per critic, written
through lipapps.results with provenance, the reference's ratio 1 and the certified critics' bound <= 1."""

from __future__ import annotations

import json
from pathlib import Path


def test_step_times_are_recorded(tmp_path: Path, run_experiment):
    run = run_experiment("wgan_step_time.py", ["--batch-size", "2", "--critic-steps", "1", "--rounds", "1", "--out", str(tmp_path)],
                         timeout=300)
    assert run.returncode == 0, run.stderr
    records = json.loads((tmp_path / "wgan_step_time.json").read_text())
    assert len(records) == 6 and all("provenance" in r and r["seconds_per_step"] > 0 for r in records)
    assert [r["ratio"] for r in records if r["critic"] == "wgan-gp dcgan_critic(width=32)"] == [1.0]
    certified = [r for r in records if r["critic"].startswith("certified")]
    assert len(certified) == 3 and all(0 < r["certificate"] <= 1.0 for r in certified)
    assert any(r["critic"].startswith("certified recipe") for r in certified)
    assert (tmp_path / "wgan_step_time.md").read_text().startswith("# Seconds per WGAN step")
