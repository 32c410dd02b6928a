"""The critics part of ``lipapps demo``: a certified W1 bracket and a short WGAN (about 30 s on
2 CPU cores)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from critics.estimate import estimate_w1
from critics.plots import plot_critic
from critics.toy import sample_toy
from critics.wgan import train_wgan, write_wgan_outputs


def run(out_dir: Path) -> None:
    """W1 between an 8-Gaussian ring and a Gaussian (bracket vs ``ot.emd2``), then 200 steps of
    a WGAN on the ring; figures go to ``out_dir`` (``w1_critic.png``) and ``out_dir / "wgan"``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x = sample_toy("8gaussians", 1000, seed=1)
    y = sample_toy("gaussian", 1000, seed=2)
    est = estimate_w1(x, y, epochs=300, depth=4, lr=0.03, seed=0)  # a short run: the demo's time budget
    path = out_dir / "w1_critic.png"
    title = f"W1 in [{est.lower:.4f}, {est.upper:.4f}], exact {est.exact:.4f}"
    plot_critic(est.critic, x.numpy(), y.numpy(), path, title, labels=("8 gaussians", "gaussian"))
    print(f"[critics] W1(8 gaussians, gaussian), n = 1000 each: certified lower {est.lower:.4f} <= "
          f"exact (ot.emd2) {est.exact:.4f} <= upper {est.upper:.4f}  (network alone {est.network_lower:.4f}, "
          f"held-out {est.heldout:.4f}, {est.seconds:.1f}s)  figure {path}")
    start = time.perf_counter()
    torch.manual_seed(0)
    result = train_wgan("8gaussians", steps=200, batch_size=256, log_every=50, log_samples=500, eval_samples=2000,
                        progress=True)
    metrics = write_wgan_outputs(result, "8gaussians", out_dir / "wgan")
    first = result.history[0]
    print(f"[critics] WGAN on 8 gaussians, 200 steps with a certified critic: exact W1 to the data "
          f"{first['exact_w1']:.3f} -> {metrics['final_exact_w1']:.3f} ({time.perf_counter() - start:.1f}s)  "
          f"figures {out_dir / 'wgan'}")
