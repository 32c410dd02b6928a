"""The denoisers part of ``lipapps demo``: PnP deblurring of scikit-image's ``camera``.

The shipped certified denoiser against the same solver with the TV proximal map as prior
(its weight picked from three by PSNR against the truth, i.e. favouring TV), both printed with
their PSNR; the panel goes to ``out_dir/denoisers_deblur.png``.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import torch
from skimage import data
from skimage.transform import resize

from denoisers.baselines import TVDenoiser
from denoisers.figures import save_panel
from denoisers.metrics import psnr
from denoisers.pnp import ConvergenceWarning, pnp_admm
from denoisers.problems import simulate
from denoisers.parameters import choose_settings
from denoisers.reconstruct import run_pnp

SIZE = 160
TV_WEIGHTS = (0.005, 0.01, 0.02)


def run(out_dir: Path) -> None:
    """Deblur ``camera`` (Gaussian blur, noise 0.01) with PnP-ADMM: shipped denoiser vs TV."""
    start = time.perf_counter()
    truth = torch.from_numpy(resize(data.camera(), (SIZE, SIZE), anti_aliasing=True)).float()
    problem = simulate("deblur", truth, noise=0.01, seed=0)
    settings = choose_settings(problem, "admm")
    ours = run_pnp(problem, settings, max_iter=60, tol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the TV prox carries no certificate
        runs = [pnp_admm(problem.operator, problem.y, TVDenoiser(w), penalty=1.0, max_iter=60, tol=1e-3, truth=truth) for w in TV_WEIGHTS]
    tv = max(runs, key=lambda r: r.trace.psnr[-1])
    path = save_panel(
        Path(out_dir) / "denoisers_deblur.png",
        truth,
        problem.y,
        ours,
        f"PnP-ADMM deblurring, certified averaged denoiser (sigma {settings.denoiser_sigma}); TV: {psnr(tv.x, truth):.2f} dB",
    )
    print("denoisers: PnP deblurring of camera (Gaussian blur 9x9, std 1.6, noise 0.01)")
    print(f"  blurred measurement  {psnr(problem.y, truth):6.2f} dB")
    print(f"  TV (best of {len(TV_WEIGHTS)})       {psnr(tv.x, truth):6.2f} dB")
    print(f"  PnP, certified D     {psnr(ours.x, truth):6.2f} dB  ({ours.iterations} iterations, converged: {ours.converged})")
    print(f"  panel: {path}  ({time.perf_counter() - start:.0f} s)")
