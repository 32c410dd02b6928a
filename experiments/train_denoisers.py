"""Train the shipped averaged denoisers (sigma = 15, 25, 50 on the 0-255 scale, and one for every level).

Three shipped families (``denoisers.weights.FAMILIES``) and one recipe whose weights are not shipped:

* ``firm`` (default): the firmly non-expansive PnP priors, ``a = 1/2``, six relu blocks at half
  resolution (57k parameters): 10 epochs of 60 fixed patches per image, batch 32, lr 2e-3, then
  12 more from those weights at lr 2e-3 / 3 (a warm restart); 15 and 50 fine-tuned 6 epochs.
* ``ridge``: the convex-ridge denoisers, one spline gradient flow block of 32 filters 13 x 13
  on the image, ``a = 0.99`` (6.2k parameters): 50 epochs of 32 fresh patches per image,
  batch 64, lr 3e-3, the splines at 10x the lr, then 20 more epochs from those weights at lr 1e-3
  (a warm restart; the first run's weights stay under experiments/checkpoints/, and a repeated
  command goes on from them instead of training them again).
* ``multiscale``: the convex-ridge form on a multi-scale ``K`` (the 13 x 13 filters beside 3 x 3
  dilated convolutions at 1/2 and 1/4 resolution, 45k parameters), started from the shipped
  ``ridge`` weights of the level (``denoisers.recipes.multiscale_from_ridge``): 16 epochs of 32
  fresh patches per image, batch 64, lr 1e-3, the splines at 10x the lr. Not shipped (it matched
  the ridge weights, docs/denoisers.md): its weights go to experiments/weights/multiscale_sigma<S>.pt.
* ``conditioned``: one convex-ridge denoiser for every level in [5, 50], its splines and its mixture
  of three filter banks functions of the noise level (``AveragedDenoiser(**CONDITIONED_RIDGE)``),
  started from the three shipped ``ridge`` models, each at its level
  (``denoisers.recipes.conditioned_from_ridges``): 12 epochs of 32 fresh patches per image, each
  with its own level drawn from the range, batch 64, lr 1e-3, the splines at 10x the lr; weights to
  denoisers/weights/conditioned_ridge.pt (``--sigma`` is not used).

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
    python experiments/train_denoisers.py --family multiscale --sigma 25   # -> experiments/weights/multiscale_sigma25.pt
    python experiments/train_denoisers.py --family conditioned    # -> denoisers/weights/conditioned_ridge.pt
    python experiments/train_denoisers.py --sigma 25 --epochs 6
    python experiments/train_denoisers.py --baseline --sigma 25 15 50   # -> experiments/weights/dncnn_sigma{25,15,50}.pt
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

import lipapps
from lipapps.checkpoint import read_payload
from lipapps.layers import ACTIVATIONS
from lipapps.results import ResultsFile, data_dir
from denoisers.baselines import DnCNN
from denoisers.model import CONDITIONED_RANGE, CONVEX_RIDGE, AveragedDenoiser
from denoisers.recipes import FROM_SCRATCH, INTERMEDIATE, RECIPES, Stage, conditioned_from_ridges, multiscale_from_ridge, training_stages
from denoisers.training import train_denoiser
from denoisers.weights import FAMILIES, available_sigmas, weights_name

ROOT = Path(__file__).resolve().parents[1]
#: The shipped weights (the ``multiscale`` family starts from the ``ridge`` ones there).
SHIPPED = ROOT / "denoisers" / "weights"


def new_model(sigma: int, args: argparse.Namespace) -> tuple[torch.nn.Module, str]:
    """The network of the run's kind that the first stage of ``sigma`` starts from, and what it is:
    untrained (``"scratch"``), for ``multiscale`` the shipped ``ridge`` weights of ``sigma`` in a multi-scale
    block, for ``conditioned`` the shipped ``ridge`` weights of every level in one noise-conditioned model."""
    if args.baseline:
        return DnCNN(sigma=sigma), "scratch"
    if args.family == "multiscale":
        ridge = SHIPPED / f"{weights_name(sigma, 'ridge')}.pt"
        return multiscale_from_ridge(lipapps.load(ridge)), f"{where(ridge)} (multiscale_from_ridge)"
    if args.family == "conditioned":
        ridges = [SHIPPED / f"{weights_name(level, 'ridge')}.pt" for level in available_sigmas("ridge")]
        return conditioned_from_ridges([lipapps.load(r) for r in ridges]), f"{', '.join(map(where, ridges))} (conditioned_from_ridges)"
    if args.family == "ridge":
        return AveragedDenoiser(**{**CONVEX_RIDGE, "activation": args.activation}, sigma=sigma), "scratch"
    return AveragedDenoiser(sigma=sigma, activation=args.activation), "scratch"


def stem(sigma: int, args: argparse.Namespace) -> str:
    """The weights' file stem: ``dncnn_sigma<S>``, a shipped family's name (``conditioned_ridge`` for every level) or ``<family>_sigma<S>``."""
    if args.baseline:
        return f"dncnn_sigma{sigma}"
    return weights_name(sigma, args.family) if args.family in FAMILIES else f"{args.family}_sigma{sigma}"


def where(path: Path) -> str:
    """``path`` relative to the repository when inside it (as the records name it)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def weights_file(name: str, args: argparse.Namespace) -> Path:
    """Where a stage's weights go: ``--weights-dir``, or ``--checkpoint-dir`` for an intermediate (``*_scratch``)."""
    return (args.checkpoint_dir if name.endswith(INTERMEDIATE) else args.weights_dir) / f"{name}.pt"


def intermediate_done(name: str, args: argparse.Namespace) -> bool:
    """Whether the from-scratch run ``name`` already wrote its weights for ``--epochs`` epochs (then a
    repeated command goes on with the restart instead of training them again)."""
    path = weights_file(name, args)
    return path.is_file() and read_payload(path)["metadata"].get("epochs") == args.epochs


def train_stage(stage: Stage, args: argparse.Namespace) -> dict:
    """Run ``stage``; save its weights (:func:`weights_file`) and its record to ``--results-dir/denoiser_training_<name>.json``."""
    if stage.init is not None:
        init = weights_file(stage.init, args)
        model = lipapps.load(init)
        model.sigma = float(stage.sigma)  # the level it is fine-tuned for, saved with it
        start = where(init)
    else:
        model, start = new_model(stage.sigma, args)
    start_time = time.time()
    lr = args.lr / stage.lr_divisor
    sigma_range = CONDITIONED_RANGE if args.family == "conditioned" else None
    run = train_denoiser(args.data, stage.sigma, model=model, sigma_range=sigma_range, epochs=stage.epochs, patch_size=args.patch_size,
                         patches_per_image=args.patches_per_image, batch_size=args.batch_size, lr=lr,
                         activation_lr_factor=args.activation_lr_factor, fresh_patches=args.fresh_patches, seed=args.seed,
                         checkpoint=args.checkpoint_dir / f"denoiser_{stage.name}.ckpt", resume=True)
    certificate = lipapps.certify(run.model)
    metadata = {
        "sigma": stage.sigma,
        **({"sigma_range": list(sigma_range)} if sigma_range else {}),
        "epochs": stage.epochs,
        "initialised_from": start,
        "validation_psnr": run.validation_psnr,
        "train_seconds": run.seconds,
        # the baseline's bound is true but far above 1: not a certificate of anything
        "lipschitz_bound" if args.baseline else "certificate": certificate.upper_bound,
    }
    out = weights_file(stage.name, args)
    out.parent.mkdir(parents=True, exist_ok=True)
    lipapps.save(run.model, out, metadata=metadata)
    recipe = {k: getattr(args, k) for k in ("activation", "patch_size", "patches_per_image", "batch_size", "activation_lr_factor", "fresh_patches")}
    record = {"name": stage.name, **metadata, "recipe": {**recipe, "lr": lr}, "config": run.model.config(), "history": run.history,
              "wall_seconds": time.time() - start_time, "device": "cpu"}
    ResultsFile(args.results_dir / f"denoiser_training_{stage.name}.json", key=lambda r: r["name"]).add(record)
    print(f"{stage.name}: validation PSNR {run.validation_psnr:.2f} dB, Lipschitz bound of D {certificate.upper_bound:.6g}")
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sigma", type=int, nargs="+", default=[25, 15, 50])
    parser.add_argument("--family", choices=tuple(RECIPES), default="firm",
                        help="firm (PnP priors, a = 1/2), ridge (convex ridge), multiscale (convex ridge, multi-scale K) or "
                             "conditioned (convex ridge, one model for sigma 5 to 50)")
    parser.add_argument("--activation", choices=ACTIVATIONS, help="the blocks' activation (default: the recipe's)")
    parser.add_argument("--epochs", type=int, help="epochs from scratch (default: the family's recipe)")
    parser.add_argument("--restart-epochs", type=int,
                        help="sigma 25: epochs of a second schedule from the first run's weights, at lr / 3 (default: the recipe's)")
    parser.add_argument("--finetune-epochs", type=int, help="epochs when starting from sigma 25 (default: the recipe's)")
    parser.add_argument("--data", type=Path, default=data_dir("images", "train400"))
    parser.add_argument("--patch-size", type=int, default=40)
    parser.add_argument("--patches-per-image", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--activation-lr-factor", type=float, default=10.0, help="lr of spline activations over --lr")
    parser.add_argument("--fresh-patches", action="store_true", default=None, help="new crops every epoch (default: the family's recipe)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", action="store_true", help="the unconstrained DnCNN-style baseline")
    parser.add_argument("--weights-dir", type=Path,
                        help="default: denoisers/weights, or experiments/weights with --baseline or an unshipped family (multiscale)")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "experiments" / "results")
    parser.add_argument("--checkpoint-dir", type=Path, default=ROOT / "experiments" / "checkpoints")
    args = parser.parse_args()
    for name, value in RECIPES[args.family].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.weights_dir is None:
        args.weights_dir = SHIPPED if args.family in FAMILIES and not args.baseline else ROOT / "experiments" / "weights"
    torch.set_num_threads(args.threads)
    if args.family == "conditioned":
        args.sigma = [FROM_SCRATCH]  # one model for every level, started from the ridge weights of this one
    names = {s: stem(s, args) for s in {*args.sigma, FROM_SCRATCH}}
    stages = training_stages(args.sigma, names, args.epochs, args.restart_epochs, args.finetune_epochs,
                             scratch_exists=(args.weights_dir / f"{names[FROM_SCRATCH]}.pt").exists(),
                             intermediate_done=intermediate_done(names[FROM_SCRATCH] + INTERMEDIATE, args))
    for stage in stages:
        train_stage(stage, args)


if __name__ == "__main__":
    main()
