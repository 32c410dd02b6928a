"""The training recipes of the shipped denoisers, and the order of their stages.

Two families (:data:`denoisers.weights.FAMILIES`), each with its recipe (:data:`RECIPES`): the
level ``FROM_SCRATCH`` (sigma 25) is trained from scratch, optionally followed by a warm restart
from its own weights (a second cosine schedule, Loshchilov & Hutter 2017) at ``lr /
RESTART_LR_DIVISOR``; the other levels are fine-tuned from the sigma-25 weights at ``lr /
FINETUNE_LR_DIVISOR``, which reaches a given validation PSNR in far fewer epochs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

FROM_SCRATCH = 25
FINETUNE_LR_DIVISOR = 4.0
RESTART_LR_DIVISOR = 3.0
#: The suffix of the first run of a restarted level: an intermediate, not shipped.
INTERMEDIATE = "_scratch"
#: Each family's training recipe (the defaults of ``experiments/train_denoisers.py``'s options of the same names).
RECIPES: dict[str, dict[str, Any]] = {
    "firm": {"activation": "relu", "epochs": 10, "restart_epochs": 0, "finetune_epochs": 2, "patches_per_image": 60, "batch_size": 32,
             "lr": 2e-3, "fresh_patches": False},
    "ridge": {"activation": "spline", "epochs": 50, "restart_epochs": 20, "finetune_epochs": 10, "patches_per_image": 32, "batch_size": 64,
              "lr": 3e-3, "fresh_patches": True},
}


@dataclass(frozen=True)
class Stage:
    """One training run: the level, its epochs, the weights it writes (``name``; ending in
    :data:`INTERMEDIATE` when not shipped), the weights it starts from (``init``: a stage's name, or
    ``None`` for scratch) and the divisor of the recipe's learning rate."""

    sigma: int
    epochs: int
    name: str
    init: str | None
    lr_divisor: float


def training_stages(
    sigmas: list[int], name: dict[int, str], epochs: int, restart_epochs: int, finetune_epochs: int, scratch_exists: bool
) -> list[Stage]:
    """The stages that train ``sigmas`` in order (``name[sigma]``: the weights' stem).

    sigma ``FROM_SCRATCH``: from scratch for ``epochs`` (into ``<name>_scratch``, then a restart for
    ``restart_epochs`` into ``<name>``, when ``restart_epochs > 0``); other levels: ``finetune_epochs``
    from the sigma-25 weights when those exist (``scratch_exists``) or are trained before, else from scratch.
    """
    stages = []
    have_25 = scratch_exists
    for sigma in sigmas:
        if sigma != FROM_SCRATCH:
            init = name[FROM_SCRATCH] if have_25 else None
            stages.append(Stage(sigma, finetune_epochs, name[sigma], init, FINETUNE_LR_DIVISOR if init else 1.0))
        elif restart_epochs:
            first = name[sigma] + INTERMEDIATE
            stages.append(Stage(sigma, epochs, first, None, 1.0))
            stages.append(Stage(sigma, restart_epochs, name[sigma], first, RESTART_LR_DIVISOR))
            have_25 = True
        else:
            stages.append(Stage(sigma, epochs, name[sigma], None, 1.0))
            have_25 = True
    return stages
