"""Helpers for testing that a guarantee survives training, for the suite's tests and for users'.

A constraint that holds at initialisation proves little: :func:`aggressive_steps` drives a model
with large Adam steps on a loss that rewards large output differences (the direction that would
break a Lipschitz bound), projecting after every step as the trainer does, so that a test can then
check the certificate and run an adversarial search against it.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from lipapps.constraints import project_


def aggressive_steps(
    model: nn.Module, input_shape: tuple[int, ...], steps: int, lr: float, seed: int, batch: int = 16
) -> nn.Module:
    """``steps`` Adam steps of size ``lr`` on ``-(||f(x_i) - f(x_j)||^2 + ||f(x_i)||^2)`` over random
    batches of ``input_shape``, each followed by :func:`lipapps.project_`; returns ``model`` in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        x = torch.randn((batch, *input_shape), generator=gen)
        out = model(x)
        loss = -(out - out.roll(1, 0)).pow(2).sum() - out.pow(2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        project_(model)
    return model.eval()
