"""The noise-conditioned denoiser against the shipped per-level ones, denoising at many levels.

For every image of the chosen set and every level of ``--levels`` (0-255 scale; noise seeded by the
image's index, as ``bench_pnp.py --bsd68-denoising``), two configurations of ``lipapps reconstruct
--problem denoise`` run the denoising chain (``choose_settings(..., non_local=True)``: the denoiser
applied once, then the refinement stages):

* ``shipped levels``: the shipped ``ridge`` weights of the level, or of the next level above scaled
  (the default before the noise-conditioned family);
* ``conditioned``: one noise-conditioned model (``--model``, default the shipped
  ``denoisers/weights/conditioned_ridge.pt``, from ``train_denoisers.py --family conditioned``; the
  default now) at the level itself.

Each record holds the PSNR after the first run (the denoiser alone) and after the whole chain, and
the digest of the weights it ran (the conditioned model's file, or the shipped ridge files together);
``--methods`` runs one configuration only (the other's records can come from another run).
Sets: ``validation`` (train400 images no model trained on, which chose the recipe), and two held out
of every choice: ``bsd68`` and ``classic`` (the photographs scikit-image ships).
Results: experiments/results/conditioned_denoiser.{json,md}; records already there are kept.

    OMP_NUM_THREADS=1 python experiments/bench_conditioned.py --set validation --levels 5 10 15 20 25 30 40 50
    OMP_NUM_THREADS=1 python experiments/bench_conditioned.py --set bsd68 --levels 15 25 50
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from lipapps import InputError
from lipapps.results import ResultsFile, data_dir, markdown_table
from denoisers.images import classic_image_files, read_image
from denoisers.metrics import psnr
from denoisers.model import AveragedDenoiser
from denoisers.parameters import choose_settings
from denoisers.problems import simulate
from denoisers.reconstruct import run_pnp
from denoisers.training import image_files, validation_files
from denoisers.weights import CONDITIONED, available_sigmas, file_digest, read_denoiser, weights_digest, weights_name

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "experiments" / "results" / "conditioned_denoiser.json"
MODEL = ROOT / "denoisers" / "weights" / f"{weights_name(0, CONDITIONED)}.pt"
SETS = ("validation", "bsd68", "classic")
METHODS = ("shipped levels", "conditioned")
KEY = ("set", "image", "level", "method", "weights")


def set_files(name: str, images: int | None) -> list[Path]:
    """The first ``images`` (all: ``None``) files of the set ``name``."""
    if name == "validation":
        return validation_files(data_dir("images", "train400"), images)
    files = classic_image_files() if name == "classic" else image_files(data_dir("images", "bsd68"))
    return files if images is None else files[:images]


def shipped_digest() -> str:
    """One digest of the shipped ``ridge`` weights of every level (the ``shipped levels`` rows ran them)."""
    return hashlib.sha256("".join(weights_digest(level, "ridge") for level in available_sigmas("ridge")).encode()).hexdigest()[:12]


def markdown(records: list[dict]) -> str:
    """Mean PSNR per set, level and conditioned weights against the shipped weights of this version, over
    the images both ran: the denoiser alone and the chain."""
    shipped = shipped_digest()
    groups = sorted({(r["set"], r["level"], r["weights"]) for r in records if r["method"] == "conditioned"})
    rows = []
    for name, level, weights in groups:
        by_method = {m: {r["image"]: r for r in records if (r["set"], r["level"], r["method"]) == (name, level, m)
                         and r["weights"] == (weights if m == "conditioned" else shipped)} for m in METHODS}
        images = sorted(set(by_method[METHODS[0]]) & set(by_method[METHODS[1]]))
        if not images:
            continue
        mean = {(m, part): float(np.mean([by_method[m][i][part] for i in images])) for m in METHODS for part in ("first", "chain")}
        ahead = sum(by_method["conditioned"][i]["chain"] > by_method["shipped levels"][i]["chain"] for i in images)
        rows.append({"set": name, "level": level, "images": len(images), "weights": weights, **{f"{m} {p}": v for (m, p), v in mean.items()},
                     "ahead": ahead})
    columns = [("set", lambda r: r["set"]), ("level", lambda r: f"{r['level']:g}"), ("images", lambda r: r["images"]),
               ("shipped levels, denoiser alone", lambda r: f"{r['shipped levels first']:.2f}"),
               ("conditioned, denoiser alone", lambda r: f"{r['conditioned first']:.2f}"),
               ("shipped levels, chain", lambda r: f"{r['shipped levels chain']:.2f}"),
               ("conditioned, chain", lambda r: f"{r['conditioned chain']:.2f}"),
               ("chain difference", lambda r: f"{r['conditioned chain'] - r['shipped levels chain']:+.2f}"),
               ("conditioned ahead", lambda r: f"{r['ahead']}/{r['images']}"), ("conditioned weights", lambda r: r["weights"])]
    title = ("# Denoising: one noise-conditioned model against the shipped per-level ones "
             "(mean PSNR in dB; `lipapps reconstruct --problem denoise` chain; CPU, 1 thread)\n\n")
    return title + markdown_table(rows, columns)


def load_conditioned(path: Path) -> AveragedDenoiser:
    """The noise-conditioned denoiser in ``path`` (certified on load); :class:`InputError` for anything else."""
    if not path.is_file():
        raise InputError(f"conditioned denoiser not found: {path} (python experiments/train_denoisers.py --family conditioned)")
    return read_denoiser(path, conditioned=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=SETS, required=True, help="validation (tuning), bsd68 or classic (held out)")
    parser.add_argument("--levels", type=float, nargs="+", required=True, help="noise levels (0-255 scale)")
    parser.add_argument("--images", type=int, help="the first N images of the set (default: all)")
    parser.add_argument("--model", type=Path, default=MODEL, help="the noise-conditioned denoiser")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), help="the configurations to run")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not all(level > 0 for level in args.levels):
        parser.error(f"--levels must be positive, got {args.levels}")
    if args.images is not None and args.images < 1:
        parser.error(f"--images must be at least 1, got {args.images}")
    try:
        model = load_conditioned(args.model) if "conditioned" in args.methods else None
        files = set_files(args.set, args.images)
    except InputError as error:
        parser.error(str(error))
    torch.set_num_threads(1)
    weights = {"conditioned": file_digest(args.model) if model is not None else None, "shipped levels": shipped_digest()}
    results = ResultsFile(args.results, key=lambda r: tuple(r[k] for k in KEY), markdown=markdown)
    for index, path in enumerate(files):
        truth = read_image(path)
        for level in args.levels:
            problem = simulate("denoise", truth, level / 255, seed=index)
            for method in args.methods:
                record = {"set": args.set, "image": path.name, "level": level, "method": method, "weights": weights[method]}
                if results.has(tuple(record[k] for k in KEY)):
                    continue
                settings = choose_settings(problem, non_local=True, denoiser=model if method == "conditioned" else None)
                start = time.process_time()
                result = run_pnp(problem, settings)
                results.add({**record, "first": psnr(result.runs[0].x, truth), "chain": psnr(result.x, truth),
                             "cpu_seconds": time.process_time() - start})
        print(f"{index + 1}/{len(files)} {path.name}", flush=True)
    results.write()


if __name__ == "__main__":
    main()
