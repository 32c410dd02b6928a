"""Train the shipped averaged denoisers (sigma = 15, 25, 50 on the 0-255 scale).

Two families (``denoisers.weights.FAMILIES``):

* ``firm`` (default): the firmly non-expansive PnP priors, ``a = 1/2``, six relu blocks at half
  resolution (57k parameters): 10 epochs of 60 fixed patches per image, batch 32, lr 2e-3.
* ``ridge``: the convex-ridge denoisers, one spline gradient flow block of 32 filters 13 x 13
  on the image, ``a = 0.99`` (6.2k parameters): 50 epochs of 32 fresh patches per image,
  batch 64, lr 3e-3, the splines at 10x the lr, then 20 more epochs from those weights at lr 1e-3
  (a warm restart; the first run's weights stay under experiments/checkpoints/).

sigma = 25 is trained from scratch; sigma = 15 and 50 start from the sigma = 25 weights
(fine-tuning, at a quarter of the lr), which reaches a given validation PSNR in far fewer
epochs. ``--baseline`` trains
the unconstrained DnCNN-style network of the benchmark instead, with the same data, patches,
batch, epochs, schedule and fine-tuning, into experiments/weights/dncnn_sigma<S>.pt. Each run is
resumable: a checkpoint is written every epoch under experiments/checkpoints/ and picked up
again when the same command is repeated. Weights go to denoisers/weights/sigma<S>.pt, the
training record to experiments/results/denoiser_training_sigma<S>.json (``ridge_sigma<S>`` for
the ridge family).

    python experiments/train_denoisers.py                      # all three, in order 25, 15, 50
    python experiments/train_denoisers.py --family ridge       # -> denoisers/weights/ridge_sigma{25,15,50}.pt
    python experiments/train_denoisers.py --sigma 25 --epochs 6
    python experiments/train_denoisers.py --baseline --sigma 25 15 50   # -> experiments/weights/dncnn_sigma{25,15,50}.pt
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import lipapps
from lipapps.layers import ACTIVATIONS
from denoisers.baselines import DnCNN
from denoisers.model import CONVEX_RIDGE, AveragedDenoiser
from denoisers.training import train_denoiser
from denoisers.weights import FAMILIES, weights_name

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "images" / "train400"
WEIGHTS = ROOT / "denoisers" / "weights"
RESULTS = ROOT / "experiments" / "results"
CHECKPOINTS = ROOT / "experiments" / "checkpoints"
BASELINE_WEIGHTS = ROOT / "experiments" / "weights"
FROM_SCRATCH = 25
#: Fine-tuning sigma 15 and 50 from the sigma 25 weights runs at lr / 4; a warm restart of
#: sigma 25 from its own weights (a second cosine schedule, Loshchilov & Hutter 2017) at lr / 3.
FINETUNE_LR_DIVISOR = 4.0
RESTART_LR_DIVISOR = 3.0
#: Each family's training recipe (the defaults of the options of the same names).
RECIPES = {
    "firm": {"activation": "relu", "epochs": 10, "restart_epochs": 0, "finetune_epochs": 2, "patches_per_image": 60, "batch_size": 32,
             "lr": 2e-3, "fresh_patches": False},
    "ridge": {"activation": "spline", "epochs": 50, "restart_epochs": 20, "finetune_epochs": 10, "patches_per_image": 32, "batch_size": 64,
              "lr": 3e-3, "fresh_patches": True},
}


def weights_path(sigma: int, args: argparse.Namespace) -> Path:
    return BASELINE_WEIGHTS / f"dncnn_sigma{sigma}.pt" if args.baseline else WEIGHTS / f"{weights_name(sigma, args.family)}.pt"


def new_model(sigma: int, args: argparse.Namespace) -> torch.nn.Module:
    """An untrained network of the run's kind for ``sigma``."""
    if args.baseline:
        return DnCNN(sigma=sigma)
    if args.family == "ridge":
        return AveragedDenoiser(**{**CONVEX_RIDGE, "activation": args.activation}, sigma=sigma)
    return AveragedDenoiser(sigma=sigma, activation=args.activation)


def train_one(sigma: int, epochs: int, args: argparse.Namespace, weights: Path, init: Path | None = None, lr_divisor: float = 1.0) -> dict:
    """Train ``epochs`` for ``sigma`` from scratch or from the weights ``init`` at ``lr / lr_divisor``; save to ``weights``."""
    if init is not None:
        model = lipapps.load(init)
        model.sigma = float(sigma)  # the level it is fine-tuned for, saved with it
        start = str(init.relative_to(ROOT))
    else:
        model = new_model(sigma, args)
        start = "scratch"
    name = weights.stem
    start_time = time.time()
    run = train_denoiser(
        args.data,
        sigma,
        model=model,
        epochs=epochs,
        patch_size=args.patch_size,
        patches_per_image=args.patches_per_image,
        batch_size=args.batch_size,
        lr=args.lr / lr_divisor,
        activation_lr_factor=args.activation_lr_factor,
        fresh_patches=args.fresh_patches,
        seed=args.seed,
        checkpoint=CHECKPOINTS / f"denoiser_{name}.ckpt",
        resume=True,
    )
    certificate = lipapps.certify(run.model)
    metadata = {
        "sigma": sigma,
        "epochs": epochs,
        "initialised_from": start,
        "validation_psnr": run.validation_psnr,
        "train_seconds": run.seconds,
        # the baseline's bound is true but far above 1: not a certificate of anything
        "lipschitz_bound" if args.baseline else "certificate": certificate.upper_bound,
    }
    weights.parent.mkdir(parents=True, exist_ok=True)
    lipapps.save(run.model, weights, metadata=metadata)
    recipe = {k: getattr(args, k) for k in ("activation", "patch_size", "patches_per_image", "batch_size", "activation_lr_factor", "fresh_patches")}
    recipe["lr"] = args.lr / lr_divisor
    record = {**metadata, "recipe": recipe, "config": run.model.config(), "history": run.history, "wall_seconds": time.time() - start_time,
              "threads": torch.get_num_threads(), "device": "cpu"}
    with lipapps.atomic_write(RESULTS / f"denoiser_training_{name}.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    print(f"{name}: validation PSNR {run.validation_psnr:.2f} dB, Lipschitz bound of D {certificate.upper_bound:.6g}")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigma", type=int, nargs="+", default=[25, 15, 50])
    parser.add_argument("--family", choices=FAMILIES, default="firm", help="firm (PnP priors, a = 1/2) or ridge (convex ridge)")
    parser.add_argument("--activation", choices=ACTIVATIONS, help="the blocks' activation (default: the recipe's)")
    parser.add_argument("--epochs", type=int, help="epochs from scratch (default: the family's recipe)")
    parser.add_argument("--restart-epochs", type=int,
                        help="sigma 25: epochs of a second schedule from the first run's weights, at lr / 3 (default: the recipe's)")
    parser.add_argument("--finetune-epochs", type=int, help="epochs when starting from sigma 25 (default: the recipe's)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--patch-size", type=int, default=40)
    parser.add_argument("--patches-per-image", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--activation-lr-factor", type=float, default=10.0, help="lr of spline activations over --lr")
    parser.add_argument("--fresh-patches", action="store_true", default=None, help="new crops every epoch (default: the family's recipe)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", action="store_true", help="the unconstrained DnCNN-style baseline")
    args = parser.parse_args()
    for name, value in RECIPES[args.family].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    torch.set_num_threads(args.threads)
    for sigma in args.sigma:
        weights = weights_path(sigma, args)
        if sigma != FROM_SCRATCH:
            init = weights_path(FROM_SCRATCH, args)
            if init.exists():
                train_one(sigma, args.finetune_epochs, args, weights, init, FINETUNE_LR_DIVISOR)
            else:
                train_one(sigma, args.finetune_epochs, args, weights)
        elif args.restart_epochs:
            first = CHECKPOINTS / f"{weights.stem}_scratch.pt"  # an intermediate, not shipped
            train_one(sigma, args.epochs, args, first)
            train_one(sigma, args.restart_epochs, args, weights, first, RESTART_LR_DIVISOR)
        else:
            train_one(sigma, args.epochs, args, weights)


if __name__ == "__main__":
    main()
