"""The paper's two-moons table: both architectures, depth L in {2, ..., 64}, train fraction 0.2 and 0.8.

    python experiments/two_moons.py            # full table, resumes cell by cell
    python experiments/two_moons.py --quick    # a tiny configuration in seconds
    python experiments/two_moons.py --fractions 0.2 --depths 8 16 32 64 --epochs 1000
    python experiments/two_moons.py --validation-fraction 0.2 --fractions 0.2 ...   # tuning
    python experiments/two_moons.py --bayes       # the Bayes classifier's accuracies only

Writes ``<out>/<name>.json`` (one record per cell: the ``lipapps classify two-moons --json``
object plus the configuration and its provenance, :class:`lipapps.results.ResultsFile`),
``<out>/<name>.md`` and decision-boundary figures. Every cell
is appended as soon as it is trained, so an interrupted run resumes where it stopped; its
training checkpoint lives under ``experiments/checkpoints/`` (not committed).

The noise of the data set overlaps the two moons, so 100% test accuracy is not always
reachable: the table gives, for each test split, the accuracy of the Bayes classifier of the
generating distribution (uniform angle on each half circle plus Gaussian noise), and each
record carries ``bayes_agreement``: the share of 20000 fresh draws of the distribution (neither
training nor test points) on which the model predicts the Bayes label, and
``test_bayes_agreement``: the same share on the test split. ``--bayes`` writes
``<out>/two_moons_bayes.{json,md}``: the Bayes classifier's accuracy on the distribution (Monte
Carlo, with its standard error) and on each test split, with the quadrature's error there.

``--validation-fraction v`` tunes without the test split: it trains on the first ``1 - v`` of
the training points, scores on the rest of them, and writes ``<name>_validation.json``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

from lipapps.classification_runs import (
    MOONS_NOISE, MOONS_QUADRATURE_NODES, run_two_moons, two_moons_bayes_accuracy,
    two_moons_bayes_agreement, two_moons_fresh_draws, two_moons_kde_labels, two_moons_log_densities,
    two_moons_population_bayes_accuracy, two_moons_split, two_moons_test_bayes_agreement,
)
from lipapps.datasets import make_moons
from lipapps.demo import plot_decision
from lipapps.results import ResultsFile

RESULTS = Path(__file__).parent / "results"
CHECKPOINTS = Path(__file__).parent / "checkpoints" / "two_moons"
PAPER = "99.88-100"


def markdown(records: list[dict]) -> str:
    """The table; on a validation file the accuracy column is the validation accuracy and the
    Bayes column is left out (the validation points are training points)."""
    validation = any("validation_fraction" in r for r in records)
    bayes = {f: two_moons_bayes_accuracy(f) for f in sorted({r["train_fraction"] for r in records})}
    lines = [
        f"| architecture | train fraction | L | width | hidden "
        f"| {'validation' if validation else 'test'} acc. (%) | Bayes acc. (%) | Bayes agreement (%) "
        "| test Bayes agreement (%) | paper (%) | cert. acc. @0.5 (%) | Lipschitz bound | s/epoch "
        "| constraint s/epoch | epochs | seconds | batch | T | lr |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=cell_key):
        agreement = f"{100 * r['bayes_agreement']:.2f}" if "bayes_agreement" in r else "-"
        on_test = f"{100 * r['test_bayes_agreement']:.2f}" if "test_bayes_agreement" in r else "-"
        bayes_cell = "-" if validation else f"{100 * bayes[r['train_fraction']]:.2f}"
        lines.append(
            f"| Thm {r['architecture']} | {r['train_fraction']} | {r['depth']} | {r['width']} "
            f"| {r['hidden']} | {100 * r['test_accuracy']:.2f} | {bayes_cell} | {agreement} | {on_test} "
            f"| {PAPER} | {100 * r['certified_accuracy']['0.5']:.2f} | {r['lipschitz_upper_bound']:.4f} "
            f"| {r['seconds_per_epoch']:.3f} | {r['constraint_seconds_per_epoch']:.3f} "
            f"| {r['epochs']} | {r['seconds_per_epoch'] * r['epochs']:.0f} | {r['batch_size']} "
            f"| {r['temperature']:.4g} | {r['lr']:g} |"
        )
    if not validation:
        lines += ["", *(reference(f) for f in bayes)]
    return "\n".join(lines) + "\n"


def reference(fraction: float) -> str:
    """A line on the estimator that knows the noise model: the kernel-density plug-in
    (:func:`lipapps.classification_runs.two_moons_kde_labels`) on the same training points."""
    raw, y = make_moons(4000, noise=MOONS_NOISE, standardize=False)
    n_train = round(fraction * 4000)
    test = (two_moons_kde_labels(raw[n_train:], fraction) == y[n_train:]).double().mean()
    draws, bayes = two_moons_fresh_draws()
    agreement = (two_moons_kde_labels(draws, fraction) == bayes).double().mean()
    return (f"Reference, train fraction {fraction}: the kernel-density plug-in (bandwidth "
            f"{MOONS_NOISE:g}, the true noise) on the same {n_train} training points scores "
            f"{100 * test:.2f}% on the test split and agrees with the Bayes classifier on "
            f"{100 * agreement:.2f}% of the fresh draws.  ")


def bayes_markdown(records: list[dict]) -> str:
    """The Bayes classifier's table: the population row, then one row per test split."""
    lines = [
        "| evaluated on | Bayes accuracy (%) | standard error (%) | errors | points "
        "| min abs log-density ratio | quadrature error of the ratio | nodes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(records, key=bayes_key):
        if r["evaluated_on"] == "population":
            lines.append(
                f"| the distribution (Monte Carlo, seed {r['seed']}) | {100 * r['accuracy']:.4f} "
                f"| {100 * r['standard_error']:.4f} | - | {r['n']} | - | - | {r['nodes']} |"
            )
        else:
            lines.append(
                f"| test split, train fraction {r['train_fraction']} | {100 * r['accuracy']:.4f} | 0 (exact) "
                f"| {r['errors']} | {r['n']} | {r['min_abs_log_ratio']:.3f} "
                f"| {r['quadrature_error']:.1e} | {r['nodes']} |"
            )
    return "\n".join(lines) + "\n"


def bayes_key(record: dict) -> tuple:
    """A row of the Bayes table: what it is evaluated on, and the split's train fraction."""
    return record["evaluated_on"], record.get("train_fraction", 0.0)


def bayes_table(out: Path, fractions: list[float], n_draws: int) -> None:
    """Write ``<out>/two_moons_bayes.{json,md}``. On a test split the labels are exact when the
    smallest ``|log p_1 - log p_0|`` exceeds the quadrature error, measured as the largest change of
    that ratio from :data:`MOONS_QUADRATURE_NODES` to 8 times as many nodes."""
    results = ResultsFile(out / "two_moons_bayes.json", key=bayes_key, markdown=bayes_markdown)
    raw, y = make_moons(4000, noise=MOONS_NOISE, standardize=False)

    def log_ratio(points: torch.Tensor, nodes: int) -> torch.Tensor:
        log_p = two_moons_log_densities(points, nodes)
        return log_p[:, 1] - log_p[:, 0]

    for fraction in fractions:
        n_train = round(fraction * 4000)
        ratio = log_ratio(raw[n_train:], MOONS_QUADRATURE_NODES)
        finer = log_ratio(raw[n_train:], 8 * MOONS_QUADRATURE_NODES)
        accuracy = two_moons_bayes_accuracy(fraction)
        results.add({
            "evaluated_on": "test split", "train_fraction": fraction, "accuracy": accuracy,
            "errors": int((ratio > 0).long().ne(y[n_train:]).sum()), "n": len(ratio),
            "min_abs_log_ratio": float(ratio.abs().min()),
            "quadrature_error": float((ratio - finer).abs().max()), "nodes": MOONS_QUADRATURE_NODES,
        })
        print(f"test split at train fraction {fraction}: Bayes accuracy {100 * accuracy:.4f}%", flush=True)
    population = two_moons_population_bayes_accuracy(n_draws)
    results.add({
        "evaluated_on": "population", "accuracy": population.mean,
        "standard_error": population.standard_error, "n": population.n, "seed": 0,
        "nodes": MOONS_QUADRATURE_NODES,
    })
    print(f"distribution: Bayes accuracy {100 * population.mean:.4f}% "
          f"+- {100 * population.standard_error:.4f}%", flush=True)


def cell_key(record: dict) -> tuple:
    """A cell: fraction, architecture, depth, then the recipe (records without a validation split
    have ``validation_fraction`` 0)."""
    return (
        record["train_fraction"], record["architecture"], record["depth"], record["hidden"],
        record["epochs"], record["batch_size"], record["temperature"], -record["lr"],
        record.get("validation_fraction", 0.0),
    )


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
    parser.add_argument("--epochs", type=int,
                        help="epochs per cell, in place of --steps (the paper trains 1000)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=1.0 / 30.0,
                        help="temperature T of the margin cross-entropy")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--deep-lr", type=float, default=3e-3,
                        help="learning rate from depth --deep-from on (0.01 fails at L >= 32)")
    parser.add_argument("--deep-from", type=int, default=32)
    parser.add_argument("--validation-fraction", type=float, default=0.0,
                        help="train on the first 1 - v of the training split and score on the rest "
                             "(writes <name>_validation; the test split is not touched)")
    parser.add_argument("--bayes", action="store_true",
                        help="only the Bayes classifier's accuracies (two_moons_bayes.{json,md})")
    parser.add_argument("--bayes-draws", type=int, default=10**6,
                        help="Monte Carlo draws of the distribution for --bayes")
    parser.add_argument("--figure-depth", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.bayes:
        bayes_table(args.out, args.fractions, args.bayes_draws)
        return 0
    if args.quick:
        args.depths, args.fractions, args.steps = [2], [0.8], 20
    name = args.name or ("two_moons_quick" if args.quick else "two_moons")
    validation = args.validation_fraction > 0
    if validation:
        name += "_validation"
    results = ResultsFile(args.out / f"{name}.json", key=cell_key, markdown=markdown)
    for fraction in args.fractions:
        n_fit = round(fraction * 4000) - round(args.validation_fraction * round(fraction * 4000))
        epochs = args.epochs or max(1, round(args.steps / math.ceil(n_fit / args.batch_size)))
        for architecture in args.architectures:
            for depth in args.depths:
                lr = args.deep_lr if depth >= args.deep_from else args.lr
                hidden = args.width - 3 if architecture == "4.1" else args.width
                cell = {
                    "train_fraction": fraction, "architecture": architecture, "depth": depth,
                    "hidden": hidden, "epochs": epochs, "batch_size": args.batch_size,
                    "temperature": args.temperature, "lr": lr,
                }
                if validation:
                    cell["validation_fraction"] = args.validation_fraction
                if results.has(cell_key(cell)):
                    continue
                tag = (f"thm{architecture.replace('.', '')}_L{depth}_f{fraction}_lr{lr:g}_k{hidden}"
                       f"_e{epochs}_b{args.batch_size}_T{args.temperature:.3g}")
                checkpoint = None if args.quick else CHECKPOINTS / f"{name}_{tag}.ckpt"
                run = run_two_moons(
                    depth, architecture, width=args.width, hidden=hidden, train_fraction=fraction,
                    epochs=epochs, lr=lr, temperature=args.temperature, batch_size=args.batch_size,
                    validation_fraction=args.validation_fraction, checkpoint=checkpoint,
                    progress=False,
                )
                record = {**run.record(), "bayes_agreement": two_moons_bayes_agreement(run.model)}
                if not validation:
                    record["test_bayes_agreement"] = two_moons_test_bayes_agreement(run.model, fraction)
                results.add(record)
                print(f"{tag}: {'validation' if validation else 'test'} "
                      f"{100 * record['test_accuracy']:.2f}%  "
                      f"Bayes agreement {100 * record['bayes_agreement']:.2f}%  "
                      f"bound {record['lipschitz_upper_bound']:.4f}  "
                      f"{record['seconds_per_epoch']:.3f} s/epoch", flush=True)
                if (depth == args.figure_depth or args.quick) and not validation:
                    _, _, x_test, y_test = two_moons_split(fraction)
                    plot_decision(
                        run.model, x_test, y_test, args.out / f"{name}_{tag}.png",
                        f"Thm {architecture}, L={depth}, train {fraction}, {epochs} epochs: "
                        f"test {100 * record['test_accuracy']:.2f}%",
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
