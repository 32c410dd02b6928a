"""Tune a non-local stage for the inverse problems (``denoisers.parameters.NON_LOCAL``) on validation images.

Each problem at the library's default configuration (``choose_settings``): the first PnP run with
the shipped prior, then for each weight ``w`` and bandwidth factor ``c`` the non-local stage
(``denoisers.reconstruct.refine``: the filter built from the first run's estimate, a
second run warm-started there with the blend ``w F + (1 - w) D``). Images: the first ``--images``
validation images of train400 (seeded split of ``denoisers.training.validation_files``; never trained
on, not the BSD68 test images), whole (180 x 180). Deblurring, inpainting and super-resolution
as ``denoisers.problems.simulate`` makes them (noise 0.01); CT with 60 angles and noise 1% of the
sinogram's peak, as ``tune_ct.py``. Each record holds the mean PSNR of the stage and of the first
run alone, the iterations of both runs, seconds, and whether every run converged with a residual
within its proven allowance. A setting is copied into ``denoisers/parameters.py`` by hand where it
gains. Results: experiments/results/nonlocal_pnp_tuning.{json,md}.

    OMP_NUM_THREADS=1 python experiments/tune_nonlocal_pnp.py --problems deblur ct --images 6
"""

from __future__ import annotations

import argparse
import itertools
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lipapps.results import ResultsFile, data_dir, markdown_table
from denoisers.images import read_image
from denoisers.metrics import psnr
from denoisers.nonlocal_filter import NonLocalSettings
from denoisers.parameters import choose_settings
from denoisers.pnp import ConvergenceWarning, residual_non_increasing
from denoisers.problems import Problem, simulate, simulate_ct_relative
from denoisers.reconstruct import refine, relaxed_prior, run_pnp
from denoisers.training import validation_files

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "nonlocal_pnp_tuning.json"
KEY = ("problem", "weight", "bandwidth_factor", "radius", "patch", "images", "max_iter")


def key(record: dict) -> tuple[str, ...]:
    return tuple(str(record[k]) for k in KEY)


def markdown(records: list[dict]) -> str:
    """One row per setting, grouped by problem, best first; each problem's best PSNR in bold."""
    best = {p: max(r["psnr"] for r in records if r["problem"] == p) for p in {r["problem"] for r in records}}
    columns = [("problem", lambda r: r["problem"]), ("images", lambda r: len(r["images"])), ("w", lambda r: f"{r['weight']:g}"),
               ("c", lambda r: f"{r['bandwidth_factor']:g}"), ("radius", lambda r: r["radius"]), ("patch", lambda r: r["patch"]),
               ("PSNR (dB)", lambda r: f"**{r['psnr']:.2f}**" if r["psnr"] == best[r["problem"]] else f"{r['psnr']:.2f}"),
               ("first run alone (dB)", lambda r: f"{r['first_psnr']:.2f}"),
               ("iterations (first + stage)", lambda r: f"{r['first_iterations']:.1f} + {r['stage_iterations']:.1f}"),
               ("seconds", lambda r: f"{r['seconds']:.1f}"), ("all converged", lambda r: r["converged"]),
               ("residual within allowance", lambda r: r["monotone"])]
    title = "# Non-local stage of PnP on train400 validation images (180 x 180), 1 thread\n\n"
    return title + markdown_table(sorted(records, key=lambda r: (r["problem"], -r["psnr"])), columns)


def make_problem(name: str, truth: torch.Tensor, seed: int) -> Problem:
    """The validation problem ``name`` on ``truth`` (module docstring)."""
    return simulate_ct_relative(truth, 60, 0.01, seed) if name == "ct" else simulate(name, truth, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", default=["deblur", "ct"], choices=["deblur", "inpaint", "superres", "ct"])
    parser.add_argument("--images", type=int, default=6, help="first N validation images")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    parser.add_argument("--factors", type=float, nargs="+", default=[0.03, 0.045, 0.06])
    parser.add_argument("--radius", type=int, default=7)
    parser.add_argument("--patch", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=150)
    parser.add_argument("--data", type=Path, default=data_dir("images", "train400"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    files = validation_files(args.data, args.images)
    truths = [read_image(p) for p in files]
    results = ResultsFile(args.results, key=key, markdown=markdown)
    grid = list(itertools.product(args.weights, args.factors))
    for name in args.problems:
        records = {(w, c): {"problem": name, "weight": w, "bandwidth_factor": c, "radius": args.radius, "patch": args.patch,
                            "images": [p.name for p in files], "max_iter": args.max_iter} for w, c in grid}
        todo = [wc for wc in grid if not results.has(key(records[wc]))]
        if not todo:
            continue
        runs = {wc: [] for wc in todo}
        firsts = []
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            for seed, truth in enumerate(tqdm(truths, desc=name)):
                problem = make_problem(name, truth, seed)
                settings = choose_settings(problem, non_local=False)
                first = run_pnp(problem, settings, max_iter=args.max_iter)
                firsts.append(first)
                for w, c in todo:
                    stage = NonLocalSettings(w, c, args.radius, args.patch)
                    runs[(w, c)].append((refine(problem, settings, first, stage, relaxed_prior(settings), args.max_iter)[0], problem))
        for wc in todo:
            done = runs[wc]
            results.add({**records[wc], "psnr": float(np.mean([psnr(r.x, p.truth) for r, p in done])),
                         "first_psnr": float(np.mean([psnr(f.x, p.truth) for f, (_, p) in zip(firsts, done)])),
                         "first_iterations": float(np.mean([f.iterations for f in firsts])),
                         "stage_iterations": float(np.mean([r.stages[-1].iterations for r, _ in done])),
                         "seconds": float(np.mean([r.seconds for r, _ in done])),
                         "converged": all(r.converged for r, _ in done),
                         "monotone": all(residual_non_increasing(r) for r, _ in done)})
            print(name, wc, results.records[-1]["psnr"], results.records[-1]["first_psnr"], flush=True)


if __name__ == "__main__":
    main()
