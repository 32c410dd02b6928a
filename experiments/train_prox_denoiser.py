"""Train the convex-ridge prox denoiser through its unrolled solver, for every sigma in [5, 50].

Starts from the shipped ``ridge_sigma25`` regulariser with lambda(sigma), mu(sigma) fitted
(log-linear) through the best cells of ``tune_prox_denoiser.py``, then
:func:`denoisers.prox_training.train_prox_denoiser` on Train400 patches. Checkpoints go to
``--checkpoint`` after every epoch; the same command with ``--resume`` continues a stopped run
and gives the run's result. The final model is saved to ``--out`` and the history to
``experiments/results/prox_denoiser_training.json``::

    PYTHONPATH=. python experiments/train_prox_denoiser.py --epochs 20 --resume
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import lipapps
from lipapps.results import ResultsFile, data_dir, read_records

from denoisers.prox import ProxDenoiser
from denoisers.prox_training import train_prox_denoiser
from denoisers.weights import load_denoiser

TUNING = Path("experiments/results/prox_denoiser_tuning.json")


def initial_model() -> ProxDenoiser:
    """``ridge_sigma25``'s regulariser with the rules fitted through the best tuning cell per sigma."""
    best: dict[int, dict] = {}
    for r in read_records(TUNING):
        if r["sigma"] not in best or r["psnr"] > best[r["sigma"]]["psnr"]:
            best[r["sigma"]] = r
    if not best:
        raise lipapps.InputError(f"no tuning records in {TUNING}: run tune_prox_denoiser.py first")
    model = ProxDenoiser.from_ridge(load_denoiser(25, "ridge"))
    levels = sorted(best)
    model.fit_rule(levels, [best[s]["strength"] for s in levels], [best[s]["scale"] for s in levels])
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, nargs=2, default=[5, 20], help="unrolled iterations: first and last epoch")
    parser.add_argument("--patches-per-image", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--checkpoint", type=Path, default=Path("experiments/checkpoints/prox_denoiser.ckpt"))
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("experiments/checkpoints/prox_denoiser.pt"))
    args = parser.parse_args()
    if args.epochs < 1 or not 1 <= args.steps[0] <= args.steps[1]:
        parser.exit(2, "lipapps: error: need --epochs >= 1 and 1 <= first <= last --steps\n")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    args.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    model = initial_model()
    run = train_prox_denoiser(data_dir("images", "train400"), model, epochs=args.epochs, steps=tuple(args.steps),
                              patches_per_image=args.patches_per_image, lr=args.lr, checkpoint=args.checkpoint, resume=args.resume)
    lipapps.save(run.model, args.out, metadata={"history": run.history})
    results = ResultsFile("experiments/results/prox_denoiser_training.json", key=lambda r: r["epoch"])
    for record in run.history:
        results.add(record)
    print("certificate of ||K||:", run.model.squared_norm_bound() ** 0.5, "saved", args.out)


if __name__ == "__main__":
    main()
