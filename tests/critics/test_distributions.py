"""critics.distributions: seeded pairs, and the known population W1 against exact OT."""

import math

import numpy as np
import pytest

from critics import exact_w1
from critics.distributions import gaussian_norm_mean, mnist_digits, scaled_gaussians, toy_pair, translated_gaussians


def sorted_w1(x: np.ndarray, y: np.ndarray) -> float:
    """Exact W1 of two equal-size sets on the line: match them in sorted order."""
    return float(np.mean(np.abs(np.sort(x[:, 0]) - np.sort(y[:, 0]))))


@pytest.mark.parametrize("pair", [translated_gaussians(3), scaled_gaussians(3), toy_pair("8gaussians", "gaussian")])
def test_same_seed_same_samples(pair):
    x, y = pair(50, 4)
    assert x.shape == y.shape == (50, pair(1, 0)[0].shape[1]) and x.dtype == np.float64
    again = pair(50, 4)
    assert np.array_equal(x, again[0]) and np.array_equal(y, again[1])
    assert not np.array_equal(x, pair(50, 5)[0])


def test_gaussian_norm_mean():
    assert gaussian_norm_mean(1) == pytest.approx(math.sqrt(2 / math.pi))
    assert gaussian_norm_mean(2) == pytest.approx(math.sqrt(math.pi / 2))
    z = np.random.default_rng(0).normal(size=(200_000, 16))
    assert gaussian_norm_mean(16) == pytest.approx(np.linalg.norm(z, axis=1).mean(), rel=2e-3)


@pytest.mark.parametrize("pair, w1", [(translated_gaussians(1, shift=-0.7), 0.7), (scaled_gaussians(1, c=1.5), 0.5 * math.sqrt(2 / math.pi))])
def test_known_w1_matches_exact_ot_on_many_samples(pair, w1):
    assert pair.w1 == pytest.approx(w1)
    x, y = pair(200_000, 0)
    assert sorted_w1(x, y) == pytest.approx(w1, abs=0.01)


def test_known_w1_in_higher_dimension():
    """d = 4, 1500 points: the empirical W1 lies near the population one (biased upward)."""
    x, y = translated_gaussians(4)(1500, 0)
    assert 1.0 <= exact_w1(x, y) <= 1.3
    assert toy_pair("8gaussians", "gaussian").w1 is None


def test_mnist_digits_needs_its_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        mnist_digits(0, 1, root=tmp_path)(5, 0)
