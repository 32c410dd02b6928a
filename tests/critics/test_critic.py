"""The W1 critic's radial term: certified after aggressive training (an adversarial search cannot
beat the certificate), stored and loaded with its configuration, and it fits the potential of a
scaled pair (the distance to the centre) that the network alone approximates poorly."""

import pytest
import torch
from torch.nn.utils import parametrize

import lipapps
from critics.critic import W1Critic, kantorovich_gap
from lipapps.testing import aggressive_steps


def test_the_radial_critic_stays_certified_under_aggressive_training(tmp_path):
    torch.manual_seed(0)
    critic = aggressive_steps(W1Critic(4, width=8, depth=2, radial=True, scale=3.0), (4,), steps=60, lr=0.5, seed=0)
    w = critic.weights().detach()
    assert float(w.abs().sum()) <= 1.0 + 1e-6 and float(w[1].abs()) > 0.0  # the radial term is in use
    bound = lipapps.certify(critic).upper_bound
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(1))
    assert lipapps.empirical_lipschitz(critic, x, steps=40, power_iterations=5) <= bound
    loaded = lipapps.load(lipapps.save(critic, tmp_path / "c.pt"))
    assert loaded.config()["radial"] is True
    torch.testing.assert_close(loaded(x), critic(x))
    assert lipapps.certify(loaded).upper_bound == bound


def test_the_radial_term_fits_a_scaled_pair_better_than_the_network_alone():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(2000, 12, generator=gen), 1.6 * torch.randn(2000, 12, generator=gen)
    gaps = {}
    for radial in (False, True):
        torch.manual_seed(0)
        critic = W1Critic(12, width=16, depth=2, radial=radial)
        opt = torch.optim.Adam(critic.parameters(), lr=0.02)
        for _ in range(300):
            with parametrize.cached():  # one constrained weight shared by both forwards
                loss = kantorovich_gap(critic, x, y)  # the critic maximises E_y f - E_x f
                opt.zero_grad()
                loss.backward()
            opt.step()
        with torch.no_grad():
            gaps[radial] = float(kantorovich_gap(critic, y, x)) / lipapps.certify(critic).upper_bound
    optimal = float(y.norm(dim=1).mean() - x.norm(dim=1).mean())  # the potential |z| on these samples
    assert gaps[True] > 0.96 * optimal and gaps[False] < 0.9 * optimal  # measured: 0.979 and 0.834


def test_single_terms_are_the_network_alone_the_radial_term_alone_and_it_about_the_data_centre():
    torch.manual_seed(0)
    critic = W1Critic(5, width=8, depth=1, radial=True, scale=2.0)
    with torch.no_grad():
        critic.mix.copy_(torch.tensor([0.7, -0.6]))
        critic.radial_center.copy_(torch.tensor([0.1, -0.2, 0.0, 0.3, 0.5]))
    z = torch.randn(20, 5, generator=torch.Generator().manual_seed(2))
    network, radial, centred = critic.single_terms()
    torch.testing.assert_close(network.weights(), torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(radial.weights(), torch.tensor([0.0, -1.0]))
    torch.testing.assert_close(network(z), 2.0 * critic.net(z / 2.0))
    torch.testing.assert_close(radial(z), -2.0 * (z / 2.0 - critic.radial_center).norm(dim=1, keepdim=True), atol=1e-5, rtol=1e-5)
    assert lipapps.certify(radial).upper_bound == 1.0
    torch.testing.assert_close(centred(z), -2.0 * (z / 2.0).norm(dim=1, keepdim=True), atol=1e-5, rtol=1e-5)
    assert lipapps.certify(centred).upper_bound == 1.0
    assert lipapps.certify(network).upper_bound == lipapps.certify(critic.net).upper_bound
    assert critic.weights().tolist() == pytest.approx([0.7 / 1.3, -0.6 / 1.3])  # the original is untouched
    assert critic.radial_center.tolist() == pytest.approx([0.1, -0.2, 0.0, 0.3, 0.5])
    assert W1Critic(5, width=8, depth=1).single_terms() == []
