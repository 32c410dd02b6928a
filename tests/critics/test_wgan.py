"""A short WGAN run with the certified critic lowers the exact W1 to the data, keeps the critic
certified, logs bounds that hold, writes its outputs, and resumes from its checkpoint; its steps
each move only their own network; the WGAN-GP baseline runs through the same loop."""

import json

import torch

import lipapps
from critics.baselines import gp_critic
from critics.toy import sample_toy
from critics.wgan import WGANState, critic_step, generator_step, make_critic, make_generator, train_wgan, write_wgan_outputs


def test_wgan_smoke_lowers_exact_w1_and_resumes(tmp_path):
    common = dict(batch_size=128, log_every=50, log_samples=300, eval_samples=500, progress=False)
    result = train_wgan("8gaussians", steps=100, checkpoint=tmp_path / "ckpt.pt", **common)
    first, last = result.history[0]["exact_w1"], result.history[-1]["exact_w1"]
    assert [h["step"] for h in result.history] == [0, 50, 100]
    assert last < 0.6 * first
    assert result.final_w1 < 0.6 * first
    assert lipapps.certify(result.critic).upper_bound <= 1.0
    for h in result.history:  # a certified critic's gap never exceeds the exact W1 of the batch
        assert h["critic_estimate"] <= h["exact_w1"] + 1e-4
    resumed = train_wgan("8gaussians", steps=110, checkpoint=tmp_path / "ckpt.pt", resume=True, **common)
    assert [h["step"] for h in resumed.history] == [0, 50, 100, 110]
    metrics = write_wgan_outputs(resumed, "8gaussians", tmp_path)
    for name in ("samples.png", "critic.png", "training_curve.png"):
        assert (tmp_path / name).stat().st_size > 0
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["final_exact_w1"] == metrics["final_exact_w1"] == resumed.final_w1


def state(critic: torch.nn.Module, seed: int = 0) -> WGANState:
    torch.manual_seed(seed)
    generator = make_generator(4, 2, width=16)
    return WGANState(generator, critic, torch.optim.Adam(generator.parameters(), lr=1e-2),
                     torch.optim.Adam(critic.parameters(), lr=1e-2), torch.Generator().manual_seed(1))


def parameters(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def test_critic_step_moves_only_the_critic_and_keeps_it_certified():
    run = state(make_critic(2, width=8, depth=2))
    before_g, before_c = parameters(run.generator), parameters(run.critic)
    critic_step(run, sample_toy("8gaussians", 32, seed=0), 32, 4, gp_weight=0.0)
    assert all(torch.equal(a, b) for a, b in zip(before_g, parameters(run.generator)))
    assert not all(torch.equal(a, b) for a, b in zip(before_c, parameters(run.critic)))
    assert lipapps.certify(run.critic).upper_bound <= 1.0


def test_generator_step_moves_only_the_generator():
    run = state(make_critic(2, width=8, depth=2))
    before_g, before_c = parameters(run.generator), parameters(run.critic)
    generator_step(run, 32, 4)
    assert not all(torch.equal(a, b) for a, b in zip(before_g, parameters(run.generator)))
    assert all(torch.equal(a, b) for a, b in zip(before_c, parameters(run.critic)))


def test_the_penalty_enters_the_critic_step():
    """From the same state, the same step repeats exactly; with gp_weight > 0 it differs."""
    updates = []
    for weight in (0.0, 0.0, 10.0):
        torch.manual_seed(0)
        run = state(gp_critic(2, width=8, hidden_layers=2))
        critic_step(run, sample_toy("8gaussians", 32, seed=0), 32, 4, gp_weight=weight)
        updates.append(parameters(run.critic))
    assert all(torch.equal(a, b) for a, b in zip(updates[0], updates[1]))
    assert not all(torch.equal(a, b) for a, b in zip(updates[0], updates[2]))


def test_wgan_gp_runs_through_the_same_loop():
    torch.manual_seed(0)
    result = train_wgan("8gaussians", steps=4, batch_size=32, critic=gp_critic(2, width=16, hidden_layers=2),
                        gp_weight=10.0, log_every=2, log_samples=64, eval_samples=64, progress=False)
    assert [h["step"] for h in result.history] == [0, 2, 4]
    assert all(isinstance(h["critic_estimate"], float) for h in result.history)


def test_the_weight_average_follows_its_formula():
    from critics.wgan import average_weights_, ema_decay

    assert ema_decay(0.999, 1) == 2 / 11 and ema_decay(0.999, 10**6) == 0.999
    torch.manual_seed(0)
    model, averaged = make_generator(2, 2, width=4), make_generator(2, 2, width=4)
    before = parameters(averaged)
    average_weights_(averaged, model, 0.75)
    for a, b, w in zip(parameters(averaged), before, model.parameters()):
        assert torch.allclose(a, 0.75 * b + 0.25 * w.detach())
