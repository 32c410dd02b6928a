"""Image WGAN models: the pixel-unshuffled certified critic stays certified after aggressive
steps (and an adversarial search cannot beat its bound), the DCGAN-like generator and WGAN-GP
critic have the right shapes, a run on a device argument writes grids and checkpoints, and a
resumed run is the run an uninterrupted one would have been."""

import math

import pytest
import torch
from torch.nn.utils import parametrize

import lipapps
from critics.baselines import dcgan_critic
from critics.image_critic import ImageCritic
from critics.image_generator import DCGANGenerator
from critics.wgan import train_wgan
from lipapps.errors import CheckpointError, InputError

SHAPE = (1, 8, 8)


def bars(n: int, seed: int) -> torch.Tensor:
    """Tiny 8 x 8 images: one bright random row each."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 8, 8)
    images[torch.arange(n), torch.randint(0, 8, (n,), generator=gen)] = 1.0
    return images.reshape(n, 64)


@pytest.mark.parametrize("constraint", ["parametrization", "projection"])
def test_unshuffled_critic_stays_certified_after_aggressive_steps(constraint):
    torch.manual_seed(0)
    critic = ImageCritic(SHAPE, channels=4, hidden_channels=8, depth=2, downsampling=1, constraint=constraint)
    opt = torch.optim.Adam(critic.parameters(), lr=0.5)
    x = bars(32, 0)
    for _ in range(5):  # huge steps push every weight far outside the unit ball
        with parametrize.cached():  # one constrained weight per step, as in critic_step
            loss = -(critic(x) - critic(x.flip(1))).abs().mean()
            opt.zero_grad()
            loss.backward()
        opt.step()
        lipapps.project_(critic)
        bound = lipapps.certify(critic).upper_bound
        assert bound <= 1.0
    assert lipapps.empirical_lipschitz(critic, x[:8], steps=30) <= bound + 1e-6


def test_unshuffle_needs_a_divisible_side_and_none_is_not_constrained():
    with pytest.raises(ValueError):
        ImageCritic((1, 6, 6), downsampling=2)
    assert not ImageCritic(SHAPE, channels=2, hidden_channels=2, depth=1, constraint="none").is_constrained()


def test_generator_and_gp_critic_shapes():
    generator = DCGANGenerator(4, SHAPE, width=4)
    images = generator(torch.randn(5, 4))
    assert images.shape == (5, 64) and images.min() >= 0 and images.max() <= 1
    assert dcgan_critic(SHAPE, width=4)(images).shape == (5, 1)
    with pytest.raises(ValueError):
        DCGANGenerator(4, (1, 6, 6))


def run(steps: int, folder, resume: bool = False, **options):
    torch.manual_seed(0)
    return train_wgan(
        bars, steps=steps, batch_size=16, critic_steps=2, latent_dim=4,
        generator=DCGANGenerator(4, SHAPE, width=4),
        critic=ImageCritic(SHAPE, channels=4, hidden_channels=8, depth=2, downsampling=1),
        log_every=2, log_samples=32, checkpoint=folder / "ckpt.pt", checkpoint_every=2, grid_dir=folder / "grids",
        image_shape=SHAPE, resume=resume, device="cpu", progress=False, **{"eval_samples": 32, **options},
    )


def test_resume_gives_the_same_run_and_grids_are_written(tmp_path):
    straight = run(4, tmp_path / "a")
    run(2, tmp_path / "b")
    resumed = run(4, tmp_path / "b", resume=True)
    for net in ("generator", "critic"):
        for p, q in zip(getattr(straight, net).state_dict().values(), getattr(resumed, net).state_dict().values()):
            assert torch.equal(p, q)
    assert [h["step"] for h in resumed.history] == [0, 2, 4]
    assert all(h["certificate"] <= 1.0 for h in resumed.history)
    assert sorted(p.name for p in (tmp_path / "a" / "grids").iterdir()) == ["step_000002.png", "step_000004.png"]


def test_a_spent_time_budget_stops_and_the_resumed_run_is_the_uninterrupted_one(tmp_path):
    straight = run(4, tmp_path / "a")
    first = run(4, tmp_path / "b", max_seconds=1e-9, eval_samples=0)  # spent after the first step
    assert first.steps == 1 and [h["step"] for h in first.history] == [0] and math.isnan(first.final_w1)
    assert (tmp_path / "b" / "grids" / "step_000001.png").exists()
    saved = torch.load(tmp_path / "b" / "ckpt.pt", weights_only=True)["seconds"]  # the training time at the step
    assert 0 < saved <= first.seconds
    again = run(4, tmp_path / "b", resume=True, max_seconds=saved / 2)  # spent before it starts: no step
    assert again.steps == 1 and again.seconds >= saved
    resumed = run(4, tmp_path / "b", resume=True)
    assert resumed.steps == 4 and resumed.seconds >= again.seconds
    assert [h["step"] for h in resumed.history] == [h["step"] for h in straight.history] == [0, 2, 4]
    for net in ("generator", "critic"):
        for p, q in zip(getattr(straight, net).state_dict().values(), getattr(resumed, net).state_dict().values()):
            assert torch.equal(p, q)
    with pytest.raises(InputError):
        run(1, tmp_path / "c", max_seconds=0.0)


def test_the_budget_runs_on_the_clock_given(tmp_path):
    frozen = run(3, tmp_path / "a", max_seconds=1.0, eval_samples=0, clock=lambda: 0.0)
    assert frozen.steps == 3 and frozen.seconds == 0.0  # the wall clock moved, this clock did not
    ticks = iter([0.0])
    jumped = run(3, tmp_path / "b", max_seconds=1.0, eval_samples=0, clock=lambda: next(ticks, 100.0))
    assert jumped.steps == 1 and jumped.seconds == 100.0


def test_a_checkpoint_of_other_networks_is_a_checkpoint_error(tmp_path):
    run(1, tmp_path)
    with pytest.raises(CheckpointError, match="does not fit"):
        train_wgan(bars, steps=2, latent_dim=4, generator=DCGANGenerator(4, SHAPE, width=8), critic=ImageCritic(SHAPE, depth=1),
                   checkpoint=tmp_path / "ckpt.pt", resume=True, progress=False)


def test_grids_need_the_image_shape(tmp_path):
    with pytest.raises(InputError):
        train_wgan(bars, steps=1, grid_dir=tmp_path, progress=False)


def test_recipes_build_the_same_generator_and_the_critic_they_name():
    from critics.image_wgan import IMAGE_WGAN_RECIPES, ImageWGANRecipe

    certified, gp = IMAGE_WGAN_RECIPES["certified"], IMAGE_WGAN_RECIPES["wgan-gp"]
    g1, c1 = certified.build(seed=3)
    g2, c2 = gp.build(seed=3)
    assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(), g2.state_dict().values()))
    assert isinstance(c1, ImageCritic) and certified.gp_weight == 0.0 and lipapps.certify(c1).upper_bound <= 1.0
    assert not isinstance(c2, lipapps.CertifiedModel) and gp.gp_weight == 10.0
    wide = ImageWGANRecipe("certified", critic_options=(("downsampling", 2), ("channels", 8)))
    assert wide.critic_name() == "ImageCritic(downsampling=2, channels=8)" and wide.build(0)[1].downsampling == 2
    assert certified.describe()["critic_model"] == certified.critic_name()
    with pytest.raises(ValueError, match="critic must be"):
        ImageWGANRecipe("clipped")


def test_the_generator_average_is_kept_resumed_and_does_not_change_training(tmp_path):
    plain = run(4, tmp_path / "plain")
    straight = run(4, tmp_path / "a", generator_ema=0.9)
    run(2, tmp_path / "b", generator_ema=0.9)
    resumed = run(4, tmp_path / "b", resume=True, generator_ema=0.9)
    assert plain.averaged_generator is None and plain.sampling_generator is plain.generator
    for p, q, r in zip(plain.generator.parameters(), straight.generator.parameters(), resumed.generator.parameters()):
        assert torch.equal(p, q) and torch.equal(q, r)  # training does not depend on the average
    for p, q in zip(straight.averaged_generator.parameters(), resumed.averaged_generator.parameters()):
        assert torch.equal(p, q)
    assert straight.sampling_generator is straight.averaged_generator
    assert not all(torch.equal(p, q) for p, q in zip(straight.generator.parameters(),
                                                     straight.averaged_generator.parameters()))
    with pytest.raises(CheckpointError, match="running average"):
        run(5, tmp_path / "b", resume=True)  # the checkpoint has an average, this run keeps none
    with pytest.raises(InputError):
        run(1, tmp_path / "c", generator_ema=1.0)
