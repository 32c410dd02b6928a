"""The 1-Lipschitz residual networks of Murari, Furuya and Schönlieb (NeurIPS 2025).

Models are registered by name (:func:`register_model`) so that :func:`lipapps.load` can rebuild
them from a checkpoint's configuration without unpickling code.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, TypeVar

import torch
import torch.nn as nn

from lipapps.constraints import check_constraint
from lipapps.contract import CertifiedModel
from lipapps.layers import FixedWidthBlock, GradientFlowBlock, LipschitzLinear

MODEL_REGISTRY: dict[str, type[CertifiedModel]] = {}
#: Registry names of classes that moved, as older files store them, and their names now
#: (:func:`register_moved_model`).
MOVED_MODELS: dict[str, str] = {}

M = TypeVar("M", bound=type[CertifiedModel])


def _jsonable(value: Any) -> Any:
    """Tuples as lists (how JSON, and the configurations of older files, store them)."""
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def register_model(cls: M) -> M:
    """Class decorator: make the :class:`~lipapps.contract.CertifiedModel` ``cls`` loadable by :func:`lipapps.load`.

    The decorator records the arguments of every construction (defaults filled in, tuples as
    lists): :meth:`~lipapps.contract.CertifiedModel.config` returns them, so that
    ``cls(**model.config())`` rebuilds the architecture. The constructor must take named
    arguments only (no ``*args`` / ``**kwargs``), and the class must state its bound (a
    ``composition`` or its own ``lipschitz_bound``). A class that gains a constructor argument
    later declares ``legacy_config = {name: value}``: the value that files written before the
    argument existed imply (:func:`lipapps.load` fills it in).
    """
    if not (isinstance(cls, type) and issubclass(cls, CertifiedModel)):
        raise TypeError(f"{getattr(cls, '__name__', cls)} must subclass lipapps.CertifiedModel to be registered")
    if cls.composition is None and cls.lipschitz_bound is CertifiedModel.lipschitz_bound:
        raise TypeError(f"{cls.__name__} must declare a composition or override lipschitz_bound")
    signature = inspect.signature(cls.__init__)
    variadic = [p.name for p in signature.parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if variadic:
        raise TypeError(f"{cls.__name__}.__init__ takes {variadic}: a registered model needs named arguments only")
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self: CertifiedModel, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self) is cls:  # a registered subclass records its own arguments
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = list(bound.arguments.items())[1:]  # without self
            self.__dict__["_constructor_arguments"] = {name: _jsonable(v) for name, v in arguments}

    cls.__init__ = __init__  # type: ignore[method-assign]
    MODEL_REGISTRY[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return cls


def register_moved_model(old_name: str, cls: type[CertifiedModel]) -> None:
    """Let :func:`lipapps.load` read files that store ``cls`` under ``old_name`` (``module.Class``).

    A package whose registered class moves to another module calls this beside the class, so
    that files written before the move still load.
    """
    MOVED_MODELS[old_name] = f"{cls.__module__}.{cls.__qualname__}"


@register_model
class LipschitzResNet(CertifiedModel):
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
    The forward is ``layers``, so the certificate is the product of their bounds.
    """

    composition = "layers"

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


@register_model
class LiftedLipschitzResNet(CertifiedModel):
    """The paper's MNIST network: a lift ``in_features -> lift`` then a Theorem 4.1 ResNet.

    ``x -> R(x)`` with ``R = LipschitzResNet(lift, out_features, width=lift + 3, depth,
    fixed_width=True)`` applied to ``Q x + q``, ``Q: in_features -> lift``: the layout of the
    paper's public MNIST code (a downsampling map, a fixed-width network of state size
    ``lift + 3``, a readout). With ``io_constraint`` equal to ``constraint`` every map has
    ``||.||_2 <= 1`` and the network is 1-Lipschitz end to end (product of per-map bounds);
    ``io_constraint="none"`` frees the lifts and the readout as that code does, and
    :func:`lipapps.certify` then reports the true, larger product bound.

    Each gradient-flow block acts on the last ``lift`` coordinates with a square ``W``
    (``hidden = lift``, as in the paper's code): with ``W`` orthogonal, ``tau = 2``, its
    Jacobian ``W^T (I - 2D) W`` is orthogonal. A taller ``W`` (more hidden units than features)
    makes ``W^T (I - 2D) W`` a strict contraction and the signal vanishes with depth.
    The forward is ``layers`` after flattening the input (an isometry), so the certificate is
    the product of their bounds.
    """

    composition = "layers"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        lift: int,
        depth: int,
        constraint: str = "parametrization",
        io_constraint: str | None = None,
        step_size: float = 2.0,
    ) -> None:
        super().__init__()
        io_constraint = io_constraint or constraint
        self.layers = nn.Sequential(
            LipschitzLinear(in_features, lift, constraint=io_constraint),
            LipschitzResNet(
                lift, out_features, width=lift + 3, depth=depth, hidden=lift, fixed_width=True,
                constraint=constraint, step_size=step_size, io_constraint=io_constraint,
            ),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x.flatten(1))


register_moved_model("lipapps.classification.LiftedLipschitzResNet", LiftedLipschitzResNet)
