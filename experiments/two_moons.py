"""The paper's two-moons table: both architectures, depth L in {2, ..., 64}, train fraction 0.2 and 0.8.

    python experiments/two_moons.py            # full table, resumes cell by cell
    python experiments/two_moons.py --quick    # a tiny configuration in seconds

Writes ``<out>/<name>.json`` (one record per cell: the ``lipapps classify two-moons --json``
object plus the configuration and its provenance, :class:`lipapps.results.ResultsFile`),
``<out>/<name>.md`` and decision-boundary figures. Every cell
is appended as soon as it is trained, so an interrupted run resumes where it stopped; its
training checkpoint lives under ``experiments/checkpoints/`` (not committed).

The noise of the data set overlaps the two moons, so 100% test accuracy is not always
reachable: the table gives, for each test split, the accuracy of the Bayes classifier of the
generating distribution (uniform angle on each half circle plus Gaussian noise).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from lipapps.classification_runs import run_two_moons, two_moons_bayes_accuracy, two_moons_split
from lipapps.demo import plot_decision
from lipapps.results import ResultsFile

RESULTS = Path(__file__).parent / "results"
CHECKPOINTS = Path(__file__).parent / "checkpoints" / "two_moons"
PAPER = "99.88-100"


def markdown(records: list[dict]) -> str:
    bayes = {f: two_moons_bayes_accuracy(f) for f in sorted({r["train_fraction"] for r in records})}
    lines = [
        "| architecture | train fraction | L | width | hidden | test acc. (%) | Bayes acc. (%) | paper (%) "
        "| cert. acc. @0.5 (%) | Lipschitz bound | s/epoch | constraint s/epoch | epochs | lr |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = sorted(
        records,
        key=lambda r: (r["train_fraction"], r["architecture"], r["depth"], -r["lr"], r["hidden"]),
    )
    for r in order:
        lines.append(
            f"| Thm {r['architecture']} | {r['train_fraction']} | {r['depth']} | {r['width']} "
            f"| {r['hidden']} "
            f"| {100 * r['test_accuracy']:.2f} | {100 * bayes[r['train_fraction']]:.2f} | {PAPER} "
            f"| {100 * r['certified_accuracy']['0.5']:.2f} | {r['lipschitz_upper_bound']:.4f} "
            f"| {r['seconds_per_epoch']:.3f} | {r['constraint_seconds_per_epoch']:.3f} "
            f"| {r['epochs']} | {r['lr']:g} |"
        )
    return "\n".join(lines) + "\n"


def cell_key(record: dict) -> tuple:
    return tuple(record[k] for k in ("architecture", "depth", "train_fraction", "lr", "hidden"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one tiny cell per architecture")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", help="file stem (default two_moons, or two_moons_quick)")
    parser.add_argument("--depths", type=int, nargs="+", default=[2, 4, 8, 16, 32, 64])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.2, 0.8])
    parser.add_argument("--architectures", nargs="+", default=["3.1", "4.1"])
    parser.add_argument("--width", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1000,
                        help="optimiser steps per cell (epochs = steps / batches per epoch)")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--deep-lr", type=float, default=3e-3,
                        help="learning rate from depth --deep-from on (0.01 fails at L >= 32)")
    parser.add_argument("--deep-from", type=int, default=32)
    parser.add_argument("--figure-depth", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.depths, args.fractions, args.steps = [2], [0.8], 20
    name = args.name or ("two_moons_quick" if args.quick else "two_moons")
    results = ResultsFile(args.out / f"{name}.json", key=cell_key, markdown=markdown)
    for fraction in args.fractions:
        batches = math.ceil(round(fraction * 4000) / 256)
        epochs = max(1, round(args.steps / batches))
        for architecture in args.architectures:
            for depth in args.depths:
                lr = args.deep_lr if depth >= args.deep_from else args.lr
                hidden = args.width - 3 if architecture == "4.1" else args.width
                if results.has((architecture, depth, fraction, lr, hidden)):
                    continue
                tag = f"thm{architecture.replace('.', '')}_L{depth}_f{fraction}_lr{lr:g}_k{hidden}"
                checkpoint = None if args.quick else CHECKPOINTS / f"{name}_{tag}.ckpt"
                run = run_two_moons(
                    depth, architecture, width=args.width, hidden=hidden, train_fraction=fraction,
                    epochs=epochs, lr=lr, checkpoint=checkpoint, progress=False,
                )
                results.add(run.record())
                summary = run.summary()
                print(f"{tag}: test {100 * summary['test_accuracy']:.2f}%  "
                      f"bound {summary['lipschitz_upper_bound']:.4f}  "
                      f"{summary['seconds_per_epoch']:.3f} s/epoch", flush=True)
                if depth == args.figure_depth or args.quick:
                    _, _, x_test, y_test = two_moons_split(fraction)
                    plot_decision(
                        run.model, x_test, y_test, args.out / f"{name}_{tag}.png",
                        f"Thm {architecture}, L={depth}, train {fraction}: "
                        f"test {100 * summary['test_accuracy']:.2f}%",
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
