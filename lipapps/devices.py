"""Torch devices named on the command line."""

from __future__ import annotations

import torch

from lipapps.errors import InputError


def resolve_device(name: str) -> torch.device:
    """``torch.device(name)``, or :class:`InputError` when it is malformed or not available here."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError(f"not a torch device: {name!r} (e.g. cpu, cuda, cuda:1)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device {name!r} asked for, but no CUDA device is available")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    return device
