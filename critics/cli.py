"""``lipapps w1`` and ``lipapps wgan``: the critics subcommands (plugin of the ``lipapps`` CLI).

Bad input raises :class:`lipapps.InputError` (or ``FileNotFoundError``); the ``lipapps`` command
prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lipapps.errors import InputError

IMAGE_DATASETS = ("mnist", "fashion-mnist")
TOY_BATCH_SIZE = 256


def _weights(path: str | None, n: int, option: str) -> np.ndarray | None:
    """Sample weights from a file (one number per sample, any format of :func:`load_samples`), checked."""
    from critics.samples import as_weights, load_samples

    if path is None:
        return None
    values = load_samples(path)
    if values.shape[1] != 1:
        raise InputError(f"{option} {path}: weights must be one number per sample, got shape {values.shape}")
    return as_weights(values[:, 0], n, name=f"{option} {path}")


def _w1_command(args: argparse.Namespace) -> int:
    import lipapps
    from critics.estimate import estimate_w1
    from critics.samples import check_pair, load_samples
    from lipapps.cli import output_path

    if args.save_critic is not None:
        output_path(args.save_critic, "--save-critic")
    x = load_samples(args.x)
    y = load_samples(args.y)
    check_pair(x, y, names=(args.x, args.y))
    weights_x = _weights(args.weights_x, len(x), "--weights-x")
    weights_y = _weights(args.weights_y, len(y), "--weights-y")
    device = lipapps.resolve_device(args.device)
    result = estimate_w1(
        x, y, weights_x=weights_x, weights_y=weights_y, exact=args.exact, refine=args.refine, epochs=args.epochs,
        depth=args.depth, lr=args.lr, seed=args.seed, device=device, progress=not args.json,
    )
    if args.save_critic is not None:
        metadata = {"certificate": result.certificate, "network_lower": result.network_lower, "x": args.x, "y": args.y}
        lipapps.save(result.network, args.save_critic, metadata=metadata)
    if args.json:
        print(json.dumps(result.summary()))
        return 0
    rows = [
        ("samples", f"{result.n_x} x {result.n_y} in dimension {result.dim}"),
        ("lower (certified)", f"{result.lower:.6f}"),
        ("upper (coupling)", f"{result.upper:.6f}"),
        ("bracket width", f"{100 * result.width:.3f}% of upper"),
        ("exact (ot.emd2)", "not computed" if result.exact is None else f"{result.exact:.6f}"),
    ]
    if result.heldout is not None:
        lo, hi = result.heldout_ci95
        rows.append(("held-out estimate", f"{result.heldout:.6f}  (95% CI {lo:.6f} .. {hi:.6f})"))
    rows.append(("seconds", f"{result.seconds:.1f}"))
    if args.save_critic is not None:
        rows.append(("critic written to", str(args.save_critic)))
    for name, value in rows:
        print(f"{name:<20} {value}")
    return 0


def _wgan_command(args: argparse.Namespace) -> int:
    import torch

    import lipapps
    from critics.image_data import mnist_sampler
    from critics.image_wgan import IMAGE_LATENT, IMAGE_SHAPE, IMAGE_WGAN_RECIPES
    from critics.wgan import train_wgan, write_wgan_outputs
    from lipapps.cli import check_positive

    check_positive(args.steps, "--steps")
    if args.batch_size is not None:
        check_positive(args.batch_size, "--batch-size", minimum=2)
    check_positive(args.log_every, "--log-every")
    check_positive(args.eval_samples, "--eval-samples", minimum=0)
    if args.checkpoint_every is not None:
        check_positive(args.checkpoint_every, "--checkpoint-every")
    device = lipapps.resolve_device(args.device)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} exists and is not a folder")
    common = dict(steps=args.steps, log_every=args.log_every, seed=args.seed,
                  checkpoint=out / "checkpoint.pt", checkpoint_every=args.checkpoint_every, resume=args.resume,
                  eval_samples=args.eval_samples, device=device, progress=True)
    if args.data in IMAGE_DATASETS:
        if args.data_dir is None:
            raise InputError(f"--data {args.data} needs --data-dir, the folder holding its IDX files")
        draw = mnist_sampler(args.data_dir, args.data, args.digit)
        out.mkdir(parents=True, exist_ok=True)
        recipe = IMAGE_WGAN_RECIPES["certified"]
        generator, critic = recipe.build(args.seed)
        result = train_wgan(draw, generator=generator, critic=critic, critic_steps=recipe.critic_steps,
                            lr_critic=recipe.lr_critic, lr_generator=recipe.lr_generator,
                            generator_ema=recipe.generator_ema,
                            batch_size=recipe.batch_size if args.batch_size is None else args.batch_size,
                            latent_dim=IMAGE_LATENT, grid_dir=out / "grids", image_shape=IMAGE_SHAPE, **common)
        metrics = write_wgan_outputs(result, draw, out, name=args.data, latent_dim=IMAGE_LATENT,
                                     seed=args.seed, image_shape=IMAGE_SHAPE)
    else:
        out.mkdir(parents=True, exist_ok=True)
        result = train_wgan(args.data, batch_size=TOY_BATCH_SIZE if args.batch_size is None else args.batch_size,
                            **common)
        metrics = write_wgan_outputs(result, args.data, out, seed=args.seed)
    print(json.dumps(metrics))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``w1`` and ``wgan`` subcommands to the ``lipapps`` command."""
    p = subparsers.add_parser("w1", help="certified bracket on the Wasserstein-1 distance between two sample files")
    p.add_argument("x", help="first sample set: .npy, .npz, .csv or .pt of shape (n, d)")
    p.add_argument("y", help="second sample set, same dimension d")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.add_argument("--exact", choices=("auto", "always", "never"), default="auto",
                   help="also compute exact W1 with POT (auto: when n*m <= 25 million)")
    p.add_argument("--refine", choices=("auto", "always", "never"), default="auto",
                   help="tighten the critic by its c-transform on the samples (auto: when n*m <= 25 million)")
    p.add_argument("--epochs", type=int, default=None, help="critic training epochs (None: 2000 full-batch steps for up to 4096 training points in d <= 3, else about 1000 steps)")
    p.add_argument("--depth", type=int, default=None,
                   help="critic blocks (None: from n and d, critics.defaults.choose_training: 8 for up to 4096 "
                        "training points in d <= 3, 8 + 4 ceil(log2 d) above d = 3 with mini-batches, else 4; "
                        "above d = 3 a depth-0 critic also trains and the better on the validation points is "
                        "kept, which a given depth turns off)")
    p.add_argument("--lr", type=float, default=None, help="Adam step size (None: 0.01 for up to 4096 training "
                                                          "points in d <= 3 or a deeper critic than the default, "
                                                          "else 0.03)")
    p.add_argument("--seed", type=int, default=0, help="seeds the held-out split, the critic's initialisation and its batches")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    p.add_argument("--weights-x", help="weights of the first set: one non-negative number per sample (.npy, .npz, "
                                       ".csv or .pt), normalised to sum 1 (None: uniform)")
    p.add_argument("--weights-y", help="weights of the second set, likewise")
    p.add_argument("--save-critic", help="write the trained critic network f (lipapps.save format; its certificate L "
                                         "and the bound of f / L in the metadata): read by lipapps.load and lipapps certify")
    p.set_defaults(func=_w1_command)

    from critics.toy import TOY_DATASETS

    p = subparsers.add_parser("wgan", help="train a WGAN with a certified 1-Lipschitz critic (2-D toy data, or MNIST-like "
                                           "images: DCGAN-like generator, pixel-unshuffled convolutional critic)")
    p.add_argument("--data", choices=sorted(TOY_DATASETS) + list(IMAGE_DATASETS), default="8gaussians",
                   help="real data: a 2-D toy distribution or an image data set")
    p.add_argument("--data-dir", help="folder with the MNIST / Fashion-MNIST IDX files (image data only)")
    p.add_argument("--digit", type=int, default=None, help="train on one class of the image data")
    p.add_argument("--steps", type=int, default=2000, help="generator steps")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"samples per step (default: {TOY_BATCH_SIZE} on the toys; on images the certified recipe's, "
                        "critics.image_wgan.IMAGE_WGAN_RECIPES)")
    p.add_argument("--log-every", type=int, default=100, help="log critic estimate and exact W1 every k steps")
    p.add_argument("--checkpoint-every", type=int, default=None,
                   help="write OUT/checkpoint.pt (and, for images, the sample grid OUT/grids/step_<k>.png) every k "
                        "steps (default: --log-every) and at the end")
    p.add_argument("--out", required=True, help="folder for figures, checkpoint.pt and metrics.json")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt (the same run as an "
                                                         "uninterrupted one; a fresh run when there is none)")
    p.add_argument("--device", default="cpu", help="torch device of both networks, e.g. cpu or cuda")
    p.add_argument("--eval-samples", type=int, default=5000, help="generated and real samples of the final exact W1 "
                                                                  "(ot.emd2; 0 skips it: slow on images)")
    p.add_argument("--seed", type=int, default=0, help="seeds data, initialisation and latent noise")
    p.set_defaults(func=_wgan_command)
