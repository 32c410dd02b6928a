"""The 1-Lipschitz residual networks of Murari, Furuya and Schönlieb (NeurIPS 2025).

Models are registered by name (:func:`register_model`) so that :func:`lipapps.load` can rebuild
them from a checkpoint's configuration without unpickling code.
"""

from __future__ import annotations

from typing import Any, TypeVar

import torch
import torch.nn as nn

from lipapps.constraints import check_constraint
from lipapps.layers import FixedWidthBlock, GradientFlowBlock, LipschitzLinear

MODEL_REGISTRY: dict[str, type[nn.Module]] = {}

M = TypeVar("M", bound=type[nn.Module])


def register_model(cls: M) -> M:
    """Class decorator: make ``cls`` loadable by :func:`lipapps.load`.

    The class must define ``config() -> dict`` returning its constructor's keyword arguments
    (JSON-able values), so that ``cls(**model.config())`` rebuilds the architecture. A class that
    gains a constructor argument later declares ``legacy_config = {name: value}``: the value that
    files written before the argument existed imply (:func:`lipapps.load` fills it in).
    """
    if not callable(getattr(cls, "config", None)):
        raise TypeError(f"{cls.__name__} needs a config() method to be registered")
    MODEL_REGISTRY[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return cls


@register_model
class LipschitzResNet(nn.Module):
    """A residual network that is 1-Lipschitz in l2 from input to output, with every map constrained.

    * ``fixed_width=False`` (Theorem 3.1): ``x -> V Phi_L(... Phi_1(Q x + q)) + c`` with a lift
      ``Q: in_features -> width``, ``depth`` :class:`~lipapps.GradientFlowBlock` s ``Phi_i`` of
      hidden size ``hidden`` and a readout ``V: width -> out_features``.
    * ``fixed_width=True`` (Theorem 4.1): the state has ``width >= in_features + 3`` coordinates;
      ``z_0 = A_0 x + a_0``, then ``depth`` times ``z -> A_i F_i(z) + a_i`` where ``F_i`` is the
      :class:`~lipapps.layers.FixedWidthBlock` ``[max(z1,z2), min(z1,z2), z3, Phi_i(z_4:)]``
      and ``A_i`` is a norm-constrained ``width x width`` affine map; then the readout.

    Lifting, readout, the affine maps and every block are constrained (``||.||_2 <= 1``), so the
    whole map is 1-Lipschitz from l2 to l2 (product of per-map bounds) after every optimiser
    step, for both ``constraint="parametrization"`` and ``"projection"`` (the latter after
    :func:`lipapps.project_`). ``"none"`` gives the unconstrained baseline of the benchmarks, and
    ``io_constraint="none"`` frees only the lifting and the readout (the paper's public MNIST
    code, which therefore has no end-to-end bound; :func:`lipapps.certify` reports the true one).
    Initialisation is orthogonal with ``tau = 2``: dynamic isometry. The affine maps ``A_i``
    start as the identity: with random rotations between blocks, networks of depth 20 collapsed
    to constant logits in the first steps of MNIST training (measured; see docs/experiments.md).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int = 1,
        width: int = 64,
        depth: int = 4,
        hidden: int | None = None,
        fixed_width: bool = False,
        constraint: str = "parametrization",
        step_size: float = 2.0,
        io_constraint: str | None = None,
    ) -> None:
        super().__init__()
        check_constraint(constraint)
        io_constraint = check_constraint(io_constraint or constraint)
        if min(in_features, out_features, width) < 1 or depth < 0:
            raise ValueError("in_features, out_features and width must be positive and depth non-negative")
        if fixed_width and width < in_features + 3:
            raise ValueError(f"Theorem 4.1 needs width >= in_features + 3 = {in_features + 3}, got {width}")
        if hidden is None:  # square potentials: W^T W = I at initialisation, no signal loss with depth
            hidden = width - 3 if fixed_width else width
        self._config = dict(
            in_features=in_features, out_features=out_features, width=width, depth=depth, hidden=hidden,
            fixed_width=fixed_width, constraint=constraint, step_size=step_size, io_constraint=io_constraint,
        )
        layers: list[nn.Module] = [LipschitzLinear(in_features, width, constraint=io_constraint)]
        for i in range(depth):
            if fixed_width:
                if i > 0:
                    layers.append(LipschitzLinear(width, width, constraint=constraint, init="identity"))
                layers.append(FixedWidthBlock(width, hidden, step_size=step_size, constraint=constraint))
            else:
                layers.append(GradientFlowBlock(width, hidden, step_size=step_size, constraint=constraint))
        layers.append(LipschitzLinear(width, out_features, constraint=io_constraint))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def config(self) -> dict[str, Any]:
        """Constructor arguments: ``LipschitzResNet(**model.config())`` rebuilds the architecture."""
        return dict(self._config)
