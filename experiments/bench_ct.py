"""Sparse-view CT benchmark: the library's PnP-ADMM against FBP and SART, both tuned per image.

Central 256 x 256 crops of the first ``--images`` BSD68 test images (``--classic``: of the photographs
scikit-image ships, which no CT choice saw; the disc the rays cover),
``--angles`` angles on [0, 180), Gaussian noise ``--peak-fraction`` of the noiseless sinogram's
peak (``denoisers.problems.simulate_ct_relative``, seed = image index). Methods, per image:

* ours: ``choose_settings(problem, "admm")`` and ``run_pnp`` (the library defaults: the shipped
  firmly non-expansive denoiser, inexact warm-started CG data steps with summable proven errors,
  over-relaxation, then the refinement stages of ``denoisers.parameters.refinement_stages``; family, level and
  penalty rule chosen on train400 validation images by ``tune_ct.py``, the stages by
  ``tune_nonlocal_pnp.py`` and ``tune_collaborative.py``); iterations and CG products count all runs;
* FBP with the best scikit-image filter and SART with the best sweep count, each picked against
  the truth (an oracle: the baselines are favoured);
* with ``--bm3d-prior``, PnP-ADMM with BM3D as the prior (``denoisers.baselines.best_bm3d_prior_reconstruction``:
  level and penalty factor tuned per image against the truth, no guarantee), minutes per image;
  the means then add ours and BM3D over the images that have both;
* with ``--tv-prior``, ADMM with the TV prox as the prior (``denoisers.baselines.best_tv_reconstruction``:
  strength ``lam / sigma_n^2`` in :data:`TV_STRENGTHS` and penalty tuned per image against the truth; the
  strengths of ``bench_pnp.py`` start at 5, which was the best on every crop here), minutes per image;
  the means then add ours and TV over the images that have both;
* with ``--tuned-ours``, our PnP-ADMM given the baselines' favour: the best shipped level and
  multiple of the rule's ``k`` per image against the truth (``denoisers.benchmark.best_tuned_admm``,
  :data:`denoisers.benchmark.TUNED_FACTORS`), the stages included; the means then add ours and
  this over the images that have both (what the prior gives under the same oracle as BM3D's).

Records PSNR, SSIM, seconds per reconstruction (the solver, not building the operator; shared
CPU machine, 2 threads), and for ours the CPU seconds of the process (steadier than wall time on
a shared machine; up to 2 threads' worth per wall second), iterations, CG products, convergence,
whether the residual stayed within its proven error allowance, and which shipped weights ran
(``weights``: :func:`denoisers.weights.weights_digest`). Results: experiments/results/ct_bench.{json,md}.

    OMP_NUM_THREADS=2 python experiments/bench_ct.py --images 4
    OMP_NUM_THREADS=1 python experiments/bench_ct.py --images 5 --bm3d-prior --results experiments/results/ct_bench_support.json
    OMP_NUM_THREADS=1 python experiments/bench_ct.py --images 10 --skip 5 --bm3d-prior --results experiments/results/ct_bench_support.json
    OMP_NUM_THREADS=1 python experiments/bench_ct.py --images 5 --tv-prior --results experiments/results/ct_bench_tv.json
    OMP_NUM_THREADS=1 python experiments/bench_ct.py --images 10 --skip 5 --tv-prior --results experiments/results/ct_bench_tv.json
    OMP_NUM_THREADS=1 python experiments/bench_ct.py --images 10 --tuned-ours --results experiments/results/ct_bench_tuned_ours.json
    OMP_NUM_THREADS=1 python experiments/bench_ct.py --images 11 --classic --tuned-ours --results experiments/results/ct_classic_tuned_ours.json
"""

from __future__ import annotations

import argparse
import importlib.util
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from lipapps import InputError
from lipapps.results import ResultsFile, data_dir, markdown_table
from denoisers.baselines import best_bm3d_prior_reconstruction, best_filtered_back_projection, best_sart, best_tv_reconstruction
from denoisers.benchmark import best_tuned_admm
from denoisers.images import centre_crop, classic_image_files, read_image
from denoisers.metrics import psnr, ssim
from denoisers.parameters import choose_settings
from denoisers.pnp import ConvergenceWarning, residual_non_increasing
from denoisers.problems import simulate_ct_relative
from denoisers.reconstruct import run_pnp
from denoisers.training import image_files
from denoisers.weights import weights_digest

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "ct_bench.json"
KEY = ("image", "method", "size", "angles", "peak_fraction")
METHODS = ("ours, PnP-ADMM", "FBP (best filter)", "SART (best sweeps)")
BM3D_PRIOR = "BM3D prior, PnP-ADMM (best level and factor, no guarantee)"
TV_PRIOR = "TV prior, ADMM (best strength and penalty)"
TUNED_OURS = "ours, PnP-ADMM (best level and factor)"
#: TV's strengths ``lam / sigma_n^2`` for CT: the sinogram's noise is large against the image's
#: (``sigma_n`` = 1% of the sinogram's peak), so the weights sit below the other problems'.
TV_STRENGTHS = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0)


def markdown(records: list[dict]) -> str:
    """Per-image rows, then the mean of each method over the images that have all three."""
    columns = [("image", lambda r: r["image"]), ("method", lambda r: r["method"]), ("PSNR (dB)", lambda r: f"{r['psnr']:.2f}"),
               ("SSIM", lambda r: f"{r['ssim']:.4f}"), ("seconds", lambda r: f"{r['seconds']:.2f}"),
               ("CPU seconds", lambda r: f"{r['cpu_seconds']:.2f}" if "cpu_seconds" in r else ""),
               ("setting", lambda r: r["setting"]), ("iterations", lambda r: r.get("iterations", "")),
               ("CG products", lambda r: r.get("cg_products", "")), ("converged", lambda r: r.get("converged", "")),
               ("residual within allowance", lambda r: r.get("monotone", ""))]
    complete = sorted({r["image"] for r in records if all(any(s["image"] == r["image"] and s["method"] == m for s in records)
                                                          for m in METHODS)})
    means = []
    for method in METHODS:
        rows = [r for r in records if r["method"] == method and r["image"] in complete]
        if rows:
            means.append({"image": f"mean of {len(rows)}", "method": method, "psnr": np.mean([r["psnr"] for r in rows]),
                          "ssim": np.mean([r["ssim"] for r in rows]), "seconds": np.mean([r["seconds"] for r in rows]),
                          "setting": "", **({"iterations": f"{np.mean([r['iterations'] for r in rows]):.1f}",
                                              **({"cpu_seconds": np.mean([r["cpu_seconds"] for r in rows])}
                                                 if all("cpu_seconds" in r for r in rows) else {}),
                                              "cg_products": f"{np.mean([r['cg_products'] for r in rows]):.0f}",
                                              "converged": all(r["converged"] for r in rows),
                                              "monotone": all(r["monotone"] for r in rows)} if method == METHODS[0] else {})})
    for baseline, short in ((BM3D_PRIOR, "BM3D"), (TV_PRIOR, "TV"), (TUNED_OURS, "ours tuned")):
        paired = sorted({r["image"] for r in records if r["method"] == baseline} & set(complete))
        for method in (METHODS[0], baseline) if paired else ():
            rows = [r for r in records if r["method"] == method and r["image"] in paired]
            means.append({"image": f"mean of {len(rows)} with {short}", "method": method, "psnr": np.mean([r["psnr"] for r in rows]),
                          "ssim": np.mean([r["ssim"] for r in rows]), "seconds": np.mean([r["seconds"] for r in rows]), "setting": ""})
    first = records[0] if records else {"size": 0, "angles": 0, "peak_fraction": 0}
    title = (f"# CT {first['size']} x {first['size']}, {first['angles']} angles, noise {100 * first['peak_fraction']:g}% of the "
             "sinogram peak: BSD68 crops (seconds on a shared 2-core CPU machine, 2 threads)\n\n")
    return title + markdown_table(records, columns) + "\n" + markdown_table(means, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--skip", type=int, default=0,
                        help="leave out the first N of those images (each keeps its seed), so that processes on "
                             "other cores can share one results file")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--angles", type=int, default=60)
    parser.add_argument("--peak-fraction", type=float, default=0.01)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--sart-sweeps", type=int, default=20, help="SART sweep counts tried: 1..N")
    images = parser.add_mutually_exclusive_group()
    images.add_argument("--data", type=Path, default=data_dir("images", "bsd68"), help="folder of the test images")
    images.add_argument("--classic", action="store_true",
                        help="the photographs scikit-image ships instead (denoisers.images.CLASSIC_IMAGES: no CT choice saw them)")
    parser.add_argument("--bm3d-prior", action="store_true",
                        help="also PnP-ADMM with BM3D as the prior, level and penalty tuned per image against the truth "
                             "(slow: minutes per image; needs the bm3d package)")
    parser.add_argument("--tv-prior", action="store_true",
                        help="also ADMM with the TV prox as the prior, strength and penalty tuned per image against the truth "
                             "(minutes per image)")
    parser.add_argument("--tuned-ours", action="store_true",
                        help="also our PnP-ADMM at the best shipped level and factor per image against the truth, as BM3D's is "
                             "(15 runs per image)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not 0 <= args.skip < args.images:
        parser.error(f"--skip must be from 0 to {args.images - 1} (one image at least), got {args.skip}")
    if args.bm3d_prior and importlib.util.find_spec("bm3d") is None:
        parser.error("--bm3d-prior needs the bm3d package: pip install 'lipapps[bench]'")
    try:
        files = classic_image_files() if args.classic else image_files(args.data)
    except InputError as error:
        parser.error(str(error))
    results = ResultsFile(args.results, key=lambda r: tuple(r[k] for k in KEY), markdown=markdown)
    methods = (*METHODS, *((BM3D_PRIOR,) if args.bm3d_prior else ()), *((TV_PRIOR,) if args.tv_prior else ()),
               *((TUNED_OURS,) if args.tuned_ours else ()))
    for seed, path in list(enumerate(files[: args.images]))[args.skip:]:
        base = {"image": path.name, "size": args.size, "angles": args.angles, "peak_fraction": args.peak_fraction}
        missing = [m for m in methods if not results.has(tuple({**base, "method": m}[k] for k in KEY))]
        if not missing:
            continue
        problem = simulate_ct_relative(centre_crop(read_image(path), args.size), args.angles, args.peak_fraction, seed)
        truth = problem.truth

        def add(method: str, estimate: torch.Tensor, seconds: float, setting: str, **extra) -> None:
            results.add({**base, "method": method, "psnr": psnr(estimate, truth), "ssim": ssim(estimate, truth),
                         "seconds": seconds, "setting": setting, **extra})
            print(path.name, method, round(results.records[-1]["psnr"], 2), round(seconds, 2), flush=True)

        if BM3D_PRIOR in missing:
            best, level, factor = best_bm3d_prior_reconstruction(problem)
            add(BM3D_PRIOR, best.x, best.seconds, f"level {level}, penalty factor {factor:g}", iterations=best.iterations,
                converged=best.converged, monotone=residual_non_increasing(best))
        if TV_PRIOR in missing:
            best, strength, factor = best_tv_reconstruction(problem, args.max_iter, strengths=TV_STRENGTHS)
            add(TV_PRIOR, best.x, best.seconds, f"strength {strength:g}, penalty factor {factor:g}", iterations=best.iterations,
                converged=best.converged)
        if TUNED_OURS in missing:
            with warnings.catch_warnings():
                warnings.simplefilter("error", ConvergenceWarning)
                best, level, factor = best_tuned_admm(problem, args.max_iter)
            add(TUNED_OURS, best.x, best.seconds, f"level {level}, factor {factor:g} of the rule's k", iterations=best.iterations,
                converged=best.converged, monotone=residual_non_increasing(best))
        if not set(missing) & set(METHODS):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            settings = choose_settings(problem, "admm")
            start = time.process_time()
            result = run_pnp(problem, settings, max_iter=args.max_iter)
            cpu_seconds = time.process_time() - start
        add(METHODS[0], result.x, result.seconds,
            f"{settings.family} level {settings.denoiser_sigma}"
            + (f" scaled to {settings.effective_level:.3g}" if settings.scale != 1.0 else "") + f", strength {settings.strength:.3g}, "
            f"penalty {settings.penalty:.3g}, relaxation {settings.relaxation:g}" + "".join(f", {stage.describe()}" for stage in settings.stages),
            weights=weights_digest(settings.denoiser_sigma, settings.family),
            cpu_seconds=cpu_seconds, iterations=result.iterations,
            cg_products=sum(sum(run.trace.prox_steps) for run in result.runs),
            converged=result.converged, monotone=residual_non_increasing(result))
        fbp, seconds, name = best_filtered_back_projection(problem.operator, problem.y, truth)
        add(METHODS[1], fbp, seconds, name)
        sart, seconds, sweeps = best_sart(problem.operator, problem.y, truth, args.sart_sweeps)
        add(METHODS[2], sart, seconds, f"{sweeps} sweeps")


if __name__ == "__main__":
    main()
