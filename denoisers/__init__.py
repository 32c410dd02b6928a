"""Certified averaged denoisers and convergent plug-and-play reconstruction on ``lipapps``.

``AveragedDenoiser`` is ``D = (1 - a) I + a N`` with ``N`` a certified 1-Lipschitz network, so
``D`` is ``a``-averaged; with it PnP-FBS and PnP-ADMM converge (``denoisers.pnp``). The shipped
weights load with ``load_denoiser`` (``load_conditioned_denoiser``: one model for every noise level);
``deepinv`` users import ``denoisers.deepinv_adapter``.
"""

from denoisers.ensemble import GeometricEnsemble
from denoisers.images import read_image, write_image
from denoisers.metrics import psnr, ssim
from denoisers.model import AveragedDenoiser
from denoisers.on_device import DenoiserOnDevice
from denoisers.operators import (
    Blur,
    Downsampling,
    Identity,
    Inpainting,
    LinearOperator,
    gaussian_kernel,
    motion_kernel,
)
from denoisers.parameters import PnPSettings, choose_settings
from denoisers.pnp import ConvergenceWarning, PnPResult, RelaxedDenoiser, ScaledDenoiser, pnp_admm, pnp_fbs
from denoisers.problems import PROBLEMS, Problem, from_measurement, simulate
from denoisers.radon import ParallelBeamCT, uniform_angles
from denoisers.reconstruct import run_pnp
from denoisers.training import train_denoiser
from denoisers.weights import FAMILIES, available_sigmas, load_conditioned_denoiser, load_denoiser

__all__ = [
    "AveragedDenoiser",
    "Blur",
    "ConvergenceWarning",
    "DenoiserOnDevice",
    "Downsampling",
    "FAMILIES",
    "GeometricEnsemble",
    "Identity",
    "Inpainting",
    "LinearOperator",
    "PROBLEMS",
    "ParallelBeamCT",
    "PnPResult",
    "PnPSettings",
    "Problem",
    "RelaxedDenoiser",
    "ScaledDenoiser",
    "available_sigmas",
    "choose_settings",
    "from_measurement",
    "gaussian_kernel",
    "load_conditioned_denoiser",
    "load_denoiser",
    "motion_kernel",
    "pnp_admm",
    "pnp_fbs",
    "psnr",
    "read_image",
    "run_pnp",
    "simulate",
    "ssim",
    "train_denoiser",
    "uniform_angles",
    "write_image",
]
