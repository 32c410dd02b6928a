"""Pick the collaborative Wiener stage (``denoisers.parameters.COLLABORATIVE``) on validation images.

Each problem at the library's default configuration (``choose_settings``) with its non-local stage
(``NON_LOCAL``) and the collaborative Wiener filter ``C`` (``denoisers.collaborative_filter``) at
``--position``: ``after`` the non-local stage (whose prior is ``D' = w' F + (1 - w') D``), that
reconstruction guides ``C`` and one more run, warm-started there, uses the blend ``w C + (1 - w) D'``
(``denoisers.reconstruct.refine``); ``before`` it, the first run guides ``C``, the run with
``w C + (1 - w) D`` follows, and then the non-local stage, its filter built from that run's
estimate and blended into that run's prior; ``shipped``: where ``denoisers.parameters.refinement_stages`` puts it.
For each weight ``w``, level factor (``C``'s noise level over the prior's effective level), cell
side ``--regions`` and group size ``--groups`` (``CollaborativeSettings.region`` and ``group``). For
denoising at the default step a run applies its prior once: ``w C(y) + (1 - w) D'(y)``. Denoising at each ``--sigmas``
level; the inverse problems as in ``tune_nonlocal_pnp.py`` (CT: 60 angles, noise 1% of the
sinogram's peak). Images: ``--images`` validation images of train400 from ``--offset`` (the
seeded split of ``denoisers.training.validation_files``: never trained on, not the BSD68 test
images), whole (180 x 180); ``--offset 10`` holds out images the default run did not tune on.
Each record: mean PSNR with the stage and without it (the first run and the non-local stage), seconds, whether every run converged with a
residual within its proven allowance. The rule is copied into ``denoisers/parameters.py`` by hand.
Results: experiments/results/collaborative_tuning.{json,md}.

    OMP_NUM_THREADS=1 python experiments/tune_collaborative.py --problems denoise --sigmas 15 25 50
    OMP_NUM_THREADS=1 python experiments/tune_collaborative.py --problems denoise --sigmas 15 25 50 --offset 10 --weights 0.85 --factors 1
    OMP_NUM_THREADS=1 python experiments/tune_collaborative.py --problems deblur ct --images 6 --weights 0.5 0.85 --factors 0.6 1 --position after
    OMP_NUM_THREADS=1 python experiments/tune_collaborative.py --problems deblur --images 6 --weights 0.3 0.5 0.7 --factors 0.4 0.6 1 --position before
    OMP_NUM_THREADS=1 python experiments/tune_collaborative.py --problems ct --images 6 --weights 0.85 --factors 1 --regions 16 32 --groups 16 32
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lipapps import InputError
from lipapps.results import ResultsFile, data_dir, markdown_table
from denoisers.collaborative_filter import CollaborativeSettings
from denoisers.images import read_image
from denoisers.metrics import psnr
from denoisers.parameters import NON_LOCAL, choose_settings, refinement_stages
from denoisers.pnp import ConvergenceWarning, residual_non_increasing
from denoisers.problems import simulate
from denoisers.reconstruct import refine, relaxed_prior, run_pnp
from denoisers.training import validation_files
from tune_nonlocal_pnp import make_problem

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "collaborative_tuning.json"
KEY = ("problem", "weight", "level_factor", "images", "max_iter")
POSITIONS = ("shipped", "before", "after")
#: What a record made before a field existed stands for: the stage after the non-local one
#: (before ``--position``), the filter's default cells and groups (before ``--regions``, ``--groups``).
MISSING = {"position": "after", "region": 16, "group": 16}


def key(record: dict) -> tuple[str, ...]:
    return (*(str(record[k]) for k in KEY), *(str(record.get(k, v)) for k, v in MISSING.items()))


def markdown(records: list[dict]) -> str:
    """One row per setting, grouped by problem and image set, best first."""
    columns = [("problem", lambda r: r["problem"]), ("images", lambda r: f"{len(r['images'])} from {r['images'][0]}"),
               ("position", lambda r: r.get("position", "after")), ("w", lambda r: f"{r['weight']:g}"), ("level factor", lambda r: f"{r['level_factor']:g}"),
               ("region", lambda r: r.get("region", MISSING["region"])), ("group", lambda r: r.get("group", MISSING["group"])),
               ("PSNR (dB)", lambda r: f"{r['psnr']:.2f}"), ("without the stage (dB)", lambda r: f"{r['base_psnr']:.2f}"),
               ("seconds", lambda r: f"{r['seconds']:.2f}"), ("all converged", lambda r: r["converged"]),
               ("residual within allowance", lambda r: r["monotone"])]
    title = "# Collaborative Wiener stage on train400 validation images (180 x 180), 1 thread\n\n"
    return title + markdown_table(sorted(records, key=lambda r: (r["problem"], r["images"][0], -r["psnr"])), columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", default=["denoise"], choices=["denoise", "deblur", "inpaint", "superres", "ct"])
    parser.add_argument("--sigmas", type=int, nargs="+", default=[15, 25, 50], help="denoising levels (0-255)")
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--offset", type=int, default=0, help="skip this many validation images (a held-out check)")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.7, 0.85, 1.0])
    parser.add_argument("--factors", type=float, nargs="+", default=[0.8, 1.0, 1.2])
    parser.add_argument("--regions", type=int, nargs="+", default=[CollaborativeSettings.region],
                        help="sides of the cells whose patch positions are partitioned into groups")
    parser.add_argument("--groups", type=int, nargs="+", default=[CollaborativeSettings.group], help="patches per group (powers of two)")
    parser.add_argument("--position", choices=POSITIONS, default="shipped",
                        help="run the stage before or after the non-local stage (shipped: as refinement_stages has it)")
    parser.add_argument("--max-iter", type=int, default=150)
    parser.add_argument("--data", type=Path, default=data_dir("images", "train400"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    grid = list(itertools.product(args.weights, args.factors, args.regions, args.groups))
    try:
        stages = {point: CollaborativeSettings(weight=point[0], level_factor=point[1], region=point[2], group=point[3])
                  for point in grid}
    except InputError as error:
        parser.error(str(error))
    torch.set_num_threads(1)
    files = validation_files(args.data, args.images, args.offset)
    truths = [read_image(p) for p in files]
    results = ResultsFile(args.results, key=key, markdown=markdown)
    cases = [("denoise", f"denoise sigma {s}", lambda t, seed, s=s: simulate("denoise", t, s / 255, seed=seed))
             for s in args.sigmas if "denoise" in args.problems]
    cases += [(name, name, lambda t, seed, name=name: make_problem(name, t, seed)) for name in args.problems if name != "denoise"]
    for problem_name, name, make in cases:
        shipped = refinement_stages(problem_name, 255.0 * make(truths[0], args.offset).noise)
        position = args.position if args.position != "shipped" else "before" if isinstance(shipped[0], CollaborativeSettings) else "after"
        records = {point: {"problem": name, "weight": point[0], "level_factor": point[1], "region": point[2], "group": point[3],
                       "images": [p.name for p in files], "max_iter": args.max_iter, "position": position} for point in grid}
        todo = [point for point in grid if not results.has(key(records[point]))]
        if not todo:
            continue
        runs, bases = {point: [] for point in todo}, []
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            for seed, truth in enumerate(tqdm(truths, desc=name), start=args.offset):
                problem = make(truth, seed)
                settings = choose_settings(problem)
                first = run_pnp(problem, dataclasses.replace(settings, stages=()), max_iter=args.max_iter)
                non_local = NON_LOCAL[problem_name]
                base, prior = refine(problem, settings, first, non_local, relaxed_prior(settings), args.max_iter)
                bases.append((base, problem))
                for point in todo:
                    stage = stages[point]
                    if position == "after":
                        runs[point].append(refine(problem, settings, base, stage, prior, args.max_iter)[0])
                    else:
                        middle, middle_prior = refine(problem, settings, first, stage, relaxed_prior(settings), args.max_iter)
                        runs[point].append(refine(problem, settings, middle, non_local, middle_prior, args.max_iter)[0])
        for point in todo:
            done = runs[point]
            results.add({**records[point], "psnr": float(np.mean([psnr(r.x, p.truth) for r, (_, p) in zip(done, bases)])),
                         "base_psnr": float(np.mean([psnr(b.x, p.truth) for b, p in bases])),
                         "seconds": float(np.mean([r.seconds for r in done])),
                         "converged": all(r.converged for r in done),
                         "monotone": all(residual_non_increasing(r) for r in done)})
            print(name, position, point, f"{results.records[-1]['psnr']:.3f}", f"{results.records[-1]['base_psnr']:.3f}", flush=True)


if __name__ == "__main__":
    main()
