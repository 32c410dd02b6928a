"""Pairs of distributions to benchmark W1 estimators on, some with a known population W1.

A :class:`DistributionPair` draws ``(x, y)``, ``n`` float64 samples of each, from a seed; its
``w1`` is ``W1(P, Q)`` of the populations when known in closed form, else ``None``:

- :func:`translated_gaussians`: ``P = N(0, I_d)``, ``Q = P + s e_1``. The map ``z -> z + s e_1``
  moves every point by ``s``, and the 1-Lipschitz ``f(z) = -z_1`` has gap ``s``, so ``W1 = s``.
- :func:`scaled_gaussians`: ``P = N(0, I_d)``, ``Q = c P``. The map ``z -> c z`` costs
  ``|c - 1| E|z|``, and the radial ``f(z) = +-|z|`` (1-Lipschitz) has that gap, so
  ``W1 = |c - 1| E|z|`` with ``E|z| = sqrt(2) Gamma((d + 1) / 2) / Gamma(d / 2)``.
- :func:`toy_pair`: two of the 2-D toy distributions of :mod:`critics.toy` (W1 unknown).
- :func:`mnist_digits`: training images of two MNIST classes, flattened to ``[0, 1]^784``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from critics.toy import sample_toy
from lipapps.results import data_dir

Sampler = Callable[[int, int], tuple[np.ndarray, np.ndarray]]
"""``(n, seed) -> (x, y)``: ``n`` samples of each distribution, float64 arrays ``(n, d)``."""


@dataclass(frozen=True)
class DistributionPair:
    """Two distributions ``P``, ``Q``: ``pair(n, seed)`` draws ``(x, y)``; ``w1`` is the population
    ``W1(P, Q)`` when known exactly, else ``None``."""

    sample: Sampler
    w1: float | None = None

    def __call__(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples of each distribution, drawn from ``seed``."""
        return self.sample(n, seed)


def gaussian_norm_mean(d: int) -> float:
    """``E|z|`` for ``z ~ N(0, I_d)``: ``sqrt(2) Gamma((d + 1) / 2) / Gamma(d / 2)``."""
    return math.sqrt(2) * math.exp(math.lgamma((d + 1) / 2) - math.lgamma(d / 2))


def translated_gaussians(d: int, shift: float = 1.0) -> DistributionPair:
    """``P = N(0, I_d)``, ``Q = P + shift e_1``: population ``W1 = |shift|``."""

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        y = rng.normal(size=(n, d))
        y[:, 0] += shift
        return rng.normal(size=(n, d)), y

    return DistributionPair(sample, abs(shift))


def scaled_gaussians(d: int, c: float = 1.5) -> DistributionPair:
    """``P = N(0, I_d)``, ``Q = c P`` (``c >= 0``): population ``W1 = |c - 1| E|z|``."""

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return rng.normal(size=(n, d)), c * rng.normal(size=(n, d))

    return DistributionPair(sample, abs(c - 1) * gaussian_norm_mean(d))


def toy_pair(first: str, second: str) -> DistributionPair:
    """Two toy distributions of :data:`critics.toy.TOY_DATASETS` (``y`` drawn from ``seed + 1``)."""

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return sample_toy(first, n, seed).double().numpy(), sample_toy(second, n, seed + 1).double().numpy()

    return DistributionPair(sample)


def mnist_digits(first: int, second: int, root: str | os.PathLike | None = None) -> DistributionPair:
    """Training images of digits ``first`` and ``second`` (distinct images, chosen from ``seed``),
    flattened, in ``[0, 1]``. ``root`` holds the IDX files (default: the shared ``mnist`` folder,
    :func:`lipapps.results.data_dir`); they are read at the first draw."""

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        from lipapps.datasets import load_mnist

        images, labels = load_mnist(data_dir("mnist") if root is None else root, "train")
        flat = images.reshape(len(images), -1).double().numpy() / 255.0
        rng = np.random.default_rng(seed)
        pick = [rng.choice(np.flatnonzero(labels.numpy() == k), n, replace=False) for k in (first, second)]
        return flat[pick[0]], flat[pick[1]]

    return DistributionPair(sample)
