"""Benchmark: PnP with the shipped certified denoisers against classical baselines, on BSD68.

One run, every problem, the same test images (BSD68, never seen in training):

* denoising (sigma = 25/255, full images): our denoisers applied once (the firmly
  non-expansive PnP prior and, where shipped, the convex-ridge one), and their geometric
  self-ensemble (the mean over the 8 grid symmetries, still certified averaged), TV (Chambolle, weight
  tuned per image against the truth: the best TV can do), wavelet BayesShrink and BM3D (when
  the optional ``bench`` extra installed PyWavelets and ``bm3d``);
* deblurring, inpainting, 2x super-resolution, sparse-view CT (centred crops): PnP-FBS and
  PnP-ADMM with the shipped denoisers against the same ADMM with the TV prox as prior
  (best of a grid of weights, against the truth), and for CT filtered back-projection and SART;
  with ``--bm3d-prior``, deblurring and CT also run PnP-ADMM with BM3D as the prior (best of
  BM3D_PRIOR_LEVELS x BM3D_PRIOR_FACTORS against the truth; no guarantee, and slow: minutes per
  image): what a strong classical denoiser buys inside the same solver; with ``--tuned-ours``,
  every inverse problem also runs our PnP-ADMM at the best of the shipped levels x TUNED_FACTORS
  against the truth, tuned per image as TV is (the default settings are fixed per problem).

When ``experiments/weights/dncnn_sigma<S>.pt`` exist (``train_denoisers.py --baseline``), the
unconstrained DnCNN-style network trained with the same recipe runs wherever ours does, with the
same settings: what the constraint costs in dB, and whether PnP still converges without it.

For every PnP run it records whether the fixed-point residual was non-increasing. Results:
experiments/results/pnp_bench.json, pnp_bench.md and pnp_<problem>.png panels. CPU, 1 thread.

    python experiments/bench_pnp.py --images 4 --size 128
    python experiments/bench_pnp.py --bsd68-denoising                 # levels 15, 25, 50
    python experiments/bench_pnp.py --bsd68-denoising --sigmas 25
    python experiments/bench_pnp.py --images 3 --problems deblur ct --bm3d-prior --tag pnp_bm3d_prior
    python experiments/bench_pnp.py --images 3 --problems deblur inpaint superres ct --tuned-ours --tag pnp_tuned_ours
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

import lipapps
from denoisers.baselines import BM3DDenoiser, DnCNN, TVDenoiser, bm3d_denoise, filtered_back_projection, sart, wavelet_denoise
from denoisers.ensemble import GeometricEnsemble
from denoisers.figures import save_panel
from denoisers.images import read_image
from denoisers.metrics import psnr, ssim
from denoisers.pnp import ConvergenceWarning, Denoiser, pnp_admm
from denoisers.problems import simulate
from denoisers.reconstruct import NOISE_FLOOR, REGULARISATION, admm_penalty, choose_settings, run_pnp
from denoisers.training import image_files
from denoisers.weights import available_sigmas, load_denoiser, nearest_sigma

ROOT = Path(__file__).resolve().parents[1]
BSD68 = ROOT.parent / "shared" / "data" / "images" / "bsd68"
RESULTS = ROOT / "experiments" / "results"
#: Chambolle TV denoising weights for noise 25/255, scaled in proportion to other noise levels.
TV_DENOISE_WEIGHTS = (0.03, 0.04, 0.06, 0.08, 0.1, 0.13)
#: TV reconstruction ``min 1/2 ||A x - y||^2 + lam TV(x)``: ``lam / sigma_n^2`` on this grid (the
#: MAP weight scales with the noise variance), each solved by ADMM with penalties
#: ``c / ||A||^2`` for ``c`` in TV_PENALTIES (only the speed depends on it: CT needs large ``c``
#: to converge within the budget), TV_ITERATIONS_FACTOR times the PnP iteration budget.
#: The best final PSNR against the truth is reported: the best TV can do, i.e. favoured.
TV_PRIOR_STRENGTHS = (5, 10, 20, 50, 100, 200, 400)
TV_PENALTIES = (1, 10, 100)
TV_ITERATIONS_FACTOR = 2
INVERSE_PROBLEMS = ("deblur", "inpaint", "superres", "ct")
#: BM3D as the PnP-ADMM prior (``--bm3d-prior``) on BM3D_PRIOR_PROBLEMS: the levels tried (0-255
#: scale), each at the penalty rule of our PnP-ADMM, ``(level / (255 k sigma_n))^2``, with ``k`` the
#: problem's factor (``REGULARISATION``) times each of BM3D_PRIOR_FACTORS, for
#: BM3D_PRIOR_ITERATIONS iterations; the best against the truth is reported, as for TV.
BM3D_PRIOR_PROBLEMS = ("deblur", "ct")
BM3D_PRIOR_LEVELS = (15, 25, 40)
BM3D_PRIOR_FACTORS = (0.5, 1.0, 2.0)
BM3D_PRIOR_ITERATIONS = 60
#: ``--tuned-ours``: our PnP-ADMM over the shipped levels and these multiples of the problem's
#: factor ``k`` (``REGULARISATION``), the best final PSNR against the truth reported, as for TV.
TUNED_FACTORS = (0.5, 0.7, 1.0, 1.4, 2.0)
BASELINE_WEIGHTS = ROOT / "experiments" / "weights"
BASELINE = "DnCNN-style, unconstrained"
DEFAULT_TAG = "pnp_bench"


def load_baseline(sigma: int) -> DnCNN | None:
    """The unconstrained baseline trained for ``sigma``, or ``None`` when it was not trained."""
    path = BASELINE_WEIGHTS / f"dncnn_sigma{sigma}.pt"
    return lipapps.load(path) if path.is_file() else None


def _record(problem: str, image: str, method: str, estimate: torch.Tensor, truth: torch.Tensor, seconds: float, **extra) -> dict:
    return {"problem": problem, "image": image, "method": method, "psnr": psnr(estimate, truth),
            "ssim": ssim(estimate, truth), "seconds": seconds, **extra}


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _denoise_once(model: Denoiser, image: torch.Tensor) -> tuple[torch.Tensor, float]:
    """``model`` applied once to an ``H x W`` image, and the seconds it took."""
    with torch.no_grad():
        return _timed(lambda: model(image[None, None])[0, 0])


def _denoiser_rows(problem: str, image: str, label: str, model: Denoiser, noisy: torch.Tensor, truth: torch.Tensor) -> list[dict]:
    """``model`` applied once, and its geometric self-ensemble (8 applications)."""
    rows = []
    for suffix, denoiser in (("", model), (", x8 self-ensemble", GeometricEnsemble(model))):
        out, t = _denoise_once(denoiser, noisy)
        rows.append(_record(problem, image, label + suffix, out, truth, t))
    return rows


def _ours(sigma: int) -> list[tuple[str, Denoiser]]:
    """Our shipped denoisers for ``sigma``: the firmly non-expansive PnP prior, and the convex-ridge one where shipped."""
    models = [("ours", load_denoiser(sigma))]
    if sigma in available_sigmas("ridge"):
        models.append(("ours, convex ridge", load_denoiser(sigma, "ridge")))
    return models


def _non_increasing(values: list[float]) -> bool:
    return all(b <= a * (1 + 1e-4) + 1e-6 for a, b in zip(values, values[1:]))


def bench_denoising(name: str, truth: torch.Tensor, noise: float, seed: int) -> list[dict]:
    problem = simulate("denoise", truth, noise, seed)
    sigma = nearest_sigma(noise)
    rows = [_record("denoise", name, "noisy", problem.y, truth, 0.0)]
    for label, model in _ours(sigma):
        rows += _denoiser_rows("denoise", name, f"{label} (sigma {sigma})", model, problem.y, truth)
    baseline = load_baseline(sigma)
    if baseline is not None:
        rows += _denoiser_rows("denoise", name, f"{BASELINE} (sigma {baseline.sigma:.0f})", baseline, problem.y, truth)
    return rows + _classical_denoiser_rows("denoise", name, problem.y, truth, noise)


def _classical_denoiser_rows(problem: str, image: str, noisy: torch.Tensor, truth: torch.Tensor, noise: float) -> list[dict]:
    """TV (the best of TV_DENOISE_WEIGHTS scaled by ``noise / (25 / 255)``, against the truth),
    wavelet BayesShrink and BM3D (when the optional ``bench`` extra installed them)."""
    scale = noise / (25 / 255)
    tv_runs = [(*_timed(lambda w=w: TVDenoiser(w * scale)(noisy[None, None])[0, 0]), w * scale) for w in TV_DENOISE_WEIGHTS]
    best, seconds, weight = max(tv_runs, key=lambda r: psnr(r[0], truth))
    rows = [_record(problem, image, "TV (best weight)", best, truth, seconds, tv_weight=weight)]
    for method, denoise in (("wavelet BayesShrink", wavelet_denoise), ("BM3D", bm3d_denoise)):
        try:  # PyWavelets and bm3d come with the optional `bench` extra
            out, t = _timed(lambda: denoise(noisy, noise))
        except ImportError:
            continue
        rows.append(_record(problem, image, method, out, truth, t))
    return rows


def bench_inverse(problem_name: str, name: str, truth: torch.Tensor, seed: int, max_iter: int, panel: Path | None,
                  bm3d_prior: bool = False, tuned_ours: bool = False) -> list[dict]:
    problem = simulate(problem_name, truth, None, seed)
    truth = problem.truth
    rows = []
    for algorithm in ("fbs", "admm"):
        settings = choose_settings(problem, algorithm)
        baseline = load_baseline(settings.denoiser_sigma)
        for label, denoiser in (("ours", None), (BASELINE, baseline)):
            if label == BASELINE and denoiser is None:
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                result = run_pnp(problem, settings, denoiser=denoiser, max_iter=max_iter, tol=1e-4)
            rows.append(_record(problem_name, name, f"{label} PnP-{algorithm.upper()}", result.x, truth, result.seconds,
                                iterations=result.iterations, converged=result.converged,
                                residual_non_increasing=_non_increasing(result.trace.fixed_point_residual),
                                guarantee_warnings=len(caught), denoiser_sigma=settings.denoiser_sigma,
                                strength=settings.strength))
            if panel is not None and algorithm == "admm" and label == "ours":
                save_panel(panel, truth, problem.y, result, f"{problem_name}: PnP-ADMM, certified denoiser", problem_name != "ct")
    if tuned_ours:
        rows.append(_best_tuned_ours(problem, name, max_iter))
    rows.append(_best_tv_reconstruction(problem, name, max_iter))
    if bm3d_prior and problem_name in BM3D_PRIOR_PROBLEMS:
        rows.append(_best_bm3d_prior_reconstruction(problem, name))
    if problem_name == "ct":
        out, t = _timed(lambda: filtered_back_projection(problem.operator, problem.y))
        rows.append(_record("ct", name, "FBP", out, truth, t))
        out, t = _timed(lambda: sart(problem.operator, problem.y))
        rows.append(_record("ct", name, "SART (3 sweeps)", out, truth, t))
    return rows


def _best_tuned_ours(problem, name: str, max_iter: int) -> dict:
    """Our PnP-ADMM at the best shipped level and factor (TUNED_FACTORS x the problem's ``k``) against the truth."""
    runs = []
    for level in available_sigmas():
        settings = choose_settings(problem, "admm", level=level)  # loads and certifies the level's model once
        for factor in TUNED_FACTORS:
            k = factor * REGULARISATION["admm"][problem.name]
            tuned = replace(settings, step=admm_penalty(level, settings.strength, k, problem.noise))
            runs.append((run_pnp(problem, tuned, max_iter=max_iter, tol=1e-4), level, factor))
    best, level, factor = max(runs, key=lambda r: r[0].trace.psnr[-1])
    return _record(problem.name, name, "ours PnP-ADMM (best level and factor)", best.x, problem.truth, best.seconds,
                   iterations=best.iterations, converged=best.converged,
                   residual_non_increasing=_non_increasing(best.trace.fixed_point_residual), denoiser_sigma=level,
                   factor=factor)


def _best_tv_reconstruction(problem, name: str, max_iter: int) -> dict:
    """ADMM with the TV prox as prior, best over TV_PRIOR_STRENGTHS x TV_PENALTIES (against the truth)."""
    lipschitz = problem.operator.norm_bound() ** 2
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the TV prox carries no certificate here
        for strength in TV_PRIOR_STRENGTHS:
            for c in TV_PENALTIES:
                # ADMM solves min (penalty / 2) ||A x - y||^2 + w TV(x): w = lam * penalty
                penalty = c / lipschitz
                weight = strength * max(problem.noise, NOISE_FLOOR) ** 2 * penalty
                result = pnp_admm(problem.operator, problem.y, TVDenoiser(weight), penalty=penalty,
                                  max_iter=TV_ITERATIONS_FACTOR * max_iter, tol=1e-4, truth=problem.truth)
                runs.append((result, strength, c))
    best, strength, c = max(runs, key=lambda r: r[0].trace.psnr[-1])
    return _record(problem.name, name, "TV prior, ADMM (best weight)", best.x, problem.truth, best.seconds,
                   iterations=best.iterations, tv_strength_over_noise_variance=strength, tv_penalty_factor=c)


def _best_bm3d_prior_reconstruction(problem, name: str) -> dict:
    """PnP-ADMM with BM3D as the prior, best over BM3D_PRIOR_LEVELS x BM3D_PRIOR_FACTORS (against the truth)."""
    runs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # BM3D carries no certificate
        for level in BM3D_PRIOR_LEVELS:
            for factor in BM3D_PRIOR_FACTORS:
                penalty = admm_penalty(level, 1.0, factor * REGULARISATION["admm"][problem.name], problem.noise)
                result = pnp_admm(problem.operator, problem.y, BM3DDenoiser(level / 255.0), penalty=penalty,
                                  max_iter=BM3D_PRIOR_ITERATIONS, tol=1e-4, truth=problem.truth)
                runs.append((result, level, factor))
    best, level, factor = max(runs, key=lambda r: r[0].trace.psnr[-1])
    return _record(problem.name, name, "BM3D prior, ADMM (best level, no guarantee)", best.x, problem.truth, best.seconds,
                   iterations=best.iterations, converged=best.converged,
                   residual_non_increasing=_non_increasing(best.trace.fixed_point_residual), bm3d_level=level,
                   bm3d_factor=factor)


def bench_bsd68_denoising(files: list[Path], sigmas: list[int]) -> list[dict]:
    """Our denoisers, the unconstrained baseline (where trained) and the classical ones on every BSD68 image at each level."""
    rows = []
    ours = {sigma: _ours(sigma) for sigma in sigmas}
    baselines = {sigma: load_baseline(sigma) for sigma in sigmas}
    for index, path in enumerate(files):
        truth = read_image(path)
        for sigma in sigmas:
            problem = simulate("denoise", truth, sigma / 255, seed=index)
            rows.append(_record(f"denoise sigma {sigma}", path.name, "noisy", problem.y, truth, 0.0))
            for label, model in ours[sigma]:
                rows += _denoiser_rows(f"denoise sigma {sigma}", path.name, label, model, problem.y, truth)
            if baselines[sigma] is not None:
                rows += _denoiser_rows(f"denoise sigma {sigma}", path.name, BASELINE, baselines[sigma], problem.y, truth)
            rows += _classical_denoiser_rows(f"denoise sigma {sigma}", path.name, problem.y, truth, sigma / 255)
        print(f"{index + 1}/{len(files)} {path.name}", flush=True)
    return rows


def kept_bsd68_rows(path: Path, sigmas: list[int]) -> list[dict]:
    """The rows of ``path`` (an earlier ``--bsd68-denoising`` run) for levels not in ``sigmas``: a run of some levels adds to the table."""
    if not path.is_file():
        return []
    rows = json.loads(path.read_text())["rows"]
    return [r for r in rows if int(r["problem"].split()[-1]) not in sigmas]


def centre_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    h, w = image.shape
    return image[(h - size) // 2 : (h - size) // 2 + size, (w - size) // 2 : (w - size) // 2 + size]


def markdown(rows: list[dict]) -> str:
    lines = ["| problem | method | PSNR (dB) | SSIM | seconds | images | converged | residual non-increasing |",
             "|---|---|---|---|---|---|---|---|"]
    keys = []
    for r in rows:
        if (r["problem"], r["method"]) not in keys:
            keys.append((r["problem"], r["method"]))
    for problem, method in keys:
        group = [r for r in rows if r["problem"] == problem and r["method"] == method]
        monotone = [r["residual_non_increasing"] for r in group if "residual_non_increasing" in r]
        converged = [r["converged"] for r in group if "converged" in r]
        mono = f"{sum(monotone)}/{len(monotone)}" if monotone else ""
        conv = f"{sum(converged)}/{len(converged)}" if converged else ""
        lines.append(f"| {problem} | {method} | {np.mean([r['psnr'] for r in group]):.2f} | {np.mean([r['ssim'] for r in group]):.4f} "
                     f"| {np.mean([r['seconds'] for r in group]):.2f} | {len(group)} | {conv} | {mono} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4, help="first N BSD68 images")
    parser.add_argument("--size", type=int, default=128, help="centre crop for the inverse problems")
    parser.add_argument("--max-iter", type=int, default=150)
    parser.add_argument("--problems", nargs="+", default=["denoise", *INVERSE_PROBLEMS])
    parser.add_argument("--noise", type=float, default=25 / 255, help="denoising noise level")
    parser.add_argument("--tag", default=DEFAULT_TAG, help=f"results file stem; only the default ({DEFAULT_TAG}) writes the panels")
    parser.add_argument("--bsd68-denoising", action="store_true",
                        help="only: denoising on all of BSD68 (ours, the baseline, TV, wavelet, BM3D) -> pnp_bsd68_denoising.*")
    parser.add_argument("--bm3d-prior", action="store_true",
                        help="deblurring and CT also with BM3D as the PnP-ADMM prior (needs the bench extra; minutes per image)")
    parser.add_argument("--tuned-ours", action="store_true",
                        help="every inverse problem also with our PnP-ADMM at its best level and factor against the truth, as TV")
    parser.add_argument("--sigmas", type=int, nargs="+", default=[15, 25, 50],
                        help="levels of --bsd68-denoising; the stored rows of other levels are kept")
    args = parser.parse_args()
    if args.bm3d_prior and importlib.util.find_spec("bm3d") is None:
        parser.error("--bm3d-prior needs the bm3d package: pip install 'lipapps[bench]'")
    torch.set_num_threads(1)
    if args.bsd68_denoising:
        rows = kept_bsd68_rows(RESULTS / "pnp_bsd68_denoising.json", args.sigmas)
        rows += bench_bsd68_denoising(image_files(BSD68), args.sigmas)
        rows.sort(key=lambda r: int(r["problem"].split()[-1]))  # stable: each level's rows keep their order
        sigmas = sorted({int(r["problem"].split()[-1]) for r in rows})
        with lipapps.atomic_write(RESULTS / "pnp_bsd68_denoising.json") as tmp:
            tmp.write_text(json.dumps({"meta": {"images": 68, "sigmas": sigmas, "device": "cpu", "threads": 1}, "rows": rows}, indent=1))
        with lipapps.atomic_write(RESULTS / "pnp_bsd68_denoising.md") as tmp:
            tmp.write_text("# Gaussian denoising on all of BSD68 (CPU, 1 thread)\n\n" + markdown(rows))
        print(markdown(rows))
        return
    files = image_files(BSD68)[: args.images]
    rows: list[dict] = []
    for index, path in enumerate(files):
        truth = read_image(path)
        for problem in args.problems:
            if problem == "denoise":
                rows += bench_denoising(path.name, truth, args.noise, seed=index)
            else:
                panel = RESULTS / f"pnp_{problem}.png" if index == 0 and args.tag == DEFAULT_TAG else None
                rows += bench_inverse(problem, path.name, centre_crop(truth, args.size), index, args.max_iter, panel,
                                      bm3d_prior=args.bm3d_prior, tuned_ours=args.tuned_ours)
            print(markdown([r for r in rows if r["image"] == path.name and r["problem"] == problem]), flush=True)
    meta = {"images": [p.name for p in files], "crop": args.size, "max_iter": args.max_iter, "device": "cpu", "threads": 1,
            "denoising_noise": args.noise}
    with lipapps.atomic_write(RESULTS / f"{args.tag}.json") as tmp:
        tmp.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    with lipapps.atomic_write(RESULTS / f"{args.tag}.md") as tmp:
        tmp.write_text(f"# PnP benchmark ({', '.join(meta['images'])}; CPU, 1 thread)\n\n" + markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
