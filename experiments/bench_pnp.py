"""Benchmark: PnP with the shipped certified denoisers against classical baselines, on BSD68.

One run, every problem, the same test images (BSD68, never seen in training); the runs are
those of :mod:`denoisers.benchmark`:

* denoising (sigma = 25/255, full images): our denoisers applied once and as a geometric
  self-ensemble, TV (weight tuned per image against the truth), wavelet BayesShrink and BM3D;
* deblurring, inpainting, 2x super-resolution, sparse-view CT (centred crops): PnP-FBS and
  PnP-ADMM with the shipped denoisers against ADMM with the TV prox as prior (best of a grid of
  weights against the truth), for CT also FBP and SART; ``--bm3d-prior``: deblurring and CT also
  with BM3D as the PnP-ADMM prior (slow: minutes per image); ``--tuned-ours``: our PnP-ADMM at
  the best shipped level x factor against the truth, tuned per image as TV is.

``--bsd68-denoising`` denoises all of BSD68 at ``--sigmas`` instead; ``--classic-denoising`` the same on
the photographs scikit-image ships (``denoisers.images.CLASSIC_IMAGES``: never trained or tuned on).

When ``experiments/weights/dncnn_sigma<S>.pt`` exist (``train_denoisers.py --baseline``), the
unconstrained DnCNN-style network runs wherever ours does, with the same settings. Results:
<out-dir>/<tag>.json and .md (``lipapps.results`` records, written after every image and
problem), and with the default tag the pnp_<problem>.png panels. CPU, 1 thread. A stopped run
resumes when repeated: the (image, problem, part) units already in the file are skipped
(``--rerun`` runs them again). ``--parts ours`` reruns only our rows, e.g. after new weights,
keeping the slow baselines (TV, BM3D as prior, FBP, SART), which do not depend on them.

    python experiments/bench_pnp.py --images 4 --size 128
    python experiments/bench_pnp.py --bsd68-denoising                 # levels 15, 25, 50
    python experiments/bench_pnp.py --bsd68-denoising --sigmas 25     # the other levels' records are kept
    python experiments/bench_pnp.py --classic-denoising               # the photographs scikit-image ships
    python experiments/bench_pnp.py --images 3 --problems deblur ct --bm3d-prior --tag pnp_bm3d_prior
    python experiments/bench_pnp.py --images 3 --problems deblur inpaint superres ct --tuned-ours --tag pnp_tuned_ours
    python experiments/bench_pnp.py --images 10 --size 256 --problems inpaint deblur superres --tag pnp_bench_10images_256
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch

from lipapps import InputError
from lipapps.results import ResultsFile, data_dir, provenance, read_records, write_records
from denoisers.benchmark import (
    INVERSE_PROBLEMS,
    PARTS,
    TUNED_FACTORS,
    bench_denoising,
    bench_inverse,
    bench_set_denoising,
    summary_table,
)
from denoisers.images import centre_crop, classic_image_files, read_image
from denoisers.training import image_files

ROOT = Path(__file__).resolve().parents[1]
BASELINE_WEIGHTS = ROOT / "experiments" / "weights"
DEFAULT_TAG = "pnp_bench"
BSD68_TAG = "pnp_bsd68_denoising"
CLASSIC_TAG = "pnp_classic_denoising"
#: The crop side of every run before the records stored theirs (the default ``--size`` then and now).
SIZE_BEFORE_THE_FIELD = 128


def level(record: dict) -> int:
    """The noise level of a ``--bsd68-denoising`` record (its problem is ``denoise sigma <S>``)."""
    return int(record["problem"].split()[-1])


def bench_set(files: list[Path], sigmas: list[int], path: Path, title: str) -> None:
    """Denoise every image of ``files`` at ``sigmas`` (:func:`bench_set_denoising`) into ``path`` (.json and
    .md), keeping its records of other levels."""
    kept = [r for r in read_records(path) if level(r) not in sigmas]
    stamp = provenance()
    rows = kept + [{**r, "provenance": stamp} for r in bench_set_denoising(files, sigmas, BASELINE_WEIGHTS)]
    rows.sort(key=level)  # stable: each level's records keep their order
    table = summary_table(rows)
    write_records(rows, path, f"# {title} (CPU, 1 thread)\n\n{table}")
    print(table)


def crop_size(record: dict) -> int:
    """The crop side of a record; records made before they stored it (``size``) all came from runs on
    :data:`SIZE_BEFORE_THE_FIELD` crops, so a rerun at that size replaces them."""
    return record.get("size", SIZE_BEFORE_THE_FIELD)


def done(records: list[dict], image: str, problem: str, size: int, part: str) -> bool:
    """Whether ``records`` hold ``part`` of ``problem`` on ``image`` at crop ``size`` (a resumed run skips it)."""
    return any(r["image"] == image and r["problem"] == problem and crop_size(r) == size and r.get("part") == part for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4, help="first N BSD68 images")
    parser.add_argument("--size", type=int, default=128, help="centre crop for the inverse problems")
    parser.add_argument("--max-iter", type=int, default=150)
    parser.add_argument("--problems", nargs="+", default=["denoise", *INVERSE_PROBLEMS], choices=["denoise", *INVERSE_PROBLEMS])
    parser.add_argument("--noise", type=float, default=25 / 255, help="denoising noise level")
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"results file stem; only the default ({DEFAULT_TAG}) writes the panels")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "experiments" / "results", help="folder of the results files")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--bsd68-denoising", action="store_true",
                      help=f"only: denoising on all of BSD68 (ours, the baseline, TV, wavelet, BM3D) -> {BSD68_TAG}.*")
    only.add_argument("--classic-denoising", action="store_true",
                      help=f"only: the same on the classic photographs scikit-image ships (CLASSIC_IMAGES) -> {CLASSIC_TAG}.*")
    parser.add_argument("--bm3d-prior", action="store_true",
                        help="deblurring and CT also with BM3D as the PnP-ADMM prior (needs the bench extra; minutes per image)")
    parser.add_argument("--tuned-ours", action="store_true",
                        help="every inverse problem also with our PnP-ADMM at its best level and factor against the truth, as TV")
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="ours (our PnP runs, the unconstrained network at our settings) and/or the baselines (TV, BM3D, FBP, SART)")
    parser.add_argument("--rerun", action="store_true", help="run (image, problem, part) units already in the results file again")
    parser.add_argument("--sigmas", type=int, nargs="+", default=[15, 25, 50],
                        help="levels of --bsd68-denoising and --classic-denoising; the stored records of other levels are kept")
    args = parser.parse_args()
    if args.bm3d_prior and importlib.util.find_spec("bm3d") is None:
        parser.error("--bm3d-prior needs the bm3d package: pip install 'lipapps[bench]'")
    try:
        files = classic_image_files() if args.classic_denoising else image_files(data_dir("images", "bsd68"))
    except InputError as error:
        parser.error(str(error))
    torch.set_num_threads(1)
    if args.classic_denoising:
        bench_set(files, args.sigmas, args.out_dir / f"{CLASSIC_TAG}.json",
                  "Gaussian denoising of the photographs scikit-image ships")
        return
    if args.bsd68_denoising:
        bench_set(files, args.sigmas, args.out_dir / f"{BSD68_TAG}.json", "Gaussian denoising on all of BSD68")
        return
    files = files[: args.images]
    header = f"# PnP benchmark ({', '.join(f.name for f in files)}; crops {args.size} x {args.size}; CPU, 1 thread)\n\n"
    results = ResultsFile(args.out_dir / f"{args.tag}.json", key=lambda r: (r["problem"], r["image"], r["method"], crop_size(r)),
                          markdown=lambda records: header + summary_table(records))
    for index, file in enumerate(files):
        truth = read_image(file)
        for problem in args.problems:
            todo = tuple(p for p in args.parts if args.rerun or not done(results.records, file.name, problem, args.size, p))
            if not todo:
                continue
            if problem == "denoise":
                rows = bench_denoising(file.name, truth, args.noise, index, BASELINE_WEIGHTS, parts=todo)
            else:
                panel = args.out_dir / f"pnp_{problem}.png" if index == 0 and args.tag == DEFAULT_TAG and "ours" in todo else None
                rows = bench_inverse(problem, file.name, centre_crop(truth, args.size), index, args.max_iter, panel, BASELINE_WEIGHTS,
                                     bm3d_prior=args.bm3d_prior, tuned_factors=TUNED_FACTORS if args.tuned_ours else (), parts=todo)
            stamp = provenance()
            results.merge({**r, "size": args.size, "provenance": stamp} for r in rows)
            print(summary_table(rows), flush=True)
    print(summary_table(results.records))


if __name__ == "__main__":
    main()
