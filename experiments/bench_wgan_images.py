"""Image WGANs at equal training time: the certified critic against WGAN-GP, on MNIST and Fashion-MNIST.

Every run (data set, critic, seed) trains :func:`critics.wgan.train_wgan` with the recipe
:data:`critics.image_wgan.IMAGE_WGAN_RECIPES` names for its critic: the same
:class:`critics.image_generator.DCGANGenerator` (latent 32, width 16) and batch; the runs differ
in the critic and its training settings:

* ``certified``: :class:`critics.image_critic.ImageCritic` with ``downsampling=1`` (one
  pixel-unshuffle, the gradient-flow blocks on 14 x 14 maps), 1-Lipschitz after every step, no
  penalty, with the critic steps and step sizes chosen on MNIST tuning seeds
  (``tune_wgan_images.py``; Fashion-MNIST and the bench's seeds 0, 1 never tuned on);
* ``wgan-gp``: the strided convolutional critic of :func:`critics.baselines.dcgan_critic`
  (``width=32``) with the gradient penalty (weight 10) and its paper's settings (5 critic steps
  per generator step, Adam betas (0.5, 0.9)), Gulrajani et al. 2017.

A run trains for ``--minutes`` of training time (``train_wgan``'s ``max_seconds`` on the
``--clock``: by default the process's CPU seconds, on one thread what an idle core's wall clock
gives, so that the budget does not shrink when other work shares the machine; summed over
resumed calls, without the evaluations and restarts). Every ``--eval-every`` minutes
it stops, and measures (:func:`critics.image_metrics.image_metrics`) ``--eval-samples``
generated images against as many test images: the Frechet distance in the features of the
shipped classifier ``experiments/classifiers/classifier_<data>.pt``, the entropy of its predicted
labels, and the certified W1 bracket and held-out estimate of :func:`critics.estimate_w1` between
the first ``--w1-samples`` of each set; the critic's certificate (``lipapps.certify``, certified
runs) is logged at every checkpoint. Checkpoints live in ``--work`` (one folder per run), so a
stopped run resumes where its last checkpoint was and gives the steps an uninterrupted run would.

Outputs, through ``lipapps.results`` (one record per run, rewritten at every evaluation; ``complete``
once the budget is spent): ``experiments/results/wgan_images.{json,md}``; the last sample grid of
each run, ``wgan_images_<data>_<critic>_seed<seed>.png``; the curves of each data set,
``wgan_images_<data>_curves.png``. Runs of different critics can go in separate processes started
together (``--critics``), so that both see the same machine load.

    LIPAPPS_DATA=... .venv/bin/python experiments/bench_wgan_images.py --data mnist --critics certified --seeds 0
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
from pathlib import Path
from typing import Any

import torch

import lipapps
from critics.image_data import mnist_sampler
from critics.image_metrics import FEATURE_LAYER, image_metrics, load_classifier, trained_generator_frechet
from critics.plots import plot_metric_curves
from critics.image_wgan import IMAGE_LATENT, IMAGE_SHAPE, IMAGE_WGAN_RECIPES
from critics.wgan import CLOCKS, sample_generator, train_wgan, write_sample_grid
from lipapps.cli import fail
from lipapps.datasets import load_mnist
from lipapps.errors import InputError
from lipapps.results import ResultsFile, data_dir, markdown_table

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def key(record: dict[str, Any]) -> tuple[str, str, int]:
    return record["data"], record["critic"], record["seed"]


def markdown(records: list[dict[str, Any]]) -> str:
    return "# Image WGANs at equal training time: certified critic against WGAN-GP (CPU)\n\n" + (
        "Same DCGAN-like generator and batch; each critic with its recipe (critic steps per generator step, Adam step "
        "sizes: columns `critic steps`, `lr`); values at the end of the run's "
        "training time. Frechet distance: classifier features of `eval samples` generated vs as many test images; "
        "W1 bracket and held-out estimate: `estimate_w1` on the first `w1 samples` of each.\n\n") + markdown_table(records, [
        ("data", lambda r: r["data"]), ("critic", lambda r: r["critic"]), ("seed", lambda r: r["seed"]),
        ("minutes", lambda r: f"{r['seconds'] / 60:.1f}" + ("" if r["complete"] else " (running)")),
        ("clock", lambda r: r.get("clock", "wall")),
        ("critic steps", lambda r: r["critic_steps"]),
        ("lr", lambda r: f"{r.get('lr_critic', r.get('lr')):g} / {r.get('lr_generator', r.get('lr')):g}"),
        ("steps", lambda r: r["steps"]), ("s/step", lambda r: f"{r['seconds_per_step']:.2f}"),
        ("Frechet", lambda r: f"{r['frechet_distance']:.2f}"),
        ("Frechet (no average)", lambda r: "-" if r.get("frechet_distance_raw") is None else f"{r['frechet_distance_raw']:.2f}"),
        ("class entropy", lambda r: f"{r['class_entropy']:.3f}"),
        ("W1 bracket", lambda r: f"[{r['w1_lower']:.3f}, {r['w1_upper']:.3f}]"),
        ("W1 held-out", lambda r: f"{r['w1_heldout']:.3f}"),
        ("certificate (max)", lambda r: "-" if r["certificate"] is None else f"{r['max_certificate']:.6f}"),
        ("eval / w1 samples", lambda r: f"{r['eval_samples']} / {r['w1_samples']}"),
    ])


def plot_curves(records: list[dict[str, Any]], data: str, out: Path) -> None:
    curves = {f"{r['critic']} seed {r['seed']}": r["curve"] for r in records if r["data"] == data}
    plot_metric_curves(curves, [("frechet_distance", "Frechet distance (classifier features)"),
                                ("w1_upper", "W1 upper bound (coupling)"), ("class_entropy", "class entropy (nats)")],
                       out / f"wgan_images_{data}_curves.png", f"{data}: certified critic vs WGAN-GP")


def run(args: argparse.Namespace, data: str, kind: str, seed: int) -> None:
    """Train one run to its budget, evaluating (and writing its record) every ``--eval-every`` minutes."""
    root = args.data_dir if args.data_dir is not None else data_dir(data)
    draw = mnist_sampler(root, data)
    test = load_mnist(root, "test", dataset=data)[0].reshape(-1, 784).float() / 255.0
    classifier, about = load_classifier(args.weights / f"classifier_{data}.pt")
    work = args.work / f"{data}_{kind}_seed{seed}"
    work.mkdir(parents=True, exist_ok=True)
    curve_path = work / "curve.json"
    curve: list[dict[str, Any]] = json.loads(curve_path.read_text()) if curve_path.exists() else []
    recipe = IMAGE_WGAN_RECIPES[kind]
    budget = 60.0 * args.minutes
    targets = [min(60.0 * args.eval_every * k, budget) for k in range(1, math.ceil(args.minutes / args.eval_every) + 1)]
    for target in targets:
        if curve and curve[-1]["target_seconds"] >= target:
            continue
        generator, critic = recipe.build(seed)
        result = train_wgan(
            draw, steps=10**9, max_seconds=target, generator=generator, critic=critic, gp_weight=recipe.gp_weight,
            batch_size=recipe.batch_size, critic_steps=recipe.critic_steps, lr_generator=recipe.lr_generator,
            lr_critic=recipe.lr_critic, latent_dim=IMAGE_LATENT, log_every=args.checkpoint_every, log_samples=500, eval_samples=0, seed=seed,
            checkpoint=work / "checkpoint.pt", resume=True, device=args.device,
            clock=CLOCKS[args.clock], generator_ema=recipe.generator_ema, progress=False,
        )
        fake = sample_generator(result.sampling_generator, args.eval_samples, IMAGE_LATENT, seed + 1000)
        metrics = image_metrics(fake, test[: args.eval_samples], classifier, seed=seed, w1_epochs=args.w1_epochs,
                                device=args.device, w1_samples=args.w1_samples)
        raw = trained_generator_frechet(result, classifier, test[: args.eval_samples], IMAGE_LATENT, seed + 1000)
        certificate = lipapps.certify(result.critic).upper_bound if recipe.critic == "certified" else None
        steps = result.steps
        curve.append({"target_seconds": target, "seconds": result.seconds, "step": steps, "certificate": certificate,
                      **metrics.summary(), "frechet_distance_raw": raw})
        with lipapps.atomic_write(curve_path) as tmp:
            tmp.write_text(json.dumps(curve, indent=1))
        grid = work / f"grid_{round(target):06d}s.png"
        write_sample_grid(result.sampling_generator, grid, IMAGE_SHAPE, IMAGE_LATENT, seed,
                          f"{data}, {kind}: {result.seconds / 60:.0f} min, step {steps}")
        shutil.copy(grid, args.out / f"wgan_images_{data}_{kind}_seed{seed}.png")
        logged = [h["certificate"] for h in result.history if "certificate" in h] + [certificate]
        record = {
            "data": data, "critic": kind, "seed": seed, "complete": target >= budget, "minutes": args.minutes,
            "seconds": result.seconds, "steps": steps, "seconds_per_step": result.seconds / steps,
            **{k: v for k, v in metrics.summary().items() if k not in ("samples", "w1_samples")},
            "frechet_distance_raw": raw,
            "certificate": certificate, "max_certificate": None if certificate is None else max(logged),
            "eval_samples": metrics.samples, "w1_samples": metrics.w1_samples, "w1_epochs": args.w1_epochs,
            **recipe.describe(),
            "critic_parameters": sum(p.numel() for p in result.critic.parameters()),
            "checkpoint_every": args.checkpoint_every, "threads": torch.get_num_threads(), "clock": args.clock,
            "classifier": {"test_accuracy": about["test_accuracy"], "layer": FEATURE_LAYER},
            "curve": curve, "grid": f"wgan_images_{data}_{kind}_seed{seed}.png", "note": args.note,
        }
        results = ResultsFile(args.out / "wgan_images.json", key=key, markdown=markdown)  # re-read: other runs write too
        results.add(record, device=args.device)
        plot_curves(results.records, data, args.out)
        print(json.dumps({k: record[k] for k in ("data", "critic", "seed", "seconds", "steps", "frechet_distance",
                                                 "w1_lower", "w1_upper", "class_entropy", "certificate")}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", choices=("mnist", "fashion-mnist"), default=["mnist", "fashion-mnist"])
    parser.add_argument("--data-dir", type=Path, help="folder of the IDX files (one data set only; default: the "
                                                      "shared data folder's <data>)")
    parser.add_argument("--critics", nargs="+", choices=sorted(IMAGE_WGAN_RECIPES), default=sorted(IMAGE_WGAN_RECIPES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--minutes", type=float, default=30.0, help="training time of each run")
    parser.add_argument("--eval-every", type=float, default=5.0, help="minutes of training between evaluations")
    parser.add_argument("--eval-samples", type=int, default=10_000, help="generated (and test) images of the metrics")
    parser.add_argument("--w1-samples", type=int, default=1000, help="images of each set in the W1 bracket")
    parser.add_argument("--w1-epochs", type=int, default=None, help="epochs of the W1 critic (default: estimate_w1's)")
    parser.add_argument("--checkpoint-every", type=int, default=50, help="generator steps between checkpoints")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="clock of the training budget: this process's CPU seconds (what one thread gets from an "
                             "idle core, whatever else the machine runs) or wall seconds")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--note", default="", help="how the run was made (machine load, concurrency), stored in the record")
    parser.add_argument("--weights", type=Path, default=HERE / "classifiers", help="folder of classifier_<data>.pt")
    parser.add_argument("--work", type=Path, default=HERE / "checkpoints" / "wgan_images", help="checkpoints and curves")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.data_dir is not None and len(args.data) > 1:
        fail("--data-dir names the folder of one data set")
    if min(args.minutes, args.eval_every) <= 0 or not 2 <= args.w1_samples <= args.eval_samples <= 10_000:
        fail("--minutes and --eval-every must be positive, and 2 <= --w1-samples <= --eval-samples <= 10000")
    torch.set_num_threads(args.threads)
    try:
        for data in args.data:
            for seed in args.seeds:
                for kind in args.critics:
                    run(args, data, kind, seed)
    except (InputError, FileNotFoundError) as err:  # missing IDX files or classifier, a corrupt checkpoint
        fail(str(err))


if __name__ == "__main__":
    main()
