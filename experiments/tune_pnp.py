"""Pick the regularisation factor ``k`` of ``denoisers.parameters.REGULARISATION`` (and the ADMM
level of ``ADMM_MIN_LEVEL``) on held-out images.

``choose_settings(problem, algorithm, regularisation=k)`` sets the denoiser level, strength and
step/penalty from ``k`` times the noise level (1 = the MAP balance). For each inverse problem and
algorithm (ADMM once per shipped level of ``--levels``, FBS with the level its rule picks) this
runs the shipped denoisers with every ``k`` of ``--factors`` on central crops of
the validation images of train400 (the split ``denoisers.training.validation_files`` makes with seed
0, which training never used: not the BSD68 test images of ``bench_pnp.py``), at each problem's
default noise, and reports the mean PSNR per ``k``. The best ``k`` (and ADMM level) of each
problem is what the library holds (copied by hand, so that a rerun cannot silently change it).
Each (problem, row, ``k``) mean is one ``lipapps.results`` record, keyed with the images, crop and
budget: a rerun skips the records it has, so ``--problems ct`` adds CT to the stored table and a
stopped run resumes. The table shows the records of the run's images, crop and budget.
Results: experiments/results/pnp_tuning.{json,md}. CPU, 1 thread.

    python experiments/tune_pnp.py --images 3 --size 128 --levels 15 25 50
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch

from lipapps.results import ResultsFile, data_dir, markdown_table
from denoisers.images import read_image
from denoisers.metrics import psnr
from denoisers.parameters import ALGORITHMS, REGULARISATION, choose_settings
from denoisers.pnp import ConvergenceWarning
from denoisers.problems import simulate
from denoisers.reconstruct import run_pnp
from denoisers.training import centre_crops, validation_files

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "pnp_tuning.json"
INVERSE_PROBLEMS = ("deblur", "inpaint", "superres", "ct")
#: What makes two records the same run.
KEY = ("problem", "row", "k", "images", "size", "max_iter")


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


def markdown(records: list[dict], factors: list[str], images: list[str], size: int, max_iter: int) -> str:
    """The table of the records of these images, crop and budget: one row per (problem, row), one
    column per ``k``, the best in bold, and the ``k`` the library uses now in the row it uses."""
    cells: dict[tuple[str, str], dict[str, float]] = {}
    for r in records:
        if (r["images"], r["size"], r["max_iter"]) == (images, size, max_iter) and r["problem"] in INVERSE_PROBLEMS:
            cells.setdefault((r["problem"], r["row"]), {})[r["k"]] = r["psnr"]
    rows = sorted(((p, row, scores) for (p, row), scores in cells.items() if all(k in scores for k in factors)),
                  key=lambda t: INVERSE_PROBLEMS.index(t[0]))
    used = {p: in_use(p) for p in {p for p, _, _ in rows}}

    def best(t: tuple) -> str:
        return max(factors, key=lambda k: t[2][k])

    columns = [("problem", lambda t: t[0]), ("algorithm", lambda t: t[1])]
    columns += [(f"k = {k}", lambda t, k=k: f"**{t[2][k]:.2f}**" if k == best(t) else f"{t[2][k]:.2f}") for k in factors]
    columns += [("best k", best), ("k in use", lambda t: used[t[0]].get(t[1], ""))]
    title = f"# PnP regularisation factor k (mean PSNR in dB over {len(images)} validation crops {size}x{size} of train400)\n\n"
    return title + markdown_table(rows, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3, help="first N validation images")
    parser.add_argument("--size", type=int, default=128, help="central crop")
    parser.add_argument("--factors", type=float, nargs="+", default=[1 / 3, 1.0, 3.0, 10.0])
    parser.add_argument("--levels", type=int, nargs="+", default=[15, 25, 50], help="shipped levels ADMM is run with")
    parser.add_argument("--max-iter", type=int, default=150)
    parser.add_argument("--problems", nargs="+", default=list(INVERSE_PROBLEMS), choices=INVERSE_PROBLEMS)
    parser.add_argument("--data", type=Path, default=data_dir("images", "train400"))
    parser.add_argument("--results", type=Path, default=RESULTS, help="results JSON (the markdown table goes beside it)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    validation = validation_files(args.data, args.images)
    images = [p.name for p in validation]
    crops = centre_crops([read_image(p) for p in validation], args.size)[:, 0]
    factors = [label(k) for k in args.factors]
    results = ResultsFile(args.results, key=lambda r: tuple(r[k] for k in KEY),
                          markdown=lambda records: markdown(records, factors, images, args.size, args.max_iter))
    for problem_name in args.problems:
        problems = [simulate(problem_name, crop, None, seed) for seed, crop in enumerate(crops)]
        for algorithm, level in [("fbs", None)] + [("admm", level) for level in args.levels]:
            for k in args.factors:
                record = {"problem": problem_name, "row": row_label(algorithm, level), "k": label(k), "images": images,
                          "size": args.size, "max_iter": args.max_iter}
                if results.has(tuple(record[key] for key in KEY)):
                    continue
                values = []
                for problem in problems:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        settings = choose_settings(problem, algorithm, regularisation=k, level=level)
                        result = run_pnp(problem, settings, max_iter=args.max_iter)
                    values.append(psnr(result.x, problem.truth))
                results.add({**record, "psnr": float(np.mean(values))})
                print(problem_name, record["row"], record["k"], round(float(np.mean(values)), 2), flush=True)
    print(results.markdown(results.records))


if __name__ == "__main__":
    main()
