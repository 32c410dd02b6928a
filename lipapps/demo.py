"""The core part of ``lipapps demo``: a certified two-moons classifier in a few seconds."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from lipapps.certify import certify, empirical_lipschitz  # noqa: E402
from lipapps.classification import MarginCrossEntropy  # noqa: E402
from lipapps.datasets import make_moons  # noqa: E402
from lipapps.models import LipschitzResNet  # noqa: E402
from lipapps.training import train  # noqa: E402

#: The logistic loss at temperature 1/30, ``softplus(-30 s f(x)) / 30`` with labels ``s = +-1``:
#: a 1-Lipschitz score has small values, so the loss sees them scaled up.
LOSS = MarginCrossEntropy(temperature=1.0 / 30.0)


def plot_decision(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor, path: Path, title: str) -> None:
    """Level sets of the learned 1-Lipschitz score, the decision boundary ``f = 0`` and the data."""
    lo, hi = X.min(0).values - 0.5, X.max(0).values + 0.5
    gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], 300), torch.linspace(lo[1], hi[1], 300), indexing="xy")
    with torch.no_grad():
        score = model(torch.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(6, 5))
    levels = ax.contourf(gx, gy, score, levels=30, cmap="RdBu_r", alpha=0.8)
    ax.contour(gx, gy, score, levels=[0.0], colors="k", linewidths=2)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=4, edgecolors="none")
    fig.colorbar(levels, ax=ax, label="f(x) (1-Lipschitz)")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_two_moons(out_dir: Path, epochs: int = 30, seed: int = 0) -> dict[str, float]:
    """Train a Theorem 3.1 network on two-moons, print accuracy and certificate, save a figure."""
    torch.manual_seed(seed)
    X, y = make_moons(4000, noise=0.1, seed=seed)
    n_train = int(0.8 * len(X))
    model = LipschitzResNet(2, 1, width=16, depth=8, hidden=64)
    start = time.perf_counter()
    train(model, LOSS, (X[:n_train], y[:n_train]), epochs=epochs, batch_size=256, lr=1e-2, seed=seed, progress=True)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        accuracy = float(((model(X[n_train:]).squeeze(-1) > 0).long() == y[n_train:]).float().mean())
    bound = certify(model).upper_bound
    lower = empirical_lipschitz(model, X[n_train : n_train + 256])
    path = out_dir / "two_moons.png"
    plot_decision(model, X[n_train:], y[n_train:], path, f"two-moons: test accuracy {100 * accuracy:.2f}%, certified Lip <= {bound:.4f}")
    print(f"[two-moons] test accuracy {100 * accuracy:.2f}%  certified Lipschitz bound {bound:.6f}  "
          f"empirical lower bound {lower:.4f}  training {seconds:.1f}s  figure {path}")
    return {"test_accuracy": accuracy, "upper_bound": bound, "empirical_lower_bound": lower, "seconds": seconds}
