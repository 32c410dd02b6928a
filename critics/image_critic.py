"""A certified convolutional critic for small images (MNIST-like), for WGANs on images.

Images travel flattened, shape ``(n, C * H * W)`` with values in ``[0, 1]``, so that
:func:`critics.wgan.train_wgan` and exact W1 (POT, Euclidean distance between flattened images)
treat them like any other samples.
"""

from __future__ import annotations

import torch
from torch import nn

import lipapps
from lipapps.models import register_moved_model


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


#: Model files written while the class lived in ``critics/images.py`` name it by that module;
#: ``lipapps.load`` imports the modules of the ``lipapps.models`` entry points before it looks.
register_moved_model("critics.images.ImageCritic", ImageCritic)
