"""The image WGAN recipes: which generator, which critic and which training settings.

One definition shared by ``lipapps wgan --data mnist``, the bench and the tuning script, so that
what the CLI trains is what the bench measured. Both recipes use the same
:class:`critics.image_generator.DCGANGenerator`; they differ in the critic:

* ``certified``: :class:`critics.image_critic.ImageCritic`, 1-Lipschitz after every step by
  construction, no penalty;
* ``wgan-gp``: :func:`critics.baselines.dcgan_critic` with the gradient penalty of Gulrajani
  et al. 2017 (weight 10), never certified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from critics.baselines import dcgan_critic
from critics.image_critic import ImageCritic
from critics.image_generator import DCGANGenerator

IMAGE_SHAPE = (1, 28, 28)
IMAGE_LATENT = 32
GENERATOR_WIDTH = 16
#: The penalty weight of WGAN-GP (Gulrajani et al. 2017); the certified critic needs none.
GP_WEIGHT = 10.0


@dataclass(frozen=True)
class ImageWGANRecipe:
    """A critic kind (``"certified"`` or ``"wgan-gp"``) with its training settings.

    ``critic_options``: extra keyword arguments of the critic's constructor, as ``(name, value)``
    pairs (hashable, so a recipe can key a table). ``generator_ema``: the decay of the running
    average of the generator's weights that samples are drawn from (``train_wgan``'s
    ``generator_ema``), or ``None`` to sample the trained generator itself.
    """

    critic: str
    critic_steps: int = 5
    lr_critic: float = 2e-4
    lr_generator: float = 2e-4
    batch_size: int = 64
    critic_options: tuple[tuple[str, Any], ...] = ()
    penalty: float | None = None
    generator_ema: float | None = None

    def __post_init__(self) -> None:
        if self.critic not in ("certified", "wgan-gp"):
            raise ValueError(f"critic must be 'certified' or 'wgan-gp', got {self.critic!r}")

    @property
    def gp_weight(self) -> float:
        """The gradient penalty's weight: ``penalty`` when given, else none for the certified critic
        and :data:`GP_WEIGHT` for WGAN-GP. On the certified critic (whose gradient norm is at most 1
        by construction) the penalty only pushes the norm up towards 1 on the interpolates, where
        the optimal critic has it (Gulrajani et al. 2017, Proposition 1)."""
        if self.penalty is not None:
            return self.penalty
        return 0.0 if self.critic == "certified" else GP_WEIGHT

    def critic_name(self) -> str:
        options = dict(self.critic_options)
        if self.critic == "certified":
            options = {"downsampling": 1} | options
            return "ImageCritic(" + ", ".join(f"{k}={v}" for k, v in options.items()) + ")"
        return "dcgan_critic(" + ", ".join(f"{k}={v}" for k, v in ({"width": 32} | options).items()) + ")"

    def build(self, seed: int, image_shape: tuple[int, int, int] = IMAGE_SHAPE) -> tuple[nn.Module, nn.Module]:
        """The generator and the critic, initialised from ``seed`` (generator first)."""
        torch.manual_seed(seed)
        generator = DCGANGenerator(IMAGE_LATENT, image_shape, width=GENERATOR_WIDTH)
        options = dict(self.critic_options)
        if self.critic == "certified":
            return generator, ImageCritic(image_shape, **({"downsampling": 1} | options))
        return generator, dcgan_critic(image_shape, **({"width": 32} | options))

    def describe(self) -> dict[str, Any]:
        """The recipe as a results record stores it."""
        return {"critic": self.critic, "critic_model": self.critic_name(),
                "generator": f"DCGANGenerator(latent_dim={IMAGE_LATENT}, width={GENERATOR_WIDTH})",
                "gp_weight": self.gp_weight, "critic_steps": self.critic_steps, "lr_critic": self.lr_critic,
                "lr_generator": self.lr_generator, "batch_size": self.batch_size, "betas": [0.5, 0.9],
                "generator_ema": self.generator_ema}


#: The recipes ``lipapps wgan`` and the bench train: WGAN-GP with its paper's settings, the
#: certified critic with the settings chosen on MNIST tuning seeds (``experiments/tune_wgan_images.py``).
#: Both sample a running average of the generator's weights (decay 0.999), so that the two critics
#: still meet the same generator recipe.
IMAGE_WGAN_RECIPES = {
    "certified": ImageWGANRecipe(
        "certified", critic_steps=2, lr_critic=2e-3, lr_generator=2e-4, generator_ema=0.999,
        critic_options=(("channels", (16, 32)), ("hidden_channels", (0, 0)), ("depth", (0, 0)),
                        ("lift_activation", "groupsort"))),
    "wgan-gp": ImageWGANRecipe("wgan-gp", critic_steps=5, lr_critic=2e-4, lr_generator=2e-4, generator_ema=0.999),
}
