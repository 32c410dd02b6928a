"""Geometric self-ensemble: a denoiser averaged over the eight symmetries of the pixel grid.

``D_E(x) = 1/8 sum_g g^{-1} D(g x)`` over ``g`` in the dihedral group of the square (rotations by
multiples of 90 degrees, with and without a horizontal flip). The test-time trick is old (Timofte
et al. 2016; Lim et al. 2017); what matters here is that it keeps the certificate: each ``g``
permutes the pixels, so for ``D = (1 - a) I + a N``

    g^{-1} D g = (1 - a) I + a g^{-1} N g,

with ``g^{-1} N g`` non-expansive whenever ``N`` is (on images of the rotated shape), and a mean
of non-expansive maps is non-expansive (triangle inequality). So ``D_E = (1 - a) I + a N_E`` is
``a``-averaged with the same ``a``, at eight times the cost of ``D``.
"""

from __future__ import annotations

import torch

from denoisers.pnp import Denoiser, denoiser_averagedness

#: The eight symmetries as (quarter turns, flip first).
SYMMETRIES = tuple((turns, flip) for turns in range(4) for flip in (False, True))


class GeometricEnsemble:
    """``D_E``: the mean of ``g^{-1} D(g x)`` over the eight grid symmetries ``g`` (see the module docstring)."""

    def __init__(self, denoiser: Denoiser) -> None:
        self.denoiser = denoiser

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        total = torch.zeros_like(x)
        for turns, flip in SYMMETRIES:
            moved = torch.rot90(x.flip(-1) if flip else x, turns, dims=(-2, -1))
            back = torch.rot90(self.denoiser(moved), -turns, dims=(-2, -1))
            total += back.flip(-1) if flip else back
        return total / len(SYMMETRIES)

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        """The ``a`` of ``D`` when ``D`` is certified on images of both orientations, else ``None``."""
        shapes = [None] if input_shape is None else [input_shape, (*input_shape[:-2], input_shape[-1], input_shape[-2])]
        constants = [denoiser_averagedness(self.denoiser, shape) for shape in shapes]
        return None if any(a is None for a in constants) else max(constants)
