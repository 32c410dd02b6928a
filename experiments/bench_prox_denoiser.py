"""BSD68 (all 68 images, grey): the one-step convex-ridge denoiser against its prox, per sigma.

The noise is that of ``bench_pnp.py --bsd68-denoising`` (:func:`denoisers.problems.simulate`, seed =
the image's index). Methods: ``one-step ridge`` (the shipped ``ridge_sigma<S>``), ``prox, tuned``
(the prox of the same regulariser at the best lambda and mu of ``tune_prox_denoiser.py`` on
Train400 validation crops) and, with ``--model``, ``prox, trained`` (a :class:`denoisers.prox.ProxDenoiser`
file, at sigma). Each prox record keeps its a-posteriori error bound ``||x - prox(y)||`` and its
iterations. Resumable, one record per (sigma, image, method)::

    PYTHONPATH=. python experiments/bench_prox_denoiser.py [--sigmas 25 15 50] [--model FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import lipapps
from lipapps.results import ResultsFile, data_dir, markdown_table, read_records

from denoisers.images import read_image
from denoisers.metrics import psnr
from denoisers.problems import simulate
from denoisers.prox import ProxDenoiser
from denoisers.training import image_files
from denoisers.weights import load_denoiser

TAG = "prox_denoiser_bsd68"
TUNING = Path("experiments/results/prox_denoiser_tuning.json")


def table(records: list[dict]) -> str:
    groups: dict[tuple[int, str], list[dict]] = {}
    for r in sorted(records, key=lambda r: r["sigma"]):
        groups.setdefault((r["sigma"], r["method"]), []).append(r)
    columns = [("sigma", lambda g: g[0]["sigma"]), ("method", lambda g: g[0]["method"]),
               ("PSNR (dB)", lambda g: f"{np.mean([r['psnr'] for r in g]):.2f}"),
               ("seconds per image", lambda g: f"{np.mean([r['seconds'] for r in g]):.2f}"),
               ("mean iterations", lambda g: f"{np.mean([r['iterations'] for r in g]):.1f}" if "iterations" in g[0] else ""),
               ("largest error bound", lambda g: f"{max(r['error_bound'] for r in g):.2e}" if "error_bound" in g[0] else ""),
               ("images", len)]
    return ("# BSD68 grey denoising: one-step convex ridge vs its prox (CPU, 1 thread)\n\n"
            "Error bound: the a-posteriori bound on ||x - prox(y)|| (l2 over the image, [0, 1] scale).\n\n"
            + markdown_table(groups.values(), columns))


def tuned_rules() -> dict[int, tuple[float, float]]:
    """``sigma -> (lambda, mu)``: the best cell of ``tune_prox_denoiser.py`` per level."""
    best: dict[int, dict] = {}
    for r in read_records(TUNING):
        if r["sigma"] not in best or r["psnr"] > best[r["sigma"]]["psnr"]:
            best[r["sigma"]] = r
    return {s: (r["strength"], r["scale"]) for s, r in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sigmas", type=int, nargs="+", default=[15, 25, 50])
    parser.add_argument("--model", type=Path, help="a trained ProxDenoiser file (method 'prox, trained')")
    parser.add_argument("--tol", type=float, default=1e-2, help="stopping tolerance on ||grad F|| per image")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rules = tuned_rules()
    missing = [s for s in args.sigmas if s not in rules]
    if missing:
        parser.exit(2, f"lipapps: error: no tuned lambda and mu for sigma {missing}: run tune_prox_denoiser.py first\n")
    trained = lipapps.load(args.model) if args.model else None
    if trained is not None and not isinstance(trained, ProxDenoiser):
        parser.exit(2, f"lipapps: error: {args.model} does not hold a ProxDenoiser\n")
    files = image_files(data_dir("images", "bsd68"))
    results = ResultsFile(f"experiments/results/{TAG}.json", key=lambda r: (r["sigma"], r["image"], r["method"]), markdown=table)
    for sigma in args.sigmas:
        ridge = load_denoiser(sigma, "ridge")
        tuned = ProxDenoiser.from_ridge(ridge)
        tuned.set_rule(*rules[sigma])
        methods = [("prox, tuned", tuned)] + ([("prox, trained", trained)] if trained is not None else [])
        for index, path in enumerate(files):
            truth = read_image(path)
            y = simulate("denoise", truth, sigma / 255, seed=index).y[None, None]
            base = {"sigma": sigma, "image": path.name}
            if not results.has((sigma, path.name, "one-step ridge")):
                start = time.perf_counter()
                with torch.no_grad():
                    out = ridge(y)
                results.add({**base, "method": "one-step ridge", "psnr": psnr(out[0, 0], truth), "seconds": time.perf_counter() - start})
            for method, model in methods:
                if results.has((sigma, path.name, method)):
                    continue
                start = time.perf_counter()
                solution = model.solve(y, sigma, tol=args.tol)
                results.add({**base, "method": method, "psnr": psnr(solution.x[0, 0], truth), "seconds": time.perf_counter() - start,
                             "strength": float(model.strength(torch.tensor(float(sigma))).detach()),
                             "scale": float(model.scale(torch.tensor(float(sigma))).detach()),
                             "error_bound": float(solution.error_bound[0]), "iterations": int(solution.iterations[0]),
                             "converged": bool(solution.converged[0])})
            print(f"sigma {sigma}: {index + 1}/{len(files)} {path.name}", flush=True)


if __name__ == "__main__":
    main()
