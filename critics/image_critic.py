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
    """``f(v) = w . vec(Phi_k(... Phi_1(K U v))) + c`` on flattened images ``v``.

    ``U`` is ``downsampling`` levels of ``pixel_unshuffle(2)`` (each a permutation of the pixels
    into 4 times the channels at half the side: an isometry; the identity when 0), so the blocks
    run at ``H / 2^downsampling`` (4 times fewer pixels per level, for the same cost per pixel
    at 4 times the input channels of the lift only). ``K`` is a :class:`lipapps.LipschitzConv2d`
    lift to ``channels`` maps, each ``Phi_i`` a
    :class:`lipapps.ConvGradientFlowBlock` and ``w`` a :class:`lipapps.LipschitzLinear` readout.
    Reshaping a vector into an image is an isometry, so ``Lip(f)`` is at most the product of the
    per-layer bounds that :func:`lipapps.certify` computes for the image size (exact circular
    norms on the padded grid for the convolutions: the zero-padded operator is a compression of
    the circular one on that grid, Sedghi, Gupta, Long 2019). ``constraint="none"`` builds the
    same network unconstrained: the WGAN-GP baseline of the same size (never certified).
    """

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), channels: int = 16,
                 hidden_channels: int = 32, depth: int = 3, downsampling: int = 0,
                 constraint: str = "parametrization") -> None:
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        c, h, w = self.image_shape
        if downsampling < 0 or h % 2**downsampling or w % 2**downsampling:
            raise ValueError(f"{downsampling} pixel-unshuffle levels need an image side divisible by {2 ** max(downsampling, 0)}, "
                             f"got {h} x {w}")
        self.downsampling = int(downsampling)
        area = (h // 2**downsampling) * (w // 2**downsampling)
        self.body = nn.Sequential(
            *[nn.PixelUnshuffle(2) for _ in range(downsampling)],
            lipapps.LipschitzConv2d(c * 4**downsampling, channels, constraint=constraint),
            *[lipapps.ConvGradientFlowBlock(channels, hidden_channels, constraint=constraint) for _ in range(depth)],
            nn.Flatten(),
            lipapps.LipschitzLinear(channels * area, 1, constraint=constraint),
        )

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Critic values, shape ``(batch, 1)``, for flattened images ``v`` of shape ``(batch, C*H*W)``."""
        return self.body(v.view(v.shape[0], *self.image_shape))

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """Product of the per-layer bounds on this critic's image size (the unshuffles count 1; the
        layers after them are bounded on the image size they see)."""
        c, h, w = self.image_shape
        d = self.downsampling
        return lipapps.certify(self.body[d:], input_shape=(c * 4**d, h // 2**d, w // 2**d)).upper_bound


#: Model files written while the class lived in ``critics/images.py`` name it by that module;
#: ``lipapps.load`` imports the modules of the ``lipapps.models`` entry points before it looks.
register_moved_model("critics.images.ImageCritic", ImageCritic)
