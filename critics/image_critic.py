"""A certified convolutional critic for small images (MNIST-like), for WGANs on images.

Images travel flattened, shape ``(n, C * H * W)`` with values in ``[0, 1]``, so that
:func:`critics.wgan.train_wgan` and exact W1 (POT, Euclidean distance between flattened images)
treat them like any other samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

import lipapps
from lipapps.rounding import product_up
from lipapps.models import register_moved_model


@lipapps.register_model
class ImageCritic(lipapps.CertifiedModel):
    """``f(v) = w . vec(S_m(... S_1(U v))) + c`` on flattened images ``v``, in resolution stages.

    ``U`` is ``downsampling`` levels of ``pixel_unshuffle(2)`` (each a permutation of the pixels
    into 4 times the channels at half the side: an isometry; the identity when 0). Stage ``i``
    is ``S_i = Phi_{i,d_i} o ... o Phi_{i,1} o K_i``: a :class:`lipapps.LipschitzConv2d` lift
    ``K_i`` to ``channels[i]`` maps and ``depth[i]`` :class:`lipapps.ConvGradientFlowBlock` s with
    ``hidden_channels[i]`` hidden maps; between stages one more ``pixel_unshuffle(2)`` halves the
    side (so a later stage costs 4 times fewer pixels per map). ``lift_activation="groupsort"``
    puts a :class:`lipapps.GroupSort2` over channel pairs after each lift (1-Lipschitz, and
    gradient-norm preserving); with ``depth`` 0 the stages are then a DCGAN-like stack of
    (unshuffle, convolution, activation). ``w`` is a
    :class:`lipapps.LipschitzLinear` readout. A single stage (integers for ``channels``,
    ``hidden_channels``, ``depth``) is the one-resolution critic.

    Reshaping a vector into an image and unshuffling are isometries, so ``Lip(f)`` is at most the
    product of the per-layer bounds that :func:`lipapps.certify` computes, each on the image size
    its layer sees (exact circular norms on the padded grid for the convolutions: the
    zero-padded operator is a compression of the circular one on that grid, Sedghi, Gupta, Long
    2019). ``constraint="none"`` builds the same network unconstrained: the WGAN-GP baseline of
    the same size (never certified).
    """

    def __init__(self, image_shape: tuple[int, int, int] = (1, 28, 28), channels: int | Sequence[int] = 16,
                 hidden_channels: int | Sequence[int] = 32, depth: int | Sequence[int] = 3, downsampling: int = 0,
                 constraint: str = "parametrization", lift_activation: str = "none") -> None:
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        stages = [_per_stage(x) for x in (channels, hidden_channels, depth)]
        if len({len(x) for x in stages}) != 1:
            raise ValueError(f"channels, hidden_channels and depth must name as many stages, got {channels}, "
                             f"{hidden_channels}, {depth}")
        if lift_activation not in ("none", "groupsort"):
            raise ValueError(f"lift_activation must be 'none' or 'groupsort', got {lift_activation!r}")
        if lift_activation == "groupsort" and any(width % 2 for width in stages[0]):
            raise ValueError(f"GroupSort2 after the lifts needs even channel counts, got {channels}")
        c, h, w = self.image_shape
        halvings = downsampling + len(stages[0]) - 1
        if downsampling < 0 or h % 2**halvings or w % 2**halvings:
            raise ValueError(f"{downsampling} pixel-unshuffle levels and {len(stages[0])} stages need an image side "
                             f"divisible by {2 ** max(halvings, 0)}, got {h} x {w}")
        self.downsampling = int(downsampling)
        layers: list[nn.Module] = [nn.PixelUnshuffle(2) for _ in range(downsampling)]
        #: ``(first layer, last layer + 1, input shape)`` of each stage in ``body``, for its bound.
        self.stage_spans: list[tuple[int, int, tuple[int, int, int]]] = []
        shape = (c * 4**downsampling, h // 2**downsampling, w // 2**downsampling)
        for i, (width, hidden, blocks) in enumerate(zip(*stages)):
            if i:
                layers.append(nn.PixelUnshuffle(2))
                shape = (4 * shape[0], shape[1] // 2, shape[2] // 2)
            first = len(layers)
            layers.append(lipapps.LipschitzConv2d(shape[0], width, constraint=constraint))
            if lift_activation == "groupsort":
                layers.append(lipapps.GroupSort2(dim=1))
            layers += [lipapps.ConvGradientFlowBlock(width, hidden, constraint=constraint) for _ in range(blocks)]
            self.stage_spans.append((first, len(layers), shape))
            shape = (width, shape[1], shape[2])
        self.readout_index = len(layers) + 1
        layers += [nn.Flatten(), lipapps.LipschitzLinear(shape[0] * shape[1] * shape[2], 1, constraint=constraint)]
        self.body = nn.Sequential(*layers)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """Critic values, shape ``(batch, 1)``, for flattened images ``v`` of shape ``(batch, C*H*W)``."""
        return self.body(v.view(v.shape[0], *self.image_shape))

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """Product of the per-layer bounds, each stage bounded on the image size it sees (the
        unshuffles count 1), multiplied exactly and rounded up."""
        factors = [bound for a, b, shape in self.stage_spans
                   for _, bound in lipapps.certify(self.body[a:b], input_shape=shape).per_layer]
        return product_up(*factors, lipapps.certify(self.body[self.readout_index]).upper_bound)


def _per_stage(value: int | Sequence[int]) -> tuple[int, ...]:
    """A per-stage setting as a tuple (an integer is one stage)."""
    return (int(value),) if isinstance(value, int) else tuple(int(v) for v in value)


#: Model files written while the class lived in ``critics/images.py`` name it by that module;
#: ``lipapps.load`` imports the modules of the ``lipapps.models`` entry points before it looks.
register_moved_model("critics.images.ImageCritic", ImageCritic)
