"""Every committed results file is a list of records with a complete provenance; the migration of
older layouts (experiments/migrate_results.py, run as a script) keeps every number, dates each
record by git history and changes nothing when run again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lipapps.results import provenance, read_records

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "experiments" / "results"
SCRIPT = ROOT / "experiments" / "migrate_results.py"
FILES = sorted(RESULTS.rglob("*.json"))
COMMIT = re.compile(r"[0-9a-f]{40}")


def test_there_are_results_files() -> None:
    assert len(FILES) >= 20


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(RESULTS).as_posix())
def test_results_file_is_records_with_provenance(path: Path) -> None:
    records = read_records(path)  # a JSON list of objects, or InputError
    assert records
    fields = set(provenance(["x"]))
    for record in records:
        made = record["provenance"]
        assert fields <= set(made), sorted(fields - set(made))
        assert COMMIT.fullmatch(made["commit"]) and made["date"].endswith("Z")
        if "backfilled" not in made:  # written by a script: it knew its command and tree
            assert isinstance(made["command"], str) and isinstance(made["dirty"], bool)


def _git(cwd: Path, *args: str, date: str = "2026-01-01T00:00:00Z") -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
           "GIT_COMMITTER_DATE": date, "PATH": os.environ["PATH"]}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _migrate(folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(SCRIPT), "--results-dir", str(folder)], capture_output=True, text=True, env=env, cwd=ROOT)


def test_migration_of_the_old_layouts(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    _git(tmp_path, "init", "-q")
    bench = {"model": {"in_features": 784, "widths": [50], "depth": 10, "out_features": 10}, "samples": 600,
             "machine": "x86_64, 2 torch threads, CPU", "torch": "2.0",
             "results": [{"width": 50, "batch_size": 256, "constraint": "none", "seconds_per_epoch": 1.5}]}
    pnp = {"meta": {"images": ["a.png"], "crop": 64, "device": "cpu", "threads": 1},
           "rows": [{"image": "a.png", "problem": "deblur", "psnr": 25.5}, {"image": "a.png", "problem": "ct", "psnr": 20.25}]}
    tuning = {"images": ["v.png"], "size": 64, "max_iter": 9, "factors": ["1"], "levels": [25],
              "psnr": {"deblur": {"fbs": {"1": 27.5}, "admm, level 25": {"1": 28.5}}}}
    (folder / "bench_constraints.json").write_text(json.dumps(bench, indent=2))
    (folder / "pnp_bench.json").write_text(json.dumps(pnp, indent=1))
    (folder / "pnp_tuning.json").write_text(json.dumps(tuning, indent=1))
    (folder / "denoiser_training_sigma25.json").write_text(json.dumps({"sigma": 25, "validation_psnr": 27.0, "threads": 1}))
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "first")
    first = _git(tmp_path, "rev-parse", "HEAD")
    pnp["rows"][1]["psnr"] = 20.5  # a later run changed one row only
    (folder / "pnp_bench.json").write_text(json.dumps(pnp, indent=1))
    _git(tmp_path, "commit", "-qam", "second", date="2026-01-02T00:00:00Z")
    second = _git(tmp_path, "rev-parse", "HEAD")

    done = _migrate(folder)
    assert done.returncode == 0, done.stderr
    (row,) = read_records(folder / "bench_constraints.json")
    assert row["seconds_per_epoch"] == 1.5 and (row["depth"], row["samples"], row["device"]) == (10, 600, "cpu")
    assert (row["provenance"]["cpu"], row["provenance"]["threads"], row["provenance"]["versions"]) == ("x86_64", 2, {"torch": "2.0"})
    rows = read_records(folder / "pnp_bench.json")
    assert [(r["psnr"], r["provenance"]["commit"]) for r in rows] == [(25.5, first), (20.5, second)]
    assert rows[1]["provenance"]["date"] == "2026-01-02T00:00:00Z" and '"crop": 64' in rows[1]["provenance"]["backfilled"]
    cells = {(r["problem"], r["row"], r["k"]): r["psnr"] for r in read_records(folder / "pnp_tuning.json")}
    assert cells == {("deblur", "fbs", "1"): 27.5, ("deblur", "admm, level 25", "1"): 28.5}
    (trained,) = read_records(folder / "denoiser_training_sigma25.json")
    assert trained["name"] == "sigma25" and "threads" not in trained and trained["provenance"]["threads"] == 1

    _git(tmp_path, "commit", "-qam", "migrated", date="2026-01-03T00:00:00Z")
    before = {p.name: p.read_text() for p in folder.iterdir()}
    assert _migrate(folder).returncode == 0
    assert {p.name: p.read_text() for p in folder.iterdir()} == before


def test_migration_refuses_uncommitted_files(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "r.json").write_text(json.dumps([{"case": "a"}], indent=1))
    done = _migrate(tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("lipapps: error:") and len(done.stderr.splitlines()) == 1
    assert json.loads((tmp_path / "r.json").read_text()) == [{"case": "a"}]
