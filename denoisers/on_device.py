"""A denoiser run on another torch device than the solver's iterates (e.g. the network on a GPU).

The PnP solvers keep the image and the operator where they are; only the denoiser's forward pass
moves: ``D_dev(x) = D(x moved to device)`` moved back. The map is the same ``D``, so its
certificate (``certified_averagedness``) carries over unchanged.
"""

from __future__ import annotations

import torch
from torch import nn

from denoisers.pnp import denoiser_averagedness


class DenoiserOnDevice:
    """``model`` moved to ``device``, called on tensors of any device (results come back to theirs)."""

    def __init__(self, model: nn.Module, device: str | torch.device) -> None:
        self.model = model.to(device)
        self.device = torch.device(device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.to(self.device)).to(x.device)

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        """The model's own certificate (moving tensors between devices changes no value)."""
        return denoiser_averagedness(self.model, input_shape)
