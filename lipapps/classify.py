"""``lipapps classify``: train one certified classifier (two-moons or MNIST-like) and score it.

Argument parsing and printing only; the runs are :mod:`lipapps.classification_runs`.
"""

from __future__ import annotations

import argparse
import json

from lipapps.classification_runs import ARCHITECTURES, ClassificationRun, run_mnist, run_two_moons


def _print(run: ClassificationRun, as_json: bool) -> None:
    if as_json:
        print(json.dumps(run.summary()))
        return
    summary = run.summary()
    print(f"test accuracy:              {100 * summary['test_accuracy']:.2f}%")
    for eps, acc in summary["certified_accuracy"].items():
        print(f"certified accuracy @ {eps:<5}: {100 * acc:.2f}%")
    print(f"certified Lipschitz bound:  {summary['lipschitz_upper_bound']:.6f}")
    print(f"seconds per epoch:          {summary['seconds_per_epoch']:.3f} "
          f"(constraint {summary['constraint_seconds_per_epoch']:.3f})")


def _two_moons_command(args: argparse.Namespace) -> int:
    run = run_two_moons(
        args.depth, args.architecture, args.width, args.hidden, args.train_fraction,
        args.epochs, args.lr, args.temperature, args.seed, args.checkpoint, not args.json,
    )
    _print(run, args.json)
    return 0


def _mnist_command(args: argparse.Namespace) -> int:
    run = run_mnist(
        args.data_dir, args.dataset, args.width, args.depth, args.free_io, args.epochs, args.lr,
        args.temperature, args.margin, args.schedule, args.train_subset, args.test_subset,
        args.download, args.seed, args.checkpoint, not args.json,
    )
    _print(run, args.json)
    return 0


def _common(p: argparse.ArgumentParser, epochs: int, lr: float, temperature: float) -> None:
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--lr", type=float, default=lr, help="Adam learning rate (cosine annealed)")
    p.add_argument("--temperature", type=float, default=temperature,
                   help="loss temperature T (MarginCrossEntropy)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", help="training checkpoint file: written every epoch, resumed")
    p.add_argument("--json", action="store_true", help="print one JSON object (no progress bar)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lipapps classify two-moons|mnist`` (entry point of group ``lipapps.commands``)."""
    classify = subparsers.add_parser("classify", help="train and certify a 1-Lipschitz classifier")
    tasks = classify.add_subparsers(dest="task", required=True)

    p = tasks.add_parser("two-moons", help="two-moons, Theorem 3.1 or 4.1 network")
    p.add_argument("--architecture", choices=ARCHITECTURES, default="3.1")
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--width", type=int, default=8, help="state size (>= 5 for Theorem 4.1)")
    p.add_argument("--hidden", type=int,
                   help="hidden size of each block (default: width, or width - 3 for Theorem 4.1)")
    p.add_argument("--train-fraction", type=float, default=0.8,
                   help="share of the 4000 points used for training (paper text 0.2, code 0.8)")
    _common(p, epochs=300, lr=1e-2, temperature=1.0 / 30.0)
    p.set_defaults(func=_two_moons_command)

    p = tasks.add_parser("mnist", help="MNIST or Fashion-MNIST from IDX files, Theorem 4.1 network")
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist")
    p.add_argument("--data-dir", required=True,
                   help="folder with the four IDX files (plain, raw/ or torchvision's MNIST/raw)")
    p.add_argument("--download", action="store_true",
                   help="fetch missing IDX files first (needs a network)")
    p.add_argument("--width", type=int, default=100, help="lifted size h (state h + 3)")
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--free-io", action="store_true",
                   help="unconstrained lifting and readout (the paper's code; no end-to-end bound)")
    p.add_argument("--margin", type=float, default=0.0,
                   help="loss offset m (logit units); 3 with --temperature 0.25 and 40 epochs "
                        "gave 53%% certified at radius 1.58 (docs/experiments.md)")
    p.add_argument("--schedule", choices=("cosine", "onecycle"), default="cosine")
    p.add_argument("--train-subset", type=int, help="use only the first N training images")
    p.add_argument("--test-subset", type=int, help="use only the first N test images")
    _common(p, epochs=10, lr=1e-3, temperature=0.1)  # the accuracy recipe of the MNIST table
    p.set_defaults(func=_mnist_command)
