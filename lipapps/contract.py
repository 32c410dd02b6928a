"""What a certified layer or model must provide, declared once (the contract of :func:`lipapps.certify`).

* :class:`LipschitzModule`: a module that proves a bound on its own l2 Lipschitz constant,
  ``lipschitz_bound(input_shape) -> float`` (a true upper bound, never an estimate).
* :class:`CertifiedModel`: a loadable model (:func:`lipapps.register_model`). Its configuration is
  the constructor's arguments, captured by the decorator; it states its bound either by
  ``composition`` (the name of the ``nn.Sequential`` its forward is, up to isometric reshapes;
  :func:`lipapps.certify` then multiplies the parts' bounds) or by overriding ``lipschitz_bound``;
  ``check_constraint()`` refuses a constrained model whose certificate exceeds 1.
* :class:`AveragedModel`: a model ``D = (1 - a) I + a N`` that also certifies ``a``
  (``certified_averagedness``), the property plug-and-play convergence rests on.

:func:`lipapps.certify` traverses a module only through this contract or an ``nn.Sequential``;
anything else it cannot bound is refused rather than assumed 1-Lipschitz.
"""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from typing import Any, ClassVar

import torch.nn as nn

from lipapps.errors import CheckpointError

class LipschitzModule(nn.Module, metaclass=ABCMeta):
    """A module that knows a provable upper bound on its l2 -> l2 Lipschitz constant."""

    @abstractmethod
    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """A provable upper bound on the Lipschitz constant (for inputs of ``input_shape``, without
        the batch dimension, where the bound depends on it; ``None``: valid for every size)."""


class CertifiedModel(LipschitzModule):
    """A model that :func:`lipapps.save` / :func:`lipapps.load` can write and rebuild, with its certificate.

    Subclasses are decorated with :func:`lipapps.register_model`, which records the constructor's
    arguments: ``type(model)(**model.config())`` rebuilds the architecture. Class attributes:

    * ``composition``: name of an ``nn.Sequential`` submodule such that ``forward`` is that
      sequence (after a reshape that preserves the l2 norm); the bound is then the product of the
      parts' bounds (Lipschitz constants of a composition multiply). ``None``: the subclass
      overrides :meth:`lipschitz_bound` with its own composition rule.
    * ``config_attributes``: constructor arguments whose current value is the attribute of that
      name (e.g. a denoiser's ``sigma``, changed before fine-tuning for another level).
    * ``legacy_config``: values that files written before an argument existed imply.
    """

    composition: ClassVar[str | None] = None
    config_attributes: ClassVar[tuple[str, ...]] = ()
    legacy_config: ClassVar[dict[str, Any]] = {}

    def config(self) -> dict[str, Any]:
        """The constructor's arguments (JSON-able): ``type(self)(**self.config())`` rebuilds the model."""
        try:
            arguments = self.__dict__["_constructor_arguments"]
        except KeyError:
            raise TypeError(f"{type(self).__qualname__} is not registered: decorate it with @lipapps.register_model") from None
        return {**arguments, **{name: getattr(self, name) for name in self.config_attributes}}

    def lipschitz_bound(self, input_shape: tuple[int, ...] | None = None) -> float:
        """The product of the bounds of the parts of ``composition`` (see :func:`lipapps.certify`)."""
        from lipapps.certify import certify

        if self.composition is None:
            raise TypeError(f"{type(self).__qualname__} declares no composition: override lipschitz_bound")
        return certify(getattr(self, self.composition), input_shape).upper_bound

    def is_constrained(self) -> bool:
        """Whether the model is built to be 1-Lipschitz (``False`` for the unconstrained baselines)."""
        config = self.config()
        return "none" not in (config.get("constraint"), config.get("io_constraint"))

    def check_constraint(self) -> None:
        """Raise :class:`~lipapps.errors.CheckpointError` when a constrained model's certificate exceeds 1.

        The certificate is :func:`lipapps.certify` for every input size, a true upper bound (float
        rounding is accounted for outward), compared with 1 exactly, without tolerance; a model
        built with unconstrained maps (``"none"``) has nothing to check.
        """
        from lipapps.certify import certify

        if not self.is_constrained():
            return
        bound = certify(self).upper_bound
        if not bound <= 1.0:
            raise CheckpointError(f"Lipschitz certificate {bound!r} exceeds 1: the constraint does not hold")


class AveragedModel(CertifiedModel):
    """A certified model ``D = (1 - a) I + a N`` that also certifies its averagedness ``a``.

    With ``N`` non-expansive and ``0 < a < 1``, ``D`` is ``a``-averaged; averaged maps compose
    into averaged maps, which is what plug-and-play forward-backward needs to converge
    (Krasnosel'skii-Mann; Combettes & Yamada 2015).
    """

    @abstractmethod
    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        """The certified ``a`` (``D`` is ``a``-averaged), or ``None`` when nothing certifies it."""
