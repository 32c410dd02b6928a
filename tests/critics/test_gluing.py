"""The glued bracket: ``lower <= exact <= upper`` against ``ot.emd2`` on weighted problems, every
cone function is certified on the stated side, and chunking changes nothing."""

import numpy as np
import ot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critics.exact import exact_w1
from critics.cones import cone_lower_bound, cone_values
from critics.envelope import cone_envelope
from critics import gluing
from critics.gluing import glued_bracket, glued_coupling
from critics import local_envelope
from critics.local_envelope import local_envelope_lower_bound
from critics.quantize import cell_means, quantize


def _problem(seed: int, n: int, m: int, d: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) * rng.uniform(0.5, 2.0) + rng.normal(size=d)
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    return x, y, a / a.sum(), b / b.sum()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 40),
    m=st.integers(1, 40),
    d=st.integers(1, 4),
    cells=st.integers(1, 12),
)
def test_bracket_contains_exact_w1(seed, n, m, d, cells):
    x, y, a, b = _problem(seed, n, m, d)
    result = glued_bracket(x, y, a, b, cells, seed=seed, group_points=int(seed % 7), envelope=seed % 2 == 0,
                           passes=seed % 4, block_points=1 + seed % 9)
    exact = exact_w1(x, y, a, b)
    # ``exact`` is ot.emd's float sum of n + m - 1 plan entries times costs: relative rounding
    # up to about (n + m) 2^-53 on the reference itself, allowed on both sides (not on the bounds)
    assert result.lower - 1e-12 * exact <= exact <= result.upper + 1e-12 * exact
    assert result.cells_x <= min(cells, n) and result.cells_y <= min(cells, m)
    assert result.upper <= result.glued_upper


def test_refinement_rounds_stop_at_the_tolerance():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(800, 2))
    y = rng.uniform(size=(800, 2)) * 0.9 + 0.2
    a = b = np.full(800, 1 / 800)
    every = glued_bracket(x, y, a, b, 60, passes=3, block_points=100)
    loose = glued_bracket(x, y, a, b, 60, passes=3, block_points=100, tolerance=1.0)
    assert every.passes == 3 and every.upper < every.glued_upper
    assert every.upper - every.lower > 1e-3 * every.lower
    assert loose.passes == 0 and loose.upper == loose.glued_upper == every.glued_upper
    assert loose.lower == every.lower


@pytest.mark.parametrize("d, envelope", [(2, True), (2, False), (10, False)])
def test_one_cell_per_point_is_exact(d, envelope):
    """Without the envelope too (``choose_bounds`` leaves it out there): the cone potential of the
    exact duals attains the optimum."""
    x, y, a, b = _problem(3, 30, 20, d)
    result = glued_bracket(x, y, a, b, 100, envelope=envelope)
    exact = exact_w1(x, y, a, b)
    assert result.cells_x == 30 and result.cells_y == 20
    # relative 1e-12: ot.emd's own rounding of the reference (test_bracket_contains_exact_w1)
    assert abs(result.upper - exact) < 1e-12 * exact and exact - result.lower < 1e-12 * exact


def test_bracket_tightens_with_cells():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(600, 2))
    y = rng.uniform(size=(600, 2)) * 0.8 + 0.3
    a = b = np.full(600, 1 / 600)
    exact = exact_w1(x, y, a, b)
    coarse = glued_bracket(x, y, a, b, 10)
    fine = glued_bracket(x, y, a, b, 150)
    assert fine.upper - fine.lower < coarse.upper - coarse.lower
    assert (fine.upper - fine.lower) / exact < 0.1


def test_any_partition_and_plan_give_an_upper_bound():
    x, y, a, b = _problem(5, 50, 35, 3)
    rng = np.random.default_rng(1)
    qx = cell_means(x, a, rng.integers(0, 6, size=50))
    qy = cell_means(y, b, rng.integers(0, 4, size=35))
    independent = np.outer(qx.masses, qy.masses)
    exact = exact_w1(x, y, a, b)
    for group in (1, 2, 4):
        coupling = glued_coupling(x, y, a, b, qx, qy, independent, group)
        assert np.allclose(np.bincount(coupling.rows, coupling.masses, 50), a, rtol=1e-12, atol=0)
        assert np.allclose(np.bincount(coupling.cols, coupling.masses, 35), b, rtol=1e-12, atol=0)
        assert coupling.cost(x, y) >= exact - 1e-12


def test_groups_of_a_side_with_few_distinct_points_stay_small(monkeypatch):
    """Discrete against continuous (25 atoms, 4000 points a side): the exact problems of the glued
    coupling stay near the group size in points, not one problem over all of the discrete side."""
    rng = np.random.default_rng(3)
    x, y = rng.uniform(size=(4000, 2)), (rng.integers(0, 5, size=(4000, 2)) + 0.5) / 5
    a = b = np.full(4000, 1 / 4000)
    sizes = []
    original = gluing.euclidean_costs
    monkeypatch.setattr(gluing, "euclidean_costs", lambda p, q: sizes.append(len(p) * len(q)) or original(p, q))
    bracket = glued_bracket(x, y, a, b, 200, envelope=False)
    assert max(sizes) < 4000 * 4000 / 8
    assert bracket.lower <= exact_w1(x, y, a, b) <= bracket.upper


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), d=st.integers(1, 5), sign=st.sampled_from([-1.0, 1.0]))
def test_cone_values_are_certified_on_each_side(seed, d, sign):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(60, d)) * 10.0 ** rng.uniform(-3, 3)
    points[:5] = points[5:10] + 1e-9  # near-coincident pairs: the Gram formula's hard case
    centers = np.concatenate([points[5:10], rng.normal(size=(7, d))])
    values = rng.normal(size=12)
    exact = sign * np.min(np.linalg.norm(points[:, None] - centers[None], axis=2) - values[None], axis=1)
    below = cone_values(points, centers, values, sign, -1.0)
    above = cone_values(points, centers, values, sign, +1.0)
    scale = np.max(np.abs(exact)) + np.max(np.abs(points)) + 1.0
    assert np.all(below <= above)
    assert np.all(exact - below >= -1e-13 * scale) and np.all(above - exact >= -1e-13 * scale)
    assert np.max(above - below) < 1e-6 * scale


def test_cone_lower_bound_is_independent_of_chunking():
    x, y, a, b = _problem(7, 45, 33, 2)
    centers = np.random.default_rng(2).normal(size=(9, 2))
    values = np.random.default_rng(3).normal(size=9)
    whole, phi = cone_lower_bound(x, y, a, b, centers, values, 1.0)
    chunked, phi_chunked = cone_lower_bound(x, y, a, b, centers, values, 1.0, chunk_entries=10)
    assert np.allclose(phi, phi_chunked, rtol=0, atol=1e-14)
    assert chunked == pytest.approx(whole, rel=1e-12)
    assert max(whole, chunked) <= exact_w1(x, y, a, b)


def test_identical_and_single_point_measures():
    x, _, a, _ = _problem(9, 25, 1, 2)
    same = glued_bracket(x, x.copy(), a, a.copy(), 5)
    assert same.lower <= 0.0 <= same.upper
    single = glued_bracket(x[:1], x[1:2], np.ones(1), np.ones(1), 3)
    distance = float(np.linalg.norm(x[0] - x[1]))
    assert single.lower <= distance <= single.upper
    assert single.upper == pytest.approx(distance, rel=1e-12)
    assert single.lower == pytest.approx(distance, rel=1e-12)


def test_zero_weights_and_duplicate_points():
    x, y, a, b = _problem(11, 30, 30, 2)
    a[:10] = 0.0
    a /= a.sum()
    y[15:] = y[0]
    result = glued_bracket(x, y, a, b, 6)
    assert result.lower <= exact_w1(x, y, a, b) <= result.upper + 1e-12


@pytest.mark.parametrize("cells", [3, 20])  # 3: Lloyd fitted on a subsample of 96 points
def test_quantize_cells_are_cell_means_and_deterministic(cells):
    x, _, a, _ = _problem(13, 200, 1, 3)
    first = quantize(x, a, cells, seed=4)
    second = quantize(x, a, cells, seed=4)
    assert np.array_equal(first.labels, second.labels)
    assert first.masses.sum() == pytest.approx(1.0)
    for cell, members in enumerate(first.members()):
        assert len(members) > 0
        mean = a[members] @ x[members] / a[members].sum()
        assert np.allclose(first.centers[cell], mean, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 40),
    m=st.integers(1, 40),
    cells=st.integers(1, 8),
    d=st.integers(1, 3),
)
def test_local_envelope_is_a_lower_bound_for_any_values(seed, n, m, cells, d):
    x, y, a, b = _problem(seed, n, m, d)
    qx, qy = quantize(x, a, cells, seed=seed), quantize(y, b, cells, seed=seed + 1)
    f_x = np.random.default_rng(seed).normal(size=n) * 3.0
    exact = exact_w1(x, y, a, b)
    # the allowance is on ot.emd's float reference, as in test_bracket_contains_exact_w1
    assert local_envelope_lower_bound(x, y, a, b, qx, qy, f_x) <= exact + 1e-12 * exact


@pytest.mark.parametrize("cells, d", [(1, 2), (7, 2), (40, 2), (40, 3)])
def test_pruned_transforms_are_the_cone_envelope(cells, d):
    x, y, a, b = _problem(17, 300, 250, d)
    qx, qy = quantize(x, a, cells), quantize(y, b, cells, seed=1)
    f_x = np.random.default_rng(4).normal(size=300) * 0.01 + x[:, 0]
    _, g_x, g_y, _ = cone_envelope(x, y, f_x)
    bound = local_envelope_lower_bound(x, y, a, b, qx, qy, f_x)
    assert bound <= a @ g_x - b @ g_y
    assert bound == pytest.approx(a @ g_x - b @ g_y, rel=1e-10)  # the rounding guard, about (n + m) 2^-53 times the values


def test_pruned_transforms_do_not_depend_on_the_table_blocks(monkeypatch):
    x, y, a, b = _problem(8, 200, 150, 3)
    qx, qy = quantize(x, a, 30), quantize(y, b, 30, seed=1)
    f_x = np.random.default_rng(2).normal(size=200) * 0.01 + x[:, 1]
    whole = local_envelope_lower_bound(x, y, a, b, qx, qy, f_x)
    monkeypatch.setattr(local_envelope, "TABLE_ENTRIES", 70)
    assert local_envelope_lower_bound(x, y, a, b, qx, qy, f_x) == pytest.approx(whole, rel=1e-12)


def test_a_coupling_off_its_marginals_still_bounds_from_above():
    from critics.coupling import SparseCoupling
    from critics.gluing import _cost_up

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(40, 2)) + 0.5
    a, b = np.full(30, 1 / 30), np.full(40, 1 / 40)
    plan = ot.emd(a, b, ot.dist(x, y, metric="euclidean"))
    rows, cols = np.nonzero(plan)
    exact = float(ot.emd2(a, b, ot.dist(x, y, metric="euclidean")))
    shrunk = SparseCoupling(rows, cols, plan[rows, cols] * (1 - 1e-2))  # marginals 1% short: cost below W1
    assert shrunk.cost(x, y) < exact <= _cost_up(shrunk, x, y, a, b)
    exact_plan = SparseCoupling(rows, cols, plan[rows, cols])
    assert exact <= _cost_up(exact_plan, x, y, a, b) <= exact * (1 + 1e-9)
