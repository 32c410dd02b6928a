"""The paper's MNIST table (Theorem 4.1 network, h x L grid), end-to-end certified, on MNIST or
Fashion-MNIST, plus one row with the paper's free lifting and readout.

    python experiments/mnist.py --data-dir ../shared/data/mnist
    python experiments/mnist.py --dataset fashion-mnist --data-dir /usr/share/datasets/fashion-mnist
    python experiments/mnist.py --quick --data-dir DIR     # a tiny configuration in seconds

Writes ``<out>/<name>.json`` (one record per cell: the ``lipapps classify mnist --json`` object
plus the configuration and its provenance, :class:`lipapps.results.ResultsFile`) and ``<out>/<name>.md``, after every cell, so a stopped run resumes
where it was (the cell in progress from its checkpoint under ``experiments/checkpoints/``).
Cells run in the order given by ``--cells`` (default: the whole grid, smallest first, the
free-lifting row after the first cell).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from lipapps.classification_runs import run_mnist
from lipapps.results import ResultsFile

RESULTS = Path(__file__).parent / "results"
CHECKPOINTS = Path(__file__).parent / "checkpoints" / "mnist"
#: The paper's MNIST accuracies span 97.58-97.94% over this grid (100 epochs, free lifting/readout).
PAPER = {"mnist": "97.58-97.94", "fashion-mnist": "-"}
WIDTHS, DEPTHS = (50, 100, 200), (5, 10, 20)


def markdown(records: list[dict], dataset: str) -> str:
    lines = [
        "| h | L | lifting/readout | test acc. (%) | paper (%) | cert. @0.5 (%) | cert. @1.0 (%) "
        "| cert. @1.58 (%) | Lipschitz bound | s/epoch | constraint s/epoch | epochs | lr | T | m |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    order = ("lifting_readout", "margin", "epochs", "lr", "width", "depth")
    for r in sorted(records, key=lambda r: tuple(r[k] for k in order)):
        cert = r["certified_accuracy"]
        lines.append(
            f"| {r['width']} | {r['depth']} | {r['lifting_readout']} "
            f"| {100 * r['test_accuracy']:.2f} | {PAPER[dataset]} | {100 * cert['0.5']:.2f} "
            f"| {100 * cert['1.0']:.2f} | {100 * cert['1.58']:.2f} "
            f"| {r['lipschitz_upper_bound']:.4g} | {r['seconds_per_epoch']:.1f} "
            f"| {r['constraint_seconds_per_epoch']:.1f} | {r['epochs']} | {r['lr']:g} "
            f"| {r['temperature']:.3g} "
            f"| {r['margin']:.3g} |"
        )
    return "\n".join(lines) + "\n"


def parse_cell(text: str) -> tuple[int, int, bool]:
    """``"100x10"`` (end-to-end constrained) or ``"100x10free"`` (free lifting and readout)."""
    free = text.endswith("free")
    h, _, depth = text.removesuffix("free").partition("x")
    try:
        return int(h), int(depth), free
    except ValueError:
        raise argparse.ArgumentTypeError(f"a cell is HxL or HxLfree (e.g. 100x10), got {text!r}")


def default_cells() -> list[tuple[int, int, bool]]:
    grid = [(h, depth, False) for depth in DEPTHS for h in WIDTHS]
    return grid[:1] + [(WIDTHS[0], DEPTHS[0], True)] + grid[1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    parser.add_argument("--data-dir", required=True, help="folder with the four IDX files")
    parser.add_argument("--download", action="store_true", help="fetch missing files (network)")
    parser.add_argument("--quick", action="store_true", help="one tiny cell on a data subset")
    parser.add_argument("--cells", type=parse_cell, nargs="+", help="e.g. 50x5 100x10 50x5free")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--margin", type=float, default=0.0)
    parser.add_argument("--train-subset", type=int)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--name", help="file stem (default: mnist or fashion, _quick with --quick)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cells = args.cells or default_cells()
    test_subset = None
    if args.quick:
        cells, args.epochs, args.train_subset, test_subset = [(8, 1, False), (8, 1, True)], 1, 512, 256
    stem = "mnist" if args.dataset == "mnist" else "fashion"
    name = args.name or (f"{stem}_quick" if args.quick else stem)
    keys = ("width", "depth", "lifting_readout", "temperature", "margin", "epochs", "lr")
    results = ResultsFile(args.out / f"{name}.json", key=lambda r: tuple(r[k] for k in keys),
                          markdown=lambda records: markdown(records, args.dataset))
    for width, depth, free in cells:
        io = "free" if free else "constrained"
        if results.has((width, depth, io, args.temperature, args.margin, args.epochs, args.lr)):
            continue
        tag = (f"{name}_h{width}_L{depth}_{io}_T{args.temperature:g}_m{args.margin:g}"
               f"_e{args.epochs}_lr{args.lr:g}")
        run = run_mnist(
            args.data_dir, args.dataset, width, depth, free, args.epochs, args.lr,
            args.temperature, args.margin, train_subset=args.train_subset,
            test_subset=test_subset, download=args.download,
            checkpoint=None if args.quick else CHECKPOINTS / f"{tag}.ckpt", progress=False,
        )
        results.add(run.record())
        s = run.summary()
        print(f"{tag}: test {100 * s['test_accuracy']:.2f}%  "
              f"cert@1.58 {100 * s['certified_accuracy']['1.58']:.2f}%  "
              f"bound {s['lipschitz_upper_bound']:.4g}  {s['seconds_per_epoch']:.1f} s/epoch",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
