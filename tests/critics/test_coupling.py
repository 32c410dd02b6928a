"""The matched-block coupling is feasible: its cost never falls below exact OT, and equals it
with one block."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from critics.coupling import SparseCoupling, block_coupling_cost, refine_coupling, resolve_blocks
from critics.exact import exact_w1


def _problem(seed: int, n: int, m: int, d: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = rng.normal(size=(m, d)) * rng.uniform(0.5, 2.0) + rng.normal(size=d)
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    return x, y, a / a.sum(), b / b.sum(), rng


def test_one_block_is_exact():
    x, y, a, b, rng = _problem(0, 40, 25, 3)
    cost = block_coupling_cost(x, y, a, b, rng.random(40), rng.random(25), block_size=100)
    assert abs(cost - exact_w1(x, y, a, b)) < 1e-10


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(1, 30),
    m=st.integers(1, 30),
    d=st.integers(1, 4),
    block=st.integers(1, 12),
)
def test_blocks_bound_exact_ot_from_above(seed, n, m, d, block):
    x, y, a, b, rng = _problem(seed, n, m, d)
    cost = block_coupling_cost(x, y, a, b, rng.normal(size=n), rng.normal(size=m), block_size=block)
    assert cost >= exact_w1(x, y, a, b) - 1e-9


def test_one_dimensional_sorted_blocks_are_exact():
    # In 1-D the monotone (quantile) coupling is optimal, so sorting by the coordinate is exact
    # for any block size.
    x, y, a, b, _ = _problem(3, 50, 70, 1)
    cost = block_coupling_cost(x, y, a, b, x[:, 0], y[:, 0], block_size=5)
    assert abs(cost - exact_w1(x, y, a, b)) < 1e-9


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 40), m=st.integers(1, 40), d=st.integers(1, 3),
       passes=st.integers(1, 4), block=st.integers(1, 20))
def test_refined_coupling_keeps_the_marginals_and_never_costs_more(seed, n, m, d, passes, block):
    x, y, a, b, rng = _problem(seed, n, m, d)
    start = SparseCoupling(*np.nonzero(np.outer(a, b)), np.outer(a, b)[np.nonzero(np.outer(a, b))])
    refined, rounds = refine_coupling(x, y, start, passes, block, seed=seed)
    assert rounds == passes
    assert np.allclose(np.bincount(refined.rows, refined.masses, n), a, rtol=1e-12, atol=0)
    assert np.allclose(np.bincount(refined.cols, refined.masses, m), b, rtol=1e-12, atol=0)
    assert exact_w1(x, y, a, b) * (1 - 1e-12) <= refined.cost(x, y) <= start.cost(x, y) * (1 + 1e-12)


def test_refinement_stops_when_done_and_matches_the_rounds_run_without_it():
    x, y, a, b, _ = _problem(4, 60, 50, 2)
    plan = np.outer(a, b)
    start = SparseCoupling(*np.nonzero(plan), plan[np.nonzero(plan)])
    asked = []

    def done_after_two(coupling):
        asked.append(coupling.cost(x, y))
        return len(asked) > 2

    stopped, rounds = refine_coupling(x, y, start, 5, 10, seed=3, done=done_after_two)
    two, _ = refine_coupling(x, y, start, 2, 10, seed=3)
    assert rounds == 2 and len(asked) == 3
    assert stopped.cost(x, y) == two.cost(x, y) < start.cost(x, y)
    unrefined, none = refine_coupling(x, y, start, 5, 10, done=lambda coupling: True)
    assert unrefined is start and none == 0


def test_one_block_is_exact_ot():
    x, y, a, b, _ = _problem(2, 30, 25, 2)
    plan = np.outer(a, b)
    start = SparseCoupling(*np.nonzero(plan), plan[np.nonzero(plan)])
    assert resolve_blocks(x, y, start, np.zeros(len(start.masses), dtype=np.int64)).cost(x, y) == pytest.approx(
        exact_w1(x, y, a, b), rel=1e-12)
