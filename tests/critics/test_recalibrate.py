"""The critic's profile: the exact one-dimensional W1 of its values, and 1-Lipschitz."""

import numpy as np
import ot
import pytest

from critics.recalibrate import fit_profile


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_profile_reaches_the_one_dimensional_w1_of_the_values(seed):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_t(3, size=700), 1.3 * rng.normal(size=500)  # CDFs that cross: h is not monotone
    a, b = rng.random(700), rng.random(500)
    h = fit_profile(x, y, a, b)
    gap = a @ h(x) / a.sum() - b @ h(y) / b.sum()
    assert gap == pytest.approx(ot.wasserstein_1d(x, y, a / a.sum(), b / b.sum(), p=1), rel=1e-9)
    assert gap > abs(a @ x / a.sum() - b @ y / b.sum())  # better than the identity and its negative
    slopes = np.diff(h.values) / np.diff(h.knots)
    assert np.all(np.abs(slopes) <= 1 + 1e-9) and slopes.min() < 0 < slopes.max()


def test_a_shift_is_recovered_and_the_profile_is_constant_outside_the_values():
    x = np.array([0.0, 1.0, 2.0])
    h = fit_profile(x, x - 0.5)  # F_X = F_Y on [0, 0.5], [1, 1.5]: slope 0 there, 1 elsewhere
    assert h(x).mean() - h(x - 0.5).mean() == pytest.approx(0.5)
    assert np.allclose(h(np.array([-0.5, 0.0, 0.5, 1.0, 1.5, 2.0])), [0.0, 0.5, 0.5, 1.0, 1.0, 1.5])
    assert h(np.array([5.0]))[0] == 1.5 and h(np.array([-9.0]))[0] == 0.0
