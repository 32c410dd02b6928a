"""Pick the denoising non-local stage (``denoisers.parameters.NON_LOCAL``) on validation images.

Denoising at each ``--sigmas`` level: the shipped ridge denoiser ``R`` gives the guide ``R(y)``,
and the estimate is the blend ``w F(y) + (1 - w) R(y)`` with ``F`` the certified non-local filter
of that guide (``denoisers.nonlocal_filter``), exactly what ``lipapps reconstruct --problem
denoise`` runs at a shipped level. Each (radius, patch, bandwidth factor ``c``, weight ``w``)
records the mean PSNR over the first ``--images`` validation images of train400 (the seeded split
of ``denoisers.training.validation_files``, never used in training and not the BSD68 test images),
whole (180 x 180), beside the ridge denoiser alone. The rule kept is one ``(c, w)`` for every
level, copied into ``denoisers/parameters.py`` by hand. Results: experiments/results/nonlocal_tuning.{json,md}.

    OMP_NUM_THREADS=2 python experiments/tune_nonlocal.py --sigmas 15 25 50 --images 10
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lipapps.results import ResultsFile, data_dir, markdown_table
from denoisers.images import read_image
from denoisers.metrics import psnr
from denoisers.nonlocal_filter import NonLocalBlend, NonLocalFilter, NonLocalSettings
from denoisers.training import validation_files
from denoisers.weights import load_denoiser, weights_digest

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "nonlocal_tuning.json"
KEY = ("sigma", "weights", "radius", "patch", "bandwidth_factor", "weight", "sinkhorn_steps", "images", "seed")


def key(record: dict) -> tuple[str, ...]:
    return tuple(str(record[k]) for k in KEY)


def markdown(records: list[dict]) -> str:
    """One row per setting, grouped by level; the best mean PSNR of each level in bold."""
    best = {s: max(r["psnr"] for r in records if r["sigma"] == s) for s in {r["sigma"] for r in records}}
    columns = [("sigma", lambda r: r["sigma"]), ("images", lambda r: len(r["images"])), ("radius", lambda r: r["radius"]),
               ("patch", lambda r: r["patch"]), ("c", lambda r: f"{r['bandwidth_factor']:g}"),
               ("w", lambda r: f"{r['weight']:g}"),
               ("PSNR (dB)", lambda r: f"**{r['psnr']:.2f}**" if r["psnr"] == best[r["sigma"]] else f"{r['psnr']:.2f}"),
               ("ridge alone (dB)", lambda r: f"{r['ridge_psnr']:.2f}")]
    title = "# Non-local stage of denoising on train400 validation images (180 x 180)\n\n"
    order = sorted(records, key=lambda r: (r["sigma"], -r["psnr"]))
    return title + markdown_table(order, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigmas", type=int, nargs="+", default=[15, 25, 50], help="shipped ridge levels (0-255)")
    parser.add_argument("--images", type=int, default=10, help="first N validation images")
    parser.add_argument("--radii", type=int, nargs="+", default=[5, 7, 9])
    parser.add_argument("--patches", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--factors", type=float, nargs="+", default=[0.035, 0.04, 0.045, 0.05, 0.055])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 0.6, 0.7])
    parser.add_argument("--sinkhorn-steps", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0, help="seeds the noise")
    parser.add_argument("--data", type=Path, default=data_dir("images", "train400"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    files = validation_files(args.data, args.images)
    truths = [read_image(p)[None, None] for p in files]
    results = ResultsFile(args.results, key=key, markdown=markdown)
    torch.set_grad_enabled(False)
    for sigma in args.sigmas:
        ridge = load_denoiser(sigma, "ridge")
        generator = torch.Generator().manual_seed(args.seed)
        noisy = [t + sigma / 255.0 * torch.randn(t.shape, generator=generator) for t in truths]
        guides = [ridge(y) for y in noisy]
        ridge_psnr = float(np.mean([psnr(g, t) for g, t in zip(guides, truths)]))
        grid = list(itertools.product(args.radii, args.patches, args.factors))
        for radius, patch, factor in tqdm(grid, desc=f"sigma {sigma}"):
            records = [{"sigma": sigma, "weights": weights_digest(sigma, "ridge"), "radius": radius, "patch": patch,
                        "bandwidth_factor": factor, "weight": w, "sinkhorn_steps": args.sinkhorn_steps,
                        "images": [p.name for p in files], "seed": args.seed} for w in args.weights]
            if all(results.has(key(r)) for r in records):
                continue
            scores = {w: [] for w in args.weights}
            bandwidth = NonLocalSettings(bandwidth_factor=factor).bandwidth(sigma)
            for y, guide, truth in zip(noisy, guides, truths):
                filter_ = NonLocalFilter(guide, bandwidth, radius, patch, args.sinkhorn_steps)
                for w in args.weights:
                    scores[w].append(psnr(NonLocalBlend(filter_, ridge, w)(y), truth))
            for record in records:
                if not results.has(key(record)):
                    results.add({**record, "psnr": float(np.mean(scores[record["weight"]])), "ridge_psnr": ridge_psnr})


if __name__ == "__main__":
    main()
