"""Denoising at noise levels between and beyond the shipped ones: scale the denoiser, or relax it.

The ridge family ships a file for sigma 15, 25 and 50 (0-255 scale). For another ``sigma`` the denoising
chain with those files (``choose_settings(problem, family="ridge", non_local=True)``: PnP-FBS at step 1,
i.e. the ridge denoiser applied once, then the refinement stages; the default before the
noise-conditioned family) takes ``sigma_d``, the smallest shipped level ``>= sigma`` (else the largest),
and runs it *scaled*: ``D(a x) / a`` with ``a = sigma_d / sigma`` (``denoisers.pnp.ScaledDenoiser``,
the same certificate), up to ``a = MAX_SCALE`` and relaxed below that. The alternative it replaced *relaxes* it: ``x + s (D(x) - x)`` with
``s = min(1, (sigma / sigma_d)^2)`` (``denoisers.pnp.RelaxedDenoiser``), which keeps a fraction of
the noise. Both run with the same stages at the same effective level. Images: ``--images``
validation images of train400 from ``--offset`` (the seeded split of
``denoisers.training.validation_files``: never trained on, not the BSD68 test images), whole
(180 x 180); ``--offset 10`` holds out images the rule was not chosen on. Each record: mean PSNR
of each way, after the first run and after all stages. Results:
experiments/results/unshipped_levels.{json,md}.

    OMP_NUM_THREADS=1 python experiments/tune_unshipped_levels.py --sigmas 1 2 3 4 5 10 20 30 35 40 60 75
    OMP_NUM_THREADS=1 python experiments/tune_unshipped_levels.py --sigmas 1 2 3 4 5 10 20 30 35 40 60 75 --offset 10 --images 8
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lipapps.results import ResultsFile, data_dir, markdown_table
from denoisers.images import read_image
from denoisers.metrics import psnr
from denoisers.parameters import choose_settings
from denoisers.problems import simulate
from denoisers.reconstruct import run_pnp
from denoisers.training import validation_files

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "unshipped_levels.json"
KEY = ("sigma", "images")


def key(record: dict) -> tuple[str, ...]:
    return tuple(str(record[k]) for k in KEY)


def markdown(records: list[dict]) -> str:
    columns = [("sigma", lambda r: f"{r['sigma']:g}"), ("images", lambda r: f"{len(r['images'])} from {r['images'][0]}"),
               ("shipped level", lambda r: r["level"]), ("scaled: first run", lambda r: f"{r['scaled_first']:.2f}"),
               ("scaled: all stages", lambda r: f"{r['scaled']:.2f}"), ("relaxed: first run", lambda r: f"{r['relaxed_first']:.2f}"),
               ("relaxed: all stages", lambda r: f"{r['relaxed']:.2f}")]
    title = "# Denoising at unshipped noise levels: the shipped denoiser scaled or relaxed (train400 validation images, 180 x 180)\n\n"
    return title + markdown_table(sorted(records, key=lambda r: (r["images"][0], r["sigma"])), columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigmas", type=float, nargs="+", default=[1, 2, 3, 4, 5, 10, 20, 30, 35, 40, 60, 75], help="noise levels (0-255)")
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--offset", type=int, default=0, help="skip this many validation images (a held-out check)")
    parser.add_argument("--data", type=Path, default=data_dir("images", "train400"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    files = validation_files(args.data, args.images, args.offset)
    truths = [read_image(p) for p in files]
    results = ResultsFile(args.results, key=key, markdown=markdown)
    for sigma in args.sigmas:
        record = {"sigma": sigma, "images": [p.name for p in files]}
        if results.has(key(record)):
            continue
        scores: dict[str, list[float]] = {name: [] for name in ("scaled_first", "scaled", "relaxed_first", "relaxed")}
        for seed, truth in enumerate(tqdm(truths, desc=f"sigma {sigma:g}"), start=args.offset):
            problem = simulate("denoise", truth, sigma / 255, seed=seed)
            scaled = choose_settings(problem, family="ridge", non_local=True)
            relaxed = dataclasses.replace(scaled, scale=1.0, strength=min(1.0, (sigma / scaled.denoiser_sigma) ** 2))  # the rule before
            for name, settings in (("scaled", scaled), ("relaxed", relaxed)):
                result = run_pnp(problem, settings)
                scores[f"{name}_first"].append(psnr(result.runs[0].x, truth))
                scores[name].append(psnr(result.x, truth))
        results.add({**record, "level": scaled.denoiser_sigma, **{name: float(np.mean(v)) for name, v in scores.items()}})
        print(f"sigma {sigma:g}: scaled {results.records[-1]['scaled']:.2f}, relaxed {results.records[-1]['relaxed']:.2f}", flush=True)


if __name__ == "__main__":
    main()
