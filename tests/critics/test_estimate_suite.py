"""estimate_w1 on every pair of the suite, small: the certified bracket contains exact OT, each
candidate bound is on its side, and the three splits of each set are disjoint."""

import numpy as np
import pytest
import torch
from torch import nn

from critics import estimate_w1
from critics.critic import ValidationStopping
from critics.distributions import w1_suite
from critics.estimate import _split

TINY = dict(epochs=3, width=8, depth=1, batch_size=64, lr=0.05)


@pytest.mark.parametrize("entry", w1_suite(), ids=lambda e: e.name)
def test_bracket_contains_exact_on_every_suite_pair(entry):
    x, y = entry.pair(60, 1)
    r = estimate_w1(x, y, seed=1, **TINY)
    assert r.exact is not None
    assert r.network_lower <= r.critic_lower + 1e-12 and r.critic_lower <= r.lower
    assert r.upper <= r.coupling_upper
    assert r.lower <= r.exact <= r.upper * (1 + 1e-12)
    assert r.glued is not None and r.bounds.cells == 60  # 60 points a side: glued in any dimension, one cell per point
    assert r.glued.lower <= r.exact <= r.glued.upper * (1 + 1e-12)


def test_the_three_splits_are_disjoint_and_cover_the_set():
    train, valid, test = _split(50, 10, 5, np.random.default_rng(0))
    assert (len(train), len(valid), len(test)) == (35, 5, 10)
    assert sorted(np.concatenate([train, valid, test]).tolist()) == list(range(50))


class Shift(nn.Module):
    """f(z) = <w, z>: a critic whose validation objective the test sets by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.w)[:, None]


def test_validation_stopping_keeps_the_best_critic_and_stops_after_patience():
    x, y = np.zeros((4, 2)), np.ones((4, 2))  # objective <w, x - y> = -(w_1 + w_2)
    a = b = np.full(4, 0.25)
    stopping = ValidationStopping(x, y, a, b, check_every=2, patience=2, check_from=3)
    critic = Shift()
    seen = []
    for epoch, w in enumerate([0.0, 0.0, -1.0, 0.0, 0.0, 0.0, -0.5, 0.0, 0.0], start=1):
        critic.w.data.fill_(w)
        seen.append(stopping(epoch, critic))
    # evaluated at epochs 3, 5, 7, 9 only; best at 3 (objective 2), no better at 5 and 7: stop at 7
    assert [bool(s) for s in seen] == [False, False, True, False, True, False, True, False, True]
    assert [s.get("stop") for s in seen if s] == [False, False, True, True]
    assert seen[2]["validation"] == pytest.approx(2.0)
    stopping.restore(critic)
    assert torch.equal(critic.w.data, torch.full((2,), -1.0)) and stopping.best_epoch == 3
