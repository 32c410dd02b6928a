"""Choose lambda and mu of the convex-ridge prox denoiser per sigma on Train400 validation crops (never BSD68).

For each level, the prox of the shipped ``ridge_sigma<S>`` regulariser (:meth:`denoisers.prox.ProxDenoiser.from_ridge`)
is solved on the central crops of the validation images of :func:`denoisers.training.validation_files`
(seed 0, the split training uses) over a grid of ``lambda`` and ``mu``; the mean PSNR of every cell
is recorded, and the best cell per level is what ``bench_prox_denoiser.py`` uses. Resumable (one record per cell)::

    PYTHONPATH=. python experiments/tune_prox_denoiser.py [--images 4 --crop 96]
"""

from __future__ import annotations

import argparse
import time

import torch

from lipapps.results import ResultsFile, data_dir, markdown_table

from denoisers.prox import ProxDenoiser
from denoisers.training import centre_crops, validation_files
from denoisers.images import read_image
from denoisers.metrics import psnr_per_image
from denoisers.weights import load_denoiser

TAG = "prox_denoiser_tuning"
STRENGTHS = (2.0, 4.0, 8.0, 16.0, 32.0)
SCALES = (1.0, 2.0, 4.0, 8.0)


def best_rules(records: list[dict]) -> dict[int, dict]:
    """The best record (mean validation PSNR) per sigma."""
    best: dict[int, dict] = {}
    for r in records:
        if r["sigma"] not in best or r["psnr"] > best[r["sigma"]]["psnr"]:
            best[r["sigma"]] = r
    return best


def table(records: list[dict]) -> str:
    best = {id(r) for r in best_rules(records).values()}
    columns = [("sigma", lambda r: r["sigma"]), ("lambda", lambda r: r["strength"]), ("mu", lambda r: r["scale"]),
               ("PSNR (dB)", lambda r: f"{r['psnr']:.2f}"), ("one-step ridge (dB)", lambda r: f"{r['one_step_psnr']:.2f}"),
               ("mean iterations", lambda r: f"{r['mean_iterations']:.1f}"), ("best", lambda r: "yes" if id(r) in best else "")]
    rows = sorted(records, key=lambda r: (r["sigma"], r["strength"], r["scale"]))
    return "# Prox denoiser: lambda and mu on Train400 validation crops\n\n" + markdown_table(rows, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="validation images used (central crops)")
    parser.add_argument("--crop", type=int, default=96)
    parser.add_argument("--sigmas", type=int, nargs="+", default=[15, 25, 50])
    parser.add_argument("--strengths", type=float, nargs="+", default=list(STRENGTHS), help="grid of lambda")
    parser.add_argument("--scales", type=float, nargs="+", default=list(SCALES), help="grid of mu")
    args = parser.parse_args()
    torch.set_num_threads(1)
    clean = centre_crops([read_image(p) for p in validation_files(data_dir("images", "train400"), args.images)], args.crop)
    results = ResultsFile(f"experiments/results/{TAG}.json",
                          key=lambda r: (r["sigma"], r["strength"], r["scale"]), markdown=table)
    for sigma in args.sigmas:
        noisy = clean + sigma / 255 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(sigma))
        ridge = load_denoiser(sigma, "ridge")
        with torch.no_grad():
            one_step = float(psnr_per_image(ridge(noisy), clean).mean())
        model = ProxDenoiser.from_ridge(ridge)
        for strength in args.strengths:
            for scale in args.scales:
                if results.has((sigma, strength, scale)):
                    continue
                model.set_rule(strength, scale)
                start = time.perf_counter()
                solution = model.solve(noisy, sigma)
                results.add({"sigma": sigma, "strength": strength, "scale": scale,
                             "psnr": float(psnr_per_image(solution.x, clean).mean()), "one_step_psnr": one_step,
                             "seconds": time.perf_counter() - start, "images": len(clean), "crop": args.crop,
                             **solution.summary()})
                print(sigma, strength, scale, f"{results.records[-1]['psnr']:.2f}", flush=True)


if __name__ == "__main__":
    main()
