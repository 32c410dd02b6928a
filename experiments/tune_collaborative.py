"""Pick the collaborative Wiener stage (``denoisers.parameters.COLLABORATIVE``) on validation images.

Each problem at the library's default configuration (``choose_settings``) with its non-local stage
(``NON_LOCAL``) and the collaborative Wiener filter ``C`` (``denoisers.collaborative_filter``) at
``--position``: ``after`` the non-local stage (whose prior is ``D' = w' F + (1 - w') D``), that
reconstruction guides ``C`` and one more run, warm-started there, uses the blend ``w C + (1 - w) D'``
(``denoisers.reconstruct.refine``); ``before`` it, the first run guides ``C``, the run with
``w C + (1 - w) D`` follows, and then the non-local stage, its filter built from that run's
estimate and blended into that run's prior; ``shipped``: where ``denoisers.parameters.refinement_stages`` puts it.
For each weight ``w`` and level factor (``C``'s noise level over the prior's effective level). For
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


def key(record: dict) -> tuple[str, ...]:
    # records made before --position existed ran the stage after the non-local one
    return (*(str(record[k]) for k in KEY), record.get("position", "after"))


def markdown(records: list[dict]) -> str:
    """One row per setting, grouped by problem and image set, best first."""
    columns = [("problem", lambda r: r["problem"]), ("images", lambda r: f"{len(r['images'])} from {r['images'][0]}"),
               ("position", lambda r: r.get("position", "after")), ("w", lambda r: f"{r['weight']:g}"), ("level factor", lambda r: f"{r['level_factor']:g}"),
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
    parser.add_argument("--position", choices=POSITIONS, default="shipped",
                        help="run the stage before or after the non-local stage (shipped: as refinement_stages has it)")
    parser.add_argument("--max-iter", type=int, default=150)
    parser.add_argument("--data", type=Path, default=data_dir("images", "train400"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = validation_files(args.data, args.images, args.offset)
    truths = [read_image(p) for p in files]
    results = ResultsFile(args.results, key=key, markdown=markdown)
    grid = list(itertools.product(args.weights, args.factors))
    cases = [("denoise", f"denoise sigma {s}", lambda t, seed, s=s: simulate("denoise", t, s / 255, seed=seed))
             for s in args.sigmas if "denoise" in args.problems]
    cases += [(name, name, lambda t, seed, name=name: make_problem(name, t, seed)) for name in args.problems if name != "denoise"]
    for problem_name, name, make in cases:
        shipped = refinement_stages(problem_name, 255.0 * make(truths[0], args.offset).noise)
        position = args.position if args.position != "shipped" else "before" if isinstance(shipped[0], CollaborativeSettings) else "after"
        records = {wf: {"problem": name, "weight": wf[0], "level_factor": wf[1], "images": [p.name for p in files],
                        "max_iter": args.max_iter, "position": position} for wf in grid}
        todo = [wf for wf in grid if not results.has(key(records[wf]))]
        if not todo:
            continue
        runs, bases = {wf: [] for wf in todo}, []
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)
            for seed, truth in enumerate(tqdm(truths, desc=name), start=args.offset):
                problem = make(truth, seed)
                settings = choose_settings(problem)
                first = run_pnp(problem, dataclasses.replace(settings, stages=()), max_iter=args.max_iter)
                non_local = NON_LOCAL[problem_name]
                base, prior = refine(problem, settings, first, non_local, relaxed_prior(settings), args.max_iter)
                bases.append((base, problem))
                for w, f in todo:
                    stage = CollaborativeSettings(weight=w, level_factor=f)
                    if position == "after":
                        runs[(w, f)].append(refine(problem, settings, base, stage, prior, args.max_iter)[0])
                    else:
                        middle, middle_prior = refine(problem, settings, first, stage, relaxed_prior(settings), args.max_iter)
                        runs[(w, f)].append(refine(problem, settings, middle, non_local, middle_prior, args.max_iter)[0])
        for wf in todo:
            done = runs[wf]
            results.add({**records[wf], "psnr": float(np.mean([psnr(r.x, p.truth) for r, (_, p) in zip(done, bases)])),
                         "base_psnr": float(np.mean([psnr(b.x, p.truth) for b, p in bases])),
                         "seconds": float(np.mean([r.seconds for r in done])),
                         "converged": all(r.converged for r in done),
                         "monotone": all(residual_non_increasing(r) for r in done)})
            print(name, position, wf, f"{results.records[-1]['psnr']:.3f}", f"{results.records[-1]['base_psnr']:.3f}", flush=True)


if __name__ == "__main__":
    main()
