"""Model files: one file with the architecture's configuration and the weights.

Files are written atomically and read with ``torch.load(weights_only=True)``, which unpickles
only tensors and plain containers: a file carrying code (a malicious pickle) is refused. The
model class is looked up in the registry of :func:`lipapps.register_model` by name, among the
trusted packages only (``lipapps`` and those installed under the entry-point group
``lipapps.models``), and the Lipschitz constraint is checked again after loading.
"""

from __future__ import annotations

import importlib
import os
import pickle
import zipfile
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from lipapps.atomic import atomic_write
from lipapps.certify import unwrap
from lipapps.contract import CertifiedModel
from lipapps.errors import CheckpointError
from lipapps.models import MODEL_REGISTRY, MOVED_MODELS

FORMAT = "lipapps-model"
VERSION = 1
#: Entry-point group naming the modules that define registered models (``name = "package.module"``);
#: :func:`load` may import modules of their top-level packages, and ``lipapps`` is always trusted.
MODELS_GROUP = "lipapps.models"


def trusted_packages() -> frozenset[str]:
    """``lipapps`` and the top-level packages installed under the entry-point group ``lipapps.models``."""
    return frozenset({"lipapps", *(ep.value.split(":")[0].split(".")[0] for ep in entry_points(group=MODELS_GROUP))})


def _class_name(model: nn.Module) -> str:
    name = f"{type(model).__module__}.{type(model).__qualname__}"
    if name not in MODEL_REGISTRY:
        raise TypeError(f"{name} is not registered: decorate it with @lipapps.register_model")
    return name


def save(model: CertifiedModel, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (configuration, weights, optional JSON-able ``metadata``) to ``path``."""
    model = unwrap(model)
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "class": _class_name(model),
        "config": model.config(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "metadata": metadata or {},
    }
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def read_payload(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file with ``weights_only=True``; raise :class:`CheckpointError` on anything foreign."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(f"{path}: refused to load: not a plain-tensor checkpoint (corrupt, or a pickle that would run code)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'corrupt'})") from None
    if not isinstance(payload, dict):
        raise CheckpointError(f"{path}: not a lipapps file")
    return payload


def _model_modules() -> None:
    """Import the modules named under :data:`MODELS_GROUP` (their classes register themselves)."""
    for entry in entry_points(group=MODELS_GROUP):
        try:
            entry.load()
        except ImportError:
            pass


def _model_class(name: str, path: Path) -> type[CertifiedModel]:
    if name not in MODEL_REGISTRY and name not in MOVED_MODELS:
        _model_modules()  # a moved class is known only once its new module is imported
    name = MOVED_MODELS.get(name, name)
    module_name = name.rpartition(".")[0]
    if module_name.split(".")[0] not in trusted_packages():
        raise CheckpointError(f"{path}: model class {name!r} is not one of the suite's")
    if name not in MODEL_REGISTRY:
        try:
            importlib.import_module(module_name)
        except ImportError:
            pass
    if name not in MODEL_REGISTRY:
        raise CheckpointError(f"{path}: unknown model class {name!r}")
    return MODEL_REGISTRY[name]


def load(path: str | os.PathLike, check: bool = True) -> CertifiedModel:
    """Rebuild a model saved by :func:`save`, in eval mode, and check its constraint.

    With ``check``, the model's :meth:`~lipapps.contract.CertifiedModel.check_constraint` must
    pass: by default the provable bound of :func:`lipapps.certify` (rounded outward) is at most 1,
    compared exactly, without tolerance, unless the model was built with unconstrained maps
    (``"none"``); an averaged denoiser checks its network.
    Raises :class:`FileNotFoundError` or :class:`~lipapps.errors.CheckpointError`.
    """
    path = Path(path)
    payload = read_payload(path)
    if payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a lipapps model file (no '{FORMAT}' header)")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported lipapps file version {payload.get('version')!r}")
    cls = _model_class(str(payload.get("class")), path)
    try:
        # arguments added to a class after a file was written take the value the file implies
        model = cls(**{**getattr(cls, "legacy_config", {}), **payload["config"]})
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"{path}: weights do not match the stored architecture ({str(exc).splitlines()[0]})") from None
    model.eval()
    if check:
        try:
            model.check_constraint()
        except CheckpointError as err:
            raise CheckpointError(f"{path}: {err}") from None
    return model
