"""critics.distributions: seeded pairs, and the known population W1 against exact OT."""

import math

import numpy as np
import pytest

from critics import exact_w1
from scipy import stats

from critics.distributions import (
    HELD_OUT_FAMILIES, SUITE_FAMILIES, annuli, concentric_spheres, discrete_vs_continuous, gaussian_norm_mean,
    mnist_digits, radial_w1, scaled_gaussians, student_vs_gaussian, toy_pair, translated_curve, translated_gaussians,
    w1_suite,
)


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


def test_the_suite_spans_its_families_and_dimensions():
    suite = w1_suite()
    families = {entry.family for entry in suite}
    assert len(families) >= 12 and families == set(SUITE_FAMILIES)
    assert min(e.dim for e in suite) == 2 and max(e.dim for e in suite) == 64
    assert HELD_OUT_FAMILIES < families
    assert all(e.tuning == (e.family not in HELD_OUT_FAMILIES) for e in suite)
    assert len({e.name for e in suite}) == len(suite)
    assert sum(e.pair.w1 is not None for e in suite) >= 12
    assert [e.family for e in w1_suite(["spheres"])] == ["spheres"] * 3
    with pytest.raises(KeyError):
        w1_suite(["nothing"])


@pytest.mark.parametrize("entry", w1_suite(), ids=lambda e: e.name)
def test_every_suite_pair_is_seeded(entry):
    x, y = entry.pair(30, 3)
    assert x.shape == y.shape == (30, entry.dim) and x.dtype == y.dtype == np.float64
    again = entry.pair(30, 3)
    assert np.array_equal(x, again[0]) and np.array_equal(y, again[1])
    assert not np.array_equal(x, entry.pair(30, 4)[0])


@pytest.mark.parametrize("d, c", [(2, 1.6), (12, 1.6), (64, 0.5)])
def test_radial_w1_matches_the_closed_form_of_scaled_gaussians(d, c):
    chi = lambda t: stats.chi.ppf(t, d)  # noqa: E731
    assert radial_w1(lambda t: c * chi(t), chi) == pytest.approx(scaled_gaussians(d, c).w1, rel=1e-4)


@pytest.mark.parametrize("pair", [annuli(2), annuli(3), student_vs_gaussian(2), concentric_spheres(16)],
                         ids=["annuli2", "annuli3", "student2", "spheres16"])
def test_radial_w1_is_the_w1_of_the_sampled_radii(pair):
    """The known value is the 1-D W1 of the radii: match the sorted radii of many samples."""
    x, y = pair(200_000, 0)
    radii = [np.sort(np.linalg.norm(z, axis=1)) for z in (x, y)]
    assert float(np.mean(np.abs(radii[0] - radii[1]))) == pytest.approx(pair.w1, rel=0.02)


def test_discrete_vs_continuous_is_the_mean_distance_to_the_nearest_centre():
    pair = discrete_vs_continuous(4)
    x, y = pair(100_000, 0)
    centres = (np.floor(x * 4) + 0.5) / 4
    assert np.linalg.norm(x - centres, axis=1).mean() == pytest.approx(pair.w1, rel=0.01)
    assert len(np.unique(y, axis=0)) == 16


@pytest.mark.parametrize("pair", [translated_curve(16), annuli(2), discrete_vs_continuous()], ids=["curve", "annuli", "grid"])
def test_known_w1_near_exact_ot_of_samples(pair):
    """1500 points: the empirical W1 lies near the population one (biased upward, by n^(-1/d) at most)."""
    x, y = pair(1500, 0)
    assert 0.97 * pair.w1 <= exact_w1(x, y) <= 1.3 * pair.w1
