"""``lipapps classify``: train one certified classifier (two-moons or MNIST-like), score it, save it,
and evaluate a saved one.

Argument parsing and printing only; the runs are :mod:`lipapps.classification_runs`, the scores
:func:`lipapps.classification.evaluate` (certified radius ``margin / (c L)`` with ``L`` the
provable bound of :func:`lipapps.certify`).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lipapps.checkpoint import load, read_payload, save
from lipapps.classification import DEFAULT_RADII, ClassificationReport, evaluate
from lipapps.classification_runs import (
    ARCHITECTURES, ClassificationRun, image_split, run_mnist, run_two_moons, two_moons_split,
)
from lipapps.cli import check_positive, output_path
from lipapps.errors import InputError

IMAGE_DATASETS = ("mnist", "fashion-mnist")


def _print_scores(summary: dict[str, Any]) -> None:
    print(f"test accuracy:              {100 * summary['test_accuracy']:.2f}%")
    for eps, acc in summary["certified_accuracy"].items():
        print(f"certified accuracy @ {eps:<5}: {100 * acc:.2f}%")
    print(f"certified Lipschitz bound:  {summary['lipschitz_upper_bound']:.6f}")


def _print(run: ClassificationRun, as_json: bool) -> None:
    if as_json:
        print(json.dumps(run.summary()))
        return
    summary = run.summary()
    _print_scores(summary)
    print(f"seconds per epoch:          {summary['seconds_per_epoch']:.3f} "
          f"(constraint {summary['constraint_seconds_per_epoch']:.3f})")


def _finish(run: ClassificationRun, args: argparse.Namespace) -> int:
    """Save the model (with its configuration and scores as metadata) when asked, then print."""
    if args.out is not None:
        save(run.model, args.out, metadata=run.record())
    _print(run, args.json)
    if args.out is not None and not args.json:
        print(f"model written to {args.out}")
    return 0


def _check_out(args: argparse.Namespace) -> None:
    if args.out is not None:
        args.out = output_path(args.out, "--out")


def _two_moons_command(args: argparse.Namespace) -> int:
    _check_out(args)
    run = run_two_moons(
        args.depth, args.architecture, args.width, args.hidden, args.train_fraction,
        args.epochs, args.lr, args.temperature, args.seed, args.checkpoint, not args.json,
    )
    return _finish(run, args)


def _mnist_command(args: argparse.Namespace) -> int:
    _check_out(args)
    run = run_mnist(
        args.data_dir, args.dataset, args.width, args.depth, args.free_io, args.epochs, args.lr,
        args.temperature, args.margin, args.schedule, args.train_subset, args.test_subset,
        args.download, args.seed, args.checkpoint, not args.json,
    )
    return _finish(run, args)


def _labelled_file(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``x`` (n, features) and integer labels ``y`` (n,) from an ``.npz`` file (no pickles)."""
    if not path.is_file():
        raise InputError(f"data file not found: {path}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot read as an .npz file ({type(exc).__name__})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile) or not {"x", "y"} <= set(archive.files):
        raise InputError(f"{path}: --data FILE must be an .npz file with arrays x (n, features) and y (n,)")
    with archive:
        x, y = archive["x"], archive["y"]
    if x.ndim != 2 or y.shape != (len(x),) or len(x) == 0:
        raise InputError(f"{path}: x must have shape (n, features) and y (n,), got {x.shape} and {y.shape}")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise InputError(f"{path}: x must hold finite numbers")
    if not np.issubdtype(y.dtype, np.integer):
        raise InputError(f"{path}: labels y must be integers, got dtype {y.dtype}")
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))


def _evaluation_data(args: argparse.Namespace, metadata: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The labelled test set: the named task's test split (as the model was trained on it), or a file."""
    data = args.data or metadata.get("task")
    if data is None:
        raise InputError(f"{args.model}: no training task recorded; name the data with --data")
    if data == "two-moons":
        _, _, x, y = two_moons_split(metadata.get("train_fraction", 0.8), metadata.get("seed", 0))
        return x, y
    if data in IMAGE_DATASETS:
        if args.data_dir is None:
            raise InputError(f"--data {data} needs --data-dir, the folder holding its IDX files")
        # the training subset fixes the mean pixel subtracted in training
        _, _, x, y = image_split(args.data_dir, data, train_subset=metadata.get("n_train"), test_subset=args.test_subset)
        return x, y
    return _labelled_file(Path(data))


def _check_data(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, path: str) -> None:
    config = model.config()
    if "in_features" not in config or "out_features" not in config:
        raise InputError(f"{path}: not a classifier (a dense model with in_features and out_features)")
    if x.shape[1] != config["in_features"]:
        raise InputError(f"the data has {x.shape[1]} features but {path} takes {config['in_features']}")
    classes = max(2, int(config["out_features"]))
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= classes):
        raise InputError(f"labels must lie in 0..{classes - 1} for {path}, got {int(y.min())}..{int(y.max())}")


def _evaluate_command(args: argparse.Namespace) -> int:
    """Clean and certified accuracy of a saved classifier on a labelled set, at the user's radii."""
    if any(not (math.isfinite(r) and r >= 0) for r in args.radii):
        raise InputError(f"--radii must be non-negative finite numbers, got {args.radii}")
    if args.test_subset is not None:
        check_positive(args.test_subset, "--test-subset")
    model = load(args.model)
    metadata = read_payload(args.model).get("metadata", {})
    x, y = _evaluation_data(args, metadata)
    _check_data(model, x, y, args.model)
    report: ClassificationReport = evaluate(model, x, y, radii=args.radii)
    summary = {
        "test_accuracy": report.test_accuracy,
        "certified_accuracy": {str(float(e)): a for e, a in report.certified_accuracy.items()},
        "lipschitz_upper_bound": report.lipschitz_upper_bound,
        "n": len(y),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"samples:                    {len(y)}")
        _print_scores(summary)
    return 0


def _common(p: argparse.ArgumentParser, epochs: int, lr: float, temperature: float) -> None:
    p.add_argument("--epochs", type=int, default=epochs, help="training epochs")
    p.add_argument("--lr", type=float, default=lr, help="Adam learning rate (cosine annealed)")
    p.add_argument("--temperature", type=float, default=temperature,
                   help="loss temperature T (MarginCrossEntropy)")
    p.add_argument("--seed", type=int, default=0, help="seeds the data split, initialisation and batches")
    p.add_argument("--checkpoint", help="training checkpoint file: written every epoch, resumed")
    p.add_argument("--out", help="model file to write (lipapps.save format, with the run's configuration and "
                                 "scores as metadata): read by lipapps certify and lipapps classify evaluate")
    p.add_argument("--json", action="store_true", help="print one JSON object (no progress bar)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``lipapps classify two-moons|mnist`` (entry point of group ``lipapps.commands``)."""
    classify = subparsers.add_parser("classify", help="train, certify and evaluate a 1-Lipschitz classifier")
    tasks = classify.add_subparsers(dest="task", required=True)

    p = tasks.add_parser("two-moons", help="two-moons, Theorem 3.1 or 4.1 network")
    p.add_argument("--architecture", choices=ARCHITECTURES, default="3.1", help="the paper's theorem")
    p.add_argument("--depth", type=int, default=8, help="residual blocks")
    p.add_argument("--width", type=int, default=8, help="state size (>= 5 for Theorem 4.1)")
    p.add_argument("--hidden", type=int,
                   help="hidden size of each block (None: width, or width - 3 for Theorem 4.1)")
    p.add_argument("--train-fraction", type=float, default=0.8,
                   help="share of the 4000 points used for training (paper text 0.2, code 0.8)")
    _common(p, epochs=300, lr=1e-2, temperature=1.0 / 30.0)
    p.set_defaults(func=_two_moons_command)

    p = tasks.add_parser("mnist", help="MNIST or Fashion-MNIST from IDX files, Theorem 4.1 network")
    p.add_argument("--dataset", choices=IMAGE_DATASETS, default="mnist", help="which IDX data set")
    p.add_argument("--data-dir", required=True,
                   help="folder with the four IDX files (plain, raw/ or torchvision's MNIST/raw)")
    p.add_argument("--download", action="store_true",
                   help="fetch missing IDX files first (needs a network)")
    p.add_argument("--width", type=int, default=100, help="lifted size h (state h + 3)")
    p.add_argument("--depth", type=int, default=10, help="residual blocks")
    p.add_argument("--free-io", action="store_true",
                   help="unconstrained lifting and readout (the paper's code; no end-to-end bound)")
    p.add_argument("--margin", type=float, default=0.0,
                   help="loss offset m (logit units); 3 with --temperature 0.25 and 40 epochs "
                        "gave 53%% certified at radius 1.58 (docs/experiments.md)")
    p.add_argument("--schedule", choices=("cosine", "onecycle"), default="cosine", help="learning-rate schedule")
    p.add_argument("--train-subset", type=int, help="use only the first N training images")
    p.add_argument("--test-subset", type=int, help="use only the first N test images")
    _common(p, epochs=10, lr=1e-3, temperature=0.1)  # the accuracy recipe of the MNIST table
    p.set_defaults(func=_mnist_command)

    p = tasks.add_parser("evaluate", help="clean and certified accuracy of a saved classifier at chosen radii")
    p.add_argument("model", help="a model file written by classify ... --out")
    p.add_argument("--data", help="two-moons, mnist, fashion-mnist (the test split, prepared as in training), or an "
                                  ".npz file with arrays x (n, features) and y (n,) (None: the model's training task)")
    p.add_argument("--data-dir", help="folder with the IDX files (mnist, fashion-mnist)")
    p.add_argument("--test-subset", type=int, help="use only the first N test images (mnist, fashion-mnist)")
    p.add_argument("--radii", type=float, nargs="+", default=list(DEFAULT_RADII), help="l2 radii of the certified accuracy")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_evaluate_command)
