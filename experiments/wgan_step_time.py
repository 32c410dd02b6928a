"""Seconds per WGAN step on MNIST-sized images: certified critics against WGAN-GP, in one process.

A step is ``--critic-steps`` critic steps and one generator step of :func:`critics.wgan.critic_step`
and :func:`critics.wgan.generator_step`, with the same :class:`critics.image_generator.DCGANGenerator`
and batch for every critic:

* ``certified``: :class:`critics.image_critic.ImageCritic` at full resolution (``downsampling=0``,
  the critic ``lipapps wgan --data mnist`` trained before) and after one pixel-unshuffle
  (``downsampling=1``: the gradient-flow blocks run on 14 x 14 maps), and the critic of the
  certified recipe (:data:`critics.image_wgan.IMAGE_WGAN_RECIPES`: two stages of unshuffle,
  convolution and GroupSort);
* ``wgan-gp``: the strided convolutional critic of :func:`critics.baselines.dcgan_critic` (about
  as many parameters), and the same ``ImageCritic`` architectures unconstrained, each with the
  gradient penalty (weight 10).

The configurations run in turn, ``--rounds`` times (the median is kept), so that a change of load
on a shared machine hits them all. Real batches are random images (the time does not depend on
them). Results go to ``experiments/results/wgan_step_time.{json,md}`` through ``lipapps.results``;
each record has its ratio to the DCGAN WGAN-GP step.

    .venv/bin/python experiments/wgan_step_time.py [--batch-size 64] [--critic-steps 5] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

import lipapps
from critics.baselines import dcgan_critic
from critics.image_critic import ImageCritic
from critics.image_generator import DCGANGenerator
from critics.image_wgan import IMAGE_WGAN_RECIPES
from critics.wgan import WGANState, critic_step, generator_step
from lipapps.results import ResultsFile, markdown_table

RESULTS = Path(__file__).resolve().parent / "results"
LATENT = 32
REFERENCE = "wgan-gp dcgan_critic(width=32)"
CONFIGS: dict[str, tuple[Callable[[], nn.Module], float]] = {
    REFERENCE: (lambda: dcgan_critic(width=32), 10.0),
    "wgan-gp ImageCritic(downsampling=0, constraint='none')": (lambda: ImageCritic(downsampling=0, constraint="none"), 10.0),
    "wgan-gp ImageCritic(downsampling=1, constraint='none')": (lambda: ImageCritic(downsampling=1, constraint="none"), 10.0),
    "certified ImageCritic(downsampling=0)": (lambda: ImageCritic(downsampling=0), 0.0),
    "certified ImageCritic(downsampling=1)": (lambda: ImageCritic(downsampling=1), 0.0),
    f"certified recipe {IMAGE_WGAN_RECIPES['certified'].critic_name()}": (lambda: IMAGE_WGAN_RECIPES["certified"].build(0)[1], 0.0),
}


def make_run(critic: nn.Module, seed: int = 0) -> WGANState:
    torch.manual_seed(seed)
    generator = DCGANGenerator(LATENT)
    adam = lambda m: torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.5, 0.9))  # noqa: E731
    return WGANState(generator, critic, adam(generator), adam(critic), torch.Generator().manual_seed(seed + 1))


def step_seconds(run: WGANState, real: torch.Tensor, critic_steps: int, gp_weight: float) -> float:
    start = time.perf_counter()
    for _ in range(critic_steps):
        critic_step(run, real, len(real), LATENT, gp_weight)
    generator_step(run, len(real), LATENT)
    return time.perf_counter() - start


def markdown(rows: list[dict[str, Any]]) -> str:
    return "# Seconds per WGAN step on 28 x 28 images (CPU)\n\n" + (
        "One step: critic steps then one generator step, DCGAN-like generator, same batch; median over rounds. "
        f"Ratio: to the step of `{REFERENCE}`.\n\n") + markdown_table(rows, [
        ("critic", lambda r: f"`{r['critic']}`"), ("parameters", lambda r: r["parameters"]),
        ("batch", lambda r: r["batch_size"]), ("critic steps", lambda r: r["critic_steps"]),
        ("seconds per step", lambda r: f"{r['seconds_per_step']:.3f}"), ("ratio", lambda r: f"{r['ratio']:.2f}"),
        ("certificate", lambda r: "-" if r["certificate"] is None else f"{r['certificate']:.6f}"),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--critic-steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    real = torch.rand(args.batch_size, 784, generator=torch.Generator().manual_seed(0))
    runs = {name: (make_run(build()), gp) for name, (build, gp) in CONFIGS.items()}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for name, (run, gp) in runs.items():  # warm-up: first-call allocations, cold spectral warm starts
        step_seconds(run, real, args.critic_steps, gp)
    for _ in range(args.rounds):
        for name, (run, gp) in runs.items():
            times[name].append(step_seconds(run, real, args.critic_steps, gp))
    reference = statistics.median(times[REFERENCE])
    results = ResultsFile(args.out / "wgan_step_time.json", key=lambda r: (r["critic"], r["batch_size"], r["critic_steps"],
                                                                            r["threads"]), markdown=markdown)
    for name, (run, gp) in runs.items():
        seconds = statistics.median(times[name])
        record = {
            "critic": name, "parameters": sum(p.numel() for p in run.critic.parameters()), "batch_size": args.batch_size,
            "critic_steps": args.critic_steps, "threads": args.threads, "rounds": args.rounds, "gp_weight": gp,
            "seconds_per_step": seconds, "all_seconds": times[name], "ratio": seconds / reference,
            "certificate": lipapps.certify(run.critic).upper_bound if gp == 0 else None,
        }
        results.add(record)
        print(f"{name:<58} {seconds:.3f} s/step  ratio {seconds / reference:.2f}", flush=True)


if __name__ == "__main__":
    main()
