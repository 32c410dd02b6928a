"""``lipapps denoiser train`` and ``lipapps reconstruct`` (registered through ``lipapps.commands``)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

import lipapps
from lipapps import InputError
from lipapps.cli import check_positive, output_path
from lipapps.layers import ACTIVATIONS

from denoisers.images import load_array, read_image, write_image
from denoisers.metrics import psnr, ssim
from denoisers.model import AveragedDenoiser
from denoisers.on_device import DenoiserOnDevice
from denoisers.problems import PROBLEMS, Problem, from_measurement, simulate
from denoisers.parameters import ALGORITHMS, PnPSettings, choose_settings
from denoisers.reconstruct import run_pnp
from denoisers.weights import CONDITIONED, FAMILIES

#: Formats ``reconstruct --out`` writes (8-bit images, or the float array as ``.npy``).
OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".npy")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``denoiser train`` and ``reconstruct`` to the ``lipapps`` command."""
    denoiser = subparsers.add_parser("denoiser", help="train certified averaged denoisers")
    actions = denoiser.add_subparsers(dest="denoiser_command", required=True, parser_class=type(denoiser))
    p = actions.add_parser("train", help="train an averaged denoiser on noisy patches of a folder of images")
    p.add_argument("--data", required=True, type=Path, help="folder of grayscale training images")
    p.add_argument("--sigma", required=True, type=float, help="noise standard deviation on the 0-255 scale")
    p.add_argument("--out", required=True, type=Path, help="model file to write (lipapps.save format)")
    p.add_argument("--epochs", type=int, default=6, help="training epochs")
    p.add_argument("--patch-size", type=int, default=40, help="side of the square training patches")
    p.add_argument("--patches-per-image", type=int, default=20, help="random crops per training image")
    p.add_argument("--batch-size", type=int, default=32, help="patches per step")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate")
    p.add_argument("--activation-lr-factor", type=float, default=10.0,
                   help="learning rate of spline activations over --lr (relu has none)")
    p.add_argument("--fresh-patches", action="store_true", help="draw new random crops every epoch")
    p.add_argument("--channels", type=int, default=16, help="channels of the blocks' state")
    p.add_argument("--hidden-channels", type=int, default=64, help="channels inside each block")
    p.add_argument("--depth", type=int, default=6, help="gradient-flow blocks")
    p.add_argument("--kernel-size", type=int, default=3, help="odd size of every convolution")
    p.add_argument("--no-lifting", dest="lifting", action="store_false",
                   help="no lifting/readout convolutions (needs --channels equal to --downsampling squared)")
    p.add_argument("--activation", choices=ACTIVATIONS, default="relu",
                   help="the blocks' activation: relu, or a learned monotone spline per channel (slopes in [0, 1])")
    p.add_argument("--downsampling", type=int, default=2, help="the blocks work on r x r cells stacked as channels")
    p.add_argument("--averaging", type=float, default=0.5, help="a in D = (1 - a) I + a N, in (0, 1)")
    p.add_argument("--injection", type=float, default=0.0, help="mix each block's output with the lifted input by this weight, in [0, 1]")
    p.add_argument("--init", type=Path, help="start from these weights (fine-tuning)")
    p.add_argument("--checkpoint", type=Path, help="training checkpoint (None: OUT with suffix .ckpt)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--seed", type=int, default=0, help="seeds initialisation, crops and noise")
    p.add_argument("--threads", type=int, help="torch threads (None: torch's choice)")
    p.add_argument("--device", default="cpu", help="torch device to train on, e.g. cuda")
    p.set_defaults(func=train_command)

    p = subparsers.add_parser("reconstruct", help="plug-and-play reconstruction with a certified denoiser")
    p.add_argument("--problem", required=True, choices=PROBLEMS, help="the forward model")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=Path, help="grayscale ground truth: simulate the measurement from it")
    source.add_argument("--measurement", type=Path, help="a given measurement y (.npy)")
    noise = p.add_mutually_exclusive_group()
    noise.add_argument("--sigma", type=float, help="noise standard deviation on the 0-255 scale (None: the "
                                                   "problem's default, e.g. 25 for denoise)")
    noise.add_argument("--noise", type=float, help="the same on the [0, 1] intensity scale (sigma / 255)")
    p.add_argument("--algorithm", choices=ALGORITHMS,
                   help="PnP-ADMM or forward-backward (default: the problem's best certified configuration, "
                        "denoisers.parameters.DEFAULT_CONFIGURATION)")
    p.add_argument("--kernel", type=Path, help="blur kernel (.npy), centred in its array, periodic boundary")
    p.add_argument("--mask", type=Path, help="inpainting mask (.npy), 1 = observed")
    p.add_argument("--angles", type=int, help="number of CT angles on [0, 180)")
    p.add_argument("--truth", type=Path, help="ground truth to score a reconstruction of --measurement")
    p.add_argument("--regularisation", type=float, help="factor on the noise level that sets the prior's weight")
    p.add_argument("--level", type=int, help="denoiser level (0-255 scale) for ADMM: a shipped one, or one below the largest, served by the "
                   "next shipped level scaled (None: from problem and noise)")
    p.add_argument("--family", choices=FAMILIES,
                   help="shipped weights: firm (the PnP prior), ridge (the better denoiser applied once, one file per level) or "
                        "conditioned (the ridge form, one model for every level from 5 to 50); "
                        "default: the problem's best certified configuration")
    p.add_argument("--model", type=Path, help="an averaged denoiser file (lipapps denoiser train --out) instead of the "
                                              "shipped weights; its sigma is its level (a noise-conditioned one: any level, "
                                              "experiments/train_denoisers.py --family conditioned)")
    p.add_argument("--no-non-local", dest="non_local", action="store_false", default=None,
                   help="no non-local stages (non-local filter, collaborative Wiener filter; default: the problem's "
                        "tuned stages when the run is the problem's default configuration)")
    p.add_argument("--device", default="cpu", help="torch device the denoiser runs on, e.g. cuda")
    p.add_argument("--max-iter", type=int, default=300, help="iteration limit of each PnP run")
    p.add_argument("--tol", type=float, help="stop each run when ||w+ - w|| / ||w+|| <= tol (None: the algorithm's for the problem, "
                                             "denoisers.parameters.STOP_TOLERANCE)")
    p.add_argument("--seed", type=int, default=0, help="seeds the simulated noise (and inpainting mask)")
    p.add_argument("--out", type=Path, help=f"reconstruction image to write ({', '.join(OUTPUT_SUFFIXES)}); a panel goes "
                                            "to OUT_panel.png")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=reconstruct_command)


def train_command(args: argparse.Namespace) -> int:
    """Train, then save the model (rank 0 under torchrun) with its training record as metadata."""
    from denoisers.training import train_denoiser

    output_path(args.out, "--out")
    if not args.sigma > 0:
        raise InputError(f"--sigma must be a positive noise level on the 0-255 scale, got {args.sigma}")
    device = lipapps.resolve_device(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.init is not None:
        model = lipapps.load(args.init)
        if not isinstance(model, AveragedDenoiser):
            raise InputError(f"{args.init} does not hold an AveragedDenoiser")
        model.sigma = float(args.sigma)  # the level it is fine-tuned for, saved with it
    else:
        try:
            model = AveragedDenoiser(
                args.channels, args.hidden_channels, args.depth, args.kernel_size, averaging=args.averaging,
                downsampling=args.downsampling, injection=args.injection, activation=args.activation, lifting=args.lifting,
                sigma=args.sigma,
            )
        except ValueError as err:  # the constructor names the argument; the options spell it with dashes
            raise InputError(f"bad architecture option: {err}") from None
    run = train_denoiser(
        args.data,
        args.sigma,
        model=model,
        epochs=args.epochs,
        patch_size=args.patch_size,
        patches_per_image=args.patches_per_image,
        batch_size=args.batch_size,
        lr=args.lr,
        activation_lr_factor=args.activation_lr_factor,
        fresh_patches=args.fresh_patches,
        seed=args.seed,
        checkpoint=args.checkpoint or args.out.with_suffix(".ckpt"),
        resume=args.resume,
        device=device,
    )
    if int(os.environ.get("RANK", "0")) == 0:
        metadata = {"sigma": args.sigma, "epochs": args.epochs, "validation_psnr": run.validation_psnr}
        lipapps.save(run.model, args.out, metadata=metadata)
        print(f"validation PSNR {run.validation_psnr:.2f} dB; model written to {args.out}")
    return 0


def _noise(args: argparse.Namespace) -> float | None:
    """The noise standard deviation on the [0, 1] scale, from ``--sigma`` (0-255) or ``--noise``."""
    if args.sigma is not None:
        if not args.sigma >= 0:
            raise InputError(f"--sigma must be a non-negative standard deviation, got {args.sigma}")
        return args.sigma / 255.0
    if args.noise is not None and not args.noise >= 0:
        raise InputError(f"--noise must be a non-negative standard deviation, got {args.noise}")
    return args.noise


def _problem(args: argparse.Namespace) -> Problem:
    noise = _noise(args)
    if args.angles is not None and args.angles < 1:
        raise InputError(f"--angles must be >= 1, got {args.angles}")
    kernel = load_array(args.kernel, "kernel") if args.kernel else None
    mask = load_array(args.mask, "mask") if args.mask else None
    if args.image is not None:
        return simulate(args.problem, read_image(args.image, colour="refuse"), noise, args.seed, kernel, mask, args.angles)
    truth = read_image(args.truth, colour="refuse") if args.truth else None
    y = load_array(args.measurement, "measurement")
    return from_measurement(args.problem, y, noise, kernel, mask, args.angles, truth)


def _denoiser(path: Path) -> AveragedDenoiser:
    """The averaged denoiser in ``path``, certified on load by :func:`lipapps.load`."""
    model = lipapps.load(path)
    if not isinstance(model, AveragedDenoiser):
        raise InputError(f"{path} does not hold an AveragedDenoiser (train one with lipapps denoiser train)")
    if not model.sigma > 0:
        raise InputError(f"{path}: the denoiser records no positive noise level (sigma {model.sigma})")
    return model


def reconstruct_command(args: argparse.Namespace) -> int:
    """Check every option, simulate or read the measurement, run PnP, report quality, write image and panel."""
    check_positive(args.max_iter, "--max-iter")
    if args.tol is not None and not args.tol >= 0:
        raise InputError(f"--tol must be >= 0, got {args.tol}")
    if args.out is not None:
        output_path(args.out, "--out", OUTPUT_SUFFIXES)
    device = lipapps.resolve_device(args.device)
    model = _denoiser(args.model) if args.model is not None else None
    problem = _problem(args)
    settings = choose_settings(problem, args.algorithm, args.regularisation, args.level, args.family, denoiser=model,
                               non_local=args.non_local)
    denoiser = DenoiserOnDevice(settings.denoiser, device) if device.type != "cpu" else None
    result = run_pnp(problem, settings, denoiser, max_iter=args.max_iter, tol=args.tol, progress=not args.json)
    scores = {"psnr": None, "ssim": None}
    if problem.truth is not None:
        scores = {"psnr": psnr(result.x, problem.truth), "ssim": ssim(result.x, problem.truth)}
    summary = {
        **scores,
        "iterations": result.iterations,
        "residual": result.residual,
        "converged": result.converged,
        "seconds": result.seconds,
        "stage_iterations": [run.iterations for run in result.runs],
    }
    if args.out is not None:
        from denoisers.figures import save_panel

        write_image(args.out, result.x)
        title = f"{problem.name}, PnP-{settings.algorithm.upper()}, {_prior_name(args, settings)}"
        save_panel(args.out.with_name(args.out.stem + "_panel.png"), problem.truth, problem.y, result, title, problem.name != "ct")
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"PnP-{settings.algorithm.upper()} with the {_prior_name(args, settings)}")
        if scores["psnr"] is not None:
            print(f"PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}")
        state = "converged" if result.converged else "stopped at max-iter"
        stages = f" in {len(result.stages)} stages" if result.stages else ""
        print(f"{result.iterations} iterations{stages} ({state}), relative residual {result.residual:.2e}, {result.seconds:.1f} s")
        if args.out is not None:
            print(f"wrote {args.out}")
    return 0


def _prior_name(args: argparse.Namespace, settings: PnPSettings) -> str:
    if args.model is not None:
        name = f"denoiser {args.model} ({'run at ' if settings.denoiser.noise_conditioned else ''}sigma {settings.denoiser_sigma:g})"
    elif settings.family == CONDITIONED:
        name = f"shipped noise-conditioned denoiser run at sigma {settings.denoiser_sigma:g}"
    else:
        name = f"shipped {settings.family} sigma {settings.denoiser_sigma:g} denoiser"
    if settings.scale != 1.0:
        name += f" scaled to noise sigma {settings.effective_level:.3g}"
    return name + "".join(f", then blended with a {stage.describe()}" for stage in settings.stages)
