"""Train the shipped averaged denoisers (sigma = 15, 25, 50 on the 0-255 scale).

sigma = 25 is trained from scratch; sigma = 15 and 50 start from the sigma = 25 weights
(fine-tuning), which reaches a given validation PSNR in far fewer epochs. ``--baseline`` trains
the unconstrained DnCNN-style network of the benchmark instead, with the same data, patches,
batch, epochs, schedule and fine-tuning, into experiments/weights/dncnn_sigma<S>.pt. Each run is
resumable: a checkpoint is written every epoch under experiments/checkpoints/ and picked up
again when the same command is repeated. Weights go to denoisers/weights/sigma<S>.pt, the
training record to experiments/results/denoiser_training_sigma<S>.json.

    python experiments/train_denoisers.py                      # all three, in order 25, 15, 50
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
from denoisers.baselines import DnCNN
from denoisers.model import AveragedDenoiser
from denoisers.training import train_denoiser

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "images" / "train400"
WEIGHTS = ROOT / "denoisers" / "weights"
RESULTS = ROOT / "experiments" / "results"
CHECKPOINTS = ROOT / "experiments" / "checkpoints"
BASELINE_WEIGHTS = ROOT / "experiments" / "weights"
FROM_SCRATCH = 25


def weights_path(sigma: int, baseline: bool) -> Path:
    return BASELINE_WEIGHTS / f"dncnn_sigma{sigma}.pt" if baseline else WEIGHTS / f"sigma{sigma}.pt"


def train_one(sigma: int, epochs: int, args: argparse.Namespace) -> dict:
    init, weights = weights_path(FROM_SCRATCH, args.baseline), weights_path(sigma, args.baseline)
    if sigma != FROM_SCRATCH and init.exists():
        model = lipapps.load(init)
        model.sigma = float(sigma)  # the level it is fine-tuned for, saved with it
        start = str(init.relative_to(ROOT))
    else:
        model = DnCNN(sigma=sigma) if args.baseline else AveragedDenoiser(sigma=sigma)
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
        lr=args.lr if start == "scratch" else args.lr / 4,
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
    record = {**metadata, "config": run.model.config(), "history": run.history, "wall_seconds": time.time() - start_time,
              "threads": torch.get_num_threads(), "device": "cpu"}
    with lipapps.atomic_write(RESULTS / f"denoiser_training_{name}.json") as tmp:
        tmp.write_text(json.dumps(record, indent=2))
    print(f"{name}: validation PSNR {run.validation_psnr:.2f} dB, Lipschitz bound of D {certificate.upper_bound:.6g}")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigma", type=int, nargs="+", default=[25, 15, 50])
    parser.add_argument("--epochs", type=int, default=10, help="epochs from scratch")
    parser.add_argument("--finetune-epochs", type=int, default=2, help="epochs when starting from sigma 25")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--patch-size", type=int, default=40)
    parser.add_argument("--patches-per-image", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", action="store_true", help="the unconstrained DnCNN-style baseline")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    for sigma in args.sigma:
        train_one(sigma, args.epochs if sigma == FROM_SCRATCH else args.finetune_epochs, args)


if __name__ == "__main__":
    main()
