"""critics.baselines: the WGAN-GP and spectral-norm/GroupSort critics the benchmarks compare with."""

import numpy as np
import pytest
import torch
from torch import nn

import critics.baselines as baselines
from critics.baselines import gp_critic, gradient_penalty, lipschitz_baseline, negative_gap, train_baseline
from critics.critic import kantorovich_gap


def pair(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + [1.0, 0.0]


def test_kantorovich_gap_of_a_linear_critic():
    """f(z) = <w, z>: the gap is <w, mean x - mean y>, and the critic's loss is its negation."""
    f = nn.Linear(2, 1, bias=True)
    x, y = (torch.from_numpy(a).float() for a in pair())
    with torch.no_grad():
        want = float(f.weight[0] @ (x.mean(0) - y.mean(0)))
        assert float(kantorovich_gap(f, x, y)) == pytest.approx(want, abs=1e-5)
        assert float(negative_gap(f, x, y)) == -float(kantorovich_gap(f, x, y))


def test_gradient_penalty_of_a_linear_critic_is_its_slope_gap():
    """grad <w, u> = w everywhere, so the penalty is (|w| - 1)^2 wherever u falls."""
    f = nn.Linear(3, 1)
    with torch.no_grad():
        f.weight.copy_(torch.tensor([[0.6, 0.0, 2.4]]))  # |w| = sqrt(6.12)
    x, y = torch.randn(8, 3), torch.randn(8, 3)
    penalty = gradient_penalty(f, x, y, torch.Generator().manual_seed(0))
    assert float(penalty.detach()) == pytest.approx((6.12**0.5 - 1) ** 2, rel=1e-5)


def test_gp_critic_shape():
    critic = gp_critic(5, width=16, hidden_layers=3)
    assert sum(isinstance(m, nn.Linear) for m in critic) == 4
    assert critic(torch.zeros(7, 5)).shape == (7, 1)


def test_fallback_without_deel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(baselines, "torchlip", None)
    name, critic, objective = lipschitz_baseline(2)
    assert name == "groupsort_reimplementation" and objective is negative_gap
    value, seconds = train_baseline(critic, *pair(), steps=3, objective=objective)
    assert np.isfinite(value) and seconds >= 0
    assert not critic.training


def test_wgan_gp_training_is_seeded():
    """Same critic initialisation, same numbers: train_baseline fixes its seed."""
    values = []
    for _ in range(2):
        torch.manual_seed(1)
        values.append(train_baseline(gp_critic(2, width=8), *pair(), gp_weight=10.0, steps=3)[0])
    assert values[0] == values[1]


def test_deel_critic_and_loss() -> None:
    pytest.importorskip("deel.torchlip")
    name, critic, objective = lipschitz_baseline(2)
    assert name == "deel_torchlip"
    x, y = pair()
    value, _ = train_baseline(critic, x, y, steps=3, objective=objective)
    assert not critic.training  # eval mode: fixed weights, so both objectives see the same function
    tx, ty = torch.from_numpy(x).float(), torch.from_numpy(y).float()
    with torch.no_grad():
        assert float(objective(critic, tx, ty)) == pytest.approx(-value, abs=1e-5)
        assert float(negative_gap(critic, tx, ty)) == pytest.approx(-value, abs=1e-5)
