"""Pick the regularisation factor ``k`` of ``denoisers.reconstruct.REGULARISATION`` (and the ADMM
level of ``ADMM_MIN_LEVEL``) on held-out images.

``choose_settings(problem, algorithm, regularisation=k)`` sets the denoiser level, strength and
step/penalty from ``k`` times the noise level (1 = the MAP balance). For each inverse problem and
algorithm (ADMM once per shipped level of ``--levels``, FBS with the level its rule picks) this
runs the shipped denoisers with every ``k`` of ``--factors`` on central crops of
the validation images of train400 (the split ``denoisers.training.split_files`` makes with seed
0, which training never used: not the BSD68 test images of ``bench_pnp.py``), at each problem's
default noise, and reports the mean PSNR per ``k``. The best ``k`` (and ADMM level) of each
problem is what the library holds (copied by hand, so that a rerun cannot silently change it).
Rows of problems not re-run are kept from the previous results when the images, crop, budget,
factors and levels agree, so ``--problems ct`` adds CT to the stored table.
Results: experiments/results/pnp_tuning.{json,md}. CPU, 1 thread.

    python experiments/tune_pnp.py --images 3 --size 128 --levels 15 25 50
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch

import lipapps
from denoisers.images import read_image
from denoisers.metrics import psnr
from denoisers.pnp import ConvergenceWarning
from denoisers.problems import simulate
from denoisers.reconstruct import ALGORITHMS, REGULARISATION, choose_settings, run_pnp
from denoisers.training import centre_crops, image_files, split_files

ROOT = Path(__file__).resolve().parents[1]
TRAIN400 = ROOT.parent / "shared" / "data" / "images" / "train400"
RESULTS = ROOT / "experiments" / "results"
INVERSE_PROBLEMS = ("deblur", "inpaint", "superres", "ct")


def label(k: float) -> str:
    """How a factor is written in the JSON and the table."""
    return f"{k:g}"


def row_label(algorithm: str, level: int | None) -> str:
    """A table row: FBS, or ADMM at one shipped level."""
    return algorithm if level is None else f"{algorithm}, level {level}"


def in_use(problem: str) -> dict[str, str]:
    """Row label -> the ``k`` the library uses at the problem's default noise, for the row it uses."""
    settings = {a: choose_settings(simulate(problem, torch.zeros(32, 32)), a) for a in ALGORITHMS}
    factors = {a: REGULARISATION[a][problem] for a in ALGORITHMS}
    return {row_label(a, s.denoiser_sigma if a == "admm" else None): label(factors[a]) for a, s in settings.items()}


def markdown(table: dict[str, dict[str, dict[str, float]]], factors: list[str], images: int, size: int) -> str:
    """The table, with the ``k`` the library uses now in the last column of the row it uses."""
    lines = [
        f"# PnP regularisation factor k (mean PSNR in dB over {images} validation crops {size}x{size} of train400)",
        "",
        "| problem | algorithm | " + " | ".join(f"k = {k}" for k in factors) + " | best k | k in use |",
        "|---|---|" + "---|" * len(factors) + "---|---|",
    ]
    for problem in sorted(table, key=INVERSE_PROBLEMS.index):
        used = in_use(problem)
        for row, scores in table[problem].items():
            best = max(scores, key=scores.get)
            cells = " | ".join(f"**{scores[k]:.2f}**" if k == best else f"{scores[k]:.2f}" for k in factors)
            lines.append(f"| {problem} | {row} | {cells} | {best} | {used.get(row, '')} |")
    return "\n".join(lines) + "\n"


def previous_rows(path: Path, record: dict) -> dict[str, dict[str, dict[str, float]]]:
    """Rows of an earlier run with the same images, crop, budget and factors (kept for the
    problems not re-run now), else nothing."""
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    same = all(old.get(key) == record[key] for key in ("images", "size", "max_iter", "factors", "levels"))
    return old["psnr"] if same else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3, help="first N validation images")
    parser.add_argument("--size", type=int, default=128, help="central crop")
    parser.add_argument("--factors", type=float, nargs="+", default=[1 / 3, 1.0, 3.0, 10.0])
    parser.add_argument("--levels", type=int, nargs="+", default=[15, 25, 50], help="shipped levels ADMM is run with")
    parser.add_argument("--max-iter", type=int, default=150)
    parser.add_argument("--problems", nargs="+", default=list(INVERSE_PROBLEMS), choices=INVERSE_PROBLEMS)
    parser.add_argument("--data", type=Path, default=TRAIN400)
    args = parser.parse_args()
    torch.set_num_threads(1)
    _, validation = split_files(image_files(args.data), 0.1, seed=0)
    crops = centre_crops([read_image(p) for p in validation[: args.images]], args.size)[:, 0]
    factors = [label(k) for k in args.factors]
    record = {"images": [p.name for p in validation[: args.images]], "size": args.size, "max_iter": args.max_iter,
              "factors": factors, "levels": args.levels}
    table = previous_rows(RESULTS / "pnp_tuning.json", record)
    for problem_name in args.problems:
        problems = [simulate(problem_name, crop, None, seed) for seed, crop in enumerate(crops)]
        runs = [("fbs", None)] + [("admm", level) for level in args.levels]
        table[problem_name] = {}
        for algorithm, level in runs:
            scores = {}
            for k in args.factors:
                values = []
                for problem in problems:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        settings = choose_settings(problem, algorithm, regularisation=k, level=level)
                        result = run_pnp(problem, settings, max_iter=args.max_iter)
                    values.append(psnr(result.x, problem.truth))
                scores[label(k)] = float(np.mean(values))
            table[problem_name][row_label(algorithm, level)] = scores
            print(problem_name, row_label(algorithm, level), {k: round(v, 2) for k, v in scores.items()}, flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with lipapps.atomic_write(RESULTS / "pnp_tuning.json") as tmp:
        tmp.write_text(json.dumps({**record, "psnr": table}, indent=1))
    with lipapps.atomic_write(RESULTS / "pnp_tuning.md") as tmp:
        tmp.write_text(markdown(table, factors, args.images, args.size))
    print(markdown(table, factors, args.images, args.size))


if __name__ == "__main__":
    main()
