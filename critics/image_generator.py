"""A DCGAN-like convolutional generator of small images (Radford, Metz, Chintala 2016).

Images travel flattened, shape ``(n, C * H * W)`` with values in ``[0, 1]``, like the samples of
:func:`critics.image_data.mnist_sampler`, so that :func:`critics.wgan.train_wgan` and the W1
estimators treat them like any other samples.
"""

from __future__ import annotations

import torch
from torch import nn


class DCGANGenerator(nn.Module):
    """``z -> sigmoid(conv(up(up(relu(A z)))))``: a linear map to ``4 w`` maps at a quarter of the
    image size, two stride-2 transposed convolutions (``4 x 4``, each doubling the size, ReLU)
    to ``2 w`` then ``w`` maps, and a ``3 x 3`` convolution to the image's channels.

    The image side must be divisible by 4 (28 for MNIST: 7 -> 14 -> 28). No batch normalisation,
    so a sample does not depend on the others in its batch.
    """

    def __init__(self, latent_dim: int = 32, image_shape: tuple[int, int, int] = (1, 28, 28), width: int = 16) -> None:
        super().__init__()
        c, h, w = (int(s) for s in image_shape)
        if h % 4 or w % 4:
            raise ValueError(f"the image height and width must be divisible by 4, got {h} x {w}")
        self.latent_dim, self.image_shape, self.width = int(latent_dim), (c, h, w), int(width)
        self.project = nn.Sequential(nn.Linear(latent_dim, 4 * width * (h // 4) * (w // 4)), nn.ReLU())
        self.body = nn.Sequential(
            nn.ConvTranspose2d(4 * width, 2 * width, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, c, 3, padding=1), nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Flattened images, shape ``(n, C * H * W)``, for latent codes ``z`` of shape ``(n, latent_dim)``."""
        c, h, w = self.image_shape
        maps = self.project(z).view(z.shape[0], 4 * self.width, h // 4, w // 4)
        return self.body(maps).flatten(1)
