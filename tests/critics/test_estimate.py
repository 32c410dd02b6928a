"""estimate_w1: the certified bracket contains exact OT, the critic is certified, the held-out
interval is well formed, and bad input is refused."""

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import lipapps
from critics import choose_training, estimate_w1, exact_w1
from critics.envelope import cone_envelope
from lipapps.errors import InputError

TINY = dict(epochs=3, width=8, depth=1, batch_size=64, lr=0.05)


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(3, 40),
    m=st.integers(3, 40),
    d=st.integers(1, 3),
    weighted=st.booleans(),
    block=st.integers(2, 50),
)
def test_bracket_contains_exact_ot(seed, n, m, d, weighted, block):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0)
    y = rng.normal(size=(m, d)) + rng.normal(size=d) * 3
    wx = rng.random(n) + 0.01 if weighted else None
    wy = rng.random(m) + 0.01 if weighted else None
    r = estimate_w1(x, y, weights_x=wx, weights_y=wy, block_size=block, seed=seed % 1000, **TINY)
    assert r.exact is not None
    assert r.network_lower <= r.critic_lower + 1e-9 and r.critic_lower <= r.lower
    assert r.glued is not None and r.upper <= r.coupling_upper
    assert r.lower <= r.exact + 1e-9 <= r.upper + 2e-9


def test_trained_critic_is_certified_and_the_envelope_agrees():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    y = rng.normal(size=(150, 2)) * 0.5 + np.array([2.0, 0.0])
    r = estimate_w1(x, y, epochs=30, width=16, depth=2, batch_size=128, lr=0.03, heldout_fraction=0.25)
    bound = lipapps.certify(r.network).upper_bound
    assert bound <= 1.0
    assert r.certificate == pytest.approx(bound, rel=1e-6)
    probe = torch.from_numpy(np.concatenate([x, y])[:64]).float()
    assert lipapps.empirical_lipschitz(r.network, probe, steps=30) <= bound + 1e-4
    # the returned critic realises `lower` and is 1-Lipschitz
    with torch.no_grad():
        f_x = r.critic(torch.from_numpy(x)).squeeze(-1).numpy()
        f_y = r.critic(torch.from_numpy(y)).squeeze(-1).numpy()
    assert f_x.mean() - f_y.mean() == pytest.approx(r.critic_lower, abs=1e-9)
    assert r.lower >= r.critic_lower and r.upper <= r.coupling_upper
    assert lipapps.certify(r.critic).upper_bound == 1.0
    assert r.lower <= r.exact + 1e-9 <= r.upper + 2e-9
    # a trained critic is far better than nothing: the translation part of W1 is found
    assert r.lower > 0.8 * r.exact
    lo, hi = r.heldout_ci95
    assert lo < r.heldout < hi
    assert len(r.history) == 30


def test_envelope_only_improves_a_one_lipschitz_function():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(20, 3)) + 1
    direction = np.array([0.6, 0.0, 0.8])  # f(z) = <u, z> with |u| = 1
    env, g_x, h_y, target = cone_envelope(x, y, x @ direction)
    assert np.all(g_x >= x @ direction - 1e-12)
    assert np.all(h_y <= y @ direction + 1e-12)
    assert target.shape == (20,) and target.max() < 30
    a, b = np.full(30, 1 / 30), np.full(20, 1 / 20)
    assert a @ g_x - b @ h_y <= exact_w1(x, y) + 1e-9


def test_exact_never_and_unknown_mode():
    x, y = np.zeros((5, 2)), np.ones((6, 2))
    assert estimate_w1(x, y, exact="never", **TINY).exact is None
    with pytest.raises(InputError, match="exact must be one of"):
        estimate_w1(x, y, exact="sometimes", **TINY)


@pytest.mark.parametrize(
    "x, y, message",
    [
        (np.zeros((4, 2)), np.zeros((4, 3)), "different dimensions"),
        (np.zeros((0, 2)), np.zeros((4, 2)), "empty"),
        (np.array([[0.0, np.nan]]), np.zeros((4, 2)), "NaN"),
    ],
)
def test_bad_input(x, y, message):
    with pytest.raises(InputError, match=message):
        estimate_w1(x, y, **TINY)


@pytest.mark.parametrize("n, d, options", [(100, 2, {}), (100, 5, {"depth": 12}), (60, 2, {"batch_size": 16, "lr": 0.05})])
def test_the_critic_trains_as_planned(n, d, options):
    """The plan of choose_training is the one used: the critic's depth and the logged epochs."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, d)), rng.normal(size=(n, d)) + 1
    r = estimate_w1(x, y, epochs=2, width=8, exact="never", refine="never", **options)
    planned = choose_training(n, n, d, epochs=2, **options)
    assert r.plan == dataclasses.replace(planned, depth=r.plan.depth) and r.plan.depth in planned.depths
    assert r.network.config()["depth"] == r.plan.depth and len(r.history) == 2
    assert r.summary()["plan"]["depth"] == r.plan.depth


def test_the_shallow_critic_is_kept_on_a_translated_pair_in_high_dimension():
    """Above the low dimensions an affine-plus-radial critic competes with the deep one on the
    validation objective; on a translate its affine part is the exact potential, and it wins."""
    rng = np.random.default_rng(0)
    shift = np.zeros(32)
    shift[0] = 1.0
    x, y = rng.normal(size=(1500, 32)), rng.normal(size=(1500, 32)) + shift
    r = estimate_w1(x, y, width=16, exact="never", refine="never", seed=0)
    assert r.plan.depths[1] == 0 and r.plan.depth == 0 == r.network.config()["depth"]
    assert r.heldout_ci95[0] <= 1.0 <= r.heldout_ci95[1]
