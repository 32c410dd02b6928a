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

The benchmark suite (:func:`w1_suite`, :data:`SUITE_FAMILIES`) adds overlapping shapes, annuli,
overlapping mixtures, heavy tails, anisotropic Gaussians, a discrete against a continuous measure,
data on manifolds (spheres, a curve) and the toy pairs, in dimensions 2 to 64; the known
population values come from translations (``W1 = |shift|``), from rotation invariance
(:func:`radial_w1`: ``W1`` is the 1-D ``W1`` of the radii) and from a nearest-centre argument
(:func:`discrete_vs_continuous`). :data:`HELD_OUT_FAMILIES` are kept out of all tuning.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from collections.abc import Sequence
from typing import Callable

import numpy as np
from scipy import stats

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


def _gaussian_radius_quantile(d: int, scale: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """Quantile function of ``|z|``, ``z ~ N(0, scale^2 I_d)`` (a scaled chi law)."""
    return lambda t: scale * stats.chi.ppf(t, d)


def _shell_radius_quantile(d: int, inner: float, outer: float) -> Callable[[np.ndarray], np.ndarray]:
    """Quantile function of ``|z|``, ``z`` uniform on the shell ``inner <= |z| <= outer`` of ``R^d``:
    ``P(|z| <= r) = (r^d - inner^d) / (outer^d - inner^d)``."""
    return lambda t: (inner**d + t * (outer**d - inner**d)) ** (1.0 / d)


def _student_radius_quantile(d: int, dof: float) -> Callable[[np.ndarray], np.ndarray]:
    """Quantile function of ``|z|``, ``z`` multivariate Student t (``dof`` degrees, identity
    scale) in ``R^d``: ``|z|^2 / d`` follows the F law with ``(d, dof)`` degrees."""
    return lambda t: np.sqrt(d * stats.f.ppf(t, d, dof))


def radial_w1(quantile_p: Callable[[np.ndarray], np.ndarray], quantile_q: Callable[[np.ndarray], np.ndarray],
              points: int = 2**16) -> float:
    """``W1(P, Q)`` of two rotation-invariant laws on ``R^d`` centred at the same point, from the
    quantile functions of their radii: ``int_0^1 |F_P^-1(t) - F_Q^-1(t)| dt`` (midpoint rule).

    Proof: moving each point along its ray by the monotone map of the radii costs that integral
    (the 1-D W1 of the radii); and for every 1-Lipschitz ``g`` on ``[0, inf)``, ``z -> g(|z|)`` is
    1-Lipschitz on ``R^d``, so ``W1(P, Q)`` is at least the 1-D dual value, the same integral
    (Villani 2009, Remark 6.5, and Thm. 2.18 on the line).
    """
    t = (np.arange(points) + 0.5) / points
    return float(np.mean(np.abs(quantile_p(t) - quantile_q(t))))


def _directions(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """``n`` uniform unit vectors of ``R^d``."""
    z = rng.normal(size=(n, d))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def uniform_shapes(d: int, shift: float = 0.1) -> DistributionPair:
    """``P`` uniform on the unit ball of ``R^d``, ``Q`` uniform on the cube ``[-1, 1]^d`` moved
    by ``shift e_1``: two overlapping shapes (W1 unknown)."""

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = _directions(rng, n, d) * rng.uniform(size=(n, 1)) ** (1.0 / d)
        y = rng.uniform(-1.0, 1.0, size=(n, d))
        y[:, 0] += shift
        return x, y

    return DistributionPair(sample)


def annuli(d: int, shell: tuple[float, float] = (0.5, 1.0), ball: float = 0.8) -> DistributionPair:
    """``P`` uniform on the shell ``shell[0] <= |z| <= shell[1]``, ``Q`` uniform on the ball of
    radius ``ball``, both centred at 0: population W1 by :func:`radial_w1`."""

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = _directions(rng, n, d) * _shell_radius_quantile(d, *shell)(rng.uniform(size=n))[:, None]
        y = _directions(rng, n, d) * _shell_radius_quantile(d, 0.0, ball)(rng.uniform(size=n))[:, None]
        return x, y

    return DistributionPair(sample, radial_w1(_shell_radius_quantile(d, *shell), _shell_radius_quantile(d, 0.0, ball)))


def _mixture(rng: np.random.Generator, n: int, d: int, centres: np.ndarray, weights: np.ndarray, sd: float) -> np.ndarray:
    """``n`` samples of ``sum_k w_k N(c_k, sd^2 I_d)`` (centres given in the first coordinates)."""
    component = rng.choice(len(weights), size=n, p=weights)
    points = rng.normal(scale=sd, size=(n, d))
    points[:, : centres.shape[1]] += centres[component]
    return points


TRIANGLE = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.866]])
"""Centres of the three-component mixtures of :func:`overlapping_mixtures`."""


def overlapping_mixtures(d: int) -> DistributionPair:
    """Two mixtures of three Gaussians on the same triangle of centres (side 1), overlapping:
    weights ``(1/3, 1/3, 1/3)``, sd 0.4 against ``(0.5, 0.3, 0.2)``, sd 0.5 (W1 unknown)."""

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = _mixture(rng, n, d, TRIANGLE, np.full(3, 1 / 3), 0.4)
        return x, _mixture(rng, n, d, TRIANGLE, np.array([0.5, 0.3, 0.2]), 0.5)

    return DistributionPair(sample)


def _student(rng: np.random.Generator, n: int, d: int, dof: float) -> np.ndarray:
    """``n`` samples of the multivariate Student t law (identity scale): ``z sqrt(dof / u)``,
    ``z ~ N(0, I_d)``, ``u ~ chi^2(dof)``."""
    return rng.normal(size=(n, d)) * np.sqrt(dof / rng.chisquare(dof, size=(n, 1)))


def mixture_vs_heavy_tail(d: int, dof: float = 3.0) -> DistributionPair:
    """``P = (N(-1.5 e_1, I) + N(1.5 e_1, I)) / 2`` against the multivariate Student t law with
    ``dof`` degrees (W1 unknown)."""

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        x = _mixture(rng, n, d, np.array([[-1.5], [1.5]]), np.full(2, 0.5), 1.0)
        return x, _student(rng, n, d, dof)

    return DistributionPair(sample)


def student_vs_gaussian(d: int, dof: float = 4.0) -> DistributionPair:
    """The multivariate Student t law (``dof`` degrees) against ``N(0, I_d)``: both radial,
    population W1 by :func:`radial_w1`."""

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return _student(rng, n, d, dof), rng.normal(size=(n, d))

    return DistributionPair(sample, radial_w1(_student_radius_quantile(d, dof), _gaussian_radius_quantile(d)))


def anisotropic_gaussians(d: int, ratio: float = 10.0) -> DistributionPair:
    """``N(0, diag(s)^2)`` against ``N(0, diag(reversed s)^2)``, ``s`` log-spaced from
    ``ratio^(-1/2)`` to ``ratio^(1/2)``: the long axis turns into the short one (W1 unknown)."""
    s = np.geomspace(ratio**-0.5, ratio**0.5, d)

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return rng.normal(size=(n, d)) * s, rng.normal(size=(n, d)) * s[::-1]

    return DistributionPair(sample)


MEAN_DISTANCE_TO_SQUARE_CENTRE = (math.sqrt(2) + math.asinh(1)) / 6
"""``E|v|`` for ``v`` uniform on the unit square centred at 0."""


def discrete_vs_continuous(k: int = 5) -> DistributionPair:
    """``P`` uniform on ``[0, 1]^2``, ``Q`` uniform on the ``k x k`` cell centres of its grid.

    Population ``W1 = E|v| / k`` (:data:`MEAN_DISTANCE_TO_SQUARE_CENTRE`): sending each point to
    its cell's centre is a coupling of that cost, and the distance to the nearest centre is
    1-Lipschitz, zero on ``Q``, with that mean under ``P``.
    """

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return rng.uniform(size=(n, 2)), (rng.integers(0, k, size=(n, 2)) + 0.5) / k

    return DistributionPair(sample, MEAN_DISTANCE_TO_SQUARE_CENTRE / k)


def concentric_spheres(d: int, radius: float = 1.25) -> DistributionPair:
    """Uniform on the unit sphere of ``R^d`` against uniform on the sphere of ``radius``: data on
    manifolds; population ``W1 = |radius - 1|`` (:func:`radial_w1` with constant radii)."""

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return _directions(rng, n, d), radius * _directions(rng, n, d)

    return DistributionPair(sample, abs(radius - 1.0))


def translated_curve(d: int, shift: float = 0.3) -> DistributionPair:
    """Uniform on the closed curve ``(cos t, sin t, 0.3 sin 3t)`` (first coordinates of ``R^d``,
    ``d >= 3``) against its translate by ``shift`` along ``(1, ..., 1) / sqrt(d)``.

    Population ``W1 = |shift|``: the translation costs ``|shift|`` and the 1-Lipschitz
    ``f(z) = -<z, u>`` (``u`` the unit direction) has that gap; the same holds for any law.
    """
    direction = np.full(d, 1.0 / math.sqrt(d))

    def sample(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        curves = []
        for _ in range(2):
            t = rng.uniform(0.0, 2 * math.pi, size=n)
            points = np.zeros((n, d))
            points[:, :3] = np.stack([np.cos(t), np.sin(t), 0.3 * np.sin(3 * t)], axis=1)
            curves.append(points)
        return curves[0], curves[1] + shift * direction

    return DistributionPair(sample, abs(shift))


@dataclass(frozen=True)
class SuitePair:
    """One pair of the benchmark suite: ``family`` in dimension ``dim``; ``tuning`` says whether
    the defaults of :mod:`critics.defaults` may be tuned on it (held-out families are not)."""

    family: str
    dim: int
    pair: DistributionPair
    tuning: bool

    @property
    def name(self) -> str:
        """``family-d<dim>``."""
        return f"{self.family}-d{self.dim}"


HELD_OUT_FAMILIES = frozenset({"heavy-tails", "discrete-vs-continuous", "spheres"})
"""Families kept out of all tuning of the defaults, reported apart."""

SUITE_FAMILIES: dict[str, tuple[Callable[[int], DistributionPair], tuple[int, ...]]] = {
    "shapes": (uniform_shapes, (2, 3)),
    "annuli": (annuli, (2, 3)),
    "mixtures": (overlapping_mixtures, (2, 10)),
    "heavy-tails": (mixture_vs_heavy_tail, (2, 10)),
    "student-vs-gaussian": (student_vs_gaussian, (2, 10)),
    "anisotropic": (anisotropic_gaussians, (2, 16)),
    "discrete-vs-continuous": (lambda d: discrete_vs_continuous(), (2,)),
    "spheres": (concentric_spheres, (3, 16, 64)),
    "curve": (translated_curve, (3, 16)),
    "translate": (translated_gaussians, (2, 16, 64)),
    "scale": (scaled_gaussians, (2, 12, 16, 64)),
    "ring": (lambda d: toy_pair("8gaussians", "gaussian"), (2,)),
    "grid-gaussians": (lambda d: toy_pair("25gaussians", "gaussian"), (2,)),
}
"""The suite's families: ``name -> (pair of a dimension, dimensions)``."""


def w1_suite(families: Sequence[str] | None = None) -> list[SuitePair]:
    """Every pair of the benchmark suite (or of the named ``families``), one per family and
    dimension, in the order of :data:`SUITE_FAMILIES`. Raises ``KeyError`` for an unknown family."""
    names = list(SUITE_FAMILIES) if families is None else list(families)
    out = []
    for family in names:
        make, dims = SUITE_FAMILIES[family]
        out += [SuitePair(family, d, make(d), family not in HELD_OUT_FAMILIES) for d in dims]
    return out
