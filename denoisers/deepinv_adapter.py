"""The shipped certified denoisers as a :class:`deepinv.models.Denoiser` (optional extra ``deepinv``).

``DeepinvDenoiser()(x, sigma)`` follows deepinv's denoiser contract (images in ``[0, 1]``, ``sigma``
a noise standard deviation on that scale, a float or one value per batch element), so it can be
the prior of deepinv's solvers, e.g. ``deepinv.optim.PGD(prior=deepinv.optim.PnP(DeepinvDenoiser()), ...)``.
This module is the only place that imports deepinv: ``denoisers`` and its own operators and PnP
solvers (:mod:`denoisers.pnp`) do not need it.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from lipapps import InputError

from denoisers.weights import available_sigmas, load_denoiser

try:
    from deepinv.models import Denoiser
except ImportError as error:  # deepinv itself or one of the packages it imports is missing
    raise ImportError(
        f"denoisers.deepinv_adapter needs deepinv, which could not be imported ({error}); "
        "install the optional extra: pip install lipapps[deepinv]"
    ) from error


class DeepinvDenoiser(Denoiser):
    """The shipped averaged denoisers ``D_s = (1 - a) I + a N_s`` behind deepinv's ``forward(x, sigma)``.

    Level rule: with ``sigma=None`` (default) the adapter holds every shipped model
    (:func:`denoisers.weights.available_sigmas`, trained for 15, 25 and 50 on the 0-255 scale) and
    denoises each batch element with the one whose training level is nearest ``255 * sigma``
    (ties go to the lower level), so ``sigma`` only selects a model: the network has no
    noise-level input. With ``sigma=S`` at construction only the model for ``S`` is loaded and the
    ``sigma`` passed to :meth:`forward` is checked but does not change the output.

    Channels: ``x`` of shape ``(B, C, H, W)``; every channel is denoised independently by the same
    grayscale model (for RGB this ignores the correlation between channels).

    Certificate: for every shipped ``s``, ``N_s`` is certified 1-Lipschitz (checked on load by
    :func:`lipapps.load`), so ``D_s`` is ``a``-averaged, firmly non-expansive for the shipped
    ``a = 1/2`` (:class:`denoisers.model.AveragedDenoiser`; Ryu et al. 2019). Applying averaged maps
    to separate channels and batch elements is averaged with the largest of their constants, so for
    a fixed ``sigma`` the map ``x -> forward(x, sigma)`` is :meth:`certified_averagedness`-averaged:
    the condition of PnP-FBS (deepinv's ``PGD`` with stepsize ``< 2 / ||A||^2``) and, for
    ``a <= 1/2``, of PnP-ADMM / Douglas-Rachford. A solver that changes ``sigma`` between
    iterations changes the operator, which no fixed-point guarantee covers. The output is not
    clipped to ``[0, 1]`` (clipping would change the averagedness constant).

    ``family="ridge"`` wraps the convex-ridge models instead (:mod:`denoisers.weights`), the better
    denoisers applied once, certified ``0.99``-averaged: fine for ``PGD``, not for ADMM / DRS.

    Args:
        sigma: a shipped level (0-255 scale) to use for every call, or ``None`` for the nearest-level rule.
        device: where the models live (deepinv's ``Denoiser`` argument).
        family: ``"firm"`` (default, ``a = 1/2``) or ``"ridge"``.
    """

    def __init__(self, sigma: int | None = None, device: str | torch.device = "cpu", family: str = "firm") -> None:
        super().__init__()
        levels = available_sigmas(family) if sigma is None else [sigma]
        if not levels:
            raise InputError(f"no shipped {family} denoiser weights to wrap")
        self.levels = levels
        self.models = nn.ModuleDict({str(level): load_denoiser(level, family) for level in levels})
        self.to(device)

    def model_indices(self, sigma: float | torch.Tensor, batch_size: int) -> torch.Tensor:
        """Index into :attr:`levels` of the model used for each of ``batch_size`` elements."""
        values = self._handle_sigma(sigma, batch_size=batch_size, dtype=torch.float64, device=torch.device("cpu"))
        if not (torch.isfinite(values).all() and (values >= 0).all()):
            raise InputError(f"sigma must be finite and non-negative, got {values.tolist()}")
        levels = torch.tensor(self.levels, dtype=torch.float64)
        return (255.0 * values[:, None] - levels[None, :]).abs().argmin(dim=1)

    def forward(self, x: torch.Tensor, sigma: float | torch.Tensor) -> torch.Tensor:
        """Denoise ``x`` ``(B, C, H, W)`` in ``[0, 1]`` for noise ``sigma`` (``[0, 1]`` scale, float or ``(B,)``).

        The models compute in their own dtype (float32); the output has the dtype and shape of ``x``.
        """
        if x.ndim != 4:
            raise InputError(f"expected images of shape (B, C, H, W), got {tuple(x.shape)}")
        batch, channels, height, width = x.shape
        indices = self.model_indices(sigma, batch).repeat_interleave(channels).to(x.device)
        planes = x.reshape(batch * channels, 1, height, width)
        out = torch.empty_like(planes)
        for index in indices.unique().tolist():
            model = self.models[str(self.levels[index])]
            rows = indices == index
            out[rows] = model(planes[rows].to(next(model.parameters()).dtype)).to(x.dtype)
        return out.reshape(x.shape)

    def certified_averagedness(self, input_shape: tuple[int, ...] | None = None) -> float | None:
        """The largest ``a`` of the wrapped models (``D`` is then ``a``-averaged), ``None`` if one lacks a certificate.

        ``input_shape`` is the shape ``(1, H, W)`` of one channel, as for
        :meth:`denoisers.model.AveragedDenoiser.certified_averagedness`.
        """
        constants = [model.certified_averagedness(input_shape) for model in self.models.values()]
        return None if any(a is None for a in constants) else max(constants)
