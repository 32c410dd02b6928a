"""Training and scoring one certified classifier: the runs behind ``lipapps classify`` and the tables.

Each run trains a network that is 1-Lipschitz from input to logits (every map constrained,
unless the user frees the lifting and readout) with :func:`lipapps.train`, then reports clean
test accuracy, certified robust accuracy at l2 radii 0.5, 1.0, 1.58
(:mod:`lipapps.classification`) with the provable bound of :func:`lipapps.certify`, and the
training time with the constraint's share. Inputs stay in their natural scale (standardised
moons; pixels in ``[0, 1]`` minus the mean pixel, a translation), so the radii are in those units.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from lipapps.classification import (
    DEFAULT_RADII, ClassificationReport, MarginCrossEntropy, accuracy, evaluate, predict,
)
from lipapps.datasets import load_mnist, make_moons
from lipapps.errors import InputError
from lipapps.models import LiftedLipschitzResNet, LipschitzResNet
from lipapps.training import train

ARCHITECTURES = ("3.1", "4.1")
#: Standard deviation of the Gaussian noise of the two-moons data (raw coordinates).
MOONS_NOISE = 0.1
#: Gauss-Legendre nodes of the two-moons class densities (:func:`two_moons_log_densities`).
MOONS_QUADRATURE_NODES = 256


@dataclass(frozen=True)
class ClassificationRun:
    """One trained configuration: its settings, scores, timing and the trained model."""

    config: dict[str, Any]
    report: ClassificationReport
    seconds_per_epoch: float
    constraint_seconds_per_epoch: float
    model: nn.Module = field(repr=False, compare=False)

    def summary(self) -> dict[str, Any]:
        """The CLI's JSON object (radii as strings, e.g. ``"1.58"``)."""
        return {
            "test_accuracy": self.report.test_accuracy,
            "certified_accuracy": {str(float(e)): a for e, a in self.report.certified_accuracy.items()},
            "lipschitz_upper_bound": self.report.lipschitz_upper_bound,
            "seconds_per_epoch": self.seconds_per_epoch,
            "constraint_seconds_per_epoch": self.constraint_seconds_per_epoch,
        }

    def record(self) -> dict[str, Any]:
        """The summary together with the configuration (one row of an experiment's results)."""
        return {**self.config, **self.summary()}


def two_moons_split(
    train_fraction: float, seed: int = 0, n_samples: int = 4000, validation_fraction: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Standardised two-moons (noise 0.1), the first ``train_fraction`` of the shuffled points
    for training and the rest for testing: ``x_train, y_train, x_test, y_test``.

    With ``validation_fraction > 0`` the test split is left out entirely: the last
    ``validation_fraction`` of the training points are returned in its place (a validation split
    carved from the training split, for tuning) and the first ones are the training points.
    """
    if not 0.0 < train_fraction < 1.0:
        raise InputError(f"--train-fraction must lie strictly between 0 and 1, got {train_fraction}")
    if not 0.0 <= validation_fraction < 1.0:
        raise InputError(f"--validation-fraction must lie in [0, 1), got {validation_fraction}")
    x, y = make_moons(n_samples, noise=MOONS_NOISE, seed=seed)
    n_train = round(train_fraction * n_samples)
    if validation_fraction == 0.0:
        return x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    n_fit = n_train - round(validation_fraction * n_train)
    if not 0 < n_fit < n_train:
        raise InputError(f"--validation-fraction {validation_fraction} leaves no training or no validation point")
    return x[:n_fit], y[:n_fit], x[n_fit:n_train], y[n_fit:n_train]


def _moon_arcs(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two half circles at angles ``t``: outer ``(cos t, sin t)`` and inner
    ``(1 - cos t, 1/2 - sin t)``, the point reflection of the outer one through ``(1/2, 1/4)``."""
    outer = torch.stack([torch.cos(t), torch.sin(t)], -1)
    return outer, torch.tensor([1.0, 0.5], dtype=outer.dtype) - outer


def two_moons_log_densities(x: torch.Tensor, nodes: int = MOONS_QUADRATURE_NODES) -> torch.Tensor:
    """The two class densities of the two-moons distribution at raw (unstandardised) points ``x``:
    a ``(len(x), 2)`` float64 tensor of ``log p_0(x), log p_1(x)``.

    Class ``c`` is a uniform angle ``t`` on ``[0, pi]`` on its half circle ``g_c(t)`` (outer
    ``g_0(t) = (cos t, sin t)``, inner ``g_1(t) = (1 - cos t, 1/2 - sin t)``) plus ``N(0, s^2 I)``
    noise, ``s`` = :data:`MOONS_NOISE`, so

        p_c(x) = (1 / pi) int_0^pi exp(-|x - g_c(t)|^2 / (2 s^2)) / (2 pi s^2) dt.

    The integral is computed by Gauss-Legendre quadrature with ``nodes`` nodes on ``[0, pi]``
    (positive weights, so the sum is taken as a log-sum-exp and does not underflow far from the
    moons). Along the arc the integrand is a bump of width about ``s / sqrt(r)`` in ``t`` at
    distance ``r`` from the circle's centre, an analytic function of ``t``, so the quadrature
    converges exponentially: from 64 nodes on, ``log p_c`` at the 4000 points of the project's
    sample agrees with 2048 nodes to 2e-11 (rounding), while the smallest ``|log p_1 - log p_0|``
    among those points is 0.19. The labels of :func:`two_moons_bayes_labels` there are exact.
    """
    if nodes < 1:
        raise ValueError(f"nodes must be positive, got {nodes}")
    xi, w = np.polynomial.legendre.leggauss(nodes)
    t = torch.from_numpy(math.pi / 2 * (xi + 1))
    log_weight = torch.from_numpy(np.log(w / 2))  # (pi / 2) w_i of [0, pi], times the 1 / pi
    arcs = _moon_arcs(t)
    log_norm = math.log(2 * math.pi * MOONS_NOISE**2)

    def log_density(points: torch.Tensor, arc: torch.Tensor) -> torch.Tensor:
        squared = ((points[:, None, :] - arc[None]) ** 2).sum(-1)
        return torch.logsumexp(log_weight - squared / (2 * MOONS_NOISE**2), dim=1) - log_norm

    chunks = [
        torch.stack([log_density(chunk, arcs[0]), log_density(chunk, arcs[1])], 1)
        for chunk in x.double().split(4096)
    ]
    return torch.cat(chunks) if chunks else torch.empty(0, 2, dtype=torch.float64)


def two_moons_bayes_labels(x: torch.Tensor, nodes: int = MOONS_QUADRATURE_NODES) -> torch.Tensor:
    """The Bayes classifier of the two-moons distribution at raw points ``x``: the class of the
    larger density of :func:`two_moons_log_densities` (equal priors), ties to class 0."""
    log_p = two_moons_log_densities(x, nodes)
    return (log_p[:, 1] > log_p[:, 0]).long()


@dataclass(frozen=True)
class MonteCarloEstimate:
    """A Monte Carlo mean over ``n`` independent draws and its standard error ``std / sqrt(n)``."""

    mean: float
    standard_error: float
    n: int


def two_moons_population_bayes_accuracy(n_draws: int = 10**6, seed: int = 0) -> MonteCarloEstimate:
    """The accuracy of the Bayes classifier on the two-moons distribution itself (not a sample).

    Draws ``(x, y)``: ``y`` a fair coin, ``x = g_y(t) + s z`` with ``t`` uniform on ``[0, pi]``
    and ``z`` standard normal (:func:`two_moons_log_densities`). The Bayes classifier is correct at
    ``x`` with probability ``max(p_0, p_1) / (p_0 + p_1)`` (the posterior of its label), and the
    estimate is the mean of that posterior over the draws: unbiased for the accuracy
    ``E[max_c P(c | x)]``, and of smaller variance than the share of correct labels (it is 1 up to
    rounding away from the boundary; at 10^6 draws its standard error is half of theirs). The label
    ``y`` is drawn only to draw ``x``.
    """
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n_draws,), generator=gen)
    t = math.pi * torch.rand(n_draws, generator=gen, dtype=torch.float64)
    outer, inner = _moon_arcs(t)
    arc = torch.where(y[:, None] == 1, inner, outer)
    x = arc + MOONS_NOISE * torch.randn(n_draws, 2, generator=gen, dtype=torch.float64)
    posterior = torch.softmax(two_moons_log_densities(x), dim=1).max(1).values
    return MonteCarloEstimate(
        float(posterior.mean()), float(posterior.std() / math.sqrt(n_draws)), n_draws
    )


def two_moons_bayes_accuracy(train_fraction: float, seed: int = 0, n_samples: int = 4000) -> float:
    """Accuracy on the test split of :func:`two_moons_split` of the Bayes classifier of the distribution
    (:func:`two_moons_bayes_labels`; standardisation is an affine bijection and does not change the
    labels). The noise overlaps the two moons, so 100% is not always reachable."""
    x, y = make_moons(n_samples, noise=MOONS_NOISE, seed=seed, standardize=False)
    n_train = round(train_fraction * n_samples)
    prediction = two_moons_bayes_labels(x[n_train:])
    return float((prediction == y[n_train:]).double().mean())


def two_moons_fresh_draws(seed: int = 0, n_draws: int = 20000) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_draws`` raw points of the distribution and their Bayes labels, from generator seed
    ``seed + 1``: neither training nor test points of :func:`two_moons_split` with ``seed``."""
    draws, _ = make_moons(n_draws, noise=MOONS_NOISE, seed=seed + 1, standardize=False)
    return draws, two_moons_bayes_labels(draws)


def two_moons_bayes_agreement(
    model: nn.Module, seed: int = 0, n_samples: int = 4000, n_draws: int = 20000
) -> float:
    """The share of fresh draws (:func:`two_moons_fresh_draws`) where ``model`` (trained on
    :func:`two_moons_split` with this ``seed`` and ``n_samples``) predicts the Bayes label.

    The draws are standardised with the statistics of the split's sample, as the model's inputs
    were. One minus this share bounds the model's excess error over the Bayes classifier on the
    distribution, without the sampling luck of a finite test split.
    """
    raw, _ = make_moons(n_samples, noise=MOONS_NOISE, seed=seed, standardize=False)
    draws, bayes = two_moons_fresh_draws(seed, n_draws)
    mean, std = raw.double().mean(0), raw.double().std(0)
    return accuracy(predict(model, ((draws.double() - mean) / std).float()), bayes)


def two_moons_test_bayes_agreement(
    model: nn.Module, train_fraction: float, seed: int = 0, n_samples: int = 4000
) -> float:
    """The share of the test points of :func:`two_moons_split` where ``model`` predicts the label of
    the Bayes classifier (:func:`two_moons_bayes_labels`), not the drawn label: how far the model is
    from the best any classifier can be expected to do on that very split."""
    raw, _ = make_moons(n_samples, noise=MOONS_NOISE, seed=seed, standardize=False)
    _, _, x_test, _ = two_moons_split(train_fraction, seed, n_samples)
    n_train = round(train_fraction * n_samples)
    return accuracy(predict(model, x_test), two_moons_bayes_labels(raw[n_train:]))


def two_moons_kde_labels(
    x: torch.Tensor, train_fraction: float, seed: int = 0, n_samples: int = 4000,
    bandwidth: float = MOONS_NOISE,
) -> torch.Tensor:
    """A reference classifier: the kernel-density plug-in trained on the training split of
    :func:`two_moons_split`, at raw points ``x``.

    Each class density is estimated by a sum of Gaussian kernels of standard deviation
    ``bandwidth`` (by default the true noise, so the plug-in knows the noise model) on that
    class's training points; the label is that of the larger sum (class counts as priors). It shows
    how close any estimator from that many points gets to the Bayes classifier.
    """
    raw, y = make_moons(n_samples, noise=MOONS_NOISE, seed=seed, standardize=False)
    n_train = round(train_fraction * n_samples)
    train, labels = raw[:n_train].double(), y[:n_train]

    def score(chunk: torch.Tensor, label: int) -> torch.Tensor:
        kernel = torch.exp(-torch.cdist(chunk.double(), train[labels == label]) ** 2 / (2 * bandwidth**2))
        return kernel.sum(1)

    return torch.cat([(score(chunk, 1) > score(chunk, 0)).long() for chunk in x.split(4096)])


def image_split(
    data_dir: str | os.PathLike,
    dataset: str = "mnist",
    download: bool = False,
    train_subset: int | None = None,
    test_subset: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flattened images in ``[0, 1]`` minus the mean training pixel (an isometry shift, so the
    certified radii stay in pixel units): ``x_train, y_train, x_test, y_test``."""
    images, labels = load_mnist(data_dir, "train", dataset, download=download)
    test_images, test_labels = load_mnist(data_dir, "test", dataset)
    x = images[:train_subset].flatten(1).float() / 255.0
    x_test = test_images[:test_subset].flatten(1).float() / 255.0
    mean = x.mean()
    return x - mean, labels[:train_subset], x_test - mean, test_labels[:test_subset]


def fit_and_evaluate(
    model: nn.Module,
    loss: MarginCrossEntropy,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    config: dict[str, Any],
    *,
    epochs: int,
    lr: float,
    batch_size: int = 256,
    schedule: str = "cosine",
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
) -> ClassificationRun:
    """Train ``model`` with Adam (:func:`lipapps.train`, constraint kept after every step,
    resumable from ``checkpoint``) and score it on the test part of ``data``."""
    if epochs < 1:
        raise InputError(f"--epochs must be at least 1, got {epochs}")
    x_train, y_train, x_test, y_test = data
    result = train(
        model, loss, (x_train, y_train), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
        schedule=schedule, checkpoint=checkpoint, resume=checkpoint is not None, progress=progress,
    )
    report = evaluate(model, x_test, y_test, radii=DEFAULT_RADII)
    full_config = {
        **config, "epochs": epochs, "lr": lr, "batch_size": batch_size, "schedule": schedule,
        "seed": seed, "temperature": loss.temperature, "margin": loss.margin,
        "n_train": len(x_train), "n_test": len(x_test),
    }
    return ClassificationRun(
        full_config, report, result.seconds_per_epoch, result.constraint_seconds_per_epoch, model
    )


def run_two_moons(
    depth: int,
    architecture: str = "3.1",
    width: int = 8,
    hidden: int | None = None,
    train_fraction: float = 0.8,
    epochs: int = 300,
    lr: float = 1e-2,
    temperature: float = 1.0 / 30.0,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    batch_size: int = 256,
    validation_fraction: float = 0.0,
) -> ClassificationRun:
    """The paper's two-moons experiment for one depth and one architecture (Theorem 3.1 or 4.1).

    With ``validation_fraction > 0`` the model is trained on the rest of the training split and
    scored on that validation part of it (:func:`two_moons_split`); the test split is not used.
    """
    if architecture not in ARCHITECTURES:
        raise InputError(f"--architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    fixed_width = architecture == "4.1"
    if hidden is None:  # square W: orthogonal Jacobian at initialisation (LiftedLipschitzResNet)
        hidden = width - 3 if fixed_width else width
    data = two_moons_split(train_fraction, seed, validation_fraction=validation_fraction)
    torch.manual_seed(seed)
    model = LipschitzResNet(
        2, 1, width=width, depth=depth, hidden=hidden, fixed_width=fixed_width
    )
    config = {
        "task": "two-moons", "architecture": architecture, "width": width,
        "hidden": hidden, "depth": depth, "train_fraction": train_fraction,
    }
    if validation_fraction > 0:
        config["validation_fraction"] = validation_fraction
    return fit_and_evaluate(
        model, MarginCrossEntropy(temperature), data, config,
        epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, checkpoint=checkpoint,
        progress=progress,
    )


def run_mnist(
    data_dir: str | os.PathLike,
    dataset: str = "mnist",
    width: int = 100,
    depth: int = 10,
    free_io: bool = False,
    epochs: int = 10,
    lr: float = 1e-3,
    temperature: float = 0.1,
    margin: float = 0.0,
    schedule: str = "cosine",
    train_subset: int | None = None,
    test_subset: int | None = None,
    download: bool = False,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
) -> ClassificationRun:
    """The paper's MNIST network (lift ``784 -> width``, Theorem 4.1 blocks of state size
    ``width + 3``, ``depth`` blocks), end-to-end 1-Lipschitz unless ``free_io``."""
    data = image_split(data_dir, dataset, download, train_subset, test_subset)
    torch.manual_seed(seed)
    model = LiftedLipschitzResNet(
        data[0].shape[1], 10, lift=width, depth=depth,
        io_constraint="none" if free_io else None,
    )
    config = {
        "task": dataset, "architecture": "4.1", "width": width, "depth": depth,
        "lifting_readout": "free" if free_io else "constrained",
    }
    return fit_and_evaluate(
        model, MarginCrossEntropy(temperature, margin), data, config, epochs=epochs, lr=lr,
        schedule=schedule, seed=seed, checkpoint=checkpoint, progress=progress,
    )
