"""Tuning the certified image WGAN's training settings, on MNIST seeds the bench never uses.

The bench (``bench_wgan_images.py``) compares the certified critic with WGAN-GP at equal wall
clock on MNIST and Fashion-MNIST, seeds 0 and 1. The settings it uses for the certified critic
(critic steps per generator step, Adam step sizes, the critic's size) are chosen here, on
**MNIST with seeds 2 and up only**; Fashion-MNIST and seeds 0 and 1 stay out of all tuning.
WGAN-GP keeps the settings of its paper (Gulrajani et al. 2017: 5 critic steps, penalty 10,
Adam betas (0.5, 0.9)) and runs beside the variants as the reference.

Every variant trains :func:`critics.wgan.train_wgan` from the same generator initialisation
and, at each of the ``--minutes`` marks of training time (one run continued through them),
scores ``--eval-samples`` generated images (of the weight average, for a recipe that keeps one, and
then also of the trained generator: ``frechet_distance_raw``) against as many test images by the Frechet distance in the shipped classifier's features
(:func:`critics.image_metrics.frechet_distance`) and the entropy of its predicted labels.
Runs resume from their checkpoints under ``--work``. Records (one per variant, seed and mark) go to
``experiments/results/wgan_tuning.{json,md}`` through ``lipapps.results``.

    LIPAPPS_DATA=... .venv/bin/python experiments/tune_wgan_images.py --variants gp-paper certified-5x2e-4
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

import lipapps
from critics.image_metrics import class_entropy, classifier_frechet, load_classifier, trained_generator_frechet
from critics.image_wgan import IMAGE_LATENT, IMAGE_SHAPE, ImageWGANRecipe
from critics.image_data import mnist_sampler
from critics.wgan import CLOCKS, sample_generator, train_wgan
from lipapps.cli import fail
from lipapps.datasets import load_mnist
from lipapps.errors import InputError
from lipapps.results import ResultsFile, data_dir, markdown_table

HERE = Path(__file__).resolve().parent
VARIANTS = {
    "gp-paper": ImageWGANRecipe("wgan-gp", critic_steps=5, lr_critic=2e-4, lr_generator=2e-4),
    "certified-5x2e-4": ImageWGANRecipe("certified", critic_steps=5, lr_critic=2e-4, lr_generator=2e-4),
    "certified-2x2e-4": ImageWGANRecipe("certified", critic_steps=2, lr_critic=2e-4, lr_generator=2e-4),
    "certified-1x2e-4": ImageWGANRecipe("certified", critic_steps=1, lr_critic=2e-4, lr_generator=2e-4),
    "certified-5x1e-3": ImageWGANRecipe("certified", critic_steps=5, lr_critic=1e-3, lr_generator=2e-4),
    "certified-2x1e-3": ImageWGANRecipe("certified", critic_steps=2, lr_critic=1e-3, lr_generator=2e-4),
    "certified-2x5e-4-5e-4": ImageWGANRecipe("certified", critic_steps=2, lr_critic=5e-4, lr_generator=5e-4),
    "certified-1x1e-3": ImageWGANRecipe("certified", critic_steps=1, lr_critic=1e-3, lr_generator=2e-4),
    "certified-2x2e-3": ImageWGANRecipe("certified", critic_steps=2, lr_critic=2e-3, lr_generator=2e-4),
    "certified-2x4e-3": ImageWGANRecipe("certified", critic_steps=2, lr_critic=4e-3, lr_generator=2e-4),
    "certified-2x2e-3-5e-4": ImageWGANRecipe("certified", critic_steps=2, lr_critic=2e-3, lr_generator=5e-4),
    "certified-deep-2x2e-3": ImageWGANRecipe("certified", critic_steps=2, lr_critic=2e-3, lr_generator=2e-4,
                                             critic_options=(("depth", 6),)),
    "certified-2x2e-3-gp10": ImageWGANRecipe("certified", critic_steps=2, lr_critic=2e-3, lr_generator=2e-4, penalty=10.0),
    "certified-groupsort-2x2e-3": ImageWGANRecipe(
        "certified", critic_steps=2, lr_critic=2e-3, lr_generator=2e-4,
        critic_options=(("channels", (16, 32)), ("hidden_channels", (0, 0)), ("depth", (0, 0)), ("lift_activation", "groupsort"))),
    "certified-groupsort-2x2e-3-ema": ImageWGANRecipe(
        "certified", critic_steps=2, lr_critic=2e-3, lr_generator=2e-4, generator_ema=0.999,
        critic_options=(("channels", (16, 32)), ("hidden_channels", (0, 0)), ("depth", (0, 0)), ("lift_activation", "groupsort"))),
    "gp-paper-ema": ImageWGANRecipe("wgan-gp", critic_steps=5, lr_critic=2e-4, lr_generator=2e-4, generator_ema=0.999),
    "certified-groupsort-flow-2x2e-3": ImageWGANRecipe(
        "certified", critic_steps=2, lr_critic=2e-3, lr_generator=2e-4,
        critic_options=(("channels", (16, 32)), ("hidden_channels", (16, 32)), ("depth", (1, 1)), ("lift_activation", "groupsort"))),
    "certified-depth10-2x2e-3": ImageWGANRecipe("certified", critic_steps=2, lr_critic=2e-3, lr_generator=2e-4,
                                                critic_options=(("depth", 10),)),
    "certified-staged-2x2e-3": ImageWGANRecipe("certified", critic_steps=2, lr_critic=2e-3, lr_generator=2e-4,
                                               critic_options=(("channels", (16, 32)), ("hidden_channels", (32, 64)),
                                                               ("depth", (2, 2)))),
    "certified-wide-2x2e-3": ImageWGANRecipe("certified", critic_steps=2, lr_critic=2e-3, lr_generator=2e-4,
                                             critic_options=(("downsampling", 2), ("channels", 32),
                                                             ("hidden_channels", 64))),
    "certified-wide-5x2e-4": ImageWGANRecipe("certified", critic_steps=5, lr_critic=2e-4, lr_generator=2e-4,
                                             critic_options=(("downsampling", 2), ("channels", 32),
                                                             ("hidden_channels", 64))),
    "certified-wide-2x1e-3": ImageWGANRecipe("certified", critic_steps=2, lr_critic=1e-3, lr_generator=2e-4,
                                             critic_options=(("downsampling", 2), ("channels", 32),
                                                             ("hidden_channels", 64))),
}


def key(record: dict[str, Any]) -> tuple[str, int, float]:
    return record["variant"], record["seed"], record["minutes"]


def markdown(records: list[dict[str, Any]]) -> str:
    return ("# Tuning the certified image WGAN (MNIST, tuning seeds only; CPU, 1 thread per run)\n\n"
            "Frechet distance in the shipped classifier's features of generated vs test images, after the same "
            "training time. Fashion-MNIST and seeds 0, 1 (the bench's) are not used here.\n\n") + markdown_table(
        sorted(records, key=lambda r: (r["minutes"], r["seed"], r["frechet_distance"])), [
            ("variant", lambda r: r["variant"]), ("critic", lambda r: r["recipe"]["critic"]), ("seed", lambda r: r["seed"]),
            ("minutes", lambda r: f"{r['minutes']:g}"), ("clock", lambda r: r["clock"]), ("steps", lambda r: r["steps"]),
            ("s/step", lambda r: f"{r['seconds_per_step']:.2f}"), ("Frechet", lambda r: f"{r['frechet_distance']:.2f}"),
            ("Frechet (no average)", lambda r: "-" if r.get("frechet_distance_raw") is None else f"{r['frechet_distance_raw']:.2f}"),
            ("class entropy", lambda r: f"{r['class_entropy']:.3f}"),
            ("certificate", lambda r: "-" if r["certificate"] is None else f"{r['certificate']:.6f}"),
        ])


def run(args: argparse.Namespace, name: str, seed: int, minutes: float, test: torch.Tensor, classifier) -> dict[str, Any]:
    """Train (or resume) the variant's run up to ``minutes`` of training time and evaluate it there."""
    recipe = VARIANTS[name]
    generator, critic = recipe.build(seed)
    result = train_wgan(
        mnist_sampler(args.data_dir, "mnist"), steps=10**9, max_seconds=60.0 * minutes, generator=generator,
        critic=critic, gp_weight=recipe.gp_weight, batch_size=recipe.batch_size, critic_steps=recipe.critic_steps,
        lr_generator=recipe.lr_generator, lr_critic=recipe.lr_critic, latent_dim=IMAGE_LATENT,
        log_every=10**9, checkpoint_every=50, eval_samples=0, seed=seed, checkpoint=args.work / f"{name}_seed{seed}.pt",
        resume=True, clock=CLOCKS[args.clock], generator_ema=recipe.generator_ema, progress=False,
    )
    real = test[: args.eval_samples]
    fake = sample_generator(result.sampling_generator, args.eval_samples, IMAGE_LATENT, seed + 1000)
    fd = classifier_frechet(classifier, fake, real)
    return {
        "variant": name, "seed": seed, "minutes": minutes, "data": "mnist", "steps": result.steps,
        "seconds": result.seconds, "seconds_per_step": result.seconds / result.steps, "frechet_distance": fd,
        "class_entropy": class_entropy(classifier, fake), "eval_samples": args.eval_samples,
        "certificate": lipapps.certify(result.critic).upper_bound if recipe.critic == "certified" else None,
        "frechet_distance_raw": trained_generator_frechet(result, classifier, real, IMAGE_LATENT, seed + 1000),
        "recipe": recipe.describe(), "threads": torch.get_num_threads(), "clock": args.clock, "note": args.note,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=sorted(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[2], help="tuning seeds (0 and 1 are the bench's)")
    parser.add_argument("--minutes", type=float, nargs="+", default=[8.0],
                        help="training times at which each run is evaluated (one run continues through them)")
    parser.add_argument("--eval-samples", type=int, default=5000)
    parser.add_argument("--data-dir", type=Path, default=None, help="folder of the MNIST IDX files")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="cpu",
                        help="clock of the training budget: this process's CPU seconds (what one thread gets from an "
                             "idle core, whatever else the machine runs) or wall seconds")
    parser.add_argument("--note", default="", help="how the runs were made (machine load, concurrency)")
    parser.add_argument("--weights", type=Path, default=HERE / "classifiers" / "classifier_mnist.pt")
    parser.add_argument("--work", type=Path, default=HERE / "checkpoints" / "wgan_tuning")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if min(args.seeds) < 2:
        fail("seeds 0 and 1 are the bench's; tune on seeds >= 2")
    if min(args.minutes) <= 0 or not 2 <= args.eval_samples <= 10_000:
        fail("--minutes must be positive and --eval-samples in [2, 10000]")
    args.data_dir = args.data_dir if args.data_dir is not None else data_dir("mnist")
    args.work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    try:
        test = load_mnist(args.data_dir, "test", dataset="mnist")[0].reshape(-1, 784).float() / 255.0
        classifier, _ = load_classifier(args.weights)
        for seed in args.seeds:
            for name in args.variants:
                for minutes in sorted(args.minutes):
                    results = ResultsFile(args.out / "wgan_tuning.json", key=key, markdown=markdown)
                    if results.has((name, seed, minutes)):
                        continue
                    record = results.add(run(args, name, seed, minutes, test, classifier))
                    print(record["variant"], record["minutes"], record["steps"], f"{record['frechet_distance']:.2f}", flush=True)
    except (InputError, FileNotFoundError) as err:
        fail(str(err))


if __name__ == "__main__":
    main()
