"""choose_training: estimate_w1's default training settings, a pure function of the problem size."""

import pytest

from critics.defaults import (
    CHECK_STEPS, DEEP_CRITIC_LR, DEEP_MAX_POINTS, FINE_CELLS, FINE_MAX_POINTS, FULL_BATCH, REFINE_PASSES, REFINE_TOLERANCE,
    GLUING_MAX_DIMENSION, EXACT_GLUING_POINTS, LARGE_PROBLEM,
    MINI_BATCH, PATIENCE_STEPS, SMALL_PROBLEM, WARMUP_SHARE, BoundPlan, TrainingPlan, choose_bounds, choose_training,
    SHALLOW_DEPTH, deep_problem, heldout_counts, validation_counts,
)
from critics.gluing import DEFAULT_CELLS
from lipapps.errors import InputError


@pytest.mark.parametrize("n, m, fraction, expected", [
    (10, 10, 0.2, (2, 2)), (3, 100, 0.2, (1, 20)), (2, 2, 0.9, (1, 1)), (10, 1, 0.2, (0, 0)), (10, 10, 0.0, (0, 0)),
])
def test_heldout_counts(n, m, fraction, expected):
    """round(fraction * n), at least one point held out and one kept; none without a split."""
    assert heldout_counts(n, m, fraction) == expected


@pytest.mark.parametrize("n, m, heldout, fraction, expected", [
    (1000, 500, 0.2, 0.1, (100, 50)), (10, 10, 0.2, 0.1, (1, 1)), (3, 10, 0.2, 0.1, (0, 0)), (10, 10, 0.2, 0.0, (0, 0)),
    (10, 10, 0.5, 0.45, (4, 4)),
])
def test_validation_counts(n, m, heldout, fraction, expected):
    """round(fraction * n), at least one, leaving a training point after the held-out split."""
    assert validation_counts(n, m, heldout, fraction) == expected


def test_small_low_dimensional_problems_get_the_deep_full_batch_critic():
    plan = choose_training(1000, 1000, 2)  # 700 + 700 training points: one full batch
    depth, lr, steps = SMALL_PROBLEM
    assert plan == TrainingPlan(depth=depth, lr=lr, epochs=steps, batch_size=1400, train_points=1400,
                                validation_points=200, check_every=CHECK_STEPS,
                                check_from=round(WARMUP_SHARE * steps), patience=PATIENCE_STEPS // CHECK_STEPS,
                                depths=(depth,))


@pytest.mark.parametrize("n, d", [(1000, 4), (10_000, 2), (10**6, 16)])
def test_high_dimension_or_mini_batches_get_the_large_problem_defaults(n, d):
    plan = choose_training(n, n, d)
    depth, lr, steps = LARGE_PROBLEM
    pooled = 2 * (n - n // 5 - n // 10)
    batch = pooled if pooled <= FULL_BATCH else MINI_BATCH
    batches = -(-pooled // batch)
    assert (plan.depth, plan.lr, plan.batch_size, plan.train_points) == (depth, lr, batch, pooled)
    assert plan.epochs == max(1, -(-steps // batches))
    assert (plan.epochs - 1) * batches < steps <= plan.epochs * batches  # the fewest epochs reaching the steps


@pytest.mark.parametrize("d, depth", [(4, 16), (5, 20), (10, 24), (16, 24), (17, 28), (64, 32)])
def test_the_deep_critic_grows_with_the_dimension(d, depth):
    """Four layers more per doubling of the dimension, lr 0.01, 250 target steps a layer."""
    assert deep_problem(d) == (depth, DEEP_CRITIC_LR, 250 * depth)


@pytest.mark.parametrize("n, d", [(20_000, 12), (100_000, 64)])
def test_mini_batches_above_low_dimension_get_the_deep_critic(n, d):
    """Mini-batches in d > 3 up to DEEP_MAX_POINTS: deep_problem(d), early stopping."""
    plan = choose_training(n, n, d)
    depth, lr, steps = deep_problem(d)
    batches = -(-plan.train_points // MINI_BATCH)
    assert (plan.depth, plan.lr, plan.epochs) == (depth, lr, -(-steps // batches))
    assert plan.train_points <= DEEP_MAX_POINTS and plan.patience > 0
    assert plan.check_from * batches >= WARMUP_SHARE * steps and plan.patience * plan.check_every * batches >= PATIENCE_STEPS


def test_no_early_stopping_without_validation_points():
    plan = choose_training(100, 100, 2, validation_fraction=0.0)
    assert plan.validation_points == 0 and plan.patience == 0 and plan.train_points == 160


def test_full_batch_threshold():
    """Up to FULL_BATCH pooled training points, one batch; one more point, mini-batches."""
    n = FULL_BATCH // 2 * 10 // 7  # 0.7 n a side: FULL_BATCH pooled
    assert choose_training(n, n, 5).batch_size == FULL_BATCH
    assert choose_training(n + 2, n + 2, 5).batch_size == MINI_BATCH


@pytest.mark.parametrize("depth, lr, expected_lr", [(4, None, LARGE_PROBLEM[1]), (12, None, DEEP_CRITIC_LR), (12, 0.05, 0.05)])
def test_a_deeper_critic_than_the_default_gets_the_smaller_step(depth, lr, expected_lr):
    plan = choose_training(40, 40, 5, depth=depth, lr=lr)
    assert (plan.depth, plan.lr) == (depth, expected_lr)


def test_given_values_are_kept():
    plan = choose_training(50, 30, 2, heldout_fraction=0.0, validation_fraction=0.0, epochs=7, batch_size=1000,
                           lr=0.2, depth=2)
    assert plan == TrainingPlan(depth=2, lr=0.2, epochs=7, batch_size=80, train_points=80, check_every=CHECK_STEPS,
                                check_from=1000, depths=(2,))
    assert choose_training(50, 30, 2, batch_size=16).batch_size == 16


@pytest.mark.parametrize("options, message", [
    ({"heldout_fraction": 1.0}, "heldout_fraction"), ({"validation_fraction": 0.8}, "validation_fraction"),
    ({"validation_fraction": -0.1}, "validation_fraction"), ({"epochs": 0}, "epochs"), ({"batch_size": 0}, "positive"),
    ({"lr": 0.0}, "positive"), ({"depth": 0}, "positive"),
])
def test_bad_settings_are_refused(options, message):
    with pytest.raises(InputError, match=message):
        choose_training(10, 10, 2, **options)


@pytest.mark.parametrize("n, m, d, max_pairs, expected", [
    (2500, 2500, 2, 25_000_000, BoundPlan(cells=2500, envelope=False, refine=True)),
    (EXACT_GLUING_POINTS, 10, 2, 25_000_000, BoundPlan(cells=EXACT_GLUING_POINTS, envelope=False, refine=True)),
    (EXACT_GLUING_POINTS + 1, 10, 2, 25_000_000, BoundPlan(cells=FINE_CELLS, envelope=True, refine=True, passes=REFINE_PASSES, tolerance=REFINE_TOLERANCE)),
    (FINE_MAX_POINTS, 10, 2, 25_000_000, BoundPlan(cells=FINE_CELLS, envelope=True, refine=True, passes=REFINE_PASSES, tolerance=REFINE_TOLERANCE)),
    (FINE_MAX_POINTS + 1, 10, 2, 25_000_000, BoundPlan(cells=DEFAULT_CELLS, envelope=True, refine=True, passes=REFINE_PASSES, tolerance=REFINE_TOLERANCE)),
    (10**5, 10**5, 2, 25_000_000, BoundPlan(cells=DEFAULT_CELLS, envelope=True, refine=False, passes=REFINE_PASSES, tolerance=REFINE_TOLERANCE)),
    (2000, 3000, 3, 25_000_000, BoundPlan(cells=3000, envelope=False, refine=True)),
    (10**5, 10**5, 3, 25_000_000, BoundPlan(cells=DEFAULT_CELLS, envelope=True, refine=False, passes=REFINE_PASSES, tolerance=REFINE_TOLERANCE)),
    (5000, 5000, 16, 25_000_000, BoundPlan(cells=5000, envelope=False, refine=True)),
    (EXACT_GLUING_POINTS, 10, 16, 25_000_000, BoundPlan(cells=EXACT_GLUING_POINTS, envelope=False, refine=True)),
    (EXACT_GLUING_POINTS + 1, 10, 16, 25_000_000, BoundPlan(cells=0, envelope=False, refine=True)),
])
def test_choose_bounds(n, m, d, max_pairs, expected):
    """One cell per point up to EXACT_GLUING_POINTS a side in any dimension, beyond that gluing
    up to GLUING_MAX_DIMENSION only; the envelope and refinement rounds where cells < points."""
    refine = n * m <= max_pairs
    assert choose_bounds(n, m, d, refine=refine) == expected
    assert (expected.cells > 0) == (d <= GLUING_MAX_DIMENSION or max(n, m) <= EXACT_GLUING_POINTS)


@pytest.mark.parametrize("d, radial, expected", [(2, None, False), (3, None, False), (4, None, True), (256, None, True),
                                                 (257, None, False), (16, False, False), (2, True, True)])
def test_the_radial_term_is_on_between_the_low_dimensions_and_its_cost_limit_unless_told(d, radial, expected):
    assert choose_training(2000, 2000, d, radial=radial).radial is expected


@pytest.mark.parametrize("n, d, options, expected", [
    (20_000, 64, {}, (deep_problem(64)[0], SHALLOW_DEPTH)),
    (1000, 10, {}, (LARGE_PROBLEM[0], SHALLOW_DEPTH)),
    (20_000, 64, {"depth": 6}, (6,)),
    (20_000, 3, {}, (LARGE_PROBLEM[0],)),
    (20_000, 64, {"validation_fraction": 0.0}, (deep_problem(64)[0],)),
])
def test_a_shallow_critic_competes_above_the_low_dimensions_when_validation_can_choose(n, d, options, expected):
    plan = choose_training(n, n, d, **options)
    assert plan.depths == expected and plan.depth == expected[0]
