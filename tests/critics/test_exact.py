"""Exact W1: the cost matrix is accurate where the Gram form of the distance cancels."""

from fractions import Fraction

import numpy as np
import ot

from critics.exact import euclidean_costs, exact_w1


def test_costs_of_near_coincident_points_are_exact_to_a_few_ulps():
    x = np.array([[-1.04378386], [3.0]])
    y = x + np.array([[8e-6], [1e-9]])
    costs = euclidean_costs(x, y)
    truth = np.abs(np.subtract.outer(x[:, 0], y[:, 0]))
    assert np.allclose(costs, truth, rtol=4e-16, atol=0)
    gram = ot.dist(x, y, metric="euclidean")
    assert np.max(np.abs(gram - truth) / truth) > 1e-12  # the form the costs avoid


def test_exact_w1_of_one_point_against_many_is_the_weighted_mean_distance():
    rng = np.random.default_rng(349)
    x, y = rng.normal(size=(1, 1)), rng.normal(size=(22, 1))
    y[-1] = x[0] + 8e-6
    b = rng.random(22) + 0.1
    b /= b.sum()
    truth = sum(Fraction(float(w)) * abs(Fraction(float(x[0, 0])) - Fraction(float(v))) for w, v in zip(b, y[:, 0]))
    truth /= sum(Fraction(float(w)) for w in b)
    assert abs(Fraction(exact_w1(x, y, np.ones(1), b)) - truth) <= 1e-14 * truth
