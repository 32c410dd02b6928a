"""Quality of generated images without downloads: a Frechet distance in the features of a small
classifier the project trains itself, class coverage, and the certified W1 bracket.

* :func:`frechet_distance`: ``||m_a - m_b||^2 + tr(S_a + S_b - 2 (S_a^(1/2) S_b S_a^(1/2))^(1/2))``,
  the Frechet (2-Wasserstein) distance between the Gaussians with the two feature sets' means and
  covariances (Dowson & Landau 1982; the FID of Heusel et al. 2017, here in the penultimate layer
  of :class:`ImageClassifier` instead of Inception's pool layer, so values are not comparable
  with published FIDs).
* :func:`class_entropy`: the entropy (nats) of the classifier's predicted labels over generated
  images; ``ln 10 = 2.303`` when the ten classes are equally frequent, 0 when one class is all
  that is generated (mode collapse).
* :func:`certified_w1`: :func:`critics.estimate_w1` between generated and real images, a bracket
  ``lower <= W1 <= upper`` of the empirical distance that holds with certainty, and a held-out
  estimate of a lower bound on the population W1.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

import lipapps
from critics.estimate import estimate_w1
from critics.result import W1Estimate
from critics.wgan import WGANResult, sample_generator
from lipapps.checkpoint import read_payload
from lipapps.errors import CheckpointError, InputError

CLASSIFIER_FORMAT = "critics-image-classifier"
#: The layer whose activations :func:`frechet_distance` compares (see :class:`ImageClassifier`).
FEATURE_LAYER = "features: ReLU output of the 128-unit hidden linear layer (penultimate layer)"
#: The largest class entropy, ``ln 10`` (ten equally frequent classes).
MAX_CLASS_ENTROPY = math.log(10)


class ImageClassifier(nn.Module):
    """A small CNN for 28 x 28 grey images in ``[0, 1]``: two ``3 x 3`` convolutions (16 and 32
    channels, ReLU, ``2 x 2`` max pooling), a 128-unit ReLU layer (:meth:`features`), 10 logits.

    Unconstrained (it measures images; nothing here is certified).
    """

    def __init__(self, channels: int = 1, classes: int = 10, hidden: int = 128) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        )
        self.hidden = nn.Sequential(nn.Linear(32 * 7 * 7, hidden), nn.ReLU())
        self.head = nn.Linear(hidden, classes)

    def features(self, v: torch.Tensor) -> torch.Tensor:
        """The penultimate layer (:data:`FEATURE_LAYER`) for flattened images ``v`` of shape ``(n, 784)``."""
        return self.hidden(self.convs(v.view(v.shape[0], 1, 28, 28)))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Logits, shape ``(n, classes)``."""
        return self.head(self.features(v))


def train_classifier(images: torch.Tensor, labels: torch.Tensor, epochs: int = 2, batch_size: int = 128,
                     lr: float = 1e-3, seed: int = 0) -> ImageClassifier:
    """Adam on the cross-entropy over ``(n, 784)`` images in ``[0, 1]``, shuffled per epoch (seeded)."""
    torch.manual_seed(seed)
    model = ImageClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(images), generator=gen).split(batch_size):
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def _batched(fn, v: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    return torch.cat([fn(v[i : i + batch_size]) for i in range(0, len(v), batch_size)])


def classifier_accuracy(model: ImageClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` whose top logit is their label."""
    return float((_batched(model, images).argmax(1) == labels).double().mean())


def save_classifier(model: ImageClassifier, path: str | os.PathLike, dataset: str, test_accuracy: float) -> None:
    """Write the weights with the data set they were trained on and their test accuracy (atomically)."""
    payload = {"format": CLASSIFIER_FORMAT, "dataset": dataset, "test_accuracy": float(test_accuracy),
               "layer": FEATURE_LAYER, "state_dict": model.state_dict()}
    with lipapps.atomic_write(Path(path)) as tmp:
        torch.save(payload, tmp)


def load_classifier(path: str | os.PathLike) -> tuple[ImageClassifier, dict]:
    """The classifier written by :func:`save_classifier` (eval mode) and its ``dataset``,
    ``test_accuracy`` and ``layer``; :class:`FileNotFoundError` for a missing file, :class:`CheckpointError`
    for a foreign or corrupt one (:func:`lipapps.checkpoint.read_payload`)."""
    payload = read_payload(path)
    if payload.get("format") != CLASSIFIER_FORMAT:
        raise CheckpointError(f"{path}: not a critics image classifier")
    model = ImageClassifier()
    try:
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as err:
        raise CheckpointError(f"{path}: the classifier's weights do not fit ({err.__class__.__name__})") from err
    return model.eval(), {k: payload[k] for k in ("dataset", "test_accuracy", "layer")}


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Frechet distance between Gaussians fitted to feature sets ``a`` (n, k) and ``b`` (m, k), in float64.

    ``||m_a - m_b||^2 + tr S_a + tr S_b - 2 tr (S_a^(1/2) S_b S_a^(1/2))^(1/2)``: the last trace is
    ``tr (S_a S_b)^(1/2)`` written with symmetric matrices, so it is computed from the eigenvalues
    of a symmetric positive semidefinite matrix (negative rounding clamped to 0).
    """
    a64, b64 = a.detach().double().cpu(), b.detach().double().cpu()
    mean_a, mean_b = a64.mean(0), b64.mean(0)
    cov_a, cov_b = torch.cov(a64.T), torch.cov(b64.T)
    values, vectors = torch.linalg.eigh(cov_a)
    root_a = (vectors * values.clamp_min(0.0).sqrt()) @ vectors.T
    middle = root_a @ cov_b @ root_a
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0.0).sqrt().sum()
    return float((mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2.0 * cross)


def classifier_frechet(classifier: ImageClassifier, generated: torch.Tensor, real: torch.Tensor) -> float:
    """:func:`frechet_distance` between the classifier's features (:data:`FEATURE_LAYER`) of flattened
    ``generated`` and ``real`` images."""
    features = lambda v: _batched(classifier.features, v.float().cpu())  # noqa: E731
    return frechet_distance(features(generated), features(real))


def trained_generator_frechet(result: WGANResult, classifier: ImageClassifier, real: torch.Tensor, latent_dim: int,
                              seed: int) -> float | None:
    """:func:`classifier_frechet` of ``len(real)`` samples of the run's *trained* generator (latent
    codes of ``seed``) against ``real``, for a run that samples from the average of its weights:
    beside the average's score, what the average gained. ``None`` for a run without an average."""
    if result.averaged_generator is None:
        return None
    return classifier_frechet(classifier, sample_generator(result.generator, len(real), latent_dim, seed), real)


def class_entropy(model: ImageClassifier, images: torch.Tensor, classes: int = 10) -> float:
    """Entropy (nats) of the predicted-label histogram over ``images``: ``ln classes`` at most."""
    counts = torch.bincount(_batched(model, images).argmax(1), minlength=classes).double()
    p = counts / counts.sum()
    return float(-(p[p > 0] * p[p > 0].log()).sum()) + 0.0  # + 0.0: one class gives 0.0, not -0.0


def certified_w1(generated: torch.Tensor, real: torch.Tensor, seed: int = 0, epochs: int | None = None,
                 device: str | torch.device = "cpu") -> W1Estimate:
    """:func:`critics.estimate_w1` between flattened generated and real images (no exact W1)."""
    return estimate_w1(generated.double().cpu().numpy(), real.double().cpu().numpy(), exact="never", seed=seed,
                       epochs=epochs, device=device)


@dataclass(frozen=True)
class ImageMetrics:
    """What :func:`image_metrics` measured between generated and real images."""

    frechet_distance: float
    class_entropy: float
    w1_lower: float
    w1_upper: float
    w1_heldout: float | None
    samples: int
    w1_samples: int
    """Generated images the bracket used (the first of ``samples``)."""

    def summary(self) -> dict:
        """All fields, JSON-able."""
        return asdict(self)


def image_metrics(generated: torch.Tensor, real: torch.Tensor, classifier: ImageClassifier, seed: int = 0,
                  w1_epochs: int | None = None, device: str | torch.device = "cpu",
                  w1_samples: int | None = None) -> ImageMetrics:
    """:func:`frechet_distance` of the classifier's features, :func:`class_entropy` of the generated
    images (both on all of them), and the :func:`certified_w1` bracket and held-out estimate between
    the first ``w1_samples`` of each set (all when ``None``): the bracket is then one of the W1
    between those subsets."""
    if w1_samples is not None and not 2 <= w1_samples <= min(len(generated), len(real)):
        raise InputError(f"w1_samples must lie in [2, {min(len(generated), len(real))}], got {w1_samples}")
    w1 = certified_w1(generated[:w1_samples], real[:w1_samples], seed=seed, epochs=w1_epochs, device=device)
    return ImageMetrics(
        frechet_distance=classifier_frechet(classifier, generated, real),
        class_entropy=class_entropy(classifier, generated.float().cpu()),
        w1_lower=w1.lower, w1_upper=w1.upper, w1_heldout=w1.heldout, samples=len(generated), w1_samples=len(generated[:w1_samples]),
    )

