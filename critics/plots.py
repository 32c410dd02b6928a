"""Figures of the critics package: samples, critic level sets, and estimate-vs-exact curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402


def _level_sets(ax, critic: nn.Module, points: np.ndarray, margin: float = 0.5) -> None:
    lo, hi = points.min(0) - margin, points.max(0) + margin
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 200), np.linspace(lo[1], hi[1], 200))
    grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1)).float()
    with torch.no_grad():
        values = critic(grid).reshape(gx.shape).double().numpy()
    filled = ax.contourf(gx, gy, values, levels=30, cmap="viridis", alpha=0.75)
    ax.contour(gx, gy, values, levels=15, colors="k", linewidths=0.4, alpha=0.5)
    plt.colorbar(filled, ax=ax, label="critic f (1-Lipschitz)")


def plot_critic(critic: nn.Module, x: np.ndarray, y: np.ndarray, path: Path, title: str,
                labels: tuple[str, str] = ("x", "y")) -> None:
    """Level sets of a 2-D critic with the two sample sets on top."""
    fig, ax = plt.subplots(figsize=(6, 5))
    _level_sets(ax, critic, np.concatenate([x, y]))
    ax.scatter(x[:, 0], x[:, 1], s=3, c="tab:red", label=labels[0], edgecolors="none")
    ax.scatter(y[:, 0], y[:, 1], s=3, c="white", label=labels[1], edgecolors="none")
    ax.legend(loc="upper right", markerscale=4)
    ax.set_title(title)
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_training_curve(history: list[dict], path: Path, title: str) -> None:
    """The critic's estimate and the exact W1 between batches, against the training step."""
    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(steps, [h["exact_w1"] for h in history], "k-o", ms=3, label="exact W1 (POT, batch)")
    ax.plot(steps, [h["critic_estimate"] for h in history], "C0-s", ms=3, label="critic estimate")
    ax.set_xlabel("generator step")
    ax.set_ylabel("W1(real, generated)")
    ax.set_yscale("log")
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_samples(real: np.ndarray, fake: np.ndarray, path: Path, title: str) -> None:
    """Real and generated 2-D samples side by side on the same axes limits."""
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharex=True, sharey=True)
    for ax, points, name, colour in ((axes[0], real, "real", "k"), (axes[1], fake, "generated", "tab:blue")):
        ax.scatter(points[:, 0], points[:, 1], s=2, c=colour, edgecolors="none")
        ax.set_title(name)
        ax.set_aspect("equal")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _tile(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """The first 64 flattened grayscale images as one 8 x 8 mosaic (missing tiles black)."""
    tiles = np.zeros((64, height, width))
    tiles[: min(len(images), 64)] = images[:64].reshape(-1, height, width)
    return tiles.reshape(8, 8, height, width).transpose(0, 2, 1, 3).reshape(8 * height, 8 * width)


def plot_image_grids(real: np.ndarray, fake: np.ndarray, image_shape: tuple[int, int, int], path: Path, title: str) -> None:
    """Two 8 x 8 grids (real, generated) of flattened grayscale images."""
    _, h, w = image_shape
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.3))
    for ax, images, name in ((axes[0], real, "real"), (axes[1], fake, "generated")):
        ax.imshow(_tile(images, h, w), cmap="gray", vmin=0, vmax=1)
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_image_grid(images: np.ndarray, image_shape: tuple[int, int, int], path: Path, title: str) -> None:
    """One 8 x 8 grid of flattened grayscale images."""
    _, h, w = image_shape
    fig, ax = plt.subplots(figsize=(4, 4.3))
    ax.imshow(_tile(images, h, w), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_metric_curves(curves: dict[str, list[dict]], panels: list[tuple[str, str]], path: Path, title: str) -> None:
    """One panel per ``(key, label)`` of ``panels``: ``point[key]`` against ``point["seconds"]`` (in
    minutes) for every named curve of ``curves`` (a list of points each)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (key, label) in zip(axes[0], panels):
        for i, (name, points) in enumerate(curves.items()):
            ax.plot([p["seconds"] / 60 for p in points], [p[key] for p in points], f"C{i}-o", ms=3, label=name)
        ax.set_xlabel("training minutes")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
