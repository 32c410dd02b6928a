"""WGANs on small images (MNIST-like): a convolutional certified critic, a generator, a sampler.

Images travel flattened, shape ``(n, C * H * W)`` with values in ``[0, 1]``, so that
:func:`critics.wgan.train_wgan` and exact W1 (POT, Euclidean distance between flattened images)
treat them like any other samples.
"""

from __future__ import annotations

import os
from typing import Callable

import torch
from torch import nn

import lipapps
from lipapps.errors import InputError


@lipapps.register_model
class ImageCritic(lipapps.CertifiedModel):
    """``f(v) = w . vec(Phi_k(... Phi_1(K v))) + c`` on flattened images ``v``.

    ``K`` is a :class:`lipapps.LipschitzConv2d` lift to ``channels`` maps, each ``Phi_i`` a
    :class:`lipapps.ConvGradientFlowBlock` and ``w`` a :class:`lipapps.LipschitzLinear` readout.
    Reshaping a vector into an image is an isometry, so ``Lip(f)`` is at most the product of the
    per-layer bounds that :func:`lipapps.certify` computes for the image size (exact circular
    norms on the padded grid for the convolutions, MATH.md "Convolutions").
    """

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), channels: int = 16,
                 hidden_channels: int = 32, depth: int = 3) -> None:
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        c, h, w = self.image_shape
        self.body = nn.Sequential(
            lipapps.LipschitzConv2d(c, channels),
            *[lipapps.ConvGradientFlowBlock(channels, hidden_channels) for _ in range(depth)],
            nn.Flatten(),
            lipapps.LipschitzLinear(channels * h * w, 1),
        )

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Critic values, shape ``(batch, 1)``, for flattened images ``v`` of shape ``(batch, C*H*W)``."""
        return self.body(v.view(v.shape[0], *self.image_shape))

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """Product of the per-layer bounds on this critic's image size."""
        return lipapps.certify(self.body, input_shape=self.image_shape).upper_bound


def make_image_generator(latent_dim: int = 32, pixels: int = 784, width: int = 512) -> nn.Sequential:
    """An MLP generator with a sigmoid output in ``[0, 1]`` (flattened images)."""
    return nn.Sequential(
        nn.Linear(latent_dim, width), nn.ReLU(),
        nn.Linear(width, width), nn.ReLU(),
        nn.Linear(width, pixels), nn.Sigmoid(),
    )


def mnist_sampler(root: str | os.PathLike, dataset: str = "mnist",
                  digit: int | None = None) -> Callable[[int, int], torch.Tensor]:
    """A function ``(n, seed) -> (n, 784)`` drawing training images (values in ``[0, 1]``).

    Reads the IDX files under ``root`` with :func:`lipapps.datasets.load_mnist` (nothing is
    downloaded); ``digit`` keeps one class.
    """
    from lipapps.datasets import load_mnist

    images, labels = load_mnist(root, "train", dataset=dataset)
    if digit is not None:
        images = images[labels == digit]
        if len(images) == 0:
            raise InputError(f"no training image of class {digit} in {root}")
    flat = images.reshape(len(images), -1).float() / 255.0

    def draw(n: int, seed: int) -> torch.Tensor:
        pick = torch.randint(0, len(flat), (n,), generator=torch.Generator().manual_seed(seed))
        return flat[pick]

    return draw
