"""choose_training: estimate_w1's default training settings, a pure function of the problem size."""

import pytest

from critics.defaults import (
    DEEP_CRITIC_LR, FULL_BATCH, LARGE_PROBLEM, MINI_BATCH, SMALL_PROBLEM, TrainingPlan, choose_training,
    heldout_counts,
)
from lipapps.errors import InputError


@pytest.mark.parametrize("n, m, fraction, expected", [
    (10, 10, 0.2, (2, 2)), (3, 100, 0.2, (1, 20)), (2, 2, 0.9, (1, 1)), (10, 1, 0.2, (0, 0)), (10, 10, 0.0, (0, 0)),
])
def test_heldout_counts(n, m, fraction, expected):
    """round(fraction * n), at least one point held out and one kept; none without a split."""
    assert heldout_counts(n, m, fraction) == expected


def test_small_low_dimensional_problems_get_the_deep_full_batch_critic():
    plan = choose_training(1000, 1000, 2)  # 800 + 800 training points: one full batch
    depth, lr, steps = SMALL_PROBLEM
    assert plan == TrainingPlan(depth=depth, lr=lr, epochs=steps, batch_size=1600, train_points=1600)


@pytest.mark.parametrize("n, d", [(1000, 4), (10_000, 2)])
def test_high_dimension_or_mini_batches_get_the_large_problem_defaults(n, d):
    plan = choose_training(n, n, d)
    depth, lr, steps = LARGE_PROBLEM
    pooled = 2 * (n - n // 5)
    batch = pooled if pooled <= FULL_BATCH else MINI_BATCH
    batches = -(-pooled // batch)
    assert (plan.depth, plan.lr, plan.batch_size, plan.train_points) == (depth, lr, batch, pooled)
    assert plan.epochs == max(1, -(-steps // batches))
    assert (plan.epochs - 1) * batches < steps <= plan.epochs * batches  # the fewest epochs reaching the steps


def test_full_batch_threshold():
    """Up to FULL_BATCH pooled training points, one batch; one more point, mini-batches."""
    n = FULL_BATCH // 2 * 5 // 4  # 0.8 n a side: FULL_BATCH pooled
    assert choose_training(n, n, 5).batch_size == FULL_BATCH
    assert choose_training(n + 2, n + 2, 5).batch_size == MINI_BATCH


@pytest.mark.parametrize("depth, lr, expected_lr", [(4, None, LARGE_PROBLEM[1]), (12, None, DEEP_CRITIC_LR), (12, 0.05, 0.05)])
def test_a_deeper_critic_than_the_default_gets_the_smaller_step(depth, lr, expected_lr):
    plan = choose_training(40, 40, 5, depth=depth, lr=lr)
    assert (plan.depth, plan.lr) == (depth, expected_lr)


def test_given_values_are_kept():
    plan = choose_training(50, 30, 2, heldout_fraction=0.0, epochs=7, batch_size=1000, lr=0.2, depth=2)
    assert plan == TrainingPlan(depth=2, lr=0.2, epochs=7, batch_size=80, train_points=80)
    assert choose_training(50, 30, 2, batch_size=16).batch_size == 16


@pytest.mark.parametrize("options, message", [
    ({"heldout_fraction": 1.0}, "heldout_fraction"), ({"epochs": 0}, "epochs"), ({"batch_size": 0}, "positive"),
    ({"lr": 0.0}, "positive"), ({"depth": 0}, "positive"),
])
def test_bad_settings_are_refused(options, message):
    with pytest.raises(InputError, match=message):
        choose_training(10, 10, 2, **options)
