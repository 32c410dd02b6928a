"""Which per-step bound algorithm a device runs: branching on computed values, or sync-free.

The training constraint proves a norm bound at every optimiser step. Two algorithms do that,
with the same guarantee (every value they return is a proved upper bound):

* *adaptive* (:func:`lipapps.spectral.certified_matrix_bounds`,
  :func:`lipapps.spectral.proved_grid_bound`): a cheap proof first, and more work only where it
  failed. Deciding *where* reads a computed value on the host. On the CPU that read is free, so
  the CPU runs it: least work on average;
* *sync-free* (:func:`lipapps.spectral.sync_free_matrix_bounds`,
  :func:`lipapps.spectral.sync_free_grid_bound`): a fixed sequence of tensor operations that checks
  every candidate at once and selects with masks, never reading a value on the host. On an
  accelerator each such read waits for every queued kernel (a host synchronisation), which is
  what made the constrained step 2-3x slower on a GPU; the fixed shapes let the host queue the
  whole step ahead of the device.

:func:`sync_free` forces the sync-free algorithm on every device (e.g. to reproduce on the CPU
the numbers a GPU run computes, or to test that it never synchronises).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

_FORCED = [False]


def uses_sync_free(device: torch.device) -> bool:
    """Whether the per-step bounds on ``device`` run the sync-free algorithm (all but the CPU,
    or every device inside :func:`sync_free`)."""
    return _FORCED[0] or device.type != "cpu"


@contextlib.contextmanager
def sync_free() -> Iterator[None]:
    """Run the sync-free per-step bounds on every device, the CPU included, inside the block."""
    previous = _FORCED[0]
    _FORCED[0] = True
    try:
        yield
    finally:
        _FORCED[0] = previous
