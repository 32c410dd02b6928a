"""Pick a problem's PnP stopping tolerance (``denoisers.parameters.STOP_TOLERANCE``) on validation images.

Every PnP run stops when its relative fixed-point residual ``||w_{k+1} - w_k|| / ||w_{k+1}||`` is at
most the tolerance. For each tolerance of ``--stop-tolerances`` this runs the problem's default chain
(``choose_settings(problem)``: its algorithm, family, level and refinement stages) on ``--images``
validation images of train400 from the ``--offset``-th (the split ``denoisers.training.validation_files``
makes with seed 0, never used in training; not the BSD68 test images of ``bench_pnp.py``), whole
(180 x 180), at the problem's default noise, and records the mean PSNR, iterations and CPU seconds
(the machine is shared: CPU seconds are the steadier measure) and whether every run met its
tolerance within ``--max-iter`` iterations per run with a non-increasing residual. The loosest
tolerance within 0.01 dB of the best is copied into ``denoisers/parameters.py`` by hand. CT has
its own (``tune_ct.py --stop-tolerances``: noise relative to the sinogram's peak).
Results: experiments/results/stop_tuning.{json,md}.

    OMP_NUM_THREADS=1 python experiments/tune_stop.py --problem inpaint --images 6 --stop-tolerances 1e-4 3e-4 1e-3
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

from lipapps.results import ResultsFile, data_dir, markdown_table
from denoisers.images import read_image
from denoisers.metrics import psnr
from denoisers.parameters import choose_settings
from denoisers.pnp import ConvergenceWarning, residual_non_increasing
from denoisers.problems import simulate
from denoisers.reconstruct import run_pnp
from denoisers.training import validation_files

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "stop_tuning.json"
PROBLEMS = ("denoise", "deblur", "inpaint", "superres")
KEY = ("problem", "tol", "images", "max_iter")


def markdown(records: list[dict]) -> str:
    """One row per (problem, images, tolerance); the best mean PSNR of each problem and image set in bold."""
    def group(r: dict) -> tuple:
        return (r["problem"], tuple(r["images"]), r["max_iter"])

    best = {g: max(r["psnr"] for r in records if group(r) == g) for g in {group(r) for r in records}}
    columns = [("problem", lambda r: r["problem"]), ("images", lambda r: len(r["images"])),
               ("first image", lambda r: r["images"][0]), ("max iterations per run", lambda r: r["max_iter"]),
               ("stop tolerance", lambda r: f"{r['tol']:g}"),
               ("PSNR (dB)", lambda r: f"**{r['psnr']:.2f}**" if r["psnr"] == best[group(r)] else f"{r['psnr']:.2f}"),
               ("iterations", lambda r: f"{r['iterations']:.1f}"), ("CPU seconds", lambda r: f"{r['cpu_seconds']:.1f}"),
               ("all converged", lambda r: r["converged"]), ("residual within allowance", lambda r: r["monotone"])]
    title = "# PnP stopping tolerance on train400 validation images (180 x 180; default chain and noise; shared machine)\n\n"
    return title + markdown_table(sorted(records, key=lambda r: (*group(r), -r["tol"])), columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problem", choices=PROBLEMS, required=True)
    parser.add_argument("--images", type=int, default=6, help="N validation images")
    parser.add_argument("--offset", type=int, default=0, help="from the N-th validation image (held-out checks)")
    parser.add_argument("--stop-tolerances", type=float, nargs="+", required=True,
                        help="each run stops when its relative fixed-point residual is at most this")
    parser.add_argument("--max-iter", type=int, default=300, help="iterations per run at most (the CLI's limit)")
    parser.add_argument("--data", type=Path, default=data_dir("images", "train400"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not all(t > 0 for t in args.stop_tolerances):
        parser.error(f"--stop-tolerances must be positive, got {args.stop_tolerances}")
    if args.max_iter < 1:
        parser.error(f"--max-iter must be at least 1, got {args.max_iter}")
    files = validation_files(args.data, args.images, args.offset)
    problems = [simulate(args.problem, read_image(p), None, seed) for seed, p in enumerate(files, start=args.offset)]
    results = ResultsFile(args.results, key=lambda r: tuple(r[k] for k in KEY), markdown=markdown)
    for tol in args.stop_tolerances:
        record = {"problem": args.problem, "tol": tol, "images": [p.name for p in files], "max_iter": args.max_iter}
        if results.has(tuple(record[k] for k in KEY)):
            continue
        runs, cpu = [], []
        for problem in problems:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # recorded: "all converged"
                settings = choose_settings(problem)
                start = time.process_time()
                runs.append(run_pnp(problem, settings, max_iter=args.max_iter, tol=tol))
                cpu.append(time.process_time() - start)
        results.add({**record, "psnr": float(np.mean([psnr(r.x, p.truth) for r, p in zip(runs, problems)])),
                     "iterations": float(np.mean([r.iterations for r in runs])), "cpu_seconds": float(np.mean(cpu)),
                     "converged": all(r.converged for r in runs), "monotone": all(residual_non_increasing(r) for r in runs)})
        print(args.problem, tol, round(results.records[-1]["psnr"], 3), round(results.records[-1]["cpu_seconds"], 1), flush=True)


if __name__ == "__main__":
    main()
