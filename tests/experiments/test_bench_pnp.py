"""experiments/bench_pnp.py, run as a script: records with provenance, the table, the usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from denoisers.images import write_image

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "experiments" / "bench_pnp.py"


def write_bsd68_stand_in(root: Path, seed: int) -> None:
    """One smooth random 32 x 36 image as ``root/images/bsd68/a.png`` (the LIPAPPS_DATA layout)."""
    noise = torch.rand(1, 1, 36, 40, generator=torch.Generator().manual_seed(seed))
    write_image(root / "images" / "bsd68" / "a.png", torch.nn.functional.avg_pool2d(noise, 5, stride=1)[0, 0])


def test_a_tiny_run_writes_records_with_provenance_and_the_table(tmp_path: Path, run_experiment) -> None:
    write_bsd68_stand_in(tmp_path, seed=0)
    out = tmp_path / "results"
    done = run_experiment("bench_pnp.py", ["--images", "1", "--size", "24", "--max-iter", "3", "--problems", "denoise",
                                           "superres", "--tag", "tiny", "--out-dir", str(out)], tmp_path)
    assert done.returncode == 0, done.stderr
    records = json.loads((out / "tiny.json").read_text())
    assert {r["problem"] for r in records} == {"denoise", "superres"}
    assert all(r["image"] == "a.png" and r["provenance"]["command"].endswith("--out-dir " + str(out)) for r in records)
    pnp = [r for r in records if r["method"] == "ours PnP-ADMM"]
    assert len(pnp) == 1 and pnp[0]["residual_non_increasing"] and pnp[0]["iterations"] <= 9  # three runs of at most 3
    assert "| superres | ours PnP-ADMM |" in (out / "tiny.md").read_text()
    assert not (out / "pnp_superres.png").exists()  # panels only with the default tag


def test_bm3d_prior_without_bm3d_is_a_usage_error(tmp_path: Path) -> None:
    code = ("import importlib.util, runpy, sys; real = importlib.util.find_spec; "
            "importlib.util.find_spec = lambda n, *a: None if n == 'bm3d' else real(n, *a); "
            f"sys.argv = ['bench_pnp.py', '--bm3d-prior']; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 2 and "--bm3d-prior needs the bm3d package" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_repeated_run_skips_what_is_done_and_parts_rerun_only_ours(tmp_path: Path, run_experiment) -> None:
    write_bsd68_stand_in(tmp_path, seed=1)
    out = tmp_path / "results"
    args = ["--images", "1", "--size", "24", "--max-iter", "3", "--problems", "superres", "--tag", "tiny", "--out-dir", str(out)]
    assert run_experiment("bench_pnp.py", args, tmp_path).returncode == 0
    first = {(r["method"], r["part"]): r["provenance"]["date"] for r in json.loads((out / "tiny.json").read_text())}
    assert {part for _, part in first} == {"ours", "baselines"}
    again = run_experiment("bench_pnp.py", args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert {(r["method"], r["part"]): r["provenance"]["date"] for r in json.loads((out / "tiny.json").read_text())} == first
    assert run_experiment("bench_pnp.py", [*args, "--parts", "ours", "--rerun"], tmp_path).returncode == 0
    records = json.loads((out / "tiny.json").read_text())
    assert sorted((r["method"], r["part"]) for r in records) == sorted(first)  # replaced, not duplicated
    stamps = {r["method"]: r["provenance"]["command"] for r in records}
    assert all(("--parts ours" in stamps[m]) == (part == "ours") for m, part in first)


def test_the_two_whole_set_runs_exclude_each_other(tmp_path: Path, run_experiment) -> None:
    done = run_experiment("bench_pnp.py", ["--bsd68-denoising", "--classic-denoising", "--out-dir", str(tmp_path)], tmp_path)
    assert done.returncode == 2 and "not allowed with argument" in done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.glob("*.json"))


def test_a_rerun_replaces_the_records_made_before_they_stored_their_crop_size(tmp_path: Path, run_experiment) -> None:
    write_bsd68_stand_in(tmp_path, seed=2)
    out = tmp_path / "results"
    out.mkdir()
    legacy = {"problem": "superres", "image": "a.png", "method": "ours PnP-ADMM", "psnr": 1.0, "ssim": 0.0, "seconds": 0.0,
              "provenance": {"date": "2026-11-01"}}
    (out / "tiny.json").write_text(json.dumps([legacy]))
    args = ["--images", "1", "--size", "128", "--max-iter", "3", "--problems", "superres", "--tag", "tiny", "--out-dir", str(out),
            "--parts", "ours", "--rerun"]
    assert run_experiment("bench_pnp.py", args, tmp_path).returncode == 0
    admm = [r for r in json.loads((out / "tiny.json").read_text()) if r["method"] == "ours PnP-ADMM"]
    assert len(admm) == 1 and admm[0]["size"] == 128 and admm[0]["psnr"] > 1.0


def test_a_missing_bsd68_folder_is_one_line_and_exit_2(tmp_path: Path, run_experiment) -> None:
    done = run_experiment("bench_pnp.py", ["--images", "1", "--out-dir", str(tmp_path)], tmp_path / "absent")
    assert done.returncode == 2 and "image folder not found" in done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr and not list(tmp_path.glob("*.json"))
