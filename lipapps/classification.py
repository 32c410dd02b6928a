"""Classification with Lipschitz-bounded logits: training loss, certified robust accuracy.

Certified robustness (Tsuzuku, Sato, Sugiyama 2018; docs/math.md section 8). Let the logits ``f`` be
``L``-Lipschitz from (l2, inputs) to (l2, logits), ``L`` a *provable* upper bound
(:func:`lipapps.certify`).

* Several classes: ``f_y - f_j = (e_y - e_j)^T f`` is ``sqrt(2) L``-Lipschitz, so a prediction
  whose margin ``f_y - max_{j != y} f_j`` exceeds ``sqrt(2) L eps`` keeps its class under every
  perturbation ``||delta||_2 <= eps``.
* One output (binary, class ``1`` when ``f > 0``): the signed margin ``s f`` with ``s = 2y - 1``
  is ``L``-Lipschitz, so ``s f > L eps`` certifies radius ``eps``.

The certified radius of a sample is therefore ``margin / (c L)`` with ``c = sqrt(2)`` or ``1``;
it is negative for a misclassified sample, and certified accuracy at ``eps`` is the fraction of
samples with radius ``> eps`` (at ``eps = 0`` this is the clean accuracy, ties counted wrong).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from lipapps.certify import certify
from lipapps.errors import InputError

#: The l2 radii of the paper's MNIST comparison (1.58 is the customary large MNIST radius).
DEFAULT_RADII: tuple[float, ...] = (0.5, 1.0, 1.58)


def _check(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if logits.dim() == 1:
        logits = logits[:, None]
    if logits.dim() != 2 or labels.shape != logits.shape[:1]:
        raise InputError(
            f"logits must have shape (n, classes) and labels (n,), got {tuple(logits.shape)} "
            f"and {tuple(labels.shape)}"
        )
    if logits.shape[0] == 0:
        raise InputError("cannot score an empty set of samples")
    n_classes = max(2, logits.shape[1])
    if labels.min() < 0 or labels.max() >= n_classes:
        raise InputError(f"labels must lie in 0..{n_classes - 1}")
    return logits


def margins(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-sample signed margin: ``f_y - max_{j != y} f_j``, or ``(2y - 1) f`` for one output.

    Positive exactly when the sample is classified correctly (ties give 0, counted wrong).
    """
    logits = _check(logits, labels)
    if logits.shape[1] == 1:
        return (2 * labels.to(logits.dtype) - 1) * logits[:, 0]
    true = logits.gather(1, labels[:, None])[:, 0]
    others = logits.scatter(1, labels[:, None], float("-inf"))
    return true - others.max(dim=1).values


def margin_factor(n_outputs: int) -> float:
    """``c`` in ``radius = margin / (c L)``: ``sqrt(2)`` for several logits, ``1`` for one."""
    return 1.0 if n_outputs == 1 else math.sqrt(2.0)


def certified_radii(logits: torch.Tensor, labels: torch.Tensor, lipschitz_bound: float) -> torch.Tensor:
    """Per-sample certified l2 radius ``margin / (c L)`` (negative when misclassified).

    Valid only when ``lipschitz_bound`` is a provable upper bound of the logits' l2 Lipschitz
    constant (see the module docstring).
    """
    if not (lipschitz_bound > 0 and math.isfinite(lipschitz_bound)):
        raise InputError(f"the Lipschitz bound must be positive and finite, got {lipschitz_bound}")
    logits = _check(logits, labels)
    return margins(logits, labels) / (margin_factor(logits.shape[1]) * lipschitz_bound)


def certified_accuracy(
    logits: torch.Tensor,
    labels: torch.Tensor,
    lipschitz_bound: float,
    radii: Sequence[float] = DEFAULT_RADII,
) -> dict[float, float]:
    """Fraction of samples whose prediction is correct and provably constant within each radius."""
    radius = certified_radii(logits, labels, lipschitz_bound)
    return {float(eps): float((radius > eps).double().mean()) for eps in radii}


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Clean accuracy (a tie between the top logits counts as an error)."""
    return float((margins(logits, labels) > 0).double().mean())


@dataclass(frozen=True)
class MarginCrossEntropy:
    """Cross-entropy with temperature and offset, for Lipschitz-bounded logits (per-sample).

    ``loss(f, y) = T * CE((f - m e_y) / T, y)`` for several logits, and for one output
    ``T * softplus((m - s f) / T)`` with ``s = 2y - 1`` (binary cross-entropy with logits when
    ``T = 1, m = 0``, the paper's two-moons loss). As ``T -> 0`` both tend to the hinge
    ``max(0, m - margin)``. A 1-Lipschitz network cannot scale its logits up, so plain
    cross-entropy (``T = 1``) saturates at small margins: a small ``T`` makes the softmax sharp,
    and the offset ``m`` asks for margin ``m`` (``m = sqrt(2) eps`` targets certified radius
    ``eps`` at ``L = 1``). References: Béthune et al. 2022, "Pay attention to your loss";
    Prach & Lampert 2022, "Almost-orthogonal layers for efficient general-purpose Lipschitz
    networks" (offset cross-entropy).

    Called as ``loss_fn(model, x, y)``, the form :func:`lipapps.train` expects.
    """

    temperature: float = 1.0
    margin: float = 0.0

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise InputError(f"temperature must be positive, got {self.temperature}")
        if self.margin < 0:
            raise InputError(f"margin must be non-negative, got {self.margin}")

    def per_sample(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The loss of each sample, shape ``(n,)``."""
        logits = _check(logits, labels)
        t, m = self.temperature, self.margin
        if logits.shape[1] == 1:
            sign = 2 * labels.to(logits.dtype) - 1
            return t * F.softplus((m - sign * logits[:, 0]) / t)
        shifted = logits - m * F.one_hot(labels, logits.shape[1]).to(logits.dtype)
        return t * F.cross_entropy(shifted / t, labels, reduction="none")

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.per_sample(model(x), y)


@dataclass(frozen=True)
class ClassificationReport:
    """Clean and certified accuracy of a model on a labelled set, with the certificate used."""

    test_accuracy: float
    certified_accuracy: dict[float, float]
    lipschitz_upper_bound: float
    per_layer: list[tuple[str, float]] = field(default_factory=list)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """The model's logits on ``x``, in eval mode and in batches."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(chunk) for chunk in x.split(batch_size)])
    finally:
        model.train(was_training)


def evaluate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    radii: Sequence[float] = DEFAULT_RADII,
    batch_size: int = 2048,
) -> ClassificationReport:
    """Clean accuracy and certified robust accuracy at ``radii`` with ``L = certify(model)``.

    The certificate is the provable product bound of :func:`lipapps.certify`, never an estimate,
    so every certified prediction is guaranteed (module docstring). For a model with free
    (``constraint="none"``) maps the bound is the true product of their spectral norms.
    """
    certificate = certify(model)
    logits = predict(model, x, batch_size)
    return ClassificationReport(
        test_accuracy=accuracy(logits, y),
        certified_accuracy=certified_accuracy(logits, y, certificate.upper_bound, radii),
        lipschitz_upper_bound=certificate.upper_bound,
        per_layer=list(certificate.per_layer),
    )
