"""Cost of keeping the 1-Lipschitz constraint, against the same model unconstrained.

One run times epochs of MNIST-sized models (784 -> width, `depth` gradient-flow blocks,
10 logits; 60,000 samples) with ``constraint="none"``, ``"projection"`` and
``"parametrization"``, through the same trainer, for every width and batch size asked for, and
prints the ratios as JSON. The trainer separates the constraint's own time (materialising
parametrized weights, projecting after each step); ``overhead`` is the whole epoch's extra time
against the unconstrained run of the same width and batch size. Appends one record per
width, batch size and mode, with its provenance (:class:`lipapps.results.ResultsFile`), to
``experiments/results/bench_constraints.{json,md}`` (``--out``); a configuration already there is
measured again and replaced.

    python experiments/bench_constraints.py [--epochs 1] [--widths 50 100 200] [--batch-sizes 256 1024]
    python experiments/bench_constraints.py --device cuda --widths 200 --batch-sizes 256 1024 \
        --out experiments/results/gpu/bench_constraints_h100.json

On a GPU the constrained step reads nothing on the host (:mod:`lipapps.spectral.sync`), so the
constraint's own seconds, timed on the host, count kernel launches rather than their execution;
the epoch ratio is the measurement there (the trainer reads each step's loss, which waits for it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import lipapps
from lipapps.classification import MarginCrossEntropy
from lipapps.results import ResultsFile

RESULTS = Path(__file__).parent / "results"
#: Cross-entropy of the logits scaled by 10 (temperature 0.1), the MNIST recipe.
LOSS = MarginCrossEntropy(temperature=0.1)
KEYS = ("width", "batch_size", "constraint", "depth", "samples", "epochs", "device")


def time_mode(constraint: str, data: tuple[torch.Tensor, torch.Tensor], width: int, batch_size: int, args: argparse.Namespace) -> dict[str, float]:
    torch.manual_seed(0)
    model = lipapps.LipschitzResNet(784, 10, width=width, depth=args.depth, constraint=constraint).to(args.device)
    # one warm-up epoch on a slice (allocations, first-call costs), then the timed epochs
    lipapps.train(model, LOSS, tuple(t[: 20 * batch_size] for t in data), epochs=1, batch_size=batch_size, lr=1e-3, progress=False)
    start = time.perf_counter()
    result = lipapps.train(model, LOSS, data, epochs=args.epochs, batch_size=batch_size, lr=1e-3, progress=True)
    wall = (time.perf_counter() - start) / args.epochs
    record = {
        "width": width,
        "batch_size": batch_size,
        "constraint": constraint,
        "depth": args.depth,
        "samples": len(data[0]),
        "epochs": args.epochs,
        "device": str(args.device),
        "seconds_per_epoch": result.seconds_per_epoch,
        "constraint_seconds_per_epoch": result.constraint_seconds_per_epoch,
        "wall_seconds_per_epoch": wall,
    }
    if constraint != "none":
        record["certificate"] = lipapps.certify(model.cpu()).upper_bound
    return record


def markdown(records: list[dict]) -> str:
    """One row per record; the machine of each row is in its provenance."""
    lines = [
        "Constraint overhead, 784 -> h, `depth` blocks, 10 logits (machine and threads in each record's provenance).",
        "",
        "| h | depth | samples | batch | mode | device | s / epoch | constraint s / epoch | epoch ratio vs unconstrained | certificate |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        ratio = "1 (baseline)" if r["constraint"] == "none" else f"{r['epoch_ratio']:.2f}"
        cert = f"{r['certificate']:.4f}" if "certificate" in r else "-"
        lines.append(
            f"| {r['width']} | {r['depth']} | {r['samples']} | {r['batch_size']} | {r['constraint']} | {r['device']} "
            f"| {r['seconds_per_epoch']:.2f} | {r['constraint_seconds_per_epoch']:.2f} | {ratio} | {cert} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--widths", type=int, nargs="+", default=[200])
    parser.add_argument("--depth", type=int, default=10)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--device", default="cpu", help="torch device to train on, e.g. cuda")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench_constraints.json")
    args = parser.parse_args()
    args.device = lipapps.resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    data = (torch.rand(args.samples, 784, generator=gen), torch.randint(0, 10, (args.samples,), generator=gen))
    results = ResultsFile(args.out, key=lambda r: tuple(r.get(k) for k in KEYS), markdown=markdown)
    for width in args.widths:
        for batch_size in args.batch_sizes:
            runs = {mode: time_mode(mode, data, width, batch_size, args) for mode in ("none", "projection", "parametrization")}
            base = runs["none"]["seconds_per_epoch"]
            for mode in ("projection", "parametrization"):
                rec = runs[mode]
                rec["epoch_ratio"] = rec["seconds_per_epoch"] / base
                rec["overhead"] = rec["seconds_per_epoch"] / base - 1.0
                rec["constraint_share_of_epoch"] = rec["constraint_seconds_per_epoch"] / rec["seconds_per_epoch"]
            for rec in runs.values():
                print(json.dumps(results.add(rec, device=args.device)))


if __name__ == "__main__":
    main()
