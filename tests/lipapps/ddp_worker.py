"""Train a small model with lipapps.train and save its weights (run directly or under torchrun).

    python ddp_worker.py OUT CONSTRAINT [dense|conv]

``dense``: a two-moons LipschitzResNet; ``conv``: a lifting convolution and a convolutional
gradient flow block fitted to random images (its constraint keeps warm starts in buffers, which
DDP broadcasts).
"""

import os
import sys

import torch
import torch.nn as nn

import lipapps
from lipapps.demo import LOSS as logistic_loss


def squared_error(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((model(x) - target) ** 2).flatten(1).mean(dim=1)


if __name__ == "__main__":
    out, constraint = sys.argv[1], sys.argv[2]
    kind = sys.argv[3] if len(sys.argv) > 3 else "dense"
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if kind == "dense":
        data = lipapps.datasets.make_moons(300, seed=1)
        model = lipapps.LipschitzResNet(2, 1, width=8, depth=3, constraint=constraint)
        loss = logistic_loss
    else:
        gen = torch.Generator().manual_seed(1)
        data = (torch.rand(64, 1, 8, 8, generator=gen), torch.rand(64, 3, 8, 8, generator=gen))
        model = nn.Sequential(
            lipapps.LipschitzConv2d(1, 3, 3, constraint=constraint),
            lipapps.ConvGradientFlowBlock(3, 6, constraint=constraint),
        )
        loss = squared_error
    lipapps.train(model, loss, data, epochs=3, batch_size=16 if kind == "conv" else 64, lr=1e-2, seed=3, progress=False)
    if int(os.environ.get("RANK", "0")) == 0:
        torch.save(model.state_dict(), out)
