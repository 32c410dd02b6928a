"""experiments/bench_pnp.py: the unconstrained baseline runs beside ours, with the same settings."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "bench_pnp.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("experiment_bench_pnp", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def truth() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.nn.functional.avg_pool2d(torch.rand(1, 1, 36, 36), 5, stride=1)[0, 0]


def test_baseline_runs_with_our_settings_and_is_flagged_uncertified(bench: ModuleType) -> None:
    rows = bench.bench_inverse("deblur", "tiny", truth(), seed=0, max_iter=4, panel=None)
    ours = {r["method"]: r for r in rows if r["method"].startswith("ours")}
    baseline = {r["method"]: r for r in rows if r["method"].startswith(bench.BASELINE)}
    assert set(ours) == {"ours PnP-FBS", "ours PnP-ADMM"}
    assert set(baseline) == {f"{bench.BASELINE} PnP-FBS", f"{bench.BASELINE} PnP-ADMM"}
    for algorithm in ("FBS", "ADMM"):
        mine, theirs = ours[f"ours PnP-{algorithm}"], baseline[f"{bench.BASELINE} PnP-{algorithm}"]
        assert (mine["denoiser_sigma"], mine["strength"]) == (theirs["denoiser_sigma"], theirs["strength"])
        assert mine["guarantee_warnings"] == 0 and theirs["guarantee_warnings"] >= 1
    table = bench.markdown(rows)
    assert "| converged | residual non-increasing |" in table


def test_no_baseline_rows_without_its_weights(bench: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(bench, "BASELINE_WEIGHTS", tmp_path)
    assert bench.load_baseline(25) is None
    rows = bench.bench_denoising("tiny", truth(), 25 / 255, seed=0)
    assert not any(r["method"].startswith(bench.BASELINE) for r in rows)
    assert any(r["method"].startswith("ours") for r in rows)


def test_denoising_scores_both_shipped_families(bench: ModuleType) -> None:
    rows = bench.bench_denoising("tiny", truth(), 25 / 255, seed=0)
    methods = {r["method"] for r in rows}
    assert {"ours (sigma 25)", "ours, convex ridge (sigma 25)", "ours, convex ridge (sigma 25), x8 self-ensemble"} <= methods


def test_a_run_of_some_bsd68_levels_keeps_the_stored_rows_of_the_others(bench: ModuleType, tmp_path: Path) -> None:
    stored = tmp_path / "pnp_bsd68_denoising.json"
    rows = [{"problem": f"denoise sigma {s}", "image": "a.png", "method": "ours", "psnr": float(s)} for s in (5, 15, 25)]
    stored.write_text(json.dumps({"meta": {}, "rows": rows}))
    kept = bench.kept_bsd68_rows(stored, [25, 50])
    assert [r["problem"] for r in kept] == ["denoise sigma 5", "denoise sigma 15"]
    assert bench.kept_bsd68_rows(tmp_path / "missing.json", [25]) == []


def test_bsd68_denoising_scores_the_classical_denoisers_at_every_level(bench: ModuleType, tmp_path: Path) -> None:
    from denoisers.images import write_image

    files = []
    for k in range(2):
        files.append(tmp_path / f"img{k}.png")
        write_image(files[-1], truth())
    rows = bench.bench_bsd68_denoising(files, [15, 50])
    for sigma in (15, 50):
        methods = {r["method"] for r in rows if r["problem"] == f"denoise sigma {sigma}"}
        assert {"noisy", "ours", "TV (best weight)"} <= methods
        assert ("BM3D" in methods) == (importlib.util.find_spec("bm3d") is not None)
        tv = [r for r in rows if r["problem"] == f"denoise sigma {sigma}" and r["method"] == "TV (best weight)"]
        # the weight grid follows the noise level
        assert len(tv) == 2 and all(r["tv_weight"] >= min(bench.TV_DENOISE_WEIGHTS) * sigma / 25 - 1e-9 for r in tv)


@pytest.mark.skipif(importlib.util.find_spec("bm3d") is None, reason="bm3d (the bench extra) not installed")
def test_bm3d_prior_row_for_deblurring_and_ct_only(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "BM3D_PRIOR_LEVELS", (15, 40))
    monkeypatch.setattr(bench, "BM3D_PRIOR_FACTORS", (1.0,))
    monkeypatch.setattr(bench, "BM3D_PRIOR_ITERATIONS", 3)
    rows = bench.bench_inverse("deblur", "tiny", truth(), seed=0, max_iter=4, panel=None, bm3d_prior=True)
    (row,) = [r for r in rows if r["method"].startswith("BM3D prior")]
    assert row["bm3d_level"] in (15, 40) and row["iterations"] <= 3
    from denoisers.metrics import psnr
    from denoisers.problems import simulate

    blurred = simulate("deblur", truth(), None, 0)
    assert row["psnr"] > psnr(blurred.y, blurred.truth)  # BM3D as a prior improves on the measurement
    assert "converged" in row and "residual_non_increasing" in row
    rows = bench.bench_inverse("ct", "tiny", truth(), seed=0, max_iter=4, panel=None, bm3d_prior=True)
    (row,) = [r for r in rows if r["method"].startswith("BM3D prior")]
    assert row["bm3d_level"] in (15, 40) and row["bm3d_factor"] == 1.0
    rows = bench.bench_inverse("inpaint", "tiny", truth(), seed=0, max_iter=4, panel=None, bm3d_prior=True)
    assert not any(r["method"].startswith("BM3D prior") for r in rows)


def test_tuned_ours_is_the_best_of_its_grid(bench: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "TUNED_FACTORS", (0.5, 2.0))
    rows = bench.bench_inverse("deblur", "tiny", truth(), seed=0, max_iter=4, panel=None, tuned_ours=True)
    (tuned,) = [r for r in rows if r["method"] == "ours PnP-ADMM (best level and factor)"]
    assert tuned["factor"] in (0.5, 2.0) and tuned["denoiser_sigma"] in (15, 25, 50)
    from denoisers.problems import simulate
    from denoisers.reconstruct import REGULARISATION, choose_settings, run_pnp

    problem = simulate("deblur", truth(), None, 0)
    one_point = run_pnp(problem, choose_settings(problem, "admm", regularisation=2.0 * REGULARISATION["admm"]["deblur"], level=25),
                        max_iter=4, tol=1e-4)
    assert tuned["psnr"] >= one_point.trace.psnr[-1] - 1e-6  # the best of a grid that holds this point
    assert tuned["residual_non_increasing"]  # certified: monotone at every setting
    assert not any(r["method"].endswith("(best level and factor)")
                   for r in bench.bench_inverse("deblur", "tiny", truth(), seed=0, max_iter=4, panel=None))


def test_bm3d_prior_without_bm3d_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    code = ("import importlib.util, runpy, sys; real = importlib.util.find_spec; "
            "importlib.util.find_spec = lambda n, *a: None if n == 'bm3d' else real(n, *a); "
            f"sys.argv = ['bench_pnp.py', '--bm3d-prior']; runpy.run_path({str(SCRIPT)!r}, run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2 and "--bm3d-prior needs the bm3d package" in done.stderr
    assert "Traceback" not in done.stderr
