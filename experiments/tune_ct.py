"""Pick CT's PnP-ADMM denoiser family, level, factor ``k`` and data-step tolerance
(``denoisers.parameters.DEFAULT_CONFIGURATION``, ``ADMM_LEVEL``, ``REGULARISATION``, ``PROX_TOLERANCE``,
``STOP_TOLERANCE``)
on validation images: sparse-view CT, by default 60 angles, noise 1% of the sinogram's peak.

The images are ``--images`` validation images of train400 from the ``--offset``-th (the split
``denoisers.training.validation_files`` makes with seed 0, never used in training; not the BSD68 test
images of ``bench_ct.py``), whole (train400 images are 180 x 180, so not the 256 x 256 of the
benchmark). Each (``--family``, level, ``k``, prox tolerance ``c``, stopping tolerance) runs the library's CT PnP-ADMM (inexact warm-started
data steps, its relaxation; the family's denoiser relaxed to be firmly non-expansive, as
``choose_settings`` does) and records the mean PSNR, iterations, CG products, wall and CPU seconds
(the machine is shared: CPU seconds are the steadier measure), and whether every
run converged with a residual within its proven error allowance. The best row is copied into
``denoisers/parameters.py`` by hand. Results: experiments/results/ct_tuning.{json,md}.

    OMP_NUM_THREADS=2 python experiments/tune_ct.py --images 3 --family ridge --levels 15 --factors 0.5 0.7 1
    OMP_NUM_THREADS=1 python experiments/tune_ct.py --images 6 --levels 25 --factors 0.8 --prox-tolerances 0.01 0.1 1 \
        --angles 30 --peak-fraction 0.0015 --results experiments/results/ct_tolerance_tuning.json
    OMP_NUM_THREADS=1 python experiments/tune_ct.py --images 6 --levels 25 --factors 0.8 --stop-tolerances 1e-4 1e-3 3e-3 \
        --results experiments/results/ct_stop_tuning.json
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import time
import warnings
from pathlib import Path

import numpy as np

from lipapps import InputError
from lipapps.results import ResultsFile, data_dir, markdown_table
from denoisers.images import read_image
from denoisers.metrics import psnr
from denoisers.parameters import PROX_TOLERANCE, choose_settings, served_level, stop_tolerance
from denoisers.pnp import ConvergenceWarning, residual_non_increasing
from denoisers.problems import simulate_ct_relative
from denoisers.reconstruct import run_pnp
from denoisers.training import validation_files
from denoisers.weights import CONDITIONED, FAMILIES, available_sigmas, weights_digest

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results" / "ct_tuning.json"
KEY = ("family", "weights", "level", "k", "prox_tolerance", "tol", "images", "angles", "peak_fraction", "max_iter")
#: What a record made before a field existed stands for: the firm family, the weights of then, the
#: data-step and stopping tolerances of then.
MISSING = {"family": "firm", "weights": "earlier", "prox_tolerance": 0.01, "tol": 1e-4}


@functools.cache
def shipped_digest(level: int, family: str) -> str:
    """The digest of the shipped ``family`` weights that serve ``level`` now (:func:`served_level`;
    :class:`lipapps.InputError` for a level none serves): which weights a record of ``level`` runs."""
    return weights_digest(served_level(level, available_sigmas(family))[0], family)


def key(record: dict) -> tuple[str, ...]:
    return tuple(str(record.get(k, MISSING.get(k))) for k in KEY)


def markdown(records: list[dict]) -> str:
    """One row per (images, family, weights, level, ``k``, ``c``); in bold the best mean PSNR of each image
    set and noise setting among the records made with the weights shipped now (fields a record lacks
    read as :data:`MISSING`: those before the records named them)."""
    def group(r: dict) -> tuple:
        return (len(r["images"]), r["images"][0], r["angles"], r["peak_fraction"])

    def shipped(r: dict) -> bool:
        return r.get("weights", MISSING["weights"]) == shipped_digest(r["level"], r.get("family", MISSING["family"]))

    current = [r for r in records if shipped(r)]
    best = {g: max(r["psnr"] for r in current if group(r) == g) for g in {group(r) for r in current}}
    columns = [("images", lambda r: len(r["images"])), ("family", lambda r: r.get("family", "firm")),
               ("weights", lambda r: r.get("weights", "earlier")), ("level", lambda r: r["level"]),
               ("k", lambda r: f"{r['k']:g}"), ("prox tolerance c", lambda r: f"{r.get('prox_tolerance', MISSING['prox_tolerance']):g}"),
               ("stop tolerance", lambda r: f"{r.get('tol', MISSING['tol']):g}"),
               ("angles", lambda r: r["angles"]), ("noise (% of peak)", lambda r: f"{100 * r['peak_fraction']:g}"),
               ("PSNR (dB)", lambda r: f"**{r['psnr']:.2f}**" if shipped(r) and r["psnr"] == best[group(r)] else f"{r['psnr']:.2f}"),
               ("iterations", lambda r: f"{r['iterations']:.1f}"), ("CG products", lambda r: f"{r['cg_products']:.0f}"),
               ("seconds", lambda r: f"{r['seconds']:.1f}"),
               ("CPU seconds", lambda r: f"{r['cpu_seconds']:.1f}" if "cpu_seconds" in r else ""), ("all converged", lambda r: r["converged"]),
               ("residual within allowance", lambda r: r["monotone"])]
    title = "# CT PnP-ADMM on train400 validation images (180 x 180; shared machine)\n\n"
    order = lambda r: (*group(r), r.get("family", "firm"), r["level"], r["k"], r.get("prox_tolerance", MISSING["prox_tolerance"]),
                       r.get("tol", MISSING["tol"]))
    return title + markdown_table(sorted(records, key=order), columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=3, help="N validation images")
    parser.add_argument("--offset", type=int, default=0, help="from the N-th validation image (held-out checks)")
    parser.add_argument("--family", choices=[f for f in FAMILIES if f != CONDITIONED], default="firm",
                        help="shipped denoiser family (one file per level)")
    parser.add_argument("--levels", type=int, nargs="+", default=[15, 25])
    parser.add_argument("--factors", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--prox-tolerances", type=float, nargs="+", default=[PROX_TOLERANCE["ct"]],
                        help="data-step tolerances c (the k-th CG solve to c ||z_0|| / (k + 1)^2)")
    parser.add_argument("--stop-tolerances", type=float, nargs="+", default=[stop_tolerance("admm", "ct")],
                        help="each run stops when its relative fixed-point residual is at most this")
    parser.add_argument("--angles", type=int, default=60)
    parser.add_argument("--peak-fraction", type=float, default=0.01)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--data", type=Path, default=data_dir("images", "train400"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not all(c > 0 for c in args.prox_tolerances):
        parser.error(f"--prox-tolerances must be positive, got {args.prox_tolerances}")
    if not all(t > 0 for t in args.stop_tolerances):
        parser.error(f"--stop-tolerances must be positive, got {args.stop_tolerances}")
    try:
        for level in args.levels:
            shipped_digest(level, args.family)
    except InputError as error:
        parser.error(str(error))
    files = validation_files(args.data, args.images, args.offset)
    problems = [simulate_ct_relative(read_image(p), args.angles, args.peak_fraction, seed) for seed, p in enumerate(files)]
    results = ResultsFile(args.results, key=key, markdown=markdown)
    for level, k, tolerance, stop in itertools.product(args.levels, args.factors, args.prox_tolerances, args.stop_tolerances):
        record = {"family": args.family, "weights": shipped_digest(level, args.family), "level": level, "k": k,
                  "prox_tolerance": tolerance, "tol": stop, "images": [p.name for p in files], "angles": args.angles,
                  "peak_fraction": args.peak_fraction, "max_iter": args.max_iter}
        if results.has(key(record)):
            continue
        runs, cpu = [], []
        for problem in problems:
            with warnings.catch_warnings():
                warnings.simplefilter("error", ConvergenceWarning)
                settings = dataclasses.replace(choose_settings(problem, "admm", regularisation=k, level=level, family=args.family),
                                               prox_tolerance=tolerance, tol=stop)
                start = time.process_time()
                runs.append(run_pnp(problem, settings, max_iter=args.max_iter))
                cpu.append(time.process_time() - start)
        results.add({**record, "psnr": float(np.mean([psnr(r.x, p.truth) for r, p in zip(runs, problems)])),
                     "iterations": float(np.mean([r.iterations for r in runs])),
                     "cg_products": float(np.mean([sum(sum(run.trace.prox_steps) for run in r.runs) for r in runs])),
                     "seconds": float(np.mean([r.seconds for r in runs])), "cpu_seconds": float(np.mean(cpu)),
                     "converged": all(r.converged for r in runs), "monotone": all(residual_non_increasing(r) for r in runs)})
        print(args.family, level, k, tolerance, stop, results.records[-1]["psnr"], results.records[-1]["seconds"], flush=True)
    results.write()  # the table in this version's layout even when nothing new ran


if __name__ == "__main__":
    main()
