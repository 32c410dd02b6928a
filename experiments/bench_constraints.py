"""Cost of keeping the 1-Lipschitz constraint, against the same model unconstrained.

One run times epochs of MNIST-sized models (784 -> width, `depth` gradient-flow blocks,
10 logits; 60,000 samples) with ``constraint="none"``, ``"projection"`` and
``"parametrization"``, through the same trainer, for every width and batch size asked for, and
prints the ratios as JSON. The trainer separates the constraint's own time (materialising
parametrized weights, projecting after each step); ``overhead`` is the whole epoch's extra time
against the unconstrained run of the same width and batch size. Writes
``experiments/results/bench_constraints.{json,md}``.

    python experiments/bench_constraints.py [--epochs 1] [--widths 50 100 200] [--batch-sizes 256 1024]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import lipapps

RESULTS = Path(__file__).parent / "results"


def cross_entropy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(10.0 * model(x), y, reduction="none")


def time_mode(constraint: str, data: tuple[torch.Tensor, torch.Tensor], width: int, batch_size: int, args: argparse.Namespace) -> dict[str, float]:
    torch.manual_seed(0)
    model = lipapps.LipschitzResNet(784, 10, width=width, depth=args.depth, constraint=constraint).to(args.device)
    # one warm-up epoch on a slice (allocations, first-call costs), then the timed epochs
    lipapps.train(model, cross_entropy, tuple(t[: 20 * batch_size] for t in data), epochs=1, batch_size=batch_size, lr=1e-3, progress=False)
    start = time.perf_counter()
    result = lipapps.train(model, cross_entropy, data, epochs=args.epochs, batch_size=batch_size, lr=1e-3, progress=True)
    wall = (time.perf_counter() - start) / args.epochs
    record = {
        "width": width,
        "batch_size": batch_size,
        "constraint": constraint,
        "seconds_per_epoch": result.seconds_per_epoch,
        "constraint_seconds_per_epoch": result.constraint_seconds_per_epoch,
        "wall_seconds_per_epoch": wall,
    }
    if constraint != "none":
        record["certificate"] = lipapps.certify(model.cpu()).upper_bound
    return record


def markdown(records: list[dict], machine: str, depth: int, samples: int) -> str:
    lines = [
        f"Constraint overhead, 784 -> h, {depth} blocks, 10 logits, {samples:,} samples ({machine}).",
        "",
        "| h | batch | mode | s / epoch | constraint s / epoch | epoch ratio vs unconstrained | certificate |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in records:
        ratio = "1 (baseline)" if r["constraint"] == "none" else f"{r['epoch_ratio']:.2f}"
        cert = f"{r['certificate']:.4f}" if "certificate" in r else "-"
        lines.append(
            f"| {r['width']} | {r['batch_size']} | {r['constraint']} | {r['seconds_per_epoch']:.2f} "
            f"| {r['constraint_seconds_per_epoch']:.2f} | {ratio} | {cert} |"
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
    records = []
    for width in args.widths:
        for batch_size in args.batch_sizes:
            runs = {mode: time_mode(mode, data, width, batch_size, args) for mode in ("none", "projection", "parametrization")}
            base = runs["none"]["seconds_per_epoch"]
            for mode in ("projection", "parametrization"):
                rec = runs[mode]
                rec["epoch_ratio"] = rec["seconds_per_epoch"] / base
                rec["overhead"] = rec["seconds_per_epoch"] / base - 1.0
                rec["constraint_share_of_epoch"] = rec["constraint_seconds_per_epoch"] / rec["seconds_per_epoch"]
            records += runs.values()
    machine = (torch.cuda.get_device_name(args.device) if args.device.type == "cuda"
               else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, CPU")
    report = {
        "model": {"in_features": 784, "widths": args.widths, "depth": args.depth, "out_features": 10},
        "samples": args.samples,
        "machine": machine,
        "torch": torch.__version__,
        "results": records,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with lipapps.atomic_write(args.out) as tmp:
        tmp.write_text(json.dumps(report, indent=2))
    with lipapps.atomic_write(args.out.with_suffix(".md")) as tmp:
        tmp.write_text(markdown(records, machine, args.depth, args.samples))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
