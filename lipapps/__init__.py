"""lipapps: 1-Lipschitz residual networks built from negative gradient flow steps.

``x -> x - tau W^T relu(W x + b)`` with ``||W||_2 <= 1`` and ``0 <= tau <= 2`` is a non-expansive
map (Murari, Furuya, Schönlieb, NeurIPS 2025). This package holds the layers, the constraints
that keep them 1-Lipschitz after every optimiser step, certificates, a trainer, checkpoint I/O
and the ``lipapps`` command. The applications ``critics`` and ``denoisers`` build on it.
"""

from lipapps import constructions, datasets
from lipapps.activations import ConditionedMonotoneSpline, MonotoneSpline
from lipapps.atomic import atomic_write
from lipapps.certify import Certificate, certify, empirical_lipschitz
from lipapps.checkpoint import load, save
from lipapps.contract import AveragedModel, CertifiedModel, LipschitzModule
from lipapps.constraints import project_
from lipapps.devices import resolve_device
from lipapps.errors import CertificationError, CheckpointError, InputError
from lipapps.layers import (
    ConditionedConvGradientFlowBlock,
    ConvGradientFlowBlock,
    FixedWidthBlock,
    GradientFlowBlock,
    GroupSort2,
    InputInjection,
    LipschitzConv2d,
    LipschitzLinear,
    SortPair,
)
from lipapps.multiscale import MultiScaleConv2d, MultiScaleGradientFlowBlock
from lipapps.models import LiftedLipschitzResNet, LipschitzResNet, register_model
from lipapps.training import TrainResult, parameter_groups, train

__version__ = "0.1.0"

__all__ = [
    "AveragedModel",
    "Certificate",
    "CertificationError",
    "CertifiedModel",
    "CheckpointError",
    "ConditionedConvGradientFlowBlock",
    "ConditionedMonotoneSpline",
    "ConvGradientFlowBlock",
    "FixedWidthBlock",
    "GradientFlowBlock",
    "GroupSort2",
    "InputError",
    "InputInjection",
    "LiftedLipschitzResNet",
    "LipschitzConv2d",
    "LipschitzLinear",
    "LipschitzModule",
    "LipschitzResNet",
    "MonotoneSpline",
    "MultiScaleConv2d",
    "MultiScaleGradientFlowBlock",
    "SortPair",
    "TrainResult",
    "atomic_write",
    "constructions",
    "datasets",
    "certify",
    "empirical_lipschitz",
    "load",
    "parameter_groups",
    "project_",
    "register_model",
    "resolve_device",
    "save",
    "train",
]
