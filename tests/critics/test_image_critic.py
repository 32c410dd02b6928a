"""Image WGAN: the convolutional critic is certified (and the bound is not beaten by an
adversarial search) after training, the image outputs are written, and model files of the
critic's former module still load."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.nn.utils import parametrize

import lipapps
from critics.image_critic import ImageCritic
from critics.image_generator import DCGANGenerator
from critics.wgan import train_wgan, write_wgan_outputs
from lipapps.cli import main

SHAPE = (1, 8, 8)


def bars(n: int, seed: int) -> torch.Tensor:
    """Tiny 8 x 8 images: one bright random row each."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 8, 8)
    images[torch.arange(n), torch.randint(0, 8, (n,), generator=gen)] = 1.0
    return images.reshape(n, 64)


def test_image_wgan_keeps_the_critic_certified(tmp_path):
    critic = ImageCritic(SHAPE, channels=4, hidden_channels=8, depth=2)
    result = train_wgan(bars, steps=6, batch_size=32, generator=DCGANGenerator(4, SHAPE, width=4), critic=critic,
                        latent_dim=4, log_every=3, log_samples=64, eval_samples=64, progress=False)
    bound = lipapps.certify(result.critic).upper_bound
    assert bound <= 1.0
    probe = bars(16, 99)
    assert lipapps.empirical_lipschitz(result.critic, probe, steps=20) <= bound + 1e-4
    for h in result.history:
        assert h["critic_estimate"] <= h["exact_w1"] + 1e-4
    write_wgan_outputs(result, bars, tmp_path, name="bars", latent_dim=4, image_shape=SHAPE)
    assert (tmp_path / "samples.png").stat().st_size > 0 and (tmp_path / "metrics.json").exists()


def test_image_data_needs_a_folder(tmp_path, capsys):
    assert main(["wgan", "--data", "mnist", "--steps", "1", "--out", str(tmp_path / "o")]) == 2
    assert "--data-dir" in capsys.readouterr().err


def test_files_naming_the_former_module_still_load(tmp_path):
    """Files saved while ImageCritic lived in critics/images.py name it critics.images.ImageCritic."""
    critic = ImageCritic(SHAPE, channels=2, hidden_channels=4, depth=1)
    lipapps.save(critic, tmp_path / "new.pt")
    payload = torch.load(tmp_path / "new.pt", weights_only=True)
    assert payload["class"] == "critics.image_critic.ImageCritic"
    torch.save({**payload, "class": "critics.images.ImageCritic"}, tmp_path / "old.pt")
    loaded = lipapps.load(tmp_path / "old.pt")
    assert isinstance(loaded, ImageCritic)
    probe = bars(4, 1)
    assert torch.equal(loaded(probe), critic.eval()(probe))
    # in a fresh process that imported nothing of critics, the loader finds it as well
    code = f"import lipapps; print(type(lipapps.load({str(tmp_path / 'old.pt')!r})).__qualname__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "ImageCritic"


@pytest.mark.parametrize("lift_activation", ["none", "groupsort"])
def test_a_critic_in_resolution_stages_is_certified_after_aggressive_training_and_reloads(tmp_path, lift_activation):
    """Two stages (8 x 8, then 4 x 4 after an unshuffle): each bounded on the size it sees; large
    Adam steps on the critic's own objective never push the certificate above 1, an adversarial
    search never beats it, and the per-stage settings survive a save and load."""
    critic = ImageCritic(SHAPE, channels=(4, 6), hidden_channels=(4, 8), depth=(1, 2), lift_activation=lift_activation)
    assert [shape for _, _, shape in critic.stage_spans] == [(1, 8, 8), (16, 4, 4)]
    optimizer = torch.optim.Adam(critic.parameters(), lr=0.1)
    for step in range(5):
        with parametrize.cached():  # one constrained weight per step, as in training
            loss = critic(bars(32, step)).mean() - critic(torch.rand(32, 64)).mean()
            optimizer.zero_grad()
            (-loss).backward()
        optimizer.step()
        lipapps.project_(critic)
        assert critic.lipschitz_bound() <= 1.0 and lipapps.certify(critic).upper_bound <= 1.0
    bound = lipapps.certify(critic).upper_bound
    assert lipapps.empirical_lipschitz(critic, bars(16, 99), steps=30) <= bound
    lipapps.save(critic, tmp_path / "staged.pt")
    loaded = lipapps.load(tmp_path / "staged.pt")
    probe = bars(4, 2)
    assert loaded.stage_spans == critic.stage_spans and lipapps.certify(loaded).upper_bound <= 1.0
    torch.testing.assert_close(loaded(probe), critic.eval()(probe))  # the bound is recomputed: float32 rounding


def test_stages_need_matching_settings_and_a_divisible_side():
    with pytest.raises(ValueError, match="as many stages"):
        ImageCritic(SHAPE, channels=(2, 4), hidden_channels=4, depth=(1, 1))
    with pytest.raises(ValueError, match="even channel counts"):
        ImageCritic(SHAPE, channels=(3, 4), hidden_channels=(2, 4), depth=(1, 1), lift_activation="groupsort")
    with pytest.raises(ValueError, match="lift_activation"):
        ImageCritic(SHAPE, lift_activation="relu")
    with pytest.raises(ValueError, match="divisible by 8"):
        ImageCritic((1, 12, 12), channels=(2, 4), hidden_channels=(2, 4), depth=(1, 1), downsampling=2)
