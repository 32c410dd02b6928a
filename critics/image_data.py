"""Image data for WGANs: draw MNIST-like training images, flattened to ``[0, 1]^(H W)``."""

from __future__ import annotations

import os
from typing import Callable

import torch

from lipapps.errors import InputError


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
