"""denoisers.benchmark: the unconstrained baseline runs beside ours with the same settings; the tuned grids."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest
import torch

from lipapps import InputError

from denoisers import baselines, benchmark
from denoisers.benchmark import BASELINE, bench_denoising, bench_inverse, bench_set_denoising, summary_table
from denoisers.metrics import psnr
from denoisers.parameters import REGULARISATION, choose_settings
from denoisers.problems import simulate
from denoisers.reconstruct import run_pnp

BASELINES = Path(__file__).resolve().parents[2] / "experiments" / "weights"


def truth() -> torch.Tensor:
    torch.manual_seed(0)
    return torch.nn.functional.avg_pool2d(torch.rand(1, 1, 36, 36), 5, stride=1)[0, 0]


def test_baseline_runs_with_our_settings_and_is_flagged_uncertified() -> None:
    rows = bench_inverse("deblur", "tiny", truth(), seed=0, max_iter=4, baseline_dir=BASELINES)
    ours = {r["method"]: r for r in rows if r["method"].startswith("ours")}
    baseline = {r["method"]: r for r in rows if r["method"].startswith(BASELINE)}
    assert set(ours) == {"ours PnP-FBS", "ours PnP-ADMM"}
    assert set(baseline) == {f"{BASELINE} PnP-FBS", f"{BASELINE} PnP-ADMM"}
    for algorithm in ("FBS", "ADMM"):
        mine, theirs = ours[f"ours PnP-{algorithm}"], baseline[f"{BASELINE} PnP-{algorithm}"]
        assert (mine["denoiser_sigma"], mine["strength"]) == (theirs["denoiser_sigma"], theirs["strength"])
        assert mine["guarantee_warnings"] == 0 and theirs["guarantee_warnings"] >= 1
    table = summary_table(rows)
    assert "| converged | residual non-increasing |" in table


def test_no_baseline_rows_without_its_weights(tmp_path: Path) -> None:
    assert benchmark.load_baseline(25, tmp_path) is None and benchmark.load_baseline(25, None) is None
    rows = bench_denoising("tiny", truth(), 25 / 255, seed=0, baseline_dir=tmp_path)
    assert not any(r["method"].startswith(BASELINE) for r in rows)
    assert any(r["method"].startswith("ours") for r in rows)


def test_denoising_scores_both_shipped_families() -> None:
    rows = bench_denoising("tiny", truth(), 25 / 255, seed=0)
    methods = {r["method"] for r in rows}
    assert {"ours (sigma 25)", "ours, convex ridge (sigma 25)", "ours, convex ridge (sigma 25), x8 self-ensemble"} <= methods


def test_each_record_names_its_part_and_parts_run_alone() -> None:
    both = bench_denoising("tiny", truth(), 25 / 255, seed=0)
    assert {r["method"]: r["part"] for r in both}["TV (best weight)"] == "baselines"
    assert {r["method"]: r["part"] for r in both}["ours (sigma 25)"] == "ours"
    for part in ("ours", "baselines"):
        alone = bench_denoising("tiny", truth(), 25 / 255, seed=0, parts=(part,))
        assert {r["method"] for r in alone} == {r["method"] for r in both if r["part"] == part}
    with pytest.raises(InputError, match="unknown benchmark parts \\['theirs'\\]"):
        bench_inverse("deblur", "tiny", truth(), seed=0, max_iter=2, parts=("theirs",))


def test_set_denoising_scores_the_classical_denoisers_at_every_level(tmp_path: Path) -> None:
    from denoisers.images import write_image

    files = []
    for k in range(2):
        files.append(tmp_path / f"img{k}.png")
        write_image(files[-1], truth())
    rows = bench_set_denoising(files, [15, 50])
    for sigma in (15, 50):
        methods = {r["method"] for r in rows if r["problem"] == f"denoise sigma {sigma}"}
        assert {"noisy", "ours", "TV (best weight)"} <= methods
        assert ("BM3D" in methods) == (importlib.util.find_spec("bm3d") is not None)
        tv = [r for r in rows if r["problem"] == f"denoise sigma {sigma}" and r["method"] == "TV (best weight)"]
        # the weight grid follows the noise level
        assert len(tv) == 2 and all(r["tv_weight"] >= min(baselines.TV_DENOISE_WEIGHTS) * sigma / 25 - 1e-9 for r in tv)


@pytest.mark.skipif(importlib.util.find_spec("bm3d") is None, reason="bm3d (the bench extra) not installed")
def test_bm3d_prior_row_for_deblurring_and_ct_only(monkeypatch: pytest.MonkeyPatch) -> None:
    small_grid = functools.partial(baselines.best_bm3d_prior_reconstruction, levels=(15, 40), factors=(1.0,), start=(15, 1.0), max_iter=3)
    monkeypatch.setattr(benchmark, "best_bm3d_prior_reconstruction", small_grid)
    rows = bench_inverse("deblur", "tiny", truth(), seed=0, max_iter=4, bm3d_prior=True)
    (row,) = [r for r in rows if r["method"].startswith("BM3D prior")]
    assert row["bm3d_level"] in (15, 40) and row["iterations"] <= 3
    blurred = simulate("deblur", truth(), None, 0)
    assert row["psnr"] > psnr(blurred.y, blurred.truth)  # BM3D as a prior improves on the measurement
    assert "converged" in row and "residual_non_increasing" in row
    rows = bench_inverse("ct", "tiny", truth(), seed=0, max_iter=4, bm3d_prior=True)
    (row,) = [r for r in rows if r["method"].startswith("BM3D prior")]
    assert row["bm3d_level"] in (15, 40) and row["bm3d_factor"] == 1.0
    rows = bench_inverse("inpaint", "tiny", truth(), seed=0, max_iter=4, bm3d_prior=True)
    assert not any(r["method"].startswith("BM3D prior") for r in rows)


def test_tuned_ours_is_the_best_of_its_grid() -> None:
    rows = bench_inverse("deblur", "tiny", truth(), seed=0, max_iter=4, tuned_factors=(0.5, 2.0))
    (tuned,) = [r for r in rows if r["method"] == "ours PnP-ADMM (best level and factor)"]
    assert tuned["factor"] in (0.5, 2.0) and tuned["denoiser_sigma"] in (15, 25, 50)
    problem = simulate("deblur", truth(), None, 0)
    one_point = run_pnp(problem, choose_settings(problem, "admm", regularisation=2.0 * REGULARISATION["admm"]["deblur"], level=25),
                        max_iter=4, tol=1e-4)
    assert tuned["psnr"] >= one_point.trace.psnr[-1] - 1e-6  # the best of a grid that holds this point
    assert tuned["residual_non_increasing"]  # certified: monotone at every setting
    assert not any(r["method"].endswith("(best level and factor)")
                   for r in bench_inverse("deblur", "tiny", truth(), seed=0, max_iter=4, baseline_dir=BASELINES))
